"""One kernel initializer for all of a layer's convolutions, each drawing its own values.

A layer resolves the argument with ``keras.initializers.get`` / ``keras.regularizers.get`` (a
name such as ``"he_normal"``, a config dict, or an object such as ``HeUniform(seed=3)``) and
writes it back with ``serialize``, so that objects, not only names, survive ``get_config`` /
``from_config`` and a ``.keras`` file; a config that holds a plain name still loads.

One initializer object serves all of a layer's convolutions, but Keras's random initializers
return the same values at every call (an unseeded one draws its seed when it is made). So
:func:`handout` gives the object itself to the first convolution and a fresh copy (same class
and config) to each later one: with a name such as ``"he_normal"`` every convolution gets its
own seed, drawn in the order the convolutions are made, as if each had been given the name.
A seeded object keeps its seed in every copy: convolutions of equal shape then start equal.

Example:
>>> next_initializer = handout(keras.initializers.get("he_normal"))
>>> first, second = next_initializer(), next_initializer()
>>> type(second).__name__, second is first, second.seed != first.seed
('HeNormal', False, True)
>>> keras.initializers.serialize(fresh_copy(keras.initializers.HeUniform(seed=3)))["config"]["seed"]
3
"""

from __future__ import annotations

from collections.abc import Callable

import keras


def fresh_copy(value):
    """A fresh initializer with ``value``'s class and config (an unseeded one draws a new seed)."""
    if isinstance(value, keras.initializers.Initializer):
        return value.__class__.from_config(value.get_config())
    return value  # a plain function: nothing to copy


def handout(value) -> Callable[[], object]:
    """A function that returns ``value`` at its first call and a :func:`fresh_copy` of it at every later call."""
    handed_out = False

    def next_initializer():
        nonlocal handed_out
        if not handed_out:
            handed_out = True
            return value
        return fresh_copy(value)

    return next_initializer
