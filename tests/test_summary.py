import keras
import numpy as np
import pytest

from tfcourse import architectures
from tfcourse.layers import ConvBlock, InceptionModule, ResidualBlock
from tfcourse.summary import LayerRow, build_without_weights, format_table, layer_table, totals


def test_rows_by_hand():
    model = keras.Sequential(
        [
            keras.Input((10, 10, 3)),
            keras.layers.Conv2D(8, 3, padding="valid", name="conv"),  # 8x8x8
            keras.layers.Conv2D(4, 3, strides=2, groups=2, padding="same", name="grouped"),  # 4x4x4
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(5, name="dense"),
        ]
    )
    rows = layer_table(model)
    assert [(r.name, r.kind, r.output_shape) for r in rows] == [
        ("input", "InputLayer", (10, 10, 3)),
        ("conv", "Conv2D", (8, 8, 8)),
        ("grouped", "Conv2D", (4, 4, 4)),
        ("flat", "Flatten", (64,)),
        ("dense", "Dense", (5,)),
    ]
    assert [r.params for r in rows] == [0, 3 * 3 * 3 * 8 + 8, 3 * 3 * 4 * 4 + 4, 0, 64 * 5 + 5]
    assert [r.activations for r in rows] == [300, 512, 64, 64, 5]
    # each output value costs one dot product over the kernel (a group sees half the channels)
    assert [r.multiplies for r in rows] == [0, 512 * 3 * 3 * 3, 64 * 3 * 3 * 4, 0, 5 * 64]
    assert totals(rows)["params"] == model.count_params()


def test_vgg16_reproduces_the_lecture_table():
    rows = layer_table(build_without_weights(architectures.vgg, 16))
    lecture = [r for r in rows if r.kind not in {"Activation", "Flatten", "Dropout"}]
    assert [r.activations for r in lecture[:5]] == [
        224 * 224 * 3,
        224 * 224 * 64,
        224 * 224 * 64,
        112 * 112 * 64,
        112 * 112 * 128,
    ]
    assert totals(lecture) == {"params": 138_357_544, "activations": 15_237_608, "multiplies": 15_470_264_320}
    # weights without biases: the lecture's column
    weights = sum(r.params - r.output_shape[-1] for r in lecture if r.kind in {"Conv2D", "Dense"})
    assert weights == 138_344_128


def test_depth_limit_collapses_rows_but_keeps_totals():
    model = build_without_weights(architectures.googlenet)
    full, top = layer_table(model), layer_table(model, max_depth=0)
    assert len(top) < len(full) and totals(top) == totals(full)
    assert {r.depth for r in full} == {0, 1, 2} and {r.depth for r in top} == {0}
    module = next(r for r in top if r.name == "inception3a")
    assert module.kind == "InceptionModule" and module.params == 163_696


def test_rows_follow_the_call_order():
    inputs = keras.Input((8, 8, 4))
    outputs = ResidualBlock(8, strides=2, name="res")(inputs)
    names = [r.name for r in layer_table(keras.Model(inputs, outputs))]
    # the projection is created in build(), after the add: the walk still puts it before
    assert names == [
        "input",
        "res/conv1",
        "res/bn1",
        "res/act1",
        "res/conv2",
        "res/bn2",
        "res/proj_conv",
        "res/proj_bn",
        "res/add",
        "res/out_act",
    ]


def test_a_single_layer_with_an_input_shape():
    module = InceptionModule(128, 192, 96)  # the lecture's naive module, not built yet
    rows = layer_table(module, input_shape=(28, 28, 256))
    assert rows[-1].name.endswith("concat") and rows[-1].output_shape == (28, 28, 672)
    assert totals(rows)["multiplies"] == 28 * 28 * 256 * (128 * 1 + 192 * 9 + 96 * 25)  # 854M
    leaf = layer_table(keras.layers.Dense(3), input_shape=(4,))
    assert [(r.kind, r.params, r.multiplies) for r in leaf] == [("InputLayer", 0, 0), ("Dense", 15, 12)]


def test_ops_inside_call_and_nested_models():
    @keras.saving.register_keras_serializable(package="tests")
    class Doubled(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(2, 1, name="conv")
            self.relu = keras.layers.ReLU(name="relu")

        def call(self, x):
            return self.relu(keras.ops.multiply(self.conv(x), 2.0))

        def compute_output_shape(self, shape):
            return (*shape[:-1], 2)

    inner = keras.Sequential([keras.Input((4, 4, 2)), ConvBlock(3, name="block")], name="inner")
    inputs = keras.Input((4, 4, 1))
    outputs = inner(Doubled(name="doubled")(inputs))
    model = keras.Model(inputs, outputs)
    nodes = {id(layer): len(layer._inbound_nodes) for layer in model._flatten_layers()}
    rows = layer_table(model)
    assert [r.name for r in rows] == [
        "input",
        "doubled/conv",
        "doubled/relu",
        "inner/block/conv1",
        "inner/block/bn1",
        "inner/block/act1",
    ]
    # the walk leaves no trace on the layers
    assert {id(layer): len(layer._inbound_nodes) for layer in model._flatten_layers()} == nodes
    model(np.zeros((1, 4, 4, 1), np.float32))  # and the model still runs


def test_needs_a_fixed_input_shape():
    with pytest.raises(ValueError, match="Received: input_shape=None"):
        layer_table(ConvBlock(4))
    with pytest.raises(ValueError, match=r"fixed input shape. Received: input_shape=\[\(None, None, 3\)\]"):
        layer_table(keras.Sequential([keras.Input((None, None, 3)), ConvBlock(4)]))


def test_format_table_has_a_total_line():
    rows = [
        LayerRow("input", "InputLayer", (4, 4, 1), 0, 16, 0, 0),
        LayerRow("conv", "Conv2D", (4, 4, 2), 20, 32, 288, 0),
    ]
    text = format_table(rows, bytes_per_value=2)
    assert text.splitlines()[0].startswith("layer") and len(text.splitlines()) == 4
    assert text.splitlines()[-1].split() == ["total", "20", "48", "0.00", "0.0"]


def test_build_without_weights_counts_like_a_real_build():
    real = architectures.lenet5()
    shapes_only = build_without_weights(architectures.lenet5)
    assert shapes_only.count_params() == real.count_params() == 61_706
    assert [w.shape for w in shapes_only.weights] == [w.shape for w in real.weights]
