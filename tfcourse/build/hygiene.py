"""Notebook hygiene: strip outputs for commit, give cells stable ids, and check both.

The course's conventions (see CONTRIBUTING.md):

* Outputs are stripped before commit, except in code cells whose source contains
  ``# NBVAL_CHECK_OUTPUT`` (small deterministic outputs that nbval compares).
* Every cell has an id, unique in its notebook, that stays put across edits.
* Notebook metadata ``tfcourse.budget_s`` gives the time budget per profile.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tfcourse.build.cells import cell_source, notebook_text, read_notebook

CHECK_OUTPUT_MARK = "# NBVAL_CHECK_OUTPUT"
_ID_RE = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


def keeps_output(cell: dict[str, Any]) -> bool:
    """True for code cells whose outputs are committed and checked by nbval."""
    return cell.get("cell_type") == "code" and CHECK_OUTPUT_MARK in cell_source(cell)


def strip_notebook(nb: dict[str, Any], stem: str) -> dict[str, Any]:
    """Return ``nb`` with outputs stripped (but for checked cells) and stable, unique cell ids.

    Ids that exist are kept; missing or duplicate ones become ``<stem>-<n>``.
    """
    nb["nbformat"], nb["nbformat_minor"] = 4, max(5, nb.get("nbformat_minor", 5))
    seen: set[str] = set()
    code_cells = 0
    for n, cell in enumerate(nb["cells"]):
        cid = cell.get("id")
        if not cid or cid in seen or not _ID_RE.match(cid):
            cid = f"{stem}-{n:03d}"
            while cid in seen:
                cid += "x"
            cell["id"] = cid
        seen.add(cid)
        if cell.get("cell_type") == "code":
            code_cells += 1
            if keeps_output(cell) and cell.get("outputs"):
                for out in cell["outputs"]:
                    if "execution_count" in out:
                        out["execution_count"] = None
                # nbval fails a reference cell that has outputs but no execution count ("Unrun
                # reference cell has outputs"), so a checked cell keeps one: its place among the
                # code cells, as a fresh top-to-bottom run numbers it, so the diff stays stable.
                cell["execution_count"] = code_cells
            else:
                cell["outputs"] = []
                cell["execution_count"] = None
            cell.setdefault("metadata", {}).pop("execution", None)
    nb.setdefault("metadata", {})["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    return nb


def problems(nb: dict[str, Any]) -> list[str]:
    """What breaks the commit conventions: kept outputs outside checked cells, bad or duplicate ids."""
    found, seen = [], set()
    for n, cell in enumerate(nb.get("cells", [])):
        cid = cell.get("id")
        if not cid or not _ID_RE.match(str(cid)):
            found.append(f"cell {n} has no valid id")
        elif cid in seen:
            found.append(f"cell {n} repeats id {cid!r}")
        seen.add(cid)
        if cell.get("cell_type") == "code" and cell.get("outputs") and not keeps_output(cell):
            found.append(f"cell {n} ({cid}) keeps outputs without {CHECK_OUTPUT_MARK}")
    return found


def strip_file(path: str | Path) -> bool:
    """Strip one notebook file in place; return True if it changed.

    The file keeps its own layout (key order, sources as strings or lists of lines), so that only
    what was stripped shows in the diff.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    nb = strip_notebook(read_notebook(path, keep_layout=True), path.stem[:40].replace("_", "-"))
    new = notebook_text(nb, keep_layout=True)
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False
