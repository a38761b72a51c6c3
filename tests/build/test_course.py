"""The rendered course, on tiny synthetic notebooks (the real ones are far too slow for a unit test)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from tfcourse.build import course
from tfcourse.build.cli import main

DEMO_CODE = """\
import os, sys
from tfcourse.results import record
record("00_demo", "accuracy", 0.875)
record("00_demo", "train_time", 1.25, "s")
print("PROFILE", os.environ["TFCOURSE_PROFILE"])
print("PREFIX", sys.prefix)
"""
FIGURE_CODE = """\
import matplotlib.pyplot as plt
plt.plot([0, 1], [1, 0])
plt.title("a line")
plt.show()
"""


def _notebook(path: Path, *sources: str, budget: dict | None = None) -> Path:
    nb = v4.new_notebook(
        cells=[v4.new_markdown_cell(f"# {path.stem}")] + [v4.new_code_cell(s) for s in sources]
    )
    if budget:
        nb.metadata["tfcourse"] = {"budget_s": budget}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One `python -m tfcourse course` run over a working and a failing notebook (two kernels)."""
    tmp = tmp_path_factory.mktemp("course")
    src = tmp / "notebooks"
    src.mkdir()
    demo = _notebook(src / "00_demo.ipynb", DEMO_CODE, FIGURE_CODE, budget={"quick": 30, "full": 60})
    fail = _notebook(src / "00_fail.ipynb", "raise RuntimeError('boom in 00_fail')", "print('never runs')")
    out = tmp / "course"
    (out / "results").mkdir(parents=True)
    stale = {"notebook": "00_demo", "values": {"stale": {"value": 1, "unit": ""}}}
    (out / "results" / "00_demo.json").write_text(json.dumps(stale))
    (out / "results.json").write_text(json.dumps({"notebooks": {"99_old": {"status": "ok", "wall_s": 3}}}))
    env_before = dict(os.environ)
    code = main(["course", str(demo), str(fail), "--profile", "quick", "--out", str(out)])
    assert dict(os.environ) == env_before, "the kernel's environment leaked into this process"
    return {"code": code, "out": out, "results": json.loads((out / "results.json").read_text())}


def test_executed_notebook_and_html_are_written(ran):
    out = ran["out"]
    nb = nbformat.read(out / "00_demo.ipynb", as_version=4)
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "PROFILE quick" in text
    assert f"PREFIX {sys.prefix}" in text, "the kernel runs the current interpreter (this virtualenv)"
    assert any("image/png" in o.get("data", {}) for o in nb.cells[2].outputs), "figures are kept (not Agg)"
    html = (out / "00_demo.html").read_text()
    assert "PROFILE quick" in html and "data:image/png;base64," in html


def test_results_json_has_values_wall_times_and_budgets(ran):
    entry = ran["results"]["notebooks"]["00_demo"]
    assert entry["status"] == "ok" and entry["profile"] == "quick" and entry["budget_s"] == 30
    assert 0 < entry["wall_s"] < 300
    assert entry["values"] == {
        "accuracy": {"value": 0.875, "unit": ""},
        "train_time": {"value": 1.25, "unit": "s"},
    }, "recorded through TFCOURSE_RESULTS_DIR; the stale value is gone"
    assert entry["outputs"] == {"notebook": "00_demo.ipynb", "html": "00_demo.html"}
    assert ran["results"]["notebooks"]["99_old"]["wall_s"] == 3, "notebooks not run keep their entry"
    table = (ran["out"] / "results.md").read_text()
    assert "| 00_demo | quick |" in table and "accuracy 0.875, train_time 1.25 s" in table


def test_a_failing_notebook_is_reported_saved_and_fails_the_command(ran):
    assert ran["code"] == 1
    entry = ran["results"]["notebooks"]["00_fail"]
    assert entry["status"] == "failed" and "boom in 00_fail" in entry["error"]
    nb = nbformat.read(ran["out"] / "00_fail.ipynb", as_version=4)
    assert nb.cells[1].outputs[0]["output_type"] == "error"
    assert nb.cells[2].outputs == [], "execution stops at the failing cell"
    assert "**failed**" in (ran["out"] / "results.md").read_text()


def test_unknown_profile_is_a_clear_error_before_any_kernel_starts(tmp_path: Path, capsys):
    demo = _notebook(tmp_path / "00_demo.ipynb", "print(1)")
    with pytest.raises(ValueError, match=r"Unknown profile 'fast'.*quick, full"):
        course.run_course([demo], tmp_path / "out", profile="fast")
    assert main(["course", str(demo), "--profile", "fast", "--out", str(tmp_path / "out")]) == 1
    assert "Unknown profile 'fast'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_kernel_env_and_table_formatting(tmp_path: Path):
    env = course.kernel_env("full", tmp_path / "r")
    assert env["TFCOURSE_PROFILE"] == "full" and env["TFCOURSE_RESULTS_DIR"] == str(
        (tmp_path / "r").resolve()
    )
    assert env["MPLBACKEND"] == course.INLINE_BACKEND
    table = course.results_table(
        {
            "notebooks": {
                "05_transfer": {
                    "status": "ok",
                    "profile": "full",
                    "wall_s": 612.4,
                    "values": {
                        "fine_tune_acc": {"value": 0.939, "unit": ""},
                        "epochs": {"value": 5, "unit": ""},
                    },
                }
            }
        }
    )
    assert table.splitlines()[-1] == "| 05_transfer | full | 612 s | fine_tune_acc 0.939, epochs 5 |"


def test_kernel_environment_is_set_for_the_block_and_restored(monkeypatch):
    monkeypatch.setenv("TFCOURSE_PROFILE", "quick")
    monkeypatch.delenv("TFCOURSE_RESULTS_DIR", raising=False)
    with course._environ({"TFCOURSE_PROFILE": "full", "TFCOURSE_RESULTS_DIR": "/tmp/r"}):
        assert os.environ["TFCOURSE_PROFILE"] == "full" and os.environ["TFCOURSE_RESULTS_DIR"] == "/tmp/r"
    assert os.environ["TFCOURSE_PROFILE"] == "quick" and "TFCOURSE_RESULTS_DIR" not in os.environ
    with pytest.raises(RuntimeError), course._environ({"TFCOURSE_PROFILE": "full"}):
        raise RuntimeError("a failing cell")
    assert os.environ["TFCOURSE_PROFILE"] == "quick"
