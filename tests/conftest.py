"""Fixtures for the unit tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tfcourse import data


def _shared_data_dir() -> Path | None:
    """A directory holding verified Fashion-MNIST files: $TFCOURSE_DATA_DIR or the project cache."""
    for candidate in (os.environ.get(data.DATA_DIR_ENV_VAR), str(data.cache_dir())):
        if candidate and all(data._candidates(Path(candidate), name) for name in data.FILES):
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The real Fashion-MNIST files (CI points $TFCOURSE_DATA_DIR at ../shared/data/fashion-mnist)."""
    found = _shared_data_dir()
    if found is None:
        pytest.fail(
            "Fashion-MNIST not found: set TFCOURSE_DATA_DIR or run `python -m tfcourse fetch`.",
            pytrace=False,
        )
    return found


@pytest.fixture
def fashion_copy(tmp_path: Path, fashion_dir: Path) -> Path:
    """A private copy of the data files that a test may damage."""
    dest = tmp_path / "fashion-mnist"
    dest.mkdir()
    for name in data.FILES:
        src = data._candidates(fashion_dir, name)[0]
        shutil.copyfile(src, dest / src.name)
    return dest
