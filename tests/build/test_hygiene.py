"""Notebook hygiene: every committed notebook is stripped, has stable ids and follows the layout."""

import json
from pathlib import Path

import pytest

from tfcourse.build import hygiene
from tfcourse.config import PATHS

NOTEBOOKS = sorted(PATHS.notebooks.glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_well_formed(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert hygiene.problems(nb) == [], f"run `python -m tfcourse strip {path}`"
    cells = nb["cells"]
    first = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and first.startswith(f"# {path.name[:2]}"), (
        "cell 0 is the title"
    )
    assert "## What you will learn" in first
    headings = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    for section in ("## Setup", "## Summary", "## Exercises"):
        assert any(h.lstrip().startswith(section) for h in headings), f"missing {section}"
    assert any("solution" in c.get("metadata", {}).get("tags", []) for c in cells), "no tagged solution"
    budget = nb["metadata"].get("tfcourse", {}).get("budget_s", {})
    assert set(budget) == {"quick", "full"}, "metadata tfcourse.budget_s needs quick and full"


MAX_CODE_LINE = 100  # notebooks/ruff.toml: slides and projectors cut longer lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_lines_fit_on_a_slide(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    long = [
        f"cell {i}: {line[:60]}... ({len(line)} characters)"
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if len(line) > MAX_CODE_LINE
    ]
    assert not long, f"code lines over {MAX_CODE_LINE} characters (`make lint` names them):\n" + "\n".join(
        long
    )
    assert "line-length = 100" in (PATHS.notebooks / "ruff.toml").read_text(), (
        "the lint rule and this test agree"
    )


def test_problems_are_found_and_stripped():
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "id": "a",
                "source": "print(1)",
                "outputs": [{"output_type": "stream"}],
                "metadata": {},
                "execution_count": 3,
            },
            {
                "cell_type": "code",
                "id": "a",
                "source": "# NBVAL_CHECK_OUTPUT\nprint(2)",
                "outputs": [{"output_type": "stream", "text": "2\n"}],
                "metadata": {},
                "execution_count": 4,
            },
            {"cell_type": "markdown", "source": "text", "metadata": {}},
        ],
        "metadata": {},
    }
    found = hygiene.problems(nb)
    assert any("keeps outputs" in p for p in found)
    assert any("repeats id 'a'" in p for p in found)
    assert any("cell 2 has no valid id" in p for p in found)
    clean = hygiene.strip_notebook(nb, "nb")
    assert hygiene.problems(clean) == []
    assert clean["cells"][0]["outputs"] == [] and clean["cells"][0]["execution_count"] is None
    assert clean["cells"][1]["outputs"][0]["text"] == "2\n", "checked outputs are kept"
    assert clean["cells"][1]["execution_count"] == 2, "nbval needs an execution count on a checked cell"
    assert [c["id"] for c in clean["cells"]] == ["a", "nb-001", "nb-002"]
