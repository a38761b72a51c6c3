"""pytest configuration shared by unit tests and nbval.

Each notebook declares its time budget per profile in its metadata::

    "tfcourse": {"budget_s": {"quick": 120, "full": 720}}

nbval runs a notebook cell by cell; the cell that pushes the notebook's running total past
its budget fails, naming the notebook, the time used and the budget, so a slow cell is
caught instead of tolerated. The budgets are set at about twice what the course's 2-core
reference machine takes. A machine that trains slower gets proportionally longer budgets:
before the first notebook runs, :func:`tfcourse.speed.training_speed` times notebook 02's CNN
for a few seconds, and every budget is multiplied by :func:`tfcourse.speed.budget_scale` of
it (at least 1), reported at the end of the run. ``TFCOURSE_BUDGET_SCALE`` set to a positive
number uses that factor instead (e.g. ``TFCOURSE_BUDGET_SCALE=1`` to hold a slow machine to the
reference budgets); ``auto``, or unset, measures.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

import pytest

from tfcourse.config import get_profile, notebook_budget

# What the course-building tools write (executed notebooks, student versions, decks): never
# collected, even by `pytest .`. Only this top-level build/; tfcourse/build/ and tests/build/ are source.
collect_ignore = ["build"]

_elapsed: dict[str, float] = defaultdict(float)
_budgets: dict[str, float | None] = {}
_scale: dict[str, float | str] = {}  # "factor", and "how" it was found


def _budget_for(path: str) -> float | None:
    if path not in _budgets:
        budget = notebook_budget(path)  # in the current profile (tfcourse.config.get_profile)
        _budgets[path] = None if budget is None else budget * _budget_scale()
    return _budgets[path]


def _budget_scale() -> float:
    """The factor applied to every notebook budget: ``TFCOURSE_BUDGET_SCALE``, or measured."""
    if "factor" not in _scale:
        raw = os.environ.get("TFCOURSE_BUDGET_SCALE", "auto").strip() or "auto"
        if raw == "auto":
            from tfcourse import speed

            images_per_second = speed.training_speed()
            _scale["factor"] = speed.budget_scale(images_per_second)
            _scale["how"] = (
                f"this machine trains notebook 02's CNN at {images_per_second:,.0f} images/s, the "
                f"reference machine at {speed.REFERENCE_IMAGES_PER_SECOND:,.0f}"
            )
        else:
            try:
                factor = float(raw)
            except ValueError:
                factor = -1.0
            if not factor > 0:
                raise pytest.UsageError(
                    f"TFCOURSE_BUDGET_SCALE must be a positive number such as 2, or auto. Received: {raw!r}"
                )
            _scale["factor"], _scale["how"] = factor, "TFCOURSE_BUDGET_SCALE"
    return float(_scale["factor"])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    path = str(getattr(item, "fspath", ""))
    if not path.endswith(".ipynb"):
        return (yield)
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        _elapsed[path] += time.perf_counter() - start
        budget = _budget_for(path)
        if budget is not None and _elapsed[path] > budget:
            pytest.fail(
                f"{os.path.basename(path)} has run {_elapsed[path]:.0f} s, over its "
                f"{get_profile()} budget of {budget:.0f} s "
                f"(metadata tfcourse.budget_s); this cell pushed it over.",
                pytrace=False,
            )


def pytest_collection_finish(session):
    """Turn TensorFloat-32 off for the unit tests and doctests that this process runs.

    On Ampere and later NVIDIA GPUs TensorFlow runs float32 matmuls and convolutions in TF32 by
    default (a 10-bit mantissa: relative errors near 1e-3), which the tests' float32 comparisons
    against NumPy references and TensorFlow's own ops (tolerances 1e-4 to 1e-6) would fail. No
    effect on a CPU. Notebooks run in their own kernels and keep TensorFlow's default, as attendees
    get it; TensorFlow is imported here only when something other than a notebook was collected.
    """
    if any(not str(item.fspath).endswith(".ipynb") for item in session.items):
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    if any(str(item.fspath).endswith(".ipynb") for item in session.items):
        _budget_scale()  # measure now, before any test has changed TensorFlow's settings


def pytest_terminal_summary(terminalreporter):
    if _elapsed:
        terminalreporter.write_sep("-", "notebook run times (cells only)")
        terminalreporter.write_line(f"budgets x {_budget_scale():.2f} ({_scale['how']})")
        for path, seconds in sorted(_elapsed.items()):
            budget = _budget_for(path)
            limit = f" / budget {budget:.0f} s" if budget else ""
            terminalreporter.write_line(f"{os.path.basename(path)}: {seconds:.1f} s{limit}")
