"""Student versions: the notebooks with every exercise's solution replaced by a stub.

The convention (CONTRIBUTING.md): each exercise is a markdown cell starting
``### Exercise N: title``, followed by its solution, one or more cells tagged ``solution``.

* In a solution **code** cell, the leading lines starting ``# Hint:`` are kept; the rest becomes
  a stub (a comment naming the exercise and ``...``), so the notebook still runs top to bottom.
* A solution **markdown** cell (a written answer) becomes a prompt to write the answer.
* Every other cell keeps its source, id and metadata; all outputs and execution counts are cleared.

The output is a pure function of the input (same cell ids, sorted JSON keys), so generating twice
gives byte-identical files and ``--check`` can fail CI when published copies drift.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from tfcourse.build.cells import cell_source, notebook_text, read_notebook
from tfcourse.config import PATHS

SOLUTION_TAG = "solution"
HINT_PREFIX = "# Hint:"
EXERCISE_RE = re.compile(r"^###\s+Exercise\s+(\d+)\s*:\s*(\S.*)$")
ANSWER_PROMPT = "**Your answer ({exercise}):** _double-click this cell and write your answer here._"


class ConventionError(ValueError):
    """A notebook breaks the exercise/solution convention; the message names the cell and the fix."""


@dataclass(frozen=True)
class Exercise:
    """An exercise heading: its number and title, e.g. ``Exercise(1, "Size up AlexNet's first layer")``."""

    number: int
    title: str

    def __str__(self) -> str:
        return f"Exercise {self.number}: {self.title}"


def is_solution(cell: dict[str, Any]) -> bool:
    """True for cells tagged ``solution``."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


_HEADING_RE = re.compile(r"^(#{1,6})\s+(\S.*?)\s*#*\s*$")


def exercise_heading(line: str) -> Exercise | None:
    """The exercise that a heading line opens (``### Exercise N: title``), or None.

    Example:
    >>> exercise_heading("### Exercise 2: Design a kernel")
    Exercise(number=2, title='Design a kernel')
    >>> exercise_heading("## Summary") is None
    True
    """
    match = EXERCISE_RE.match(line.strip())
    return Exercise(int(match.group(1)), match.group(2).strip()) if match else None


def markdown_headings(source: str) -> list[tuple[int, int, str]]:
    """The ATX headings of a markdown text as ``(line index, level, line)``, skipping fenced code.

    Example:
    >>> markdown_headings("## Summary\\n\\n- done\\n\\n```\\n# not a heading\\n```\\n### Exercise 1: Go")
    [(0, 2, '## Summary'), (7, 3, '### Exercise 1: Go')]
    """
    found, fenced = [], False
    for n, line in enumerate(source.splitlines()):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING_RE.match(stripped)
        if match:
            found.append((n, len(match.group(1)), stripped))
    return found


def stub_code(source: str, exercise: Exercise) -> str:
    """The student's version of a solution code cell: its leading ``# Hint:`` lines and a stub.

    Example:
    >>> print(stub_code("# Hint: use conv_output_size.\\nside = 55\\nprint(side)", Exercise(1, "Size it")))
    # Hint: use conv_output_size.
    # Exercise 1: write your solution here.
    ...
    """
    hints = []
    for line in source.splitlines():
        if not line.lstrip().startswith(HINT_PREFIX):
            break
        hints.append(line.rstrip())
    return "\n".join([*hints, f"# Exercise {exercise.number}: write your solution here.", "..."])


def exercise_of_cells(nb: dict[str, Any], name: str = "notebook") -> dict[int, Exercise]:
    """Map the index of every solution cell to its exercise, checking the convention.

    A solution cell belongs to the nearest ``#`` to ``###`` heading above it, which must be an
    exercise heading (``####`` sub-headings inside an exercise are fine).

    Raises:
        ConventionError: a solution cell has no ``### Exercise N: title`` heading above it (the
            nearest heading is another one, or there is none), naming the cell and its id.
    """
    found: dict[int, Exercise] = {}
    current: Exercise | None = None
    heading = None
    for n, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "markdown" and not is_solution(cell):
            # `#` to `###` headings open a section (maybe an exercise); deeper ones stay inside it.
            for _, level, line in markdown_headings(cell_source(cell)):
                if level <= 3:
                    current, heading = exercise_heading(line), line
        if not is_solution(cell):
            continue
        if current is None:
            where = (
                f"the nearest heading above it is {heading!r}" if heading else "there is no heading above it"
            )
            raise ConventionError(
                f"{name}: cell {n} (id {cell.get('id', '?')}) is tagged `{SOLUTION_TAG}` but {where}. "
                "Put each solution right after its exercise, a markdown cell starting "
                "`### Exercise N: title` (CONTRIBUTING.md, Exercises and solutions)."
            )
        found[n] = current
    return found


def student_notebook(nb: dict[str, Any], name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student version of ``nb`` (a copy; ``nb`` is not modified).

    Solution cells become stubs (code) or answer prompts (markdown) and lose the ``solution``
    tag; every other cell keeps its source, id and metadata. Outputs, execution counts and
    execution timings are cleared everywhere.

    Args:
        nb: the solution notebook (nbformat 4).
        name: its name, for error messages.

    Raises:
        ConventionError: see :func:`exercise_of_cells`.
    """
    nb = nbformat.from_dict(copy.deepcopy(dict(nb)))
    exercises = exercise_of_cells(nb, name)
    for n, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if n not in exercises:
            continue
        exercise = exercises[n]
        cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != SOLUTION_TAG]
        if not cell.metadata["tags"]:
            del cell.metadata["tags"]
        if cell.cell_type == "code":
            cell.source = stub_code(cell_source(cell), exercise)
        else:
            cell.source = ANSWER_PROMPT.format(exercise=f"Exercise {exercise.number}")
            cell.pop("attachments", None)
    nb.metadata.setdefault("tfcourse", {})["student_version"] = True
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as the exact text written to disk (nbformat's canonical JSON), after validation."""
    return notebook_text(nb, validate=True)


def generate(notebooks: list[Path], out_dir: Path | None = None, *, check: bool = False) -> list[Path]:
    """Write (or, with ``check``, compare) the student version of each notebook in ``out_dir``.

    Args:
        notebooks: solution notebooks (``notebooks/NN_name.ipynb``).
        out_dir: where the student versions go, same file names (default ``build/student``).
        check: write nothing; return the files that are missing or differ from what would be written.

    Returns:
        The files written, or with ``check`` the files that are out of date (empty when all match).
    """
    out_dir = Path(out_dir or PATHS.build / "student")
    changed = []
    for path in notebooks:
        path = Path(path)
        text = render(student_notebook(read_notebook(path), str(path)))
        target = out_dir / path.name
        if check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                changed.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        changed.append(target)
    return changed
