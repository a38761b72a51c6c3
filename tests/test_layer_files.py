"""Every layer of ``tfcourse.layers`` in saved files: weight paths, ``.keras`` round trips, initializers
and regularizers, and what each layer accepts (its ``input_spec``).

The weights' paths are part of the file formats: a ``.keras`` file or a ``tf.train.Checkpoint``
finds each weight by the attribute names that lead to it. ``WEIGHT_PATHS`` holds them as they
were before the layers' sub-layer handling was rewritten (taken from that code), so a change that
would stop older files from loading fails here.
"""

from __future__ import annotations

import io
import re
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse.layers import (
    BottleneckBlock,
    ClassifierHead,
    ConvBlock,
    DenseBlock,
    InceptionModule,
    InvertedResidualBlock,
    ResidualBlock,
    SeparableConvBlock,
    SqueezeExcitation,
    TransitionLayer,
)

# Each case: (input shape without the batch axis, the layer).
CASES = {
    "conv_block": (
        (8, 8, 1),
        lambda: ConvBlock(4, repeats=2, pooling="max", dropout=0.1, input_channels=1, name="block"),
    ),
    "conv_block_no_norm": ((8, 8, 2), lambda: ConvBlock(4, batch_norm=False, name="block")),
    "classifier_head": ((4, 4, 2), lambda: ClassifierHead(3, hidden_units=(5, 4), dropout=0.2, name="head")),
    "residual_block": ((4, 4, 2), lambda: ResidualBlock(4, strides=2, name="res")),
    "bottleneck_block": ((4, 4, 2), lambda: BottleneckBlock(2, name="bottleneck")),
    "dense_block": ((4, 4, 2), lambda: DenseBlock(2, 2, dropout=0.1, name="dense")),
    "transition_layer": ((4, 4, 4), lambda: TransitionLayer(name="transition")),
    "inception_module": (
        (4, 4, 2),
        lambda: InceptionModule(
            1, 2, 1, reduce_3x3=1, reduce_5x5=1, pool_proj=1, batch_norm=True, name="inception"
        ),
    ),
    "separable_conv_block": ((4, 4, 2), lambda: SeparableConvBlock(3, strides=2, name="separable")),
    "inverted_residual_block": ((4, 4, 2), lambda: InvertedResidualBlock(2, expansion=3, name="inverted")),
    "squeeze_excitation": ((4, 4, 4), lambda: SqueezeExcitation(2, name="se")),
}

