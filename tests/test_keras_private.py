"""The private Keras and TFDS attributes the package relies on still exist and mean what they did.

Each test names the attribute, so that a Keras or TFDS upgrade that renames one fails here with a
clear message instead of deep inside the layer table or the scene builder.
"""

from __future__ import annotations

import inspect

import keras
import pytest

from tfcourse import _keras_private as private


class _Pair(keras.layers.Layer):
    """Two dense layers, the second inside a nested holder, to check what is tracked."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.first = keras.layers.Dense(3, name="first")
        self.inner = keras.Sequential([keras.layers.Dense(2, name="second")], name="inner")

    def call(self, x):
        return self.inner(self.first(x))


def test_sublayers_lists_assigned_layers_in_order_and_recurses_on_request():
    layer = _Pair()
    assert hasattr(keras.layers.Layer, "_flatten_layers"), "Keras removed Layer._flatten_layers"
    assert [s.name for s in private.sublayers(layer, recursive=False)] == ["first", "inner"]
    assert {"first", "inner", "second"} <= {s.name for s in private.sublayers(layer, recursive=True)}


def test_symbolic_calls_record_nodes_and_tensor_history():
    dense = keras.layers.Dense(4)
    before_in, before_out = len(private.inbound_nodes(dense)), len(private.outbound_nodes(dense))
    x = keras.KerasTensor((None, 5))
    y = dense(x)
    nodes = private.inbound_nodes(dense)
    assert len(nodes) == before_in + 1, "Keras no longer records a call in Operation._inbound_nodes"
    assert isinstance(private.outbound_nodes(dense), list), "Operation._outbound_nodes is gone"
    assert len(private.outbound_nodes(dense)) == before_out
    node = nodes[-1]
    assert node.input_tensors == [x] or list(node.input_tensors) == [x], "Node.input_tensors changed"
    assert node.output_tensors[0] is y, "Node.output_tensors changed"
    assert private.producer(y) == (dense, len(nodes) - 1), "KerasTensor._keras_history changed"
    assert private.producer(x) is None


def test_compile_and_fit_keep_the_traced_step_in_train_function():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    assert hasattr(model, "train_function"), "Keras renamed Trainer.train_function"
    assert model.train_function is None
    model.fit(keras.ops.zeros((2, 2)), keras.ops.zeros((2, 1)), verbose=0)
    assert model.train_function is not None, "fit no longer caches its step in Trainer.train_function"
    private.forget_train_function(model)
    assert model.train_function is None
    private.forget_train_function(keras.layers.Dense(1))  # a layer has no such cache: nothing happens


def test_tfds_still_makes_its_download_manager_through_the_hook_scenes_overrides():
    tfds = pytest.importorskip("tensorflow_datasets")
    hook = getattr(tfds.core.DatasetBuilder, "_make_download_manager", None)
    assert hook is not None, "TFDS removed DatasetBuilder._make_download_manager (see tfcourse/scenes.py)"
    assert list(inspect.signature(hook).parameters) == ["self", "download_dir", "download_config"]
    source = inspect.getsource(tfds.core.DatasetBuilder.download_and_prepare)
    assert "_make_download_manager(" in source, "download_and_prepare no longer calls the hook"
