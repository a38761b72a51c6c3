"""Argument and shape checks with Keras-style messages, shared by the whole package.

Every public class and function of ``tfcourse`` checks its arguments with these, so that bad
input fails early with one kind of message: the argument's name, what was expected, and
``Received: name=value``, as Keras's own layers say it. A check returns the value it checked,
so that it can be used inline: ``self.filters = checks.positive_int("filters", filters)``.

Example:
>>> positive_int("filters", 32)
32
>>> positive_int("filters", 0)
Traceback (most recent call last):
...
ValueError: Received an invalid value for `filters`, expected a positive integer. Received: filters=0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def positive_int(name: str, value) -> int:
    """Return ``value`` if it is a positive integer, else raise a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive integer. Received: {name}={value!r}"
        )
    return value


def rate(name: str, value) -> float:
    """Return ``value`` if it is a float in [0, 1), else raise a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a float in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def positive_float(name: str, value) -> float:
    """Return ``value`` as a float if it is a positive number, else raise a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive float. Received: {name}={value!r}"
        )
    return float(value)


def one_of(name: str, value, allowed: Iterable) -> object:
    """Return ``value`` if it is in ``allowed``, else raise a ValueError listing the choices."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected one of {allowed}. Received: {name}={value!r}"
        )
    return value


def input_shape(layer: str, shape: Sequence, ranks: Sequence[int], channels: int | None = None) -> None:
    """Check an input shape's rank and (optionally) its channel count, with a message that says the fix."""
    shape = tuple(shape)
    if len(shape) not in ranks:
        expected = " or ".join(
            {2: "2 (batch, features)", 4: "4 (batch, height, width, channels)"}.get(r, str(r)) for r in ranks
        )
        hint = " Add a channel axis, e.g. `x[..., None]`." if len(shape) == 3 and 4 in ranks else ""
        raise ValueError(f"{layer} expects inputs of rank {expected}.{hint} Received: input_shape={shape}")
    if channels is not None and shape[-1] is not None and shape[-1] != channels:
        raise ValueError(
            f"{layer} was configured for {channels} input channels (`input_channels={channels}`) "
            f"but got {shape[-1]}. Received: input_shape={shape}"
        )
