"""results/full.json and the README table generated from it (tfcourse.build.record)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tfcourse.build import record
from tfcourse.build.cli import main


def _run(name: str, profile: str = "full", status: str = "ok", accuracy: float = 0.93) -> dict:
    return {
        "machine": "x86_64, 2 CPU cores, Python 3.11",
        "notebooks": {
            name: {
                "status": status,
                "wall_s": 301.24,
                "profile": profile,
                "budget_s": 360.0,
                "error": None if status == "ok" else "AssertionError: below the floor",
                "outputs": {"notebook": f"{name}.ipynb", "html": f"{name}.html"},
                "values": {"test_accuracy": {"value": accuracy, "unit": ""}},
            }
        },
    }


def test_merge_keeps_other_notebooks_replaces_reruns_and_stamps(tmp_path: Path):
    path = tmp_path / "results" / "full.json"
    record.merge_record(_run("02_a"), path, commit="aaa1111", date="2026-12-01")
    record.merge_record(_run("01_b", accuracy=0.5), path, commit="bbb2222", date="2026-12-02")
    merged = record.merge_record(_run("02_a", accuracy=0.94), path, commit="ccc3333", date="2026-12-03")
    assert list(merged["notebooks"]) == ["01_b", "02_a"], "sorted, both kept"
    assert merged["notebooks"]["01_b"]["commit"] == "bbb2222"
    rerun = merged["notebooks"]["02_a"]
    assert rerun["values"]["test_accuracy"]["value"] == 0.94 and rerun["commit"] == "ccc3333"
    assert rerun["date"] == "2026-12-03" and rerun["machine"].startswith("x86_64")
    assert "outputs" not in rerun, "local build paths are not recorded"
    assert json.loads(path.read_text()) == merged


def test_merge_refuses_a_quick_run(tmp_path: Path):
    with pytest.raises(ValueError, match=r"full-profile runs only.*'02_a': 'quick'"):
        record.merge_record(_run("02_a", profile="quick"), tmp_path / "full.json")
    assert not (tmp_path / "full.json").exists()


def test_table_rows_mark_failures_and_budgets():
    rec = {"notebooks": {**_run("02_a")["notebooks"], **_run("03_b", status="failed")["notebooks"]}}
    for entry in rec["notebooks"].values():
        entry.update(commit="abc1234", date="2026-12-02", machine="m")
    lines = record.readme_table(rec).splitlines()
    assert lines[2] == "| 02_a | ok | 301 s of 360 s | test_accuracy 0.93 | abc1234, 2026-12-02, m |"
    assert lines[3].startswith("| 03_b | **failed** | 301 s of 360 s |")


def test_update_readme_rewrites_only_between_the_markers(tmp_path: Path):
    rec_path = tmp_path / "full.json"
    record.merge_record(_run("02_a"), rec_path, commit="abc1234", date="2026-12-02")
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\nbefore\n{record.START_MARKER}\nold table\n{record.END_MARKER}\nafter\n")
    assert record.update_readme(readme, rec_path, check=True) is True
    assert "old table" in readme.read_text(), "check writes nothing"
    assert record.update_readme(readme, rec_path) is True
    text = readme.read_text()
    assert text.startswith("# T\n\nbefore\n") and text.endswith(f"{record.END_MARKER}\nafter\n")
    assert "old table" not in text and "| 02_a | ok | 301 s of 360 s |" in text
    assert record.update_readme(readme, rec_path, check=True) is False, "now up to date"


def test_update_readme_errors_name_the_fix(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(FileNotFoundError, match="--record"):
        record.update_readme(readme, tmp_path / "missing.json")
    record.merge_record(_run("02_a"), tmp_path / "full.json", commit="x", date="d")
    with pytest.raises(ValueError, match="needs the lines"):
        record.update_readme(readme, tmp_path / "full.json")


def test_current_commit_matches_git(tmp_path: Path):
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=record.PATHS.root, capture_output=True, text=True
    )
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert record.current_commit().split("-")[0] == head.stdout.strip()
    assert record.current_commit(tmp_path) == "unknown", "outside a repository"


def test_cli_refuses_to_record_a_quick_run(tmp_path: Path, capsys):
    code = main(["course", "--profile", "quick", "--record", str(tmp_path / "full.json")])
    assert code == 1 and "full-profile runs only" in capsys.readouterr().err
