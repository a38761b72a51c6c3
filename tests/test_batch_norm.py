"""Every block with batch norm against a NumPy reference of its forward pass, at inference and in training.

The other tests of these blocks use fresh norms (moving mean 0, variance 1, gamma 1, beta 0), or no
norm at all, so a block that got the norm wrong (its epsilon or momentum not passed on, batch
statistics at inference, the norm after the activation instead of before) would pass them. Here
every weight is random, and the reference recomputes each block from its documented architecture
in float64: the convolutions with ``tf.nn.conv2d`` on the block's kernels, and the norm from its
formula::

    y = gamma * (x - mean) / sqrt(var + epsilon) + beta

with the moving mean and variance at inference, and in training the batch's mean and biased
variance over (N, H, W), after which the moving statistics must be
``momentum * old + (1 - momentum) * batch``. Momentum and epsilon in the reference are the values
given to the block's constructor (Keras's default epsilon, 1e-3, for the blocks without that
argument), never read back from its norms. The blocks live in four modules; their tests are in one
file because they share this reference.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import _keras_private
from tfcourse.layers import (
    BottleneckBlock,
    ConvBlock,
    DenseBlock,
    InceptionModule,
    ResidualBlock,
    TransitionLayer,
)

KERAS_EPSILON = 1e-3  # keras.layers.BatchNormalization's default, used by ConvBlock and InceptionModule


def _relu(x):
    return np.maximum(x, 0.0)


class Reference:
    """The pieces of a block's forward pass in float64 NumPy, reading the weights of the block's sub-layers.

    In training mode each norm records the moving statistics it expects the block's norm to
    hold afterwards, in ``updates``; the reference must run before the block does, while the
    norms still hold their old statistics.
    """

    def __init__(self, training: bool, momentum: float, epsilon: float):
        self.training, self.momentum, self.epsilon = training, momentum, epsilon
        self.updates: list[tuple[keras.layers.BatchNormalization, np.ndarray, np.ndarray]] = []

    def conv(self, x, layer, kernel_size, strides=1, padding="same"):
        kernel, *bias = (w.astype(np.float64) for w in layer.get_weights())
        assert kernel.shape[:2] == (kernel_size, kernel_size), layer.name
        y = tf.nn.conv2d(x, kernel, strides, padding.upper()).numpy()
        return y + bias[0] if bias else y

    def norm(self, x, layer):
        gamma, beta, moving_mean, moving_var = (w.astype(np.float64) for w in layer.get_weights())
        if self.training:
            mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased, as the batch's own
            m = self.momentum
            self.updates.append((layer, m * moving_mean + (1 - m) * mean, m * moving_var + (1 - m) * var))
        else:
            mean, var = moving_mean, moving_var
        return gamma * (x - mean) / np.sqrt(var + self.epsilon) + beta


# ---------- one reference per block, from its docstring ----------


def conv_block(ref, block, x, kw):
    """``repeats`` x (conv -> norm -> relu) -> [max pooling]."""
    convs = [layer for layer in block.stages if isinstance(layer, keras.layers.Conv2D)]
    norms = [layer for layer in block.stages if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(convs) == len(norms) == kw.get("repeats", 1)
    for i, (conv, norm) in enumerate(zip(convs, norms)):
        strides = kw.get("strides", 1) if i == 0 else 1
        x = _relu(ref.norm(ref.conv(x, conv, kw.get("kernel_size", 3), strides), norm))
    if kw.get("pooling") == "max":
        size = kw.get("pool_size", 2)
        x = tf.nn.max_pool2d(x, size, size, "SAME").numpy()
    return x


def residual_block(ref, block, x, kw):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``, the shortcut a 1x1 conv and norm if projected."""
    s = kw.get("strides", 1)
    main = _relu(ref.norm(ref.conv(x, block.conv1, 3, s), block.bn1))
    main = ref.norm(ref.conv(main, block.conv2, 3), block.bn2)
    return _relu(main + _shortcut(ref, block, x, s))


def bottleneck_block(ref, block, x, kw):
    """1x1 -> 3x3 -> 1x1, each conv followed by its norm (and relu but the last), plus the shortcut, relu."""
    s = kw.get("strides", 1)
    s1, s3 = (s, 1) if kw.get("stride_on", "3x3") == "1x1" else (1, s)
    y = _relu(ref.norm(ref.conv(x, block.conv1, 1, s1), block.bn1))
    y = _relu(ref.norm(ref.conv(y, block.conv2, 3, s3), block.bn2))
    y = ref.norm(ref.conv(y, block.conv3, 1), block.bn3)
    return _relu(y + _shortcut(ref, block, x, s))


