"""The rendered course: execute every notebook in one profile, save it as a notebook and as HTML,
and gather the headline numbers and wall times into ``results.json``.

``python -m tfcourse course --profile full`` (``make course``) writes to ``build/course/``:

* ``NN_name.ipynb``: the executed notebook (the slides prefer it, see :mod:`tfcourse.build.slides`);
* ``NN_name.html``: the same as a static page, figures embedded;
* ``results/NN_name.json``: what the notebook recorded with :func:`tfcourse.results.record`
  (the kernel runs with ``TFCOURSE_RESULTS_DIR`` pointing there);
* ``results.json``: per notebook, its status, wall time, time budget and recorded values;
* ``results.md``: the same as the Markdown table that the README shows.

Notebooks run in a fresh ``python3`` kernel of the current interpreter (its virtualenv), from the
notebook's own directory, with no per-cell timeout; a failing notebook is saved with its error,
the others still run, and the command exits non-zero.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient.exceptions import CellExecutionError
from nbconvert.preprocessors import ExecutePreprocessor

from tfcourse.build.cells import read_notebook, write_notebook
from tfcourse.config import PATHS, PROFILE_ENV_VAR, get_profile, notebook_budget
from tfcourse.results import RESULTS_DIR_ENV_VAR, collect

KERNEL_NAME = "python3"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@dataclass
class NotebookRun:
    """The outcome of executing one notebook."""

    notebook: str
    status: str  # "ok" or "failed"
    wall_s: float
    profile: str
    budget_s: float | None = None
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)


class _ProgressExecutor(ExecutePreprocessor):
    """ExecutePreprocessor that reports each finished code cell to a callback."""

    def __init__(self, on_cell: Callable[[int], None] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._on_cell = on_cell

    def preprocess_cell(self, cell, resources, index):  # nbconvert's signature
        cell, resources = super().preprocess_cell(cell, resources, index)
        if self._on_cell is not None and cell.cell_type == "code":
            self._on_cell(index)
        return cell, resources


def kernel_env(profile: str, results_dir: Path) -> dict[str, str]:
    """What the notebook kernels' environment gets: the profile, the results directory, inline figures."""
    return {
        PROFILE_ENV_VAR: profile,
        RESULTS_DIR_ENV_VAR: str(Path(results_dir).resolve()),
        "MPLBACKEND": INLINE_BACKEND,  # `make test` sets Agg, which would drop every figure
    }


