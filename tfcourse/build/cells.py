"""Notebook files and cells, read and written one way for every course-building tool.

Two layouts of the same nbformat 4 JSON (``indent=1``, ``ensure_ascii=False``, trailing newline):

* **canonical**, what nbformat writes (sorted keys, multi-line text split into lists of lines):
  every notebook the tools generate (student versions, executed notebooks) is written so;
* **kept** (``keep_layout=True``): the file's own key order and its sources as stored (a string or
  a list of lines), for a tool that rewrites a committed notebook in place
  (:func:`tfcourse.build.hygiene.strip_file`) and must change only what it means to change.

Reading never validates nor "repairs" the notebook: nbformat's validation replaces missing or
duplicate cell ids with random ones, which would defeat the stable ids that
:mod:`tfcourse.build.hygiene` gives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import to_notebook


def cell_source(cell: dict[str, Any]) -> str:
    """The source of a cell as one string, whether stored as a string or as a list of lines.

    Example:
    >>> cell_source({"cell_type": "code", "source": ["x = 1\\n", "print(x)"]})
    'x = 1\\nprint(x)'
    >>> cell_source({"cell_type": "markdown"})
    ''
    """
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def read_notebook(path: str | Path, *, keep_layout: bool = False) -> nbformat.NotebookNode:
    """Read an nbformat 4 notebook file, without validating it.

    Args:
        path: the ``.ipynb`` file.
        keep_layout: keep the JSON as stored (key order, sources as strings or lists of lines);
            by default multi-line text is joined into strings, as ``nbformat.read`` gives it.

    Raises:
        ValueError: the file is not an nbformat 4 notebook.
    """
    content = json.loads(Path(path).read_text(encoding="utf-8"))
    version = content.get("nbformat") if isinstance(content, dict) else None
    if version != 4:
        raise ValueError(f"{path} is not an nbformat 4 notebook. Received: nbformat={version!r}")
    return nbformat.from_dict(content) if keep_layout else to_notebook(content)


def notebook_text(nb: dict[str, Any], *, keep_layout: bool = False, validate: bool = False) -> str:
    """The text of a notebook file: nbformat 4 JSON, ``indent=1``, ``ensure_ascii=False``, a final newline.

    Args:
        nb: the notebook.
        keep_layout: write ``nb`` as it is (its key order, its sources as they are) instead of
            nbformat's canonical layout (sorted keys, text split into lines).
        validate: raise ``nbformat.ValidationError`` if ``nb`` breaks the nbformat 4 schema
            (otherwise nbformat only logs what is wrong, in the canonical layout).

    Example:
    >>> nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
    ...       "cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# T\\n\\nText"}]}
    >>> print(notebook_text(nb), end="")  # doctest: +NORMALIZE_WHITESPACE
    {
     "cells": [
      {
       "cell_type": "markdown",
       "id": "a",
       "metadata": {},
       "source": [
        "# T\\n",
        "\\n",
        "Text"
       ]
      }
     ],
     "metadata": {},
     "nbformat": 4,
     "nbformat_minor": 5
    }
    """
    if validate:
        nbformat.validate(nb)
    if keep_layout:
        text = json.dumps(nb, indent=1, ensure_ascii=False)
    else:
        text = nbformat.writes(nbformat.from_dict(nb), version=4)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(
    nb: dict[str, Any], path: str | Path, *, keep_layout: bool = False, validate: bool = False
) -> Path:
    """Write ``nb`` to ``path`` as :func:`notebook_text` lays it out; return the path."""
    path = Path(path)
    path.write_text(notebook_text(nb, keep_layout=keep_layout, validate=validate), encoding="utf-8")
    return path
