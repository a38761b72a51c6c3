"""Student versions: solutions become stubs, nothing else changes, and the output never drifts."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from tfcourse.build import student
from tfcourse.build.cli import main
from tfcourse.config import PATHS

NOTEBOOKS = sorted(PATHS.notebooks.glob("[0-9][0-9]_*.ipynb"))


def _solution(cell):
    cell.metadata["tags"] = ["solution"]
    return cell


def _demo_notebook() -> nbformat.NotebookNode:
    """A small course notebook: two exercises, a code and a markdown solution, a kept output."""
    nb = v4.new_notebook()
    nb.metadata["tfcourse"] = {"budget_s": {"quick": 10, "full": 20}}
    nb.cells = [
        v4.new_markdown_cell("# 00 · Demo\n\nText.\n\n## What you will learn\n\n- things"),
        v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(6 * 7)", execution_count=3),
        v4.new_markdown_cell("## Exercises"),
        v4.new_markdown_cell("### Exercise 1: Multiply\n\nCompute 6 times 7."),
        _solution(
            v4.new_code_cell("# Hint: use `*`.\n# Hint: then print it.\nanswer = 6 * 7\nprint(answer)\n")
        ),
        _solution(v4.new_code_cell("assert answer == 42")),
        v4.new_markdown_cell("### Exercise 2: Explain\n\nWhy is it 42?\n\n#### Part a\n\nThink."),
        _solution(v4.new_markdown_cell("Because six sevens make forty-two.")),
    ]
    nb.cells[1].outputs = [v4.new_output("stream", text="42\n")]
    nb.cells[4].outputs = [v4.new_output("stream", text="42\n")]
    nb.cells[4].metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
    for n, cell in enumerate(nb.cells):
        cell.id = f"demo-{n:03d}"
    return nb


def _write(nb, path: Path) -> Path:
    nbformat.write(nb, path)
    return path


def _leaked_lines(original: nbformat.NotebookNode, student_nb: nbformat.NotebookNode) -> list[str]:
    """Lines of solution cells (not hints, not found in any other cell) that appear in the student notebook."""
    others = "\n".join(c.source for c in original.cells if not student.is_solution(c))
    # Hints are kept on purpose and may name what the solution calls (`# Hint: archive.track(...)`),
    # so a short solution line such as `archive.add_endpoint(` found inside one is not a leak.
    text = "\n".join(
        line
        for c in student_nb.cells
        for line in c.source.splitlines()
        if not line.lstrip().startswith(student.HINT_PREFIX)
    )
    leaked = []
    for cell in original.cells:
        if not student.is_solution(cell):
            continue
        for line in cell.source.splitlines():
            line = line.strip()
            if len(line) < 4 or line.startswith(student.HINT_PREFIX) or line in others:
                continue
            if line in text:
                leaked.append(line)
    return leaked


def _same_except_outputs(a, b) -> bool:
    strip = {"execution"}
    return (
        a.cell_type == b.cell_type
        and a.get("id") == b.get("id")
        and a.source == b.source
        and {k: v for k, v in a.metadata.items() if k not in strip}
        == {k: v for k, v in b.metadata.items() if k not in strip}
    )


def _check_student_version(original: nbformat.NotebookNode, out: nbformat.NotebookNode) -> None:
    nbformat.validate(out)
    assert len(out.cells) == len(original.cells)
    assert not any(student.is_solution(c) for c in out.cells), "a cell is still tagged solution"
    assert _leaked_lines(original, out) == []
    for before, after in zip(original.cells, out.cells, strict=True):
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
        if student.is_solution(before):
            assert after.get("id") == before.get("id")
            continue
        assert _same_except_outputs(before, after), f"cell {before.get('id')} changed"


# Mechanics, on a synthetic notebook -------------------------------------------------------------


def test_code_solution_becomes_hints_and_a_stub():
    out = student.student_notebook(_demo_notebook(), "demo")
    assert out.cells[4].source == (
        "# Hint: use `*`.\n# Hint: then print it.\n# Exercise 1: write your solution here.\n..."
    )
    assert out.cells[5].source == "# Exercise 1: write your solution here.\n..."
    assert "tags" not in out.cells[4].metadata


def test_markdown_solution_becomes_an_answer_prompt():
    out = student.student_notebook(_demo_notebook(), "demo")
    assert out.cells[7].cell_type == "markdown"
    assert out.cells[7].source.startswith("**Your answer (Exercise 2):**")
    assert "forty-two" not in out.cells[7].source


def test_everything_else_is_untouched_and_outputs_cleared():
    nb = _demo_notebook()
    out = student.student_notebook(nb, "demo")
    _check_student_version(nb, out)
    assert out.cells[1].outputs == [], "checked outputs are cleared too"
    assert "execution" not in out.cells[4].metadata
    assert out.metadata["tfcourse"]["budget_s"] == {"quick": 10, "full": 20}
    assert out.metadata["tfcourse"]["student_version"] is True
    assert nb.cells[4].source.startswith("# Hint") and "answer = 6 * 7" in nb.cells[4].source, (
        "input unchanged"
    )
    assert nb.cells[1].outputs, "input unchanged"


def test_the_checks_catch_a_leaked_solution_and_a_changed_cell():
    nb = _demo_notebook()
    leaky = student.student_notebook(nb, "demo")
    leaky.cells[4].source += "\nanswer = 6 * 7"
    assert _leaked_lines(nb, leaky) == ["answer = 6 * 7"]
    changed = student.student_notebook(nb, "demo")
    changed.cells[3].source += " (edited)"
    with pytest.raises(AssertionError, match="changed"):
        _check_student_version(nb, changed)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            [v4.new_markdown_cell("## Summary"), _solution(v4.new_code_cell("x = 1"))],
            r"cell 1 \(id bad-001\) is tagged `solution` but the nearest heading above it is '## Summary'",
        ),
        ([_solution(v4.new_code_cell("x = 1"))], "there is no heading above it"),
        (
            [v4.new_markdown_cell("### Exercise one: no number"), _solution(v4.new_code_cell("x = 1"))],
            r"### Exercise N: title",
        ),
    ],
)
def test_a_solution_without_its_exercise_heading_is_a_clear_error(cells, message):
    nb = v4.new_notebook(cells=cells)
    for n, cell in enumerate(nb.cells):
        cell.id = f"bad-{n:03d}"
    with pytest.raises(student.ConventionError, match=message):
        student.student_notebook(nb, "bad.ipynb")


def test_the_last_heading_of_a_cell_counts_and_fenced_code_is_not_a_heading():
    together = v4.new_markdown_cell("## Summary\n\n- done\n\n## Exercises\n\n### Exercise 1: Go\n\nGo.")
    fenced = v4.new_markdown_cell("### Exercise 2: Read\n\n```\n## not a heading\n```")
    nb = v4.new_notebook(cells=[together, _solution(v4.new_code_cell("go()")), fenced])
    nb.cells.append(_solution(v4.new_code_cell("read()")))
    assert student.exercise_of_cells(nb) == {1: student.Exercise(1, "Go"), 3: student.Exercise(2, "Read")}
    nb.cells.insert(3, v4.new_markdown_cell("Notes.\n\n## Further reading"))
    with pytest.raises(student.ConventionError, match="cell 4 .* '## Further reading'"):
        student.exercise_of_cells(nb)


def test_generate_is_deterministic_and_check_finds_drift(tmp_path: Path, capsys):
    src = _write(_demo_notebook(), tmp_path / "00_demo.ipynb")
    first, second = tmp_path / "a", tmp_path / "b"
    student.generate([src], first)
    student.generate([src], second)
    assert (first / src.name).read_bytes() == (second / src.name).read_bytes()
    assert student.generate([src], first, check=True) == []

    assert main(["student", str(src), "--out", str(first), "--check"]) == 0
    (first / src.name).write_text((first / src.name).read_text().replace("Multiply", "Add"))
    assert main(["student", str(src), "--out", str(first), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert main(["student", str(src), "--out", str(first)]) == 0
    assert (first / src.name).read_bytes() == (second / src.name).read_bytes()


def test_cli_reports_a_convention_error(tmp_path: Path, capsys):
    nb = v4.new_notebook(cells=[_solution(v4.new_code_cell("x = 1"))])
    nb.cells[0].id = "lonely"
    src = _write(nb, tmp_path / "00_bad.ipynb")
    assert main(["student", str(src), "--out", str(tmp_path / "out")]) == 1
    assert "id lonely" in capsys.readouterr().err


# Every committed notebook -------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_version_of_each_notebook(path: Path, tmp_path: Path):
    original = nbformat.read(path, as_version=4)
    assert any(student.is_solution(c) for c in original.cells), "no solution cells to stub"
    (written,) = student.generate([path], tmp_path / "a")
    (again,) = student.generate([path], tmp_path / "b")
    assert written.read_bytes() == again.read_bytes(), "the generator is not deterministic"
    _check_student_version(original, nbformat.read(written, as_version=4))
