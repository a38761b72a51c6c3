"""Slide decks: every notebook as a reveal.js deck, its slides set from its headings at build time.

Notebooks carry no slideshow metadata of their own, so the decks cannot drift from them:
:func:`assign_slide_types` (run as the :class:`SlideLayoutPreprocessor`) derives the layout each
time a deck is built:

* a markdown cell holding several ``#`` to ``###`` headings is first split at each of them;
* a ``#`` or ``##`` heading cell starts a slide, a ``###`` (or deeper) heading a sub-slide;
* a code cell of more than :data:`LONG_CODE_LINES` lines starts a sub-slide of its own;
* the figures of a code cell of more than :data:`FIGURE_CODE_LINES` lines (in an executed
  notebook) move to a sub-slide of their own after the code, where they fill the screen;
* a cell tagged ``hide-input`` shows only its output (for cells that exist for their figure);
* the first cell of an exercise's solution starts a sub-slide, so the answer stays hidden until
  the instructor moves down to it;
* any other cell joins the current slide, unless the slide would overflow (an estimate of
  :data:`SLIDE_LINES` lines), in which case it starts a sub-slide;
* a cell whose ``slideshow.slide_type`` an author set by hand keeps it.

reveal.js, require.js, jQuery and MathJax 2 are loaded from ``build/slides/vendor`` (installed
once from the npm registry by :func:`vendor_reveal`), so the decks render with no network, on a
workshop laptop or a projector PC; ``--cdn`` falls back to nbconvert's CDN links.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import Preprocessor

from tfcourse.build.cells import cell_source, read_notebook
from tfcourse.build.student import is_solution, markdown_headings
from tfcourse.config import PATHS

LONG_CODE_LINES = 15
FIGURE_CODE_LINES = 8
SLIDE_LINES = 22
HIDE_INPUT_TAG = "hide-input"
# Pinned packages from the npm registry; nbconvert's reveal template is written for reveal.js 4
# and MathJax 2 (``MathJax.Hub``).
VENDOR_PACKAGES = {"reveal.js": "4.6.1", "requirejs": "2.3.7", "jquery": "3.7.1", "mathjax": "2.7.9"}
# The files each deck loads, relative to ``<vendor>/node_modules``.
VENDOR_FILES = (
    "reveal.js/dist/reveal.js",
    "reveal.js/dist/reveal.css",
    "reveal.js/plugin/notes/notes.js",
    "requirejs/require.js",
    "jquery/dist/jquery.min.js",
    "mathjax/MathJax.js",
)
STALE = "committed; the executed copy is stale, run make course"
# Parts of the MathJax 2 package that the decks never load (unminified sources, tests, and the
# fonts of other typefaces: the CommonHTML output uses the TeX fonts): 42 of its 73 MB.
MATHJAX_UNUSED = (
    "unpacked",
    "test",
    "fonts/HTML-CSS/Asana-Math",
    "fonts/HTML-CSS/Gyre-Pagella",
    "fonts/HTML-CSS/Gyre-Termes",
    "fonts/HTML-CSS/Latin-Modern",
    "fonts/HTML-CSS/Neo-Euler",
    "fonts/HTML-CSS/STIX-Web",
)
SLIDE_SIZE = (1280, 720)  # reveal.js's logical slide size: a 16:9 projector

_IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")

# The course's deck template: nbconvert's reveal template with projector-sized figures and
# without the Mermaid import (an ES module from a CDN that no notebook needs).
_TEMPLATE_NAME = "tfcourse_slides.html.j2"
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
// Inside reveal.js's scaled slides, MathJax's hidden MathML copy shows up next to each formula.
MathJax.Hub.Config({menuSettings: {assistiveMML: false}});
</script>
{{ super() }}
{%- endblock html_head_js_mathjax -%}
{%- block html_head_css -%}
<style type="text/css">
/* tfcourse: readable from the back of the room */
.reveal .jp-RenderedImage img, .reveal .jp-OutputArea-output img {
  max-width: 100%; max-height: 600px; width: auto; height: auto; object-fit: contain;
}
.reveal .celltag_tfcourse-figure .jp-OutputArea-output img { max-height: 660px; }
.reveal .jp-OutputArea-prompt, .reveal .jp-InputPrompt { display: none; }
.reveal .jp-RenderedHTMLCommon h1 { font-size: 1.9em; }
.reveal .jp-RenderedHTMLCommon h2 { font-size: 1.5em; }
.reveal .jp-RenderedHTMLCommon h3 { font-size: 1.25em; }
/* a code line longer than the slide wraps at the right edge instead of being cut off */
.reveal pre, .reveal pre code, .reveal .jp-InputArea-editor pre, .reveal .jp-OutputArea-output pre {
  white-space: pre-wrap; overflow-wrap: anywhere;
}
</style>
{%- endblock html_head_css -%}
"""