# One row per weight, in `model.weights` order: (variable path, its path in the `.keras` file's
# model.weights.h5 below "layers/<layer>/", its key in a tf.train.Checkpoint of the model below
# "model/_operations/1/" and without "/.ATTRIBUTES/VARIABLE_VALUE"). Written by the code as it
# was before the rewrite. DenseBlock's weights sit under its `composite` property in `.keras` files
# (Keras's saving walks properties too, in alphabetical order, before the `layer1_*` attributes).
WEIGHT_PATHS = {
    "conv_block": [
        ("block/conv1/kernel", "stage_conv1/vars/0", "stage_conv1/_kernel"),
        ("block/bn1/gamma", "stage_bn1/vars/0", "stage_bn1/gamma"),
        ("block/bn1/beta", "stage_bn1/vars/1", "stage_bn1/beta"),
        ("block/bn1/moving_mean", "stage_bn1/vars/2", "stage_bn1/moving_mean"),
        ("block/bn1/moving_variance", "stage_bn1/vars/3", "stage_bn1/moving_variance"),
        ("block/conv2/kernel", "stage_conv2/vars/0", "stage_conv2/_kernel"),
        ("block/bn2/gamma", "stage_bn2/vars/0", "stage_bn2/gamma"),
        ("block/bn2/beta", "stage_bn2/vars/1", "stage_bn2/beta"),
        ("block/bn2/moving_mean", "stage_bn2/vars/2", "stage_bn2/moving_mean"),
        ("block/bn2/moving_variance", "stage_bn2/vars/3", "stage_bn2/moving_variance"),
    ],
    "conv_block_no_norm": [
        ("block/conv1/kernel", "stage_conv1/vars/0", "stage_conv1/_kernel"),
        ("block/conv1/bias", "stage_conv1/vars/1", "stage_conv1/bias"),
    ],
    "classifier_head": [
        ("head/dense1/kernel", "stage_dense1/vars/0", "stage_dense1/_kernel"),
        ("head/dense1/bias", "stage_dense1/vars/1", "stage_dense1/bias"),
        ("head/dense2/kernel", "stage_dense2/vars/0", "stage_dense2/_kernel"),
        ("head/dense2/bias", "stage_dense2/vars/1", "stage_dense2/bias"),
        ("head/logits/kernel", "stage_logits/vars/0", "stage_logits/_kernel"),
        ("head/logits/bias", "stage_logits/vars/1", "stage_logits/bias"),
    ],
    "residual_block": [
        ("res/conv1/kernel", "conv1/vars/0", "conv1/_kernel"),
        ("res/bn1/gamma", "bn1/vars/0", "bn1/gamma"),
        ("res/bn1/beta", "bn1/vars/1", "bn1/beta"),
        ("res/bn1/moving_mean", "bn1/vars/2", "bn1/moving_mean"),
        ("res/bn1/moving_variance", "bn1/vars/3", "bn1/moving_variance"),
        ("res/conv2/kernel", "conv2/vars/0", "conv2/_kernel"),
        ("res/bn2/gamma", "bn2/vars/0", "bn2/gamma"),
        ("res/bn2/beta", "bn2/vars/1", "bn2/beta"),
        ("res/bn2/moving_mean", "bn2/vars/2", "bn2/moving_mean"),
        ("res/bn2/moving_variance", "bn2/vars/3", "bn2/moving_variance"),
        ("res/proj_conv/kernel", "proj_conv/vars/0", "proj_conv/_kernel"),
        ("res/proj_bn/gamma", "proj_bn/vars/0", "proj_bn/gamma"),
        ("res/proj_bn/beta", "proj_bn/vars/1", "proj_bn/beta"),
        ("res/proj_bn/moving_mean", "proj_bn/vars/2", "proj_bn/moving_mean"),
        ("res/proj_bn/moving_variance", "proj_bn/vars/3", "proj_bn/moving_variance"),
    ],
    "bottleneck_block": [
        ("bottleneck/conv1/kernel", "conv1/vars/0", "conv1/_kernel"),
        ("bottleneck/bn1/gamma", "bn1/vars/0", "bn1/gamma"),
        ("bottleneck/bn1/beta", "bn1/vars/1", "bn1/beta"),
        ("bottleneck/bn1/moving_mean", "bn1/vars/2", "bn1/moving_mean"),
        ("bottleneck/bn1/moving_variance", "bn1/vars/3", "bn1/moving_variance"),
        ("bottleneck/conv2/kernel", "conv2/vars/0", "conv2/_kernel"),
        ("bottleneck/bn2/gamma", "bn2/vars/0", "bn2/gamma"),
        ("bottleneck/bn2/beta", "bn2/vars/1", "bn2/beta"),
        ("bottleneck/bn2/moving_mean", "bn2/vars/2", "bn2/moving_mean"),
        ("bottleneck/bn2/moving_variance", "bn2/vars/3", "bn2/moving_variance"),
        ("bottleneck/conv3/kernel", "conv3/vars/0", "conv3/_kernel"),
        ("bottleneck/bn3/gamma", "bn3/vars/0", "bn3/gamma"),
        ("bottleneck/bn3/beta", "bn3/vars/1", "bn3/beta"),
        ("bottleneck/bn3/moving_mean", "bn3/vars/2", "bn3/moving_mean"),
        ("bottleneck/bn3/moving_variance", "bn3/vars/3", "bn3/moving_variance"),
        ("bottleneck/proj_conv/kernel", "proj_conv/vars/0", "proj_conv/_kernel"),
        ("bottleneck/proj_bn/gamma", "proj_bn/vars/0", "proj_bn/gamma"),
        ("bottleneck/proj_bn/beta", "proj_bn/vars/1", "proj_bn/beta"),
        ("bottleneck/proj_bn/moving_mean", "proj_bn/vars/2", "proj_bn/moving_mean"),
        ("bottleneck/proj_bn/moving_variance", "proj_bn/vars/3", "proj_bn/moving_variance"),
    ],
    "dense_block": [
        ("dense/layer1_bn0/gamma", "composite/container/batch_normalization/vars/0", "layer1_bn0/gamma"),
        ("dense/layer1_bn0/beta", "composite/container/batch_normalization/vars/1", "layer1_bn0/beta"),
        (
            "dense/layer1_bn0/moving_mean",
            "composite/container/batch_normalization/vars/2",
            "layer1_bn0/moving_mean",
        ),
        (
            "dense/layer1_bn0/moving_variance",
            "composite/container/batch_normalization/vars/3",
            "layer1_bn0/moving_variance",
        ),
        ("dense/layer1_conv1x1/kernel", "composite/container/conv2d/vars/0", "layer1_conv1x1/_kernel"),
        ("dense/layer1_bn1/gamma", "composite/container/batch_normalization_1/vars/0", "layer1_bn1/gamma"),
        ("dense/layer1_bn1/beta", "composite/container/batch_normalization_1/vars/1", "layer1_bn1/beta"),
        (
            "dense/layer1_bn1/moving_mean",
            "composite/container/batch_normalization_1/vars/2",
            "layer1_bn1/moving_mean",
        ),
        (
            "dense/layer1_bn1/moving_variance",
            "composite/container/batch_normalization_1/vars/3",
            "layer1_bn1/moving_variance",
        ),
        ("dense/layer1_conv3x3/kernel", "composite/container/conv2d_1/vars/0", "layer1_conv3x3/_kernel"),
        ("dense/layer2_bn0/gamma", "composite/container_1/batch_normalization/vars/0", "layer2_bn0/gamma"),
        ("dense/layer2_bn0/beta", "composite/container_1/batch_normalization/vars/1", "layer2_bn0/beta"),
        (
            "dense/layer2_bn0/moving_mean",
            "composite/container_1/batch_normalization/vars/2",
            "layer2_bn0/moving_mean",
        ),
        (
            "dense/layer2_bn0/moving_variance",
            "composite/container_1/batch_normalization/vars/3",
            "layer2_bn0/moving_variance",
        ),
        ("dense/layer2_conv1x1/kernel", "composite/container_1/conv2d/vars/0", "layer2_conv1x1/_kernel"),
        ("dense/layer2_bn1/gamma", "composite/container_1/batch_normalization_1/vars/0", "layer2_bn1/gamma"),
        ("dense/layer2_bn1/beta", "composite/container_1/batch_normalization_1/vars/1", "layer2_bn1/beta"),
        (
            "dense/layer2_bn1/moving_mean",
            "composite/container_1/batch_normalization_1/vars/2",
            "layer2_bn1/moving_mean",
        ),
        (
            "dense/layer2_bn1/moving_variance",
            "composite/container_1/batch_normalization_1/vars/3",
            "layer2_bn1/moving_variance",
        ),
        ("dense/layer2_conv3x3/kernel", "composite/container_1/conv2d_1/vars/0", "layer2_conv3x3/_kernel"),
    ],
    "transition_layer": [
        ("transition/bn/gamma", "norm/vars/0", "norm/gamma"),
        ("transition/bn/beta", "norm/vars/1", "norm/beta"),
        ("transition/bn/moving_mean", "norm/vars/2", "norm/moving_mean"),
        ("transition/bn/moving_variance", "norm/vars/3", "norm/moving_variance"),
        ("transition/conv/kernel", "conv/vars/0", "conv/_kernel"),
    ],
    "inception_module": [
        ("inception/b1_1x1/conv1/kernel", "b1_1x1/stage_conv1/vars/0", "b1_1x1/stage_conv1/_kernel"),
        ("inception/b1_1x1/bn1/gamma", "b1_1x1/stage_bn1/vars/0", "b1_1x1/stage_bn1/gamma"),
        ("inception/b1_1x1/bn1/beta", "b1_1x1/stage_bn1/vars/1", "b1_1x1/stage_bn1/beta"),
        ("inception/b1_1x1/bn1/moving_mean", "b1_1x1/stage_bn1/vars/2", "b1_1x1/stage_bn1/moving_mean"),
        (
            "inception/b1_1x1/bn1/moving_variance",
            "b1_1x1/stage_bn1/vars/3",
            "b1_1x1/stage_bn1/moving_variance",
        ),
        ("inception/b2_reduce/conv1/kernel", "b2_reduce/stage_conv1/vars/0", "b2_reduce/stage_conv1/_kernel"),
        ("inception/b2_reduce/bn1/gamma", "b2_reduce/stage_bn1/vars/0", "b2_reduce/stage_bn1/gamma"),
        ("inception/b2_reduce/bn1/beta", "b2_reduce/stage_bn1/vars/1", "b2_reduce/stage_bn1/beta"),
        (
            "inception/b2_reduce/bn1/moving_mean",
            "b2_reduce/stage_bn1/vars/2",
            "b2_reduce/stage_bn1/moving_mean",
        ),
        (
            "inception/b2_reduce/bn1/moving_variance",
            "b2_reduce/stage_bn1/vars/3",
            "b2_reduce/stage_bn1/moving_variance",
        ),
        ("inception/b2_3x3/conv1/kernel", "b2_3x3/stage_conv1/vars/0", "b2_3x3/stage_conv1/_kernel"),
        ("inception/b2_3x3/bn1/gamma", "b2_3x3/stage_bn1/vars/0", "b2_3x3/stage_bn1/gamma"),
        ("inception/b2_3x3/bn1/beta", "b2_3x3/stage_bn1/vars/1", "b2_3x3/stage_bn1/beta"),
        ("inception/b2_3x3/bn1/moving_mean", "b2_3x3/stage_bn1/vars/2", "b2_3x3/stage_bn1/moving_mean"),
        (
            "inception/b2_3x3/bn1/moving_variance",
            "b2_3x3/stage_bn1/vars/3",
            "b2_3x3/stage_bn1/moving_variance",
        ),
        ("inception/b3_reduce/conv1/kernel", "b3_reduce/stage_conv1/vars/0", "b3_reduce/stage_conv1/_kernel"),
        ("inception/b3_reduce/bn1/gamma", "b3_reduce/stage_bn1/vars/0", "b3_reduce/stage_bn1/gamma"),
        ("inception/b3_reduce/bn1/beta", "b3_reduce/stage_bn1/vars/1", "b3_reduce/stage_bn1/beta"),
        (
            "inception/b3_reduce/bn1/moving_mean",
            "b3_reduce/stage_bn1/vars/2",
            "b3_reduce/stage_bn1/moving_mean",
        ),
        (
            "inception/b3_reduce/bn1/moving_variance",
            "b3_reduce/stage_bn1/vars/3",
            "b3_reduce/stage_bn1/moving_variance",
        ),
        ("inception/b3_5x5/conv1/kernel", "b3_5x5/stage_conv1/vars/0", "b3_5x5/stage_conv1/_kernel"),
        ("inception/b3_5x5/bn1/gamma", "b3_5x5/stage_bn1/vars/0", "b3_5x5/stage_bn1/gamma"),
        ("inception/b3_5x5/bn1/beta", "b3_5x5/stage_bn1/vars/1", "b3_5x5/stage_bn1/beta"),
        ("inception/b3_5x5/bn1/moving_mean", "b3_5x5/stage_bn1/vars/2", "b3_5x5/stage_bn1/moving_mean"),
        (
            "inception/b3_5x5/bn1/moving_variance",
            "b3_5x5/stage_bn1/vars/3",
            "b3_5x5/stage_bn1/moving_variance",
        ),
        ("inception/b4_proj/conv1/kernel", "b4_proj/stage_conv1/vars/0", "b4_proj/stage_conv1/_kernel"),
        ("inception/b4_proj/bn1/gamma", "b4_proj/stage_bn1/vars/0", "b4_proj/stage_bn1/gamma"),
        ("inception/b4_proj/bn1/beta", "b4_proj/stage_bn1/vars/1", "b4_proj/stage_bn1/beta"),
        ("inception/b4_proj/bn1/moving_mean", "b4_proj/stage_bn1/vars/2", "b4_proj/stage_bn1/moving_mean"),
        (
            "inception/b4_proj/bn1/moving_variance",
            "b4_proj/stage_bn1/vars/3",
            "b4_proj/stage_bn1/moving_variance",
        ),
    ],
    "separable_conv_block": [
        ("separable/depthwise/kernel", "depthwise/vars/0", "depthwise/kernel"),
        ("separable/depthwise_bn/gamma", "depthwise_bn/vars/0", "depthwise_bn/gamma"),
        ("separable/depthwise_bn/beta", "depthwise_bn/vars/1", "depthwise_bn/beta"),
        ("separable/depthwise_bn/moving_mean", "depthwise_bn/vars/2", "depthwise_bn/moving_mean"),
        ("separable/depthwise_bn/moving_variance", "depthwise_bn/vars/3", "depthwise_bn/moving_variance"),
        ("separable/pointwise/kernel", "pointwise/vars/0", "pointwise/_kernel"),
        ("separable/pointwise_bn/gamma", "pointwise_bn/vars/0", "pointwise_bn/gamma"),
        ("separable/pointwise_bn/beta", "pointwise_bn/vars/1", "pointwise_bn/beta"),
        ("separable/pointwise_bn/moving_mean", "pointwise_bn/vars/2", "pointwise_bn/moving_mean"),
        ("separable/pointwise_bn/moving_variance", "pointwise_bn/vars/3", "pointwise_bn/moving_variance"),
    ],
    "inverted_residual_block": [
        ("inverted/expand/kernel", "expand/vars/0", "expand/_kernel"),
        ("inverted/expand_bn/gamma", "expand_bn/vars/0", "expand_bn/gamma"),
        ("inverted/expand_bn/beta", "expand_bn/vars/1", "expand_bn/beta"),
        ("inverted/expand_bn/moving_mean", "expand_bn/vars/2", "expand_bn/moving_mean"),
        ("inverted/expand_bn/moving_variance", "expand_bn/vars/3", "expand_bn/moving_variance"),
        ("inverted/depthwise/kernel", "depthwise/vars/0", "depthwise/kernel"),
        ("inverted/depthwise_bn/gamma", "depthwise_bn/vars/0", "depthwise_bn/gamma"),
        ("inverted/depthwise_bn/beta", "depthwise_bn/vars/1", "depthwise_bn/beta"),
        ("inverted/depthwise_bn/moving_mean", "depthwise_bn/vars/2", "depthwise_bn/moving_mean"),
        ("inverted/depthwise_bn/moving_variance", "depthwise_bn/vars/3", "depthwise_bn/moving_variance"),
        ("inverted/project/kernel", "project/vars/0", "project/_kernel"),
        ("inverted/project_bn/gamma", "project_bn/vars/0", "project_bn/gamma"),
        ("inverted/project_bn/beta", "project_bn/vars/1", "project_bn/beta"),
        ("inverted/project_bn/moving_mean", "project_bn/vars/2", "project_bn/moving_mean"),
        ("inverted/project_bn/moving_variance", "project_bn/vars/3", "project_bn/moving_variance"),
    ],
    "squeeze_excitation": [
        ("se/reduce/kernel", "reduce/vars/0", "reduce/_kernel"),
        ("se/reduce/bias", "reduce/vars/1", "reduce/bias"),
        ("se/excite/kernel", "excite/vars/0", "excite/_kernel"),
        ("se/excite/bias", "excite/vars/1", "excite/bias"),
    ],
}


