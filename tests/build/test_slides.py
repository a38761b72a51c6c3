"""Slide decks: the layout derived from headings, the deck's HTML, and a real browser rendering it offline.

The browser test is marked ``slow``; ``pytest -m "not slow"`` leaves it out. It skips when
chromium (``apt-get install chromium``, or ``$TFCOURSE_CHROMIUM``) or npm is missing, except
under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from tfcourse.build import slides
from tfcourse.build.cli import main
from tfcourse.build.student import markdown_headings
from tfcourse.config import PATHS

NOTEBOOKS = sorted(PATHS.notebooks.glob("[0-9][0-9]_*.ipynb"))
IN_CI = os.environ.get("CI", "").strip().lower() == "true"
PNG_1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _types(nb) -> list[str]:
    return [c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"]]


def _code(lines: int, **kw):
    return v4.new_code_cell("\n".join(f"x{n} = {n}" for n in range(lines)), **kw)


def _figure():
    return v4.new_output("display_data", data={"image/png": PNG_1x1, "text/plain": "<Figure>"})


def _demo_notebook() -> nbformat.NotebookNode:
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell("# 00 · Demo deck\n\nWhat it is about.\n\n## What you will learn\n\n- slides"),
        v4.new_markdown_cell("## Setup"),
        v4.new_code_cell("import math  # SHORT-CODE"),
        v4.new_markdown_cell("### A detail"),
        _code(LONG := slides.LONG_CODE_LINES + 1),
        _code(slides.FIGURE_CODE_LINES + 1, outputs=[v4.new_output("stream", text="hi\n"), _figure()]),
        v4.new_code_cell(
            "plot()  # ONLY-FOR-THE-FIGURE", outputs=[_figure()], metadata={"tags": ["hide-input"]}
        ),
        v4.new_markdown_cell("## Exercises"),
        v4.new_markdown_cell("### Exercise 1: Do it"),
        v4.new_code_cell("answer = 1", metadata={"tags": ["solution"]}),
        v4.new_code_cell("assert answer", metadata={"tags": ["solution"]}),
        v4.new_markdown_cell("Author's choice", metadata={"slideshow": {"slide_type": "fragment"}}),
    ]
    for n, cell in enumerate(nb.cells):
        cell.id = f"demo-{n:03d}"
    assert LONG > slides.LONG_CODE_LINES
    return nb


# The layout ---------------------------------------------------------------------------------------


def test_headings_long_code_figures_and_solutions_set_the_layout():
    nb = _demo_notebook()
    out = slides.assign_slide_types(nb)
    assert [c.get("id") for c in out["cells"]][:2] == ["demo-000", "demo-000-1"]
    assert [c.get("id") for c in out["cells"]][6:8] == ["demo-005", "demo-005-figure"]
    assert _types(out) == [
        "slide",  # title
        "slide",  # ## What you will learn, split from the title cell
        "slide",  # ## Setup
        "-",  # short code joins its slide
        "subslide",  # ### heading
        "subslide",  # long code
        "subslide",  # code with a figure...
        "subslide",  # ...whose figure gets its own sub-slide
        "subslide",  # hide-input figure: two figures do not fit on one slide
        "slide",  # ## Exercises
        "subslide",  # ### Exercise 1
        "subslide",  # the solution is one step down
        "-",  # its second cell joins it
        "fragment",  # set by the author: kept
    ]
    split, figure = out["cells"][6], out["cells"][7]
    assert [o["output_type"] for o in split["outputs"]] == ["stream"]
    assert figure["metadata"]["transient"] == {"remove_source": True} and figure["outputs"][0]["data"]
    assert out["cells"][8]["metadata"]["transient"] == {"remove_source": True}
    assert out["metadata"]["title"] == "00 · Demo deck"
    assert "slideshow" not in nb.cells[1].metadata and len(nb.cells) == 12, "the input is not modified"


def test_cells_with_several_headings_are_split_into_slides():
    cell = v4.new_markdown_cell(
        "## Summary\n\n- a\n\n```\n# code, not a heading\n```\n## Exercises\n### Exercise 1: Go"
    )
    cell.id = "s"
    out = slides.assign_slide_types(v4.new_notebook(cells=[v4.new_markdown_cell("# 00 · T"), cell]))
    assert [(c["id"], c["source"].split("\n")[0]) for c in out["cells"][1:]] == [
        ("s", "## Summary"),
        ("s-1", "## Exercises"),
        ("s-2", "### Exercise 1: Go"),
    ]
    assert _types(out) == ["slide", "slide", "slide", "subslide"]
    assert "# code, not a heading" in out["cells"][1]["source"]


def test_a_full_slide_overflows_into_a_subslide():
    cells = [v4.new_markdown_cell("## Section")]
    cells += [v4.new_markdown_cell("\n".join(["line"] * 8)) for _ in range(4)]
    types = _types(slides.assign_slide_types(v4.new_notebook(cells=cells)))
    assert types == ["slide", "-", "-", "subslide", "-"]


def test_the_deck_html_has_the_layout_title_and_local_assets(tmp_path: Path):
    src = tmp_path / "00_demo.ipynb"
    nbformat.write(_demo_notebook(), src)
    vendor = tmp_path / "vendor"
    urls = slides.AssetUrls.local(vendor, tmp_path / "decks")
    assert urls.reveal == "../vendor/node_modules/reveal.js"
    deck = slides.build_deck(src, tmp_path / "decks", urls)
    html = deck.read_text()
    assert deck.name == "00_demo.slides.html"
    assert "<title>00 · Demo deck slides</title>" in html
    assert 'src="../vendor/node_modules/requirejs/require.js"' in html
    assert "../vendor/node_modules/reveal.js/dist/reveal.js" in html
    assert "https://" not in "".join(line for line in html.splitlines() if "<script src=" in line)
    assert "mermaid" not in html.split("<body", 1)[0].lower().replace("mermaidjs", "")
    assert "ONLY-FOR-THE-FIGURE" not in html, "hide-input hides the code"
    assert "SHORT-CODE" in html and html.count(f"data:image/png;base64,{PNG_1x1}") == 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_layout_of_each_notebook(path: Path):
    nb = nbformat.read(path, as_version=4)
    out = slides.assign_slide_types(nb)
    title = nb.cells[0].source.split("\n", 1)[0].lstrip("# ").strip()
    assert out["metadata"]["title"] == title
    for cell in out["cells"]:
        level = slides.heading_level(cell)
        kind = cell["metadata"]["slideshow"]["slide_type"]
        lines = len(cell["source"].splitlines())
        if level is not None and level <= 2:
            assert kind == "slide", cell["source"][:40]
        elif level is not None or (cell["cell_type"] == "code" and lines > slides.LONG_CODE_LINES):
            assert kind == "subslide", cell["source"][:40]
    n_slides = sum(
        level <= 2
        for c in nb.cells
        if c.cell_type == "markdown"
        for _, level, _ in markdown_headings(c.source)
    )
    assert _types(out).count("slide") == n_slides


# Which notebook, and where reveal.js comes from ----------------------------------------------------


def test_choose_source_prefers_an_up_to_date_executed_copy(tmp_path: Path):
    committed, executed = tmp_path / "nb", tmp_path / "course"
    committed.mkdir()
    executed.mkdir()
    path = committed / "00_demo.ipynb"
    nb = _demo_notebook()
    nbformat.write(nb, path)
    assert slides.choose_source(path, executed) == (path, "committed")
    with pytest.raises(slides.SlidesError, match="run `make course` first"):
        slides.choose_source(path, executed, "executed")
    nb.cells[2].outputs = [v4.new_output("stream", text="ran\n")]
    nbformat.write(nb, executed / path.name)
    assert slides.choose_source(path, executed) == (executed / path.name, "executed")
    assert slides.choose_source(path, executed, "committed") == (path, "committed")
    nb.cells[2].source = "import math  # edited since the course was run"
    nbformat.write(nb, executed / path.name)
    assert slides.choose_source(path, executed) == (path, slides.STALE)
    with pytest.raises(ValueError, match="Received: source='newest'"):
        slides.choose_source(path, executed, "newest")


def test_vendor_is_checked_and_a_missing_npm_is_a_clear_error(tmp_path: Path):
    vendor = tmp_path / "vendor"
    assert not slides.vendor_complete(vendor)
    with pytest.raises(slides.SlidesError, match="not on PATH.*--cdn"):
        slides.vendor_reveal(vendor, npm="no-such-npm-here")
    modules = vendor / "node_modules"
    for name in slides.VENDOR_FILES:
        (modules / name).parent.mkdir(parents=True, exist_ok=True)
        (modules / name).write_text("")
    for package, version in slides.VENDOR_PACKAGES.items():
        (modules / package / "package.json").write_text(json.dumps({"version": version}))
    assert slides.vendor_complete(vendor)
    assert slides.vendor_reveal(vendor, npm="no-such-npm-here") == vendor, "present: npm not needed"
    (modules / "reveal.js" / "package.json").write_text(json.dumps({"version": "3.9.2"}))
    assert not slides.vendor_complete(vendor), "a wrong version is not accepted"


def _fake_npm(tmp_path: Path, *, fail: bool = False) -> Path:
    """An `npm` stand-in that records its arguments and lays out the pinned packages (or fails)."""
    files = json.dumps(list(slides.VENDOR_FILES))
    packages = json.dumps(slides.VENDOR_PACKAGES)
    script = tmp_path / "npm"
    script.write_text(
        f"""#!{sys.executable}
