import keras
import numpy as np
import pytest

from tfcourse.layers import ConvBlock, InceptionModule

GOOGLENET_3A = dict(
    filters_1x1=64, filters_3x3=128, filters_5x5=32, reduce_3x3=96, reduce_5x5=16, pool_proj=32
)


def _conv_params(k, c_in, c_out, bias=True):
    return k * k * c_in * c_out + (c_out if bias else 0)


@pytest.mark.parametrize(
    "kwargs,in_shape,out_shape",
    [
        # the lecture's naive module: the pooling branch passes all 256 input channels through
        (
            dict(filters_1x1=128, filters_3x3=192, filters_5x5=96),
            (1, 28, 28, 256),
            (1, 28, 28, 128 + 192 + 96 + 256),
        ),
        # the same with 1x1 bottlenecks and a pool projection: 128 + 192 + 96 + 64
        (
            dict(
                filters_1x1=128, filters_3x3=192, filters_5x5=96, reduce_3x3=64, reduce_5x5=64, pool_proj=64
            ),
            (1, 28, 28, 256),
            (1, 28, 28, 480),
        ),
        (GOOGLENET_3A, (2, 28, 28, 192), (2, 28, 28, 256)),
        (
            dict(filters_1x1=4, filters_3x3=4, filters_5x5=2, pool_proj=2, batch_norm=True),
            (2, 7, 5, 3),
            (2, 7, 5, 12),
        ),
    ],
)
def test_inception_output_shapes(kwargs, in_shape, out_shape):
    module = InceptionModule(**kwargs)
    y = module(np.zeros(in_shape, np.float32))
    assert tuple(y.shape) == out_shape
    assert tuple(module.compute_output_shape(in_shape)) == out_shape


def test_inception_parameter_counts_by_hand():
    # GoogLeNet's inception (3a) on 28x28x192, convolutions with biases, no batch norm
    module = InceptionModule(**GOOGLENET_3A)
    module.build((None, 28, 28, 192))
    expected = (
        _conv_params(1, 192, 64)
        + _conv_params(1, 192, 96)
        + _conv_params(3, 96, 128)
        + _conv_params(1, 192, 16)
        + _conv_params(5, 16, 32)
        + _conv_params(1, 192, 32)
    )
    assert module.count_params() == expected == 163_696
    # with batch norm: no biases, 4 values per channel of every convolution
    module = InceptionModule(8, 16, 4, reduce_3x3=6, reduce_5x5=2, pool_proj=3, batch_norm=True)
    module.build((None, 9, 9, 5))
    convs = [(1, 5, 8), (1, 5, 6), (3, 6, 16), (1, 5, 2), (5, 2, 4), (1, 5, 3)]
    assert module.count_params() == sum(_conv_params(k, i, o, bias=False) + 4 * o for k, i, o in convs)


def test_inception_is_the_concatenation_of_its_branches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 6, 3)).astype("float32")
    module = InceptionModule(4, 5, 2, reduce_3x3=3, pool_proj=2)
    y = module(x)

    def run(stages, spec):
        out = x
        for stage, (filters, k) in zip(stages, spec):
            if filters is None:  # the max pooling
                out = keras.layers.MaxPooling2D(3, strides=1, padding="same")(out)
                continue
            conv = keras.layers.Conv2D(filters, k, padding="same", activation="relu")
            conv.build(out.shape)
            conv.set_weights(stage.get_weights())
            out = conv(out)
        return out

    expected = np.concatenate(
        [
            run(module.branches[0], [(4, 1)]),
            run(module.branches[1], [(3, 1), (5, 3)]),
            run(module.branches[2], [(2, 5)]),
            run(module.branches[3], [(None, 3), (2, 1)]),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert all(isinstance(layer, ConvBlock) for layer in module.branches[1])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(filters_1x1=0, filters_3x3=8, filters_5x5=8), "Received: filters_1x1=0"),
        (dict(filters_1x1=8, filters_3x3=-1, filters_5x5=8), "Received: filters_3x3=-1"),
        (dict(filters_1x1=8, filters_3x3=8, filters_5x5=2.5), "Received: filters_5x5=2.5"),
        (dict(filters_1x1=8, filters_3x3=8, filters_5x5=8, reduce_3x3=0), "Received: reduce_3x3=0"),
        (dict(filters_1x1=8, filters_3x3=8, filters_5x5=8, reduce_5x5="4"), "Received: reduce_5x5='4'"),
        (dict(filters_1x1=8, filters_3x3=8, filters_5x5=8, pool_proj=-2), "Received: pool_proj=-2"),
        (
            dict(filters_1x1=8, filters_3x3=8, filters_5x5=8, batch_norm_momentum=1.0),
            "Received: batch_norm_momentum=1.0",
        ),
    ],
)
def test_inception_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        InceptionModule(**kwargs)


def test_inception_rejects_wrong_rank_and_channels():
    with pytest.raises(
        ValueError, match=r"expected ndim=4, found ndim=3\. Full shape received: \(2, 28, 28\)"
    ):
        InceptionModule(8, 8, 8)(np.zeros((2, 28, 28), np.float32))
    module = InceptionModule(8, 8, 8, name="inc")
    module(np.zeros((1, 8, 8, 4), np.float32))
    with pytest.raises(ValueError, match=r"layer 'inc'.*expected axis -1 of input shape to have value 4"):
        module(np.zeros((1, 8, 8, 3), np.float32))


def test_inception_config_round_trip():
    module = InceptionModule(**GOOGLENET_3A, batch_norm=True, activation="elu", name="inc")
    config = module.get_config()
    assert InceptionModule.from_config(config).get_config() == config
    assert config["reduce_3x3"] == 96 and config["pool_proj"] == 32 and config["batch_norm"] is True


def test_inception_round_trip_through_keras_file(keras_file_roundtrip):
    inputs = keras.Input((12, 12, 3))
    x = InceptionModule(4, 6, 2, reduce_3x3=3, reduce_5x5=2, pool_proj=2, batch_norm=True, name="inc1")(
        inputs
    )
    x = InceptionModule(4, 4, 2, name="naive")(x)  # no reductions: 4 + 4 + 2 + 14 channels
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    x_data = np.random.default_rng(1).random((4, 12, 12, 3), dtype=np.float32)
    model(x_data, training=True)  # moves the batch-norm statistics away from their initial values
    loaded = keras_file_roundtrip(model, x_data)
    assert loaded.get_layer("naive").get_config() == model.get_layer("naive").get_config()
    assert loaded.output_shape == (None, 24) and loaded.count_params() == model.count_params()


def test_tf_train_checkpoint_sees_every_weight(checkpoint_roundtrip):
    """tf.train.Checkpoint (not only .keras files) must save every branch's weights and statistics."""

    def build():
        inputs = keras.Input((6, 6, 2))
        x = InceptionModule(2, 3, 1, reduce_3x3=2, reduce_5x5=1, pool_proj=1, batch_norm=True)(inputs)
        return keras.Model(inputs, x)

    # six convolutions: a kernel and four norm vectors (gamma, beta, mean, variance)
    checkpoint_roundtrip(build, expected_variables=6 * 5)