def model_of(case: str) -> keras.Model:
    shape, make = CASES[case]
    inputs = keras.Input(shape, name="images")
    return keras.Model(inputs, make()(inputs), name="m")


def _without(prefix: str, key: str, suffix: str = "") -> str:
    assert key.startswith(prefix) and key.endswith(suffix), key
    return key[len(prefix) : len(key) - len(suffix)]


def weight_paths(model: keras.Model, tmp_path) -> list[tuple[str, str, str]]:
    """(variable path, path in the ``.keras`` file, checkpoint key) of each of ``model``'s weights.

    Each weight is filled with its index, so that the value read back from a file says which
    weight a stored path holds.
    """
    h5py = pytest.importorskip("h5py")  # a dependency of Keras, which writes .keras weights with it
    for i, v in enumerate(model.weights):
        v.assign(np.full(v.shape, i, v.dtype))
    layer_key = re.sub(r"(?<!^)(?=[A-Z])", "_", type(model.layers[1]).__name__).lower()  # conv_block
    in_file, in_checkpoint = {}, {}

    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:

        def visit(name, node):
            if isinstance(node, h5py.Dataset):
                in_file[int(np.asarray(node).ravel()[0])] = _without(f"layers/{layer_key}/", name)

        f.visititems(visit)

    checkpoint = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    for key, _ in tf.train.list_variables(checkpoint):
        if key.startswith("model/"):
            index = int(np.asarray(tf.train.load_variable(checkpoint, key)).ravel()[0])
            in_checkpoint[index] = _without("model/_operations/1/", key, "/.ATTRIBUTES/VARIABLE_VALUE")
    assert len(in_file) == len(in_checkpoint) == len(model.weights)
    return [(v.path, in_file[i], in_checkpoint[i]) for i, v in enumerate(model.weights)]


