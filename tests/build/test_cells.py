"""Notebook files: one reader and one writer, in nbformat's layout or the file's own."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from tfcourse.build import cells
from tfcourse.config import PATHS

NOTEBOOKS = sorted(PATHS.notebooks.glob("[0-9][0-9]_*.ipynb"))


def _demo_notebook() -> nbformat.NotebookNode:
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell("# 00 · Démo\n\nText with a non-ASCII letter."),
        v4.new_code_cell("x = 1\nprint(x)", execution_count=1, outputs=[v4.new_output("stream", text="1\n")]),
    ]
    return nb


def test_cell_source_joins_lists_and_keeps_strings():
    assert cells.cell_source({"source": ["a\n", "b"]}) == "a\nb"
    assert cells.cell_source({"source": "a\nb"}) == "a\nb"
    assert cells.cell_source({}) == ""


def test_canonical_text_is_what_nbformat_writes(tmp_path: Path):
    path = tmp_path / "demo.ipynb"
    nbformat.write(_demo_notebook(), path)
    nb = cells.read_notebook(path)
    assert nb.cells[1].source == "x = 1\nprint(x)", "multi-line text is joined, as nbformat.read gives it"
    assert nb == nbformat.read(path, as_version=4)
    text = cells.notebook_text(nb)
    assert text == path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "Démo" in text, "a final newline, ensure_ascii=False"
    assert cells.write_notebook(nb, tmp_path / "again.ipynb").read_text(encoding="utf-8") == text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kept_layout_rewrites_a_committed_notebook_byte_for_byte(path: Path):
    text = path.read_text(encoding="utf-8")
    assert cells.notebook_text(cells.read_notebook(path, keep_layout=True), keep_layout=True) == text


def test_kept_layout_keeps_key_order_and_string_sources(tmp_path: Path):
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"source": "a\nb", "metadata": {}, "id": "c1", "cell_type": "markdown"}],
    }
    path = tmp_path / "raw.ipynb"
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    kept = cells.notebook_text(cells.read_notebook(path, keep_layout=True), keep_layout=True)
    assert kept == path.read_text(encoding="utf-8")
    canonical = json.loads(cells.notebook_text(cells.read_notebook(path)))
    assert list(canonical) == ["cells", "metadata", "nbformat", "nbformat_minor"]
    assert canonical["cells"][0]["source"] == ["a\n", "b"]


def test_reading_invents_no_cell_ids(tmp_path: Path):
    nb = _demo_notebook()
    for cell in nb.cells:
        del cell["id"]
    path = tmp_path / "no_ids.ipynb"
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    assert all("id" not in c for c in cells.read_notebook(path).cells)
    assert all("id" not in c for c in cells.read_notebook(path, keep_layout=True).cells)


def test_validate_raises_on_a_broken_notebook():
    nb = _demo_notebook()
    nb.cells[0]["cell_type"] = "nonsense"
    with pytest.raises(nbformat.ValidationError):
        cells.notebook_text(nb, validate=True)


def test_only_nbformat_4_is_read(tmp_path: Path):
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps({"nbformat": 3, "worksheets": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="Received: nbformat=3"):
        cells.read_notebook(path)