@contextmanager
def _environ(updates: dict[str, str]) -> Iterator[None]:
    """Set ``updates`` in ``os.environ`` for the block (a kernel started inside inherits them), then restore."""
    saved = {key: os.environ.get(key) for key in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_notebook(
    path: Path,
    out_dir: Path,
    *,
    profile: str,
    results_dir: Path,
    timeout: int | None = None,
    progress: bool = True,
) -> NotebookRun:
    """Execute ``path`` in a fresh kernel; write the executed notebook and its HTML page to ``out_dir``.

    Args:
        path: the notebook.
        out_dir: where ``<stem>.ipynb`` and ``<stem>.html`` go.
        profile: ``quick`` or ``full`` (``TFCOURSE_PROFILE`` of the kernel).
        results_dir: ``TFCOURSE_RESULTS_DIR`` of the kernel; the notebook's old results file there
            is removed first, so no stale number survives.
        timeout: per-cell timeout in seconds; None (the default) waits as long as a cell runs.
        progress: show a progress bar over the notebook's code cells.

    Returns:
        A :class:`NotebookRun`; status ``failed`` with the error's last lines when a cell raised.
    """
    from tqdm.auto import tqdm

    path, out_dir = Path(path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    (Path(results_dir) / f"{path.stem}.json").unlink(missing_ok=True)
    nb = read_notebook(path)
    budget = notebook_budget(path, profile)
    n_code = sum(cell.cell_type == "code" for cell in nb.cells)
    bar = tqdm(total=n_code, desc=path.stem, unit="cell", disable=not progress, file=sys.stdout)
    executor = _ProgressExecutor(
        on_cell=lambda _: bar.update(1), timeout=timeout, kernel_name=KERNEL_NAME, record_timing=True
    )
    error = None
    start = time.perf_counter()
    # The kernel inherits this process's environment.
    with _environ(kernel_env(profile, results_dir)):
        try:
            executor.preprocess(nb, {"metadata": {"path": str(path.parent.resolve())}})
        except CellExecutionError as err:
            error = "\n".join(str(err).strip().splitlines()[-6:])
    wall = time.perf_counter() - start
    bar.close()
    outputs = {"notebook": path.name, "html": f"{path.stem}.html"}  # relative to out_dir
    write_notebook(nb, out_dir / outputs["notebook"])
    write_html(nb, out_dir / outputs["html"])
    return NotebookRun(
        notebook=path.stem,
        status="failed" if error else "ok",
        wall_s=round(wall, 1),
        profile=profile,
        budget_s=budget,
        error=error,
        outputs=outputs,
    )


def write_html(nb: nbformat.NotebookNode, out: Path) -> Path:
    """Render an executed notebook as a static HTML page (figures are embedded in the page)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb, resources={"metadata": {"name": out.stem}})
    out.write_text(body, encoding="utf-8")
    return out


def gather_results(runs: list[NotebookRun], results_dir: Path, previous: dict | None = None) -> dict:
    """Combine the runs with what each notebook recorded into the content of ``results.json``.

    Notebooks that were not run this time keep their entries from ``previous`` (the old file).

    Example:
    >>> import tempfile
    >>> run = NotebookRun("00_demo", "ok", 12.5, "quick", budget_s=60)
    >>> gather_results([run], Path(tempfile.mkdtemp()))["notebooks"]["00_demo"]["wall_s"]
    12.5
    """
    notebooks = dict((previous or {}).get("notebooks", {}))
    recorded = collect(results_dir) if Path(results_dir).is_dir() else {}
    for run in runs:
        entry = asdict(run)
        entry.pop("notebook")
        entry["values"] = recorded.get(run.notebook, {}).get("values", {})
        notebooks[run.notebook] = entry
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "notebooks": dict(sorted(notebooks.items())),
    }


def _format_value(value: Any, unit: str) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}".strip()


def results_table(results: dict) -> str:
    """The README's results table (Markdown) from the content of ``results.json``.

    Example:
    >>> table = results_table({"notebooks": {"01_demo": {"status": "ok", "wall_s": 42.0,
    ...     "profile": "full", "budget_s": 300, "values": {"test_accuracy": {"value": 0.91, "unit": ""}}}}})
    >>> print(table.splitlines()[2])
    | 01_demo | full | 42 s | test_accuracy 0.91 |
    """
    lines = ["| notebook | profile | wall time | headline numbers |", "| --- | --- | --- | --- |"]
    for name, entry in results.get("notebooks", {}).items():
        values = ", ".join(
            f"{key} {_format_value(v.get('value'), v.get('unit', ''))}"
            for key, v in entry.get("values", {}).items()
        )
        if entry.get("status") != "ok":
            values = ("**failed** " + values).strip()
        lines.append(
            f"| {name} | {entry.get('profile', '')} | {entry.get('wall_s', 0):.0f} s | {values or '-'} |"
        )
    return "\n".join(lines) + "\n"


def run_course(
    notebooks: list[Path],
    out_dir: Path | None = None,
    *,
    profile: str = "full",
    timeout: int | None = None,
    progress: bool = True,
) -> dict:
    """Execute ``notebooks`` in ``profile`` into ``out_dir`` (default ``build/course``) and write the results.

    Args:
        notebooks: the notebooks to run, in order.
        out_dir: where everything goes.
        profile: ``quick`` or ``full``; anything else raises ``ValueError`` naming the choices.
        timeout: per-cell timeout in seconds (None: no limit).
        progress: show progress bars.

    Returns:
        The content written to ``results.json``.
    """
    profile = get_profile(profile).name  # validates, with a message that lists the profiles
    if not notebooks:
        raise ValueError("No notebooks to run. Received: notebooks=[]")
    out_dir = Path(out_dir or PATHS.build / "course")
    results_dir = out_dir / "results"
    runs = []
    for n, path in enumerate(notebooks, start=1):
        print(f"[{n}/{len(notebooks)}] {Path(path).name} ({profile})", flush=True)
        run = execute_notebook(
            Path(path), out_dir, profile=profile, results_dir=results_dir, timeout=timeout, progress=progress
        )
        budget = f" / budget {run.budget_s:.0f} s" if run.budget_s else ""
        print(
            f"      {run.status} in {run.wall_s:.1f} s{budget} -> {out_dir / run.outputs['html']}", flush=True
        )
        if run.error:
            print("      " + run.error.replace("\n", "\n      "), flush=True)
        runs.append(run)
    results_path = out_dir / "results.json"
    previous = json.loads(results_path.read_text()) if results_path.is_file() else None
    results = gather_results(runs, results_dir, previous)
    results_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out_dir / "results.md").write_text(results_table(results), encoding="utf-8")
    print(f"results  {results_path}", flush=True)
    return results