@pytest.mark.parametrize("case", CASES)
def test_weight_paths_are_those_older_files_hold(case, tmp_path):
    assert weight_paths(model_of(case), tmp_path) == [tuple(row) for row in WEIGHT_PATHS[case]]


@pytest.mark.parametrize("case", CASES)
def test_each_layer_round_trips_through_a_keras_file(case, keras_file_roundtrip):
    model = model_of(case)
    x = np.random.default_rng(0).random((4, *CASES[case][0]), dtype=np.float32)
    model(x, training=True)  # moves batch-norm statistics away from their initial values
    for v in model.trainable_weights:
        v.assign(np.random.default_rng(1).normal(size=v.shape).astype(v.dtype))
    loaded = keras_file_roundtrip(model, x)  # equal predictions
    assert type(loaded.layers[1]) is type(model.layers[1])
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


# ---------- initializers and regularizers ----------

# The layers with convolutions, which take kernel_initializer and kernel_regularizer.
CONV_CASES = [case for case in CASES if case != "classifier_head"]


def _conv_kernels(layer) -> list:
    return [v for v in layer.weights if v.path.endswith("/kernel")]


@pytest.mark.parametrize("case", CONV_CASES)
def test_initializer_and_regularizer_objects_survive_config_and_keras_file(case, tmp_path):
    shape, make = CASES[case]
    config = make().get_config()
    config.update(
        kernel_initializer=keras.initializers.HeUniform(seed=3),
        kernel_regularizer=keras.regularizers.L1L2(l1=0.01, l2=0.02),
    )
    layer = type(make()).from_config(config)
    config = layer.get_config()
    assert config["kernel_initializer"]["class_name"] == "HeUniform"
    assert config["kernel_initializer"]["config"]["seed"] == 3
    assert config["kernel_regularizer"]["config"] == {"l1": 0.01, "l2": 0.02}
    assert type(layer).from_config(config).get_config() == config

    inputs = keras.Input(shape)
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras").layers[1]
    assert isinstance(loaded.kernel_initializer, keras.initializers.HeUniform)
    assert loaded.kernel_initializer.get_config()["seed"] == 3
    assert isinstance(loaded.kernel_regularizer, keras.regularizers.L1L2)
    assert loaded.kernel_regularizer.get_config() == {"l1": 0.01, "l2": 0.02}
    assert loaded.get_config() == config


