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


def _float_variables(model) -> list:
    return [v for v in model.variables if "float" in str(v.dtype)]


@pytest.fixture
def keras_file_roundtrip(tmp_path: Path):
    """Save a model to a ``.keras`` file, load it, check identical inference outputs on ``x``; return it.

    Call the model once with ``training=True`` before, so that batch-norm statistics differ from
    their initial values and a layer that forgot to save them fails.
    """

    def roundtrip(model, x):
        import keras
        import numpy as np

        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_array_equal(model(x, training=False), loaded(x, training=False))
        assert loaded.count_params() == model.count_params()
        return loaded

    return roundtrip


@pytest.fixture
def checkpoint_roundtrip(tmp_path: Path):
    """Check that ``tf.train.Checkpoint`` saves every float variable of the model ``build()`` makes.

    Keras tracks sub-layers kept in Python lists, but ``tf.train.Checkpoint`` does not: a layer
    that keeps them so would save nothing of them. The variables get random values, are saved,
    and are restored into a fresh model from the same ``build()``.
    """

    def roundtrip(build, expected_variables: int | None = None) -> None:
        import numpy as np
        import tensorflow as tf

        model = build()
        floats = _float_variables(model)
        if expected_variables is not None:
            assert len(floats) == expected_variables
        for v in floats:
            v.assign(np.random.default_rng(0).normal(size=v.shape))
        path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
        fresh = build()
        tf.train.Checkpoint(model=fresh).restore(path).expect_partial()
        for a, b in zip(floats, _float_variables(fresh), strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)

    return roundtrip


# The formats of tfcourse.boxes, written out here (not read from the package) so that an error
# message that lists fewer, more or other formats fails the check below.
LISTED_FORMATS = "('xyxy', 'xywh', 'cxcywh', 'yxyx', 'rel_xyxy', 'rel_xywh', 'rel_cxcywh', 'rel_yxyx')"


@pytest.fixture
def box_format_required():
    """Check a function's ``box_format`` contract on one valid call ``fn(*args, box_format=..., **kwargs)``.

    The call runs with its format; without ``box_format`` it is Python's own TypeError for a
    missing keyword-only argument (no default is filled in); with an unknown format it is a
    ValueError that lists every valid format and names ``box_format``.
    """

    def check(fn, args: tuple, kwargs: dict | None = None, box_format: str = "xyxy") -> None:
        import re

        kwargs = kwargs or {}
        fn(*args, **kwargs, box_format=box_format)
        with pytest.raises(TypeError, match=r"missing 1 required keyword-only argument: 'box_format'"):
            fn(*args, **kwargs)
        with pytest.raises(
            ValueError, match=re.escape(f"expected one of {LISTED_FORMATS}. Received: box_format='xyhw'")
        ):
            fn(*args, **kwargs, box_format="xyhw")

    return check
