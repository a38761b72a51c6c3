import random

import numpy as np
import pytest
import tensorflow as tf

from tfcourse import config


def test_default_profile_is_full(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV_VAR, raising=False)
    assert config.get_profile().name == "full"


@pytest.mark.parametrize("value,expected", [("quick", "quick"), (" Full ", "full"), ("", "full")])
def test_profile_from_environment(monkeypatch, value, expected):
    monkeypatch.setenv(config.PROFILE_ENV_VAR, value)
    assert config.get_profile().name == expected


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV_VAR, "fast")
    with pytest.raises(
        ValueError, match=r"Unknown profile 'fast'.*TFCOURSE_PROFILE.*quick, full.*Received: profile='fast'"
    ):
        config.get_profile()


def test_pick_returns_the_size_for_the_profile():
    assert config.Profile("quick").pick(quick=1, full=10) == 1
    assert config.Profile("full").pick(quick=1, full=10) == 10
    assert config.Profile("quick").is_quick and not config.Profile("full").is_quick
    assert str(config.Profile("quick")) == "quick"


def _draws():
    return random.random(), np.random.rand(), float(tf.random.uniform(()))


def test_seed_everything_seeds_python_numpy_and_tensorflow():
    config.seed_everything(123)
    first = _draws()
    config.seed_everything(123)
    assert _draws() == first
    config.seed_everything(124)
    assert all(a != b for a, b in zip(_draws(), first, strict=True))


def test_paths_point_into_the_project():
    assert (config.PATHS.root / "pyproject.toml").is_file()
    assert config.PATHS.data == config.PATHS.root / "data"
    assert config.PATHS.notebooks.name == "notebooks"
    assert config.PATHS.build.name == "build"


def test_tfcourse_home_overrides_root(monkeypatch, tmp_path):
    monkeypatch.setenv("TFCOURSE_HOME", str(tmp_path))
    assert config._find_project_root() == tmp_path.resolve()


def test_notebook_budget_reads_the_metadata_of_a_notebook(tmp_path):
    import json

    from tfcourse.config import notebook_budget

    path = tmp_path / "99_demo.ipynb"
    path.write_text(json.dumps({"cells": [], "metadata": {"tfcourse": {"budget_s": {"quick": 30, "full": 600}}}}))
    assert notebook_budget(path, "quick") == 30.0
    assert notebook_budget(str(path), config.get_profile("full")) == 600.0
    path.write_text(json.dumps({"cells": [], "metadata": {}}))
    assert notebook_budget(path, "quick") is None
    with pytest.raises(FileNotFoundError, match="No notebook at"):
        notebook_budget("99_no_such_notebook", "quick")
    with pytest.raises(ValueError, match="quick"):
        notebook_budget(path, "fast")


def test_every_notebook_states_its_budget_through_the_metadata():
    """The setup cells print the metadata's budget; none restates the numbers."""
    import json

    from tfcourse.config import PATHS

    for path in sorted(PATHS.notebooks.glob("[0-9][0-9]_*.ipynb")):
        sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert "BUDGET_S" not in "".join(sources), path.name
        assert "notebook_budget(" in sources[0], f"{path.name}: the setup cell should print notebook_budget(...)"
