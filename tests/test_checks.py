"""tfcourse.checks: every check returns what it accepts and names the argument when it refuses."""

import pytest

from tfcourse import checks


@pytest.mark.parametrize("value", [1, 7, 10**9])
def test_positive_int_accepts(value):
    assert checks.positive_int("filters", value) == value


@pytest.mark.parametrize("value", [0, -3, 2.0, 2.5, True, None, "4"])
def test_positive_int_refuses(value):
    with pytest.raises(ValueError, match=rf"expected a positive integer\. Received: filters={value!r}$"):
        checks.positive_int("filters", value)


@pytest.mark.parametrize("value,expected", [(0, 0.0), (0.0, 0.0), (0.5, 0.5), (0.999, 0.999)])
def test_rate_accepts_zero_up_to_but_not_one(value, expected):
    result = checks.rate("dropout", value)
    assert result == expected and isinstance(result, float)


@pytest.mark.parametrize("value", [1, 1.0, -0.1, 1.5, False, "0.2", None])
def test_rate_refuses(value):
    with pytest.raises(ValueError, match=r"expected a float in \[0, 1\)\. Received: dropout="):
        checks.rate("dropout", value)


@pytest.mark.parametrize("value", [1, 0.5, 1e-9])
def test_positive_float_accepts_and_returns_a_float(value):
    result = checks.positive_float("epsilon", value)
    assert result == value and isinstance(result, float)


@pytest.mark.parametrize("value", [0, 0.0, -1e-9, True, "1"])
def test_positive_float_refuses(value):
    with pytest.raises(ValueError, match=r"expected a positive float\. Received: epsilon="):
        checks.positive_float("epsilon", value)


def test_one_of_accepts_a_choice_and_lists_them_when_refusing():
    assert checks.one_of("pooling", "max", ("max", "avg", None)) == "max"
    assert checks.one_of("pooling", None, ["max", None]) is None
    with pytest.raises(ValueError, match=r"expected one of \('max', 'avg'\)\. Received: pooling='sum'"):
        checks.one_of("pooling", "sum", iter(["max", "avg"]))  # any iterable of choices


def test_input_shape_checks_rank_and_channels_with_the_fix():
    checks.input_shape("ConvBlock", (None, 28, 28, 1), ranks=(4,), channels=1)
    checks.input_shape("ConvBlock", (None, 28, 28, None), ranks=(4,), channels=1)  # unknown channels pass
    checks.input_shape("Head", (8, 64), ranks=(2, 4))
    with pytest.raises(ValueError, match=r"rank 4 \(batch, height, width, channels\)\. Add a channel axis"):
        checks.input_shape("ConvBlock", (None, 28, 28), ranks=(4,))
    with pytest.raises(ValueError, match=r"rank 2 \(batch, features\) or 4 .*Received: input_shape=\(8,\)$"):
        checks.input_shape("Head", (8,), ranks=(2, 4))
    with pytest.raises(ValueError, match=r"configured for 1 input channels \(`input_channels=1`\) but got 3"):
        checks.input_shape("ConvBlock", (None, 28, 28, 3), ranks=(4,), channels=1)
