"""Profiles, seeding and paths: the settings every notebook starts from.

The course runs in two profiles that share one code path and differ only in sizes:

* ``quick``: what CI runs; small budgets that still train for real.
* ``full``: the default for attendees and the README's results table.

The profile comes from the ``TFCOURSE_PROFILE`` environment variable. A notebook asks
for its sizes with :meth:`Profile.pick`, so both profiles execute the same cells.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

PROFILE_ENV_VAR = "TFCOURSE_PROFILE"
PROFILE_NAMES = ("quick", "full")
DEFAULT_PROFILE = "full"


@dataclass(frozen=True)
class Profile:
    """The run profile: ``quick`` for CI, ``full`` for attendees and reported results.

    Args:
        name: ``"quick"`` or ``"full"``.

    Example:
    >>> Profile("quick").pick(quick=2, full=20)
    2
    >>> Profile("full").is_quick
    False
    """

    name: str

    def __post_init__(self) -> None:
        if self.name not in PROFILE_NAMES:
            raise ValueError(
                f"Unknown profile {self.name!r}. Set {PROFILE_ENV_VAR} to one of "
                f"{', '.join(PROFILE_NAMES)} (or leave it unset for {DEFAULT_PROFILE!r}). "
                f"Received: profile={self.name!r}"
            )

    @property
    def is_quick(self) -> bool:
        """True in the ``quick`` profile."""
        return self.name == "quick"

    def pick(self, *, quick: T, full: T) -> T:
        """Return ``quick`` or ``full`` depending on the profile: one line per size."""
        return quick if self.is_quick else full

    def __str__(self) -> str:
        return self.name


def get_profile(name: str | None = None) -> Profile:
    """Return the profile named by ``name`` or by ``$TFCOURSE_PROFILE`` (default ``full``).

    Raises:
        ValueError: if the name is not one of ``quick`` or ``full``; the message says how to
            fix it.
    """
    if name is None:
        name = os.environ.get(PROFILE_ENV_VAR, "").strip() or DEFAULT_PROFILE
    return Profile(name.strip().lower())


def seed_everything(seed: int = 42, *, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy and TensorFlow (and Keras) from one integer.

    Args:
        seed: the seed.
        deterministic: also ask TensorFlow for deterministic kernels
            (``tf.config.experimental.enable_op_determinism``), so that two runs give
            bit-identical weights. Slower on GPU; used where a notebook proves equality.
    """
    import keras
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _find_project_root() -> Path:
    """The repository root when running from a checkout, else ``$TFCOURSE_HOME`` or ~/.tfcourse."""
    env = os.environ.get("TFCOURSE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "tfcourse").is_dir():
        return here
    return Path.home() / ".tfcourse"


@dataclass(frozen=True)
class Paths:
    """Where the project keeps things. Everything under ``data/`` and ``build/`` is ignored by git."""

    root: Path

    @property
    def data(self) -> Path:
        """The local data cache (``data/``)."""
        return self.root / "data"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def build(self) -> Path:
        """Generated outputs: slides, student notebooks, the rendered course, cached models."""
        return self.root / "build"


PATHS = Paths(_find_project_root())


def notebook_budget(notebook: str | Path, profile: str | Profile | None = None) -> float | None:
    """The time budget in seconds of a notebook in a profile, from its metadata ``tfcourse.budget_s``.

    The one place budgets are read: the notebooks print theirs, nbval's budget check
    (``conftest.py``) and ``python -m tfcourse course`` enforce and record them, so the numbers
    live only in each notebook's metadata.

    Args:
        notebook: a path to an ``.ipynb`` file, or a notebook's name (``"02_fashion_mnist_cnn"``)
            looked up in ``notebooks/``.
        profile: a profile or its name; default: the current profile (:func:`get_profile`).

    Returns:
        The budget, or None when the notebook declares none for the profile.

    Raises:
        FileNotFoundError: if there is no such notebook.

    Example:
    >>> notebook_budget("01_convolution_by_hand", "quick") > 0
    True
    """
    import json

    path = Path(notebook)
    if path.suffix != ".ipynb":
        path = PATHS.notebooks / f"{notebook}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(
            f"No notebook at {path}; pass a path to an .ipynb file or a name in {PATHS.notebooks}"
        )
    name = profile.name if isinstance(profile, Profile) else get_profile(profile).name
    with open(path, encoding="utf-8") as f:
        budget = json.load(f).get("metadata", {}).get("tfcourse", {}).get("budget_s", {}).get(name)
    return None if budget is None else float(budget)
