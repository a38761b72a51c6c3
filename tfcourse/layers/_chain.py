"""Chains of sub-layers: keep them as tracked attributes, build them and run them in order.

Every layer of the package is made of sub-layers applied one after the other (a convolution
block's conv, norm and activation; a residual block's main path; a dense block's composite
layers). These helpers are the one way they are kept, built and run.

Why attributes and not a list: Keras tracks sub-layers held in a Python list, but
``tf.train.Checkpoint`` does not, so a checkpoint would silently miss their weights. One
attribute per sub-layer is tracked by both. The attribute names are then part of the file
formats: they are the weights' paths in ``.keras`` files and checkpoints, so a layer's name
scheme (``prefix + layer.name``) must never change, or files saved before no longer load.
Only the names are stored on the owner (a tuple of strings, which Keras does not track), so
that no second path to the same sub-layers appears in the files.

Example:
>>> owner = keras.layers.Layer()
>>> names = attach(owner, [keras.layers.Dense(3, name="dense"), keras.layers.ReLU(name="relu")], "stage_")
>>> names
('stage_dense', 'stage_relu')
>>> chain = attached(owner, names)
>>> build_chain(chain, (None, 4))
(None, 3)
>>> tuple(call_chain(chain, keras.ops.ones((2, 4))).shape)
(2, 3)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import keras


def attach(owner: keras.layers.Layer, layers: Sequence[keras.layers.Layer], prefix: str = "") -> tuple:
    """Set each of ``layers`` as the attribute ``prefix + layer.name`` of ``owner``; return the names in order.

    Args:
        owner: the layer the sub-layers belong to.
        layers: the sub-layers, in the order they run.
        prefix: put before each sub-layer's name to make the attribute's name (part of the
            weights' paths in saved files: keep it as it is).
    """
    names = tuple(f"{prefix}{layer.name}" for layer in layers)
    if len(set(names)) != len(names):
        raise ValueError(f"{owner.name}: two sub-layers would share an attribute. Received: names={names}")
    for name, layer in zip(names, layers):
        setattr(owner, name, layer)
    return names


def attached(owner: keras.layers.Layer, names: Iterable[str]) -> list[keras.layers.Layer]:
    """The sub-layers that :func:`attach` kept as the attributes ``names``, in that order."""
    return [getattr(owner, name) for name in names]


def output_shape(layers: Iterable[keras.layers.Layer], input_shape) -> tuple:
    """The shape that ``layers`` applied in order give to an input of ``input_shape``."""
    shape = tuple(input_shape)
    for layer in layers:
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def build_chain(layers: Iterable[keras.layers.Layer], input_shape) -> tuple:
    """Build each layer on the output shape of the one before it; return the last output shape.

    Building in the owner's ``build`` (not at the first call) creates every weight before a
    ``.keras`` file or checkpoint is loaded into the owner.
    """
    shape = tuple(input_shape)
    for layer in layers:
        layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def call_chain(layers: Iterable[keras.layers.Layer], x, training=None):
    """Apply ``layers`` to ``x`` in order, passing ``training`` (dropout, batch norm) to each."""
    for layer in layers:
        x = layer(x, training=training)
    return x


def image_spec(channels: int | None = None) -> keras.layers.InputSpec:
    """What an image layer accepts: rank 4 ``(batch, height, width, channels)``, and ``channels`` if given.

    Keras checks it at every call (before ``build``) and names the layer in its error, e.g.
    ``Input 0 ... of layer 'conv_block' is incompatible with the layer: expected ndim=4, found
    ndim=3``.
    """
    return keras.layers.InputSpec(ndim=4, axes=None if channels is None else {-1: channels})