class SlidesError(RuntimeError):
    """A deck cannot be built (no reveal.js copy and no npm, or a bad notebook); the message says why."""


def heading_level(cell: dict[str, Any]) -> int | None:
    """The level of the heading that opens a markdown cell (1 for ``#``), or None.

    Example:
    >>> heading_level({"cell_type": "markdown", "source": "## Build the model\\n\\nText"})
    2
    >>> heading_level({"cell_type": "code", "source": "# a comment"}) is None
    True
    """
    if cell.get("cell_type") != "markdown":
        return None
    headings = markdown_headings(cell_source(cell).strip())
    return headings[0][1] if headings and headings[0][0] == 0 else None


def split_at_headings(cell: dict[str, Any]) -> list[dict[str, Any]]:
    """Split a markdown cell before each ``#`` to ``###`` heading that is not its first line.

    The parts keep the cell's metadata; the first keeps its id, the others get ``<id>-<k>``.

    Example:
    >>> parts = split_at_headings({"cell_type": "markdown", "id": "c", "metadata": {},
    ...                            "source": "## Summary\\n\\n- done\\n\\n## Exercises\\n\\nTry."})
    >>> [(p["id"], p["source"]) for p in parts]
    [('c', '## Summary\\n\\n- done\\n'), ('c-1', '## Exercises\\n\\nTry.')]
    """
    if cell.get("cell_type") != "markdown":
        return [cell]
    lines = cell_source(cell).splitlines(keepends=True)
    starts = [n for n, level, _ in markdown_headings(cell_source(cell)) if level <= 3 and n > 0]
    if not starts:
        return [cell]
    parts = []
    for k, (a, b) in enumerate(zip([0, *starts], [*starts, len(lines)], strict=True)):
        part = copy.deepcopy(cell)
        part["source"] = "".join(lines[a:b]).rstrip("\n") + ("\n" if b < len(lines) else "")
        if k:
            part["id"] = f"{cell.get('id', 'cell')[:60]}-{k}"
        parts.append(part)
    return parts


def _is_image_output(output: dict[str, Any]) -> bool:
    return output.get("output_type") in {"display_data", "execute_result"} and any(
        mime in output.get("data", {}) for mime in _IMAGE_MIMES
    )