def _shortcut(ref, block, x, strides):
    if block.proj_conv is None:
        return x
    return ref.norm(ref.conv(x, block.proj_conv, 1, strides), block.proj_bn)


def dense_block(ref, block, x, kw):
    """Each layer: [bn -> relu -> 1x1 conv] -> bn -> relu -> 3x3 conv, concatenated to all before it."""
    stack = x
    for i in range(1, kw["num_layers"] + 1):
        y = stack
        if kw.get("bottleneck", 4) is not None:
            bn0, conv1x1 = getattr(block, f"layer{i}_bn0"), getattr(block, f"layer{i}_conv1x1")
            y = ref.conv(_relu(ref.norm(y, bn0)), conv1x1, 1)
        bn1, conv3x3 = getattr(block, f"layer{i}_bn1"), getattr(block, f"layer{i}_conv3x3")
        y = ref.conv(_relu(ref.norm(y, bn1)), conv3x3, 3)
        stack = np.concatenate([stack, y], axis=-1)  # (B, H, W, channels + i * growth_rate)
    return stack


def transition_layer(ref, layer, x, kw):
    """bn -> relu -> 1x1 conv -> 2x2 average pooling, stride 2."""
    y = ref.conv(_relu(ref.norm(x, layer.norm)), layer.conv, 1)
    return tf.nn.avg_pool2d(y, 2, 2, "VALID").numpy()


def inception_module(ref, module, x, kw):
    """Four branches of ConvBlocks (conv -> norm -> relu), the last after a 3x3 max pooling, concatenated."""
    b2 = conv_block(ref, module.b2_reduce, x, dict(kernel_size=1))
    b3 = conv_block(ref, module.b3_reduce, x, dict(kernel_size=1))
    pooled = tf.nn.max_pool2d(x, 3, 1, "SAME").numpy()
    branches = [
        conv_block(ref, module.b1_1x1, x, dict(kernel_size=1)),
        conv_block(ref, module.b2_3x3, b2, dict(kernel_size=3)),
        conv_block(ref, module.b3_5x5, b3, dict(kernel_size=5)),
        conv_block(ref, module.b4_proj, pooled, dict(kernel_size=1)),
    ]
    return np.concatenate(branches, axis=-1)


# Momentum and epsilon differ from the blocks' defaults (0.9, 1e-3), so a block that drops either fails.
CASES = [
    pytest.param(
        ConvBlock,
        dict(filters=5, strides=2, repeats=2, pooling="max", batch_norm_momentum=0.7),
        (3, 9, 9, 2),
        conv_block,
        id="ConvBlock",
    ),
    pytest.param(
        ResidualBlock,
        dict(filters=4, use_bias=True, batch_norm_momentum=0.8, batch_norm_epsilon=0.02),
        (3, 6, 6, 4),
        residual_block,
        id="ResidualBlock-identity",
    ),
    pytest.param(
        ResidualBlock,
        dict(filters=6, strides=2, batch_norm_momentum=0.8, batch_norm_epsilon=0.02),
        (3, 7, 7, 4),
        residual_block,
        id="ResidualBlock-projection",
    ),
    pytest.param(
        BottleneckBlock,
        dict(filters=2, batch_norm_momentum=0.75, batch_norm_epsilon=0.02),
        (3, 6, 6, 8),
        bottleneck_block,
        id="BottleneckBlock-identity",
    ),
    pytest.param(
        BottleneckBlock,
        dict(filters=3, strides=2, stride_on="1x1", batch_norm_momentum=0.75, batch_norm_epsilon=0.02),
        (3, 7, 7, 5),
        bottleneck_block,
        id="BottleneckBlock-projection",
    ),
    pytest.param(
        DenseBlock,
        dict(num_layers=2, growth_rate=3, bottleneck=2, batch_norm_momentum=0.6, batch_norm_epsilon=0.02),
        (3, 5, 5, 4),
        dense_block,
        id="DenseBlock",
    ),
    pytest.param(
        DenseBlock,
        dict(num_layers=2, growth_rate=3, bottleneck=None, batch_norm_momentum=0.6, batch_norm_epsilon=0.02),
        (3, 5, 5, 4),
        dense_block,
        id="DenseBlock-no-bottleneck",
    ),
    pytest.param(
        TransitionLayer,
        dict(compression=0.5, batch_norm_momentum=0.6, batch_norm_epsilon=0.02),
        (3, 7, 7, 6),
        transition_layer,
        id="TransitionLayer",
    ),
    pytest.param(
        InceptionModule,
        dict(
            filters_1x1=3,
            filters_3x3=4,
            filters_5x5=2,
            reduce_3x3=2,
            reduce_5x5=2,
            pool_proj=2,
            batch_norm=True,
            batch_norm_momentum=0.65,
        ),
        (3, 6, 6, 3),
        inception_module,
        id="InceptionModule",
    ),
]


