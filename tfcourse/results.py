"""Headline numbers that notebooks report, collected for the README's results table.

A notebook calls :func:`record` for each number it wants reported (an accuracy, an IoU, a
time). Each call merges into ``build/results/<notebook>.json`` (or ``$TFCOURSE_RESULTS_DIR``),
stamped with the profile, so that ``make course`` can gather every notebook's numbers into
one ``results.json``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from tfcourse.config import PATHS, get_profile

RESULTS_DIR_ENV_VAR = "TFCOURSE_RESULTS_DIR"


def results_dir() -> Path:
    """Where per-notebook result files go: ``$TFCOURSE_RESULTS_DIR`` or ``build/results``."""
    return Path(os.environ.get(RESULTS_DIR_ENV_VAR) or PATHS.build / "results")


def record(notebook: str, key: str, value: float | int | str, unit: str = "") -> dict:
    """Record one headline number of ``notebook`` (e.g. ``"02_fashion_mnist_cnn"``) and return the file's content.

    Floats are rounded to 4 decimals. Recording the same key again replaces the value.

    Example:
    >>> import tempfile, os
    >>> os.environ[RESULTS_DIR_ENV_VAR] = tempfile.mkdtemp()
    >>> record("00_demo", "test_accuracy", 0.912345)["values"]["test_accuracy"]
    {'value': 0.9123, 'unit': ''}
    >>> del os.environ[RESULTS_DIR_ENV_VAR]
    """
    if not notebook or not key:
        raise ValueError(
            f"`notebook` and `key` must be non-empty. Received: notebook={notebook!r}, key={key!r}"
        )
    path = results_dir() / f"{notebook}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    content = json.loads(path.read_text()) if path.is_file() else {"notebook": notebook, "values": {}}
    content["profile"] = get_profile().name
    content["machine"] = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    content["values"][key] = {"value": round(value, 4) if isinstance(value, float) else value, "unit": unit}
    path.write_text(json.dumps(content, indent=2) + "\n")
    return content


def collect(directory: str | os.PathLike | None = None) -> dict[str, dict]:
    """Read every notebook's result file in ``directory`` into one dict keyed by notebook."""
    directory = Path(directory) if directory is not None else results_dir()
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}