def _estimated_lines(cell: dict[str, Any]) -> int:
    """A rough height of a cell on a slide, in lines of text (a figure counts as 14)."""
    hidden = cell.get("metadata", {}).get("transient", {}).get("remove_source", False)
    lines = 0 if hidden else sum(1 + len(line) // 90 for line in cell_source(cell).splitlines())
    for output in cell.get("outputs", []):
        if _is_image_output(output):
            lines += 14
        elif output.get("output_type") == "stream":
            lines += min(len(cell_source({"source": output.get("text", "")}).splitlines()), 12)
        elif output.get("output_type") in {"display_data", "execute_result", "error"}:
            lines += min(
                len(cell_source({"source": output.get("data", {}).get("text/plain", "")}).splitlines()), 12
            )
    return lines


def _tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def assign_slide_types(nb: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``nb`` with ``metadata.slideshow.slide_type`` set on every cell (rules above).

    Markdown cells with several headings are split at them. Code cells of more than
    :data:`FIGURE_CODE_LINES` lines with figures are split in two: the code, then the figures
    (input hidden) on the next sub-slide. ``metadata.title`` is set from the title of cell 0.

    Args:
        nb: a notebook (``nbformat.NotebookNode`` or plain dict, nbformat 4).

    Returns:
        A new notebook; ``nb`` is not modified.

    Example:
    >>> cells = [{"cell_type": "markdown", "source": "# 01 · Demo", "metadata": {}},
    ...          {"cell_type": "markdown", "source": "## Setup", "metadata": {}},
    ...          {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []},
    ...          {"cell_type": "markdown", "source": "### Detail", "metadata": {}}]
    >>> out = assign_slide_types({"cells": cells, "metadata": {}})
    >>> [c["metadata"]["slideshow"]["slide_type"] for c in out["cells"]]
    ['slide', 'slide', '-', 'subslide']
    >>> out["metadata"]["title"]
    '01 · Demo'
    """
    nb = copy.deepcopy(nb)
    cells: list[dict[str, Any]] = []
    used = 0  # estimated lines on the current (sub-)slide
    previous_was_solution = False
    for cell in [part for original in nb["cells"] for part in split_at_headings(original)]:
        meta = cell.setdefault("metadata", {})
        authored = meta.get("slideshow", {}).get("slide_type")
        level = heading_level(cell)
        solution = is_solution(cell)
        code_lines = len(cell_source(cell).splitlines()) if cell.get("cell_type") == "code" else 0
        is_long_code = code_lines > LONG_CODE_LINES
        if HIDE_INPUT_TAG in _tags(cell):
            meta.setdefault("transient", {})["remove_source"] = True
        figure_cell = None
        if code_lines > FIGURE_CODE_LINES and not meta.get("transient", {}).get("remove_source"):
            figures = [o for o in cell.get("outputs", []) if _is_image_output(o)]
            if figures:
                figure_cell = {
                    "id": f"{cell.get('id', 'cell')[:57]}-figure",
                    "cell_type": "code",
                    "execution_count": cell.get("execution_count"),
                    "source": "",
                    "outputs": figures,
                    "metadata": {
                        "transient": {"remove_source": True},
                        "slideshow": {"slide_type": "subslide"},
                        "tags": ["tfcourse-figure"],
                    },
                }
                cell["outputs"] = [o for o in cell["outputs"] if not _is_image_output(o)]
        size = _estimated_lines(cell)

        if authored:
            slide_type = authored
        elif not cells or (level is not None and level <= 2):
            slide_type = "slide"
        elif level is not None or (solution and not previous_was_solution) or is_long_code:
            slide_type = "subslide"
        elif used + size > SLIDE_LINES and used > 0:
            slide_type = "subslide"
        else:
            slide_type = "-"
        meta["slideshow"] = {**meta.get("slideshow", {}), "slide_type": slide_type}
        used = size if slide_type in {"slide", "subslide"} else used + size
        previous_was_solution = solution
        cells.append(cell)
        if figure_cell is not None:
            cells.append(figure_cell)
            used = 14
    nb["cells"] = cells
    first = nb["cells"][0] if nb["cells"] else {}
    if heading_level(first) == 1 and "title" not in nb.setdefault("metadata", {}):
        nb["metadata"]["title"] = cell_source(first).lstrip("\n").split("\n", 1)[0].lstrip("#").strip()
    return nb


class SlideLayoutPreprocessor(Preprocessor):
    """nbconvert preprocessor that applies :func:`assign_slide_types` before the slides exporter."""

    def preprocess(self, nb, resources):
        return nbformat.from_dict(assign_slide_types(nb)), resources


# reveal.js and friends ------------------------------------------------------------------------


def vendor_dir(slides_dir: Path | None = None) -> Path:
    """Where the local copy of reveal.js and friends lives: ``<slides_dir>/vendor``."""
    return Path(slides_dir or PATHS.build / "slides") / "vendor"


def vendor_complete(vendor: Path) -> bool:
    """True when every file a deck loads is in ``vendor`` at the pinned versions."""
    modules = Path(vendor) / "node_modules"
    if not all((modules / name).is_file() for name in VENDOR_FILES):
        return False
    for package, version in VENDOR_PACKAGES.items():
        try:
            found = json.loads((modules / package / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            return False
        if found != version:
            return False
    return True


def vendor_reveal(vendor: Path, *, npm: str = "npm") -> Path:
    """Install the pinned reveal.js, require.js, jQuery and MathJax into ``vendor`` unless there.

    Runs ``npm install --prefix <vendor>`` (the npm registry only; no install scripts run).

    Args:
        vendor: target directory; the packages land in ``<vendor>/node_modules``.
        npm: the npm executable.

    Returns:
        ``vendor``.

    Raises:
        SlidesError: if npm is missing or the install fails; the message says how to fix it.
    """
    vendor = Path(vendor)
    if vendor_complete(vendor):
        return vendor
    exe = shutil.which(npm)
    if exe is None:
        raise SlidesError(
            f"reveal.js is not in {vendor} and `{npm}` is not on PATH to fetch it from the npm "
            "registry. Install Node.js/npm (e.g. `apt-get install npm`), or build decks that load "
            "reveal.js from the CDN with `python -m tfcourse slides --cdn` (they need a network)."
        )
    vendor.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in VENDOR_PACKAGES.items()]
    cmd = [exe, "install", "--prefix", str(vendor), "--no-audit", "--no-fund", "--ignore-scripts", *specs]
    print("fetching " + ", ".join(specs) + f" into {vendor} (npm registry)", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not vendor_complete(vendor):
        raise SlidesError(
            f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n{done.stderr.strip()[-2000:]}\n"
            "Check that the npm registry is reachable, or use `--cdn`."
        )
    for part in MATHJAX_UNUSED:
        shutil.rmtree(vendor / "node_modules" / "mathjax" / part, ignore_errors=True)
    return vendor


@dataclass(frozen=True)
class AssetUrls:
    """Where a deck loads reveal.js, require.js, jQuery and MathJax from (relative or CDN URLs)."""

    reveal: str
    require_js: str
    jquery: str
    mathjax: str

    @classmethod
    def local(cls, vendor: Path, deck_dir: Path) -> AssetUrls:
        """URLs relative to ``deck_dir`` into the vendor copy, so the decks work from ``file://``."""
        rel = Path(
            os.path.relpath(Path(vendor).resolve() / "node_modules", Path(deck_dir).resolve())
        ).as_posix()
        return cls(
            reveal=f"{rel}/reveal.js",
            require_js=f"{rel}/requirejs/require.js",
            jquery=f"{rel}/jquery/dist/jquery.min.js",
            mathjax=f"{rel}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
        )

    @classmethod
    def cdn(cls) -> AssetUrls:
        """Public CDN URLs (the decks then need a network to render)."""
        v = VENDOR_PACKAGES
        return cls(
            reveal=f"https://unpkg.com/reveal.js@{v['reveal.js']}",
            require_js=f"https://unpkg.com/requirejs@{v['requirejs']}/require.js",
            jquery=f"https://unpkg.com/jquery@{v['jquery']}/dist/jquery.min.js",
            mathjax=f"https://unpkg.com/mathjax@{v['mathjax']}/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
        )


def exporter(urls: AssetUrls):
    """nbconvert's SlidesExporter with the course's layout preprocessor, template and asset URLs."""
    from jinja2 import DictLoader
    from nbconvert import SlidesExporter

    exp = SlidesExporter(
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        reveal_url_prefix=urls.reveal,
        require_js_url=urls.require_js,
        jquery_url=urls.jquery,
        mathjax_url=urls.mathjax,
        reveal_theme="white",
        reveal_transition="none",
        reveal_scroll=True,
        reveal_number="c/t",
        reveal_width=str(SLIDE_SIZE[0]),
        reveal_height=str(SLIDE_SIZE[1]),
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        # Exporter-level preprocessors run before the template's own (nbconvert's
        # _RevealMetadataPreprocessor, which turns slide types into <section>s).
        preprocessors=[SlideLayoutPreprocessor],
    )
    exp.template_file = _TEMPLATE_NAME
    return exp


# Which notebook a deck is built from -----------------------------------------------------------


def _sources(nb: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.get("cell_type", ""), cell_source(c)) for c in nb.get("cells", [])]


def choose_source(committed: Path, executed_dir: Path | None, source: str = "auto") -> tuple[Path, str]:
    """Pick the notebook a deck is built from: the executed copy in ``executed_dir`` or the committed one.

    Args:
        committed: ``notebooks/NN_name.ipynb``.
        executed_dir: where ``make course`` writes executed notebooks (``build/course``).
        source: ``"auto"`` (the executed copy when it exists and its cells match the committed
            notebook, else the committed one), ``"executed"`` (required) or ``"committed"``.

    Returns:
        ``(path, kind)`` with kind ``"executed"`` or ``"committed"``; for ``auto`` with a stale
        executed copy, kind is ``"committed; the executed copy is stale, run make course"``.
    """
    if source not in {"auto", "executed", "committed"}:
        raise ValueError(f"`source` must be one of auto, executed, committed. Received: source={source!r}")
    if source == "committed" or executed_dir is None:
        return committed, "committed"
    executed = Path(executed_dir) / committed.name
    if not executed.is_file():
        if source == "executed":
            raise SlidesError(f"{executed} does not exist: run `make course` first, or use --source auto.")
        return committed, "committed"
    if source == "executed":
        return executed, "executed"
    same = _sources(read_notebook(executed)) == _sources(read_notebook(committed))
    return (executed, "executed") if same else (committed, STALE)


def build_deck(notebook: Path, out_dir: Path, urls: AssetUrls) -> Path:
    """Write ``<out_dir>/<stem>.slides.html`` from ``notebook`` and return its path."""
    nb = read_notebook(notebook)
    body, _ = exporter(urls).from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    out = Path(out_dir) / f"{notebook.stem}.slides.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def build_slides(
    notebooks: list[Path],
    out_dir: Path | None = None,
    *,
    executed_dir: Path | None = None,
    source: str = "auto",
    cdn: bool = False,
    vendor: Path | None = None,
) -> list[Path]:
    """Build one deck per notebook into ``out_dir`` (default ``build/slides``), printing each.

    Args:
        notebooks: committed notebooks (``notebooks/NN_name.ipynb``).
        out_dir: where the decks go.
        executed_dir: executed notebooks to prefer (default ``build/course``); see :func:`choose_source`.
        source: ``auto``, ``executed`` or ``committed``.
        cdn: load reveal.js and friends from a CDN instead of a local copy.
        vendor: the local copy (default ``<out_dir>/vendor``), installed from npm when missing.

    Returns:
        The paths of the decks written.
    """
    out_dir = Path(out_dir or PATHS.build / "slides")
    executed_dir = PATHS.build / "course" if executed_dir is None else executed_dir
    if not notebooks:
        raise SlidesError("no notebooks given (expected notebooks/NN_name.ipynb)")
    urls = AssetUrls.cdn() if cdn else AssetUrls.local(vendor_reveal(vendor or vendor_dir(out_dir)), out_dir)
    decks = []
    for notebook in notebooks:
        path, kind = choose_source(Path(notebook), executed_dir, source)
        deck = build_deck(path, out_dir, urls)
        print(f"slides  {deck}  from {path} ({kind})", flush=True)
        decks.append(deck)
    return decks
