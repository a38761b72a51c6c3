"""tfcourse.speed: the machine-speed factor that stretches notebook budgets."""

import pytest

from tfcourse import speed


def test_budget_scale_is_the_speed_ratio_and_never_below_one():
    assert speed.budget_scale(850.0, reference=3_400.0) == 4.0
    assert speed.budget_scale(3_400.0, reference=3_400.0) == 1.0
    assert speed.budget_scale(10_000.0, reference=3_400.0) == 1.0  # faster: budgets unchanged


@pytest.mark.parametrize("images_per_second", [0.0, -5.0, float("nan")])
def test_budget_scale_rejects_a_speed_that_is_not_positive(images_per_second):
    with pytest.raises(ValueError, match="positive numbers of images per second"):
        speed.budget_scale(images_per_second)


def test_training_speed_measures_images_per_second():
    # 2 batches of 64 per epoch: the rate is images trained / seconds of the fastest timed epoch.
    rate = speed.training_speed(images=128, batch_size=64, epochs=1)
    assert 10 < rate < 1e6


@pytest.mark.parametrize("kwargs", [{"images": 10, "batch_size": 64}, {"batch_size": 0}, {"epochs": 0}])
def test_training_speed_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="must be at least `batch_size`"):
        speed.training_speed(**kwargs)
