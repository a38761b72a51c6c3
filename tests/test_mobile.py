"""MobileNet's blocks against TensorFlow's own ops and keras.applications, squeeze-and-excitation by hand.

The references are independent of the layers: ``tf.nn.depthwise_conv2d`` / ``tf.nn.conv2d`` /
``tf.nn.separable_conv2d`` with the layers' weights for the blocks, NumPy for
squeeze-and-excitation, and ``keras.applications.MobileNet`` / ``MobileNetV2`` (built with
random weights) for the full networks' parameter counts and shapes.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import architectures
from tfcourse.layers import InvertedResidualBlock, SeparableConvBlock, SqueezeExcitation
from tfcourse.summary import build_without_weights, layer_table, totals

EPS = 1e-3  # the blocks' batch-norm epsilon; a fresh norm in inference mode divides by sqrt(1 + eps)


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


def _relu6(x):
    return tf.clip_by_value(x, 0.0, 6.0)


def _random_weights(layer, seed=0):
    rng = np.random.default_rng(seed)
    for v in layer.trainable_weights:
        v.assign(rng.normal(size=v.shape).astype("float32") * 0.5)


@pytest.mark.parametrize("strides", [1, 2])
def test_separable_block_equals_tf_nn_ops(strides):
    x = np.random.default_rng(1).normal(size=(2, 9, 8, 3)).astype("float32")
    block = SeparableConvBlock(5, strides)
    block.build(x.shape)
    _random_weights(block)
    depthwise = block.depthwise.kernel  # (3, 3, C, 1)
    pointwise = block.pointwise.kernel  # (1, 1, C, N)
    # fresh batch norms in inference mode: gamma 1, beta 0, mean 0, variance 1 -> x / sqrt(1 + eps)
    for norm in (block.depthwise_bn, block.pointwise_bn):
        norm.gamma.assign(np.ones(norm.gamma.shape, "float32"))
        norm.beta.assign(np.zeros(norm.beta.shape, "float32"))
    hidden = _relu6(
        tf.nn.depthwise_conv2d(x, depthwise, (1, strides, strides, 1), "SAME") / math.sqrt(1 + EPS)
    )
    expected = _relu6(tf.nn.conv2d(hidden, pointwise, 1, "SAME") / math.sqrt(1 + EPS))
    np.testing.assert_allclose(block(x, training=False), expected, atol=1e-5)
    assert block.compute_output_shape(x.shape) == (2, -(-9 // strides), -(-8 // strides), 5)


def test_without_norms_and_activations_the_block_is_tf_nn_separable_conv2d():
    x = np.random.default_rng(2).normal(size=(1, 7, 7, 4)).astype("float32")
    block = SeparableConvBlock(6, activation="linear")
    block.build(x.shape)
    _random_weights(block)
    depthwise_only = tf.nn.depthwise_conv2d(x, block.depthwise.kernel, (1, 1, 1, 1), "SAME")
    separable = tf.nn.separable_conv2d(
        x, block.depthwise.kernel, block.pointwise.kernel, (1, 1, 1, 1), "SAME"
    )
    np.testing.assert_allclose(
        block.pointwise(depthwise_only), separable, atol=1e-5
    )  # depthwise then pointwise is exactly TensorFlow's separable convolution


@pytest.mark.parametrize(
    "channels,filters,strides,expansion,residual",
    [(4, 4, 1, 6, True), (4, 6, 1, 6, False), (4, 4, 2, 6, False), (4, 4, 1, 1, True)],
)
def test_inverted_residual_equals_tf_nn_ops(channels, filters, strides, expansion, residual):
    x = np.random.default_rng(3).normal(size=(2, 8, 8, channels)).astype("float32")
    block = InvertedResidualBlock(filters, strides, expansion)
    block.build(x.shape)
    _random_weights(block)
    for layer in block.ordered_sublayers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(np.ones(layer.gamma.shape, "float32"))
            layer.beta.assign(np.zeros(layer.beta.shape, "float32"))
    scale = 1 / math.sqrt(1 + EPS)
    h = x
    if expansion != 1:
        assert block.expand.kernel.shape == (1, 1, channels, expansion * channels)
        h = _relu6(tf.nn.conv2d(h, block.expand.kernel, 1, "SAME") * scale)
    else:
        assert not hasattr(block, "expand")  # MobileNetV2's first block has no expansion
    h = _relu6(tf.nn.depthwise_conv2d(h, block.depthwise.kernel, (1, strides, strides, 1), "SAME") * scale)
    h = tf.nn.conv2d(h, block.project.kernel, 1, "SAME") * scale  # linear bottleneck: no activation
    expected = x + h if residual else h
    assert block.residual is residual
    np.testing.assert_allclose(block(x, training=False), expected, atol=1e-4)


def test_squeeze_excitation_by_hand():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 5, 6, 32)).astype("float32")
    block = SqueezeExcitation(8)
    block.build(x.shape)
    _random_weights(block)
    w1, b1 = (v.numpy() for v in block.reduce.weights)
    w2, b2 = (v.numpy() for v in block.excite.weights)
    assert w1.shape == (32, 4) and w2.shape == (4, 32)
    squeezed = x.mean(axis=(1, 2))  # (3, 32): one number per channel
    excitation = 1 / (1 + np.exp(-(np.maximum(squeezed @ w1 + b1, 0) @ w2 + b2)))  # (3, 32) in (0, 1)
    np.testing.assert_allclose(block(x).numpy(), x * excitation[:, None, None, :], rtol=1e-4, atol=1e-5)
    assert block.count_params() == 32 * 4 + 4 + 4 * 32 + 32
    assert SqueezeExcitation(64)(np.zeros((1, 2, 2, 8), "float32")).shape == (1, 2, 2, 8)  # at least one unit


@pytest.mark.parametrize(
    "ours,application,expected",
    [
        (architectures.mobilenet, keras.applications.MobileNet, 4_253_864),
        (architectures.mobilenet_v2, keras.applications.MobileNetV2, 3_538_984),
    ],
    ids=["mobilenet", "mobilenet_v2"],
)
def test_counts_and_shapes_equal_keras_applications(ours, application, expected):
    model = build_without_weights(ours)
    theirs = build_without_weights(application, weights=None)
    assert model.count_params() == theirs.count_params() == expected
    trainable = [sum(math.prod(w.shape) for w in m.trainable_weights) for m in (model, theirs)]
    assert trainable[0] == trainable[1]
    # every depthwise convolution gives the same output shape, in the same order (Keras pads
    # explicitly before a stride-2 one, we use 'same': the shapes agree)
    shapes = [
        [r.output_shape for r in layer_table(m) if r.kind == "DepthwiseConv2D"] for m in (model, theirs)
    ]
    assert shapes[0] == shapes[1] and len(shapes[0]) == (13 if ours is architectures.mobilenet else 17)


@pytest.mark.parametrize(
    "build,params,mult_adds,published_params,published_mult_adds",
    [
        # Howard et al. 2017, table 8: 1.0 MobileNet-224, 569 million mult-adds, 4.2 million parameters
        (architectures.mobilenet, 4_253_864, 568_740_352, 4.2e6, 569e6),
        # Sandler et al. 2018, table 4: MobileNetV2 (1.0, 224), 300 million mult-adds, 3.4 million parameters
        (architectures.mobilenet_v2, 3_538_984, 300_774_272, 3.4e6, 300e6),
    ],
    ids=["mobilenet", "mobilenet_v2"],
)
def test_multiplies_by_rule_match_the_papers(build, params, mult_adds, published_params, published_mult_adds):
    rows = layer_table(build_without_weights(build))
    total = totals(rows)
    assert total["multiplies"] == mult_adds
    assert abs(total["multiplies"] / published_mult_adds - 1) < 0.01
    assert abs(params / published_params - 1) < 0.05
    # the depthwise convolutions are a small share of the multiplies: the 1x1 convolutions do the work
    depthwise = sum(r.multiplies for r in rows if r.kind == "DepthwiseConv2D")
    assert depthwise / total["multiplies"] < 0.1


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="filters"):
        SeparableConvBlock(0)
    with pytest.raises(ValueError, match="expansion"):
        InvertedResidualBlock(8, expansion=0)
    with pytest.raises(ValueError, match="ratio"):
        SqueezeExcitation(0)
    with pytest.raises(ValueError, match="capped ReLU"):
        SeparableConvBlock(8, activation=-1.0)