import json, sys
from pathlib import Path
Path({str(tmp_path / "args.json")!r}).write_text(json.dumps(sys.argv[1:]))
if {fail!r}:
    sys.exit("npm ERR! network unreachable")
modules = Path(sys.argv[sys.argv.index("--prefix") + 1]) / "node_modules"
for name in {files}:
    (modules / name).parent.mkdir(parents=True, exist_ok=True)
    (modules / name).write_text("")
for package, version in {packages}.items():
    (modules / package / "package.json").write_text(json.dumps({{"version": version}}))
(modules / "mathjax" / "unpacked").mkdir()
"""
    )
    script.chmod(0o755)
    return script


def test_vendor_reveal_installs_the_pinned_packages_and_prunes_mathjax(tmp_path: Path):
    vendor = tmp_path / "vendor"
    assert slides.vendor_reveal(vendor, npm=str(_fake_npm(tmp_path))) == vendor
    args = json.loads((tmp_path / "args.json").read_text())
    assert args[:3] == ["install", "--prefix", str(vendor)] and "--ignore-scripts" in args
    assert "reveal.js@4.6.1" in args and "mathjax@2.7.9" in args
    assert slides.vendor_complete(vendor)
    assert not (vendor / "node_modules" / "mathjax" / "unpacked").exists()
    with pytest.raises(slides.SlidesError, match="network unreachable"):
        slides.vendor_reveal(tmp_path / "other", npm=str(_fake_npm(tmp_path, fail=True)))


def test_cli_builds_cdn_decks(tmp_path: Path, capsys):
    src = tmp_path / "00_demo.ipynb"
    nbformat.write(_demo_notebook(), src)
    assert main(["slides", str(src), "--out", str(tmp_path / "out"), "--cdn", "--source", "committed"]) == 0
    assert "unpkg.com/reveal.js@4" in (tmp_path / "out" / "00_demo.slides.html").read_text()
    assert f"from {src} (committed)" in capsys.readouterr().out
    assert main(["slides", str(tmp_path / "missing.ipynb"), "--cdn"]) == 1


# A real browser ------------------------------------------------------------------------------------


def _need(ok: bool, why: str) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"{why}; CI=true, so the browser test must run", pytrace=False)
        pytest.skip(why)


class _Sections(HTMLParser):
    """Every <section> with its classes, style, hidden flag and text; and the .reveal div's classes."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict] = []
        self._open: list[dict] = []
        self.reveal_classes: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = set((attrs.get("class") or "").split())
        if tag == "div" and "reveal" in classes:
            self.reveal_classes = classes
        if tag == "section":
            entry = {
                "classes": classes,
                "style": attrs.get("style") or "",
                "hidden": "hidden" in attrs,
                "text": "",
            }
            self.sections.append(entry)
            self._open.append(entry)

    def handle_endtag(self, tag):
        if tag == "section" and self._open:
            self._open.pop()

    def handle_data(self, data):
        for entry in self._open:
            entry["text"] += data


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no network at all: the deck must render offline
        "--virtual-time-budget=5000",  # virtual time: scripts run to idle without waiting
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