@pytest.mark.parametrize("case", CONV_CASES)
def test_regularizer_reaches_every_convolution(case):
    """The layer's losses are 0.1 * (sum of squared kernel entries), every convolution counted (NumPy)."""
    shape, make = CASES[case]
    config = make().get_config()
    layer = type(make()).from_config({**config, "kernel_regularizer": keras.regularizers.L2(0.1)})
    layer(np.zeros((1, *shape), np.float32))
    kernels = _conv_kernels(layer)
    assert kernels
    expected = 0.1 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
    np.testing.assert_allclose(float(keras.ops.sum(layer.losses)), expected, rtol=1e-5)
    assert len(layer.losses) == len(kernels)


@pytest.mark.parametrize("case", CONV_CASES)
def test_names_still_work_and_old_configs_with_a_plain_name_load(case):
    _, make = CASES[case]
    config = {**make().get_config(), "kernel_initializer": "glorot_uniform"}
    layer = type(make()).from_config(config)
    assert isinstance(layer.kernel_initializer, keras.initializers.GlorotUniform)
    assert layer.get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"

    old = make().get_config()  # a config written before the layers took a regularizer
    old["kernel_initializer"] = "he_normal"
    del old["kernel_regularizer"]
    layer = type(make()).from_config(old)
    assert isinstance(layer.kernel_initializer, keras.initializers.HeNormal)
    assert layer.kernel_regularizer is None and layer.get_config()["kernel_regularizer"] is None