def _random_value(name, shape, rng):
    n = shape[-1]
    if name == "kernel":
        return rng.normal(size=shape) / np.sqrt(np.prod(shape[:-1]))
    if name == "bias":
        return rng.normal(0.0, 0.5, n)
    if name == "gamma":  # signs too, so that a norm moved after the ReLU is not hidden by it
        return rng.uniform(0.5, 1.5, n) * rng.choice([-1.0, 1.0], n)
    if name in ("beta", "moving_mean"):
        return rng.normal(0.0, 1.0, n)
    if name == "moving_variance":  # small ones too, where epsilon matters
        return np.exp(rng.uniform(np.log(1e-3), np.log(2.0), n))
    raise AssertionError(f"no random value for a weight named {name!r}")


def _randomized(cls, kwargs, shape, seed=0):
    """The block, built, with every weight random: kernels, biases, gammas, betas and moving statistics."""
    rng = np.random.default_rng(seed)
    block = cls(**kwargs)
    block.build(shape)
    for v in block.weights:
        v.assign(_random_value(v.name, tuple(v.shape), rng).astype(v.dtype))
    norms = [
        layer
        for layer in _keras_private.sublayers(block, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms, f"{cls.__name__} has no batch norm"
    return block, norms, rng.normal(size=shape).astype("float32")


def _moving(norms):
    return [(norm.moving_mean.numpy().copy(), norm.moving_variance.numpy().copy()) for norm in norms]


def _assert_close(actual, expected):
    """Within float32 rounding, which grows with the outputs' size (norms of small variance amplify)."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("cls,kwargs,shape,reference", CASES)
def test_inference_uses_the_moving_statistics(cls, kwargs, shape, reference):
    block, norms, x = _randomized(cls, kwargs, shape)
    ref = Reference(False, kwargs["batch_norm_momentum"], kwargs.get("batch_norm_epsilon", KERAS_EPSILON))
    expected = reference(ref, block, x.astype(np.float64), kwargs)
    before = _moving(norms)
    y = block(x, training=False)
    _assert_close(y, expected)
    assert tuple(y.shape) == tuple(block.compute_output_shape(shape))
    for (mean, var), norm in zip(before, norms):  # inference leaves the moving statistics alone
        np.testing.assert_array_equal(norm.moving_mean.numpy(), mean)
        np.testing.assert_array_equal(norm.moving_variance.numpy(), var)


@pytest.mark.parametrize("cls,kwargs,shape,reference", CASES)
def test_training_uses_batch_statistics_and_updates_the_moving_ones(cls, kwargs, shape, reference):
    block, norms, x = _randomized(cls, kwargs, shape)
    ref = Reference(True, kwargs["batch_norm_momentum"], kwargs.get("batch_norm_epsilon", KERAS_EPSILON))
    expected = reference(ref, block, x.astype(np.float64), kwargs)  # before the block moves the statistics
    # the reference went through every norm of the block
    assert sorted(id(norm) for norm, _, _ in ref.updates) == sorted(id(norm) for norm in norms)
    y = block(x, training=True)
    _assert_close(y, expected)
    for norm, mean, var in ref.updates:
        np.testing.assert_allclose(norm.moving_mean.numpy(), mean, rtol=1e-4, atol=1e-5, err_msg=norm.name)
        np.testing.assert_allclose(norm.moving_variance.numpy(), var, rtol=1e-4, atol=1e-5, err_msg=norm.name)
