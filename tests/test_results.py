import json

import pytest

from tfcourse import results


def test_record_merges_and_collect_gathers(monkeypatch, tmp_path):
    monkeypatch.setenv(results.RESULTS_DIR_ENV_VAR, str(tmp_path))
    monkeypatch.setenv("TFCOURSE_PROFILE", "quick")
    results.record("02_demo", "test_accuracy", 0.912345, "fraction")
    results.record("02_demo", "run_time", 61.0, "s")
    results.record("02_demo", "test_accuracy", 0.93)  # replaces
    results.record("03_demo", "epochs", 3)
    content = json.loads((tmp_path / "02_demo.json").read_text())
    assert content["profile"] == "quick"
    assert content["values"] == {
        "test_accuracy": {"value": 0.93, "unit": ""},
        "run_time": {"value": 61.0, "unit": "s"},
    }
    gathered = results.collect()
    assert (
        sorted(gathered) == ["02_demo", "03_demo"] and gathered["03_demo"]["values"]["epochs"]["value"] == 3
    )


def test_record_rejects_empty_names(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_DIR_ENV_VAR, str(tmp_path))
    with pytest.raises(ValueError, match="Received: notebook='', key='x'"):
        results.record("", "x", 1)