def test_a_seeded_initializer_gives_what_keras_gives_with_that_seed():
    block = ConvBlock(8, batch_norm=False, kernel_initializer=keras.initializers.HeUniform(seed=3))
    block.build((None, 8, 8, 2))
    expected = keras.initializers.HeUniform(seed=3)((3, 3, 2, 8))
    np.testing.assert_array_equal(block.stages[0].kernel.numpy(), expected)


def test_convolutions_of_one_layer_start_from_different_kernels():
    """One initializer object serves all convolutions, yet each draws its own values."""
    block = ResidualBlock(4, kernel_initializer=keras.initializers.HeNormal())  # conv1, conv2: (3, 3, 4, 4)
    block.build((None, 8, 8, 4))
    first, second = (k.numpy() for k in _conv_kernels(block))
    assert first.shape == second.shape and not np.array_equal(first, second)


def test_default_initializers_draw_as_plain_keras_layers_do():
    """Under a global seed, a block's kernels equal those of Keras layers made in the same order."""
    keras.utils.set_random_seed(7)
    block = ConvBlock(4, repeats=2, batch_norm=False)
    block.build((None, 8, 8, 4))
    keras.utils.set_random_seed(7)
    convs = [keras.layers.Conv2D(4, 3, padding="same", kernel_initializer="he_normal") for _ in range(2)]
    for conv in convs:
        conv.build((None, 8, 8, 4))
    for ours, plain in zip(_conv_kernels(block), convs, strict=True):
        np.testing.assert_array_equal(ours.numpy(), plain.kernel.numpy())