# $TFCOURSE_CHROMIUM names another Chromium or Chrome binary (e.g. on macOS).
CHROMIUM = os.environ.get("TFCOURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.slow
def test_first_slide_renders_offline_in_a_browser(tmp_path: Path):
    _need(Path(CHROMIUM).is_file(), "chromium not installed (apt-get install -y chromium)")
    _need(bool(NOTEBOOKS), "no notebooks to build a deck from")
    try:
        vendor = slides.vendor_reveal(slides.vendor_dir())
    except slides.SlidesError as err:
        _need(False, f"no local reveal.js: {err}")
    notebook = NOTEBOOKS[0]
    title = nbformat.read(notebook, as_version=4).cells[0].source.split("\n", 1)[0].lstrip("# ").strip()
    decks = tmp_path / "decks"
    deck = slides.build_deck(notebook, decks, slides.AssetUrls.local(vendor, decks))

    png = tmp_path / "first.png"
    run = _chromium(
        "--window-size=1280,720", f"--screenshot={png}", "--dump-dom", deck.as_uri(), profile=tmp_path / "p1"
    )
    assert run.returncode == 0 and png.is_file(), run.stderr[-2000:]
    parsed = _Sections()
    parsed.feed(run.stdout)
    assert "ready" in parsed.reveal_classes, "reveal.js did not initialise (is the local copy loading?)"
    present = [s for s in parsed.sections if "present" in s["classes"] and "stack" not in s["classes"]]
    assert present, "no slide is shown"
    first = present[0]
    assert title in first["text"], f"first slide shows {first['text'][:200]!r}, not the title {title!r}"
    assert not first["hidden"] and "display: none" not in first["style"]
    assert len(parsed.sections) > 3

    import matplotlib.image

    gray = matplotlib.image.imread(png)[..., :3].mean(axis=-1)  # (720, 1280) in [0, 1]
    assert gray.shape == (720, 1280)
    dark = (gray < 0.5).mean()
    assert gray.std() > 0.05 and 0.005 < dark < 0.5, (
        f"blank-looking screenshot (std {gray.std():.3f}, dark {dark:.3%})"
    )

    # Control: the same deck with nbconvert's CDN links does not render offline.
    cdn_deck = slides.build_deck(notebook, tmp_path / "cdn", slides.AssetUrls.cdn())
    control = _Sections()
    control.feed(_chromium("--dump-dom", cdn_deck.as_uri(), profile=tmp_path / "p2").stdout)
    assert "ready" not in control.reveal_classes
