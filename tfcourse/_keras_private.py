"""The private Keras attributes the package relies on, kept in this one module.

Keras 3 has no public API for three things the package needs:

* the layers that a layer holds (``Model.layers`` exists for models only; a custom layer's
  sub-layers are tracked in ``Layer._flatten_layers``), needed to freeze the batch norms inside a
  block (:func:`tfcourse.transfer.set_trainable`) and to walk nested layers
  (:mod:`tfcourse.summary`);
* the call graph that symbolic calls record (``Operation._inbound_nodes`` /
  ``_outbound_nodes`` and ``KerasTensor._keras_history``), needed to list a custom layer's
  sub-layers in call order with their shapes (:mod:`tfcourse.summary`);
* a way to make ``fit`` trace its step again without recompiling (``Trainer.train_function``,
  the cached step that ``compile`` resets), needed when a setting read at trace time changes
  (:func:`tfcourse.recipe.set_batch_norm_momentum`).

Every other module goes through the functions here, and ``tests/test_keras_private.py`` checks
each attribute, so that a Keras upgrade that renames one fails there with a message naming it,
not somewhere deep in a layer table.
"""

from __future__ import annotations

from typing import Any

import keras


def sublayers(layer: keras.layers.Layer, *, recursive: bool) -> list[keras.layers.Layer]:
    """The layers that ``layer`` holds, in the order they were assigned (all nested ones if ``recursive``)."""
    return list(layer._flatten_layers(include_self=False, recursive=recursive))


def inbound_nodes(operation: Any) -> list:
    """The call records (``keras.src.ops.node.Node``) of ``operation``: one per symbolic call."""
    return operation._inbound_nodes


def outbound_nodes(operation: Any) -> list:
    """The call records of the operations that consumed ``operation``'s outputs."""
    return operation._outbound_nodes


def producer(tensor: Any) -> tuple[Any, int] | None:
    """``(operation, node index)`` that made a symbolic tensor, or None for an input tensor."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or history.operation is None:  # a fresh `keras.KerasTensor` has (None, 0)
        return None
    return history.operation, history.node_index


def forget_train_function(model: Any) -> None:
    """Drop a model's cached ``fit`` step (``Trainer.train_function``) so the next ``fit`` traces anew.

    ``fit`` traces its step once and keeps it; Python values read during tracing, such as a
    batch norm's ``momentum``, are constants in it. ``compile`` drops it the same way. Layers
    that are not models have no such cache, and nothing happens.
    """
    if getattr(model, "train_function", None) is not None:
        model.train_function = None