# ---------- what each layer accepts: its input_spec, checked by Keras ----------


@pytest.mark.parametrize("case", CASES)
def test_wrong_rank_names_the_layer_and_the_expected_rank(case):
    shape, make = CASES[case]
    layer = make()
    if case == "classifier_head":  # rank 2 or 4: Keras refuses rank 1, the head's build rank 3
        with pytest.raises(ValueError, match=r"layer 'head'.*expected min_ndim=2, found ndim=1"):
            layer(np.zeros((2,), np.float32))
        with pytest.raises(ValueError, match=r"head expects inputs of rank 2 \(batch, features\) or 4"):
            layer(np.zeros((2, *shape[:2]), np.float32))
        return
    with pytest.raises(
        ValueError, match=rf"layer '{layer.name}'.*expected ndim=4, found ndim=3.*\(2, 4, 4\)"
    ):
        layer(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=rf"layer '{layer.name}'.*expected ndim=4, found ndim=3"):
        layer(keras.Input((4, 4)))  # symbolic inputs too


@pytest.mark.parametrize("case", CASES)
def test_after_build_a_layer_refuses_another_channel_count(case):
    shape, make = CASES[case]
    layer = make()
    layer(np.zeros((1, *shape), np.float32))
    assert layer.input_spec.axes == {-1: shape[-1]}
    wrong = (1, *shape[:-1], shape[-1] + 1)
    match = rf"layer '{layer.name}'.*expected axis -1 of input shape to have value {shape[-1]}.*{re.escape(str(wrong))}"
    with pytest.raises(ValueError, match=match):
        layer(np.zeros(wrong, np.float32))
