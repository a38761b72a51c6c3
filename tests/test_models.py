"""The builders in tfcourse.models: notebook 02's CNN, notebook 05's block CNN, notebook 04's families."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import models, seed_everything
from tfcourse.layers import ClassifierHead, ConvBlock
from tfcourse.models import fashion_cnn


def test_fashion_cnn_shapes_shrink_while_depth_grows():
    model = fashion_cnn()
    shapes = [layer.output.shape for layer in model.layers]
    assert shapes == [(None, 28, 28, 1), (None, 14, 14, 32), (None, 7, 7, 64), (None, 10)]
    assert [type(layer) for layer in model.layers[1:]] == [ConvBlock, ConvBlock, ClassifierHead]


def test_fashion_cnn_parameter_count_by_hand():
    block1 = 3 * 3 * 1 * 32 + 4 * 32  # conv without bias + batch norm
    block2 = 3 * 3 * 32 * 64 + 4 * 64
    head = (7 * 7 * 64 * 256 + 256) + (256 * 10 + 10)
    assert fashion_cnn().count_params() == block1 + block2 + head == 824746
    assert fashion_cnn(filters=(16, 32, 64), hidden_units=64).layers[3].output.shape == (None, 4, 4, 64)


def test_augmentation_runs_only_in_training():
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    model = fashion_cnn(augmentation=flip)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert isinstance(model.layers[1], keras.layers.RandomFlip)


def test_fashion_cnn_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"Received: filters=\(\)"):
        fashion_cnn(filters=())
    with pytest.raises(ValueError, match="Received: hidden_units=0"):
        fashion_cnn(hidden_units=0)
    with pytest.raises(ValueError, match="layer 'block1'.*expected axis -1 of input shape to have value 1"):
        fashion_cnn()(np.zeros((1, 28, 28, 3), np.float32))


# Notebook 04's five small families. The literal values below were taken by running the
# notebook's own definitions of these builders (its families cell, before the builders moved
# here) at the quick profile's width 8 and the full profile's width 16: the moved builders must
# give the same networks, layer for layer.
FAMILY_REFERENCE = {
    # name: (builder, layer names after the input, parameters at widths 8 and 16,
    #        parameters per layer at width 8, output shapes per layer at width 8)
    "LeNet": (
        models.lenet,
        ["c1", "c3", "head"],
        {8: 61_706, 16: 61_706},
        [156, 2_416, 59_134],
        [(14, 14, 6), (5, 5, 16), (10,)],
    ),
    "VGG-style": (
        models.vgg_style,
        ["block1", "block2", "block3", "head"],
        {8: 85_330, 16: 204_954},
        [712, 3_584, 14_080, 66_954],
        [(14, 14, 8), (7, 7, 16), (4, 4, 32), (10,)],
    ),
    "Inception-style": (
        models.inception_style,
        ["stem", "inception1", "pool1", "inception2", "pool2", "inception3", "head"],
        {8: 28_042, 16: 107_370},
        [208, 2_112, 0, 5_968, 0, 18_624, 1_130],
        [(28, 28, 16), (28, 28, 32), (14, 14, 32), (14, 14, 56), (7, 7, 56), (7, 7, 112), (10,)],
    ),
    "ResNet-style": (
        models.resnet_style,
        ["stem", "res1", "res2", "res3", "res4", "res5", "head"],
        {8: 43_570, 16: 171_354},
        [104, 1_216, 3_776, 4_736, 14_720, 18_688, 330],
        [(28, 28, 8), (28, 28, 8), (14, 14, 16), (14, 14, 16), (7, 7, 32), (7, 7, 32), (10,)],
    ),
    "DenseNet-style": (
        models.densenet_style,
        ["stem", "dense1", "transition1", "dense2", "bn", "relu", "head"],
        {8: 21_802, 16: 82_762},
        [208, 8_512, 1_344, 10_944, 224, 0, 570],
        [(14, 14, 16), (14, 14, 48), (7, 7, 24), (7, 7, 56), (7, 7, 56), (7, 7, 56), (10,)],
    ),
}


def test_small_families_are_notebook_04s_in_its_order():
    assert list(models.SMALL_FAMILIES) == list(FAMILY_REFERENCE)
    for name, build in models.SMALL_FAMILIES.items():
        assert build is FAMILY_REFERENCE[name][0]
        assert build(8).name == name


@pytest.mark.parametrize("name", list(FAMILY_REFERENCE))
def test_small_family_matches_the_notebooks_network(name):
    build, layer_names, params, layer_params, shapes = FAMILY_REFERENCE[name]
    model = build(8)
    assert isinstance(model.layers[0], keras.layers.InputLayer)
    assert model.input_shape == (None, 28, 28, 1)
    assert [layer.name for layer in model.layers[1:]] == layer_names
    assert [layer.count_params() for layer in model.layers[1:]] == layer_params
    assert [tuple(layer.output.shape[1:]) for layer in model.layers[1:]] == shapes
    assert model.count_params() == params[8]
    wide = build(16)
    assert [layer.name for layer in wide.layers[1:]] == layer_names
    assert wide.count_params() == params[16]


@pytest.mark.parametrize("name", list(FAMILY_REFERENCE))
def test_small_family_forward_pass_gives_logits_per_image(name):
    build = FAMILY_REFERENCE[name][0]
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    logits = build(8, num_classes=7)(x, training=False)
    assert tuple(logits.shape) == (3, 7)
    assert np.all(np.isfinite(logits))


@pytest.mark.parametrize("width", [8, 16])
def test_vgg_style_parameter_count_by_formula(width):
    w = width

    def block(c_in, c_out):  # two 3x3 convolutions without bias, each followed by a 4-value batch norm
        return 9 * c_in * c_out + 4 * c_out + 9 * c_out * c_out + 4 * c_out

    head = (4 * 4 * 4 * w) * 128 + 128 + 128 * 10 + 10  # flatten 4x4x4w -> 128 -> 10
    expected = block(1, w) + block(w, 2 * w) + block(2 * w, 4 * w) + head
    assert models.vgg_style(w).count_params() == expected == FAMILY_REFERENCE["VGG-style"][2][w]


@pytest.mark.parametrize("width", [8, 16])
def test_resnet_style_parameter_count_by_formula(width):
    def basic(c_in, c_out):  # two 3x3 convolutions and norms, plus a 1x1 projection when the shape changes
        projection = c_in * c_out + 4 * c_out if c_in != c_out else 0
        return 9 * c_in * c_out + 4 * c_out + 9 * c_out * c_out + 4 * c_out + projection

    w = width
    stem = 9 * w + 4 * w
    blocks = basic(w, w) + basic(w, 2 * w) + basic(2 * w, 2 * w) + basic(2 * w, 4 * w) + basic(4 * w, 4 * w)
    head = 4 * w * 10 + 10  # global average pooling -> 10
    assert models.resnet_style(w).count_params() == stem + blocks + head


def test_lenet_forward_pass_equals_the_same_network_in_tensorflow_ops():
    model = models.lenet(8)
    x = np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32)

    def conv_tanh_pool(inputs, layer, padding):
        kernel, bias = layer.weights
        y = tf.nn.tanh(tf.nn.conv2d(inputs, kernel, strides=1, padding=padding) + bias)
        return tf.nn.avg_pool2d(y, 2, 2, padding="VALID")

    y = conv_tanh_pool(x, model.get_layer("c1"), "SAME")  # (2, 14, 14, 6)
    y = conv_tanh_pool(y, model.get_layer("c3"), "VALID")  # (2, 5, 5, 16)
    y = tf.reshape(y, (2, -1))  # (2, 400)
    w1, b1, w2, b2, w3, b3 = model.get_layer("head").weights
    y = tf.nn.tanh(y @ w1 + b1)
    y = tf.nn.tanh(y @ w2 + b2)
    expected = y @ w3 + b3
    np.testing.assert_allclose(model(x, training=False), expected, rtol=1e-5, atol=1e-5)


def test_small_families_draw_the_same_weights_from_the_same_seed():
    seed_everything(3)
    first = models.resnet_style(4).get_weights()
    seed_everything(3)
    again = models.resnet_style(4).get_weights()
    seed_everything(4)
    other = models.resnet_style(4).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("name", list(FAMILY_REFERENCE))
def test_small_family_rejects_bad_arguments(name):
    build = FAMILY_REFERENCE[name][0]
    with pytest.raises(ValueError, match="Received: width=0"):
        build(0)
    with pytest.raises(ValueError, match="Received: width=2.5"):
        build(2.5)
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        build(8, num_classes=0)


def test_inception_style_needs_a_width_of_two_for_its_narrowest_branches():
    with pytest.raises(ValueError, match="at least 2.*Received: width=1"):
        models.inception_style(1)
    assert models.inception_style(2).get_layer("inception1").output.shape == (None, 28, 28, 8)


# block_cnn and feature_extractor (notebook 05).


def test_block_cnn_parameter_count_by_hand_and_names_for_transfer():
    model = models.block_cnn(5, width=4)
    assert [layer.name for layer in model.layers[1:]] == ["block1", "block2", "block3", "head"]

    def block(c_in, c_out):
        return 9 * c_in * c_out + 4 * c_out + 9 * c_out * c_out + 4 * c_out

    assert model.count_params() == block(1, 4) + block(4, 8) + block(8, 16) + (16 * 5 + 5)
    assert model.output_shape == (None, 5)
    with pytest.raises(ValueError, match="Received: width=0"):
        models.block_cnn(5, width=0)
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        models.block_cnn(0)


def test_feature_extractor_cuts_below_the_head_and_shares_weights():
    model = models.block_cnn(3, width=4)
    base = models.feature_extractor(model)
    assert base.output_shape == (None, 4, 4, 16)
    assert base.get_layer("block1") is model.get_layer("block1")
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    features = base(x, training=False)
    np.testing.assert_allclose(
        model.get_layer("head")(features, training=False), model(x, training=False), rtol=1e-6, atol=1e-6
    )
    with pytest.raises(ValueError, match="Received: head='top'"):
        models.feature_extractor(model, head="top")


def test_yolo_v1_small_head_shape_parameters_and_bad_input_size():
    from tfcourse.yolo import YoloSpec

    spec = YoloSpec(grid_size=6, boxes_per_cell=2, num_classes=10)
    model = models.yolo_v1_small(spec)
    assert model.output_shape == (None, 6, 6, 2 * 5 + 10)

    def conv_block(c_in, c_out):  # 3x3 conv (no bias before batch norm) + batch norm, 4 per channel
        return 9 * c_in * c_out + 4 * c_out

    widths = [1, 16, 32, 64, 128, 256, 256]
    expected = sum(conv_block(a, b) for a, b in zip(widths, widths[1:])) + 256 * 20 + 20
    assert model.count_params() == expected
    predictions = model.predict(np.zeros((2, 96, 96, 1), "uint8"), verbose=0)
    assert predictions.shape == (2, 6, 6, 20)
    with pytest.raises(ValueError, match="does not fit"):
        models.yolo_v1_small(spec, input_shape=(64, 64, 1))
