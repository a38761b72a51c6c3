import keras
import numpy as np
import pytest

from tfcourse.layers import ClassifierHead, ConvBlock

# ---------- ConvBlock ----------


@pytest.mark.parametrize(
    "kwargs,in_shape,out_shape",
    [
        (dict(filters=8), (2, 28, 28, 1), (2, 28, 28, 8)),
        (dict(filters=8, pooling="max"), (2, 28, 28, 1), (2, 14, 14, 8)),
        (dict(filters=8, pooling="avg", pool_size=4), (2, 28, 28, 3), (2, 7, 7, 8)),
        (dict(filters=8, strides=2), (2, 28, 28, 1), (2, 14, 14, 8)),
        (dict(filters=8, padding="valid", repeats=2), (2, 28, 28, 1), (2, 24, 24, 8)),
        (dict(filters=4, kernel_size=5, padding="valid", pooling="max"), (2, 7, 7, 2), (2, 2, 2, 4)),
    ],
)
def test_conv_block_output_shapes(kwargs, in_shape, out_shape):
    block = ConvBlock(**kwargs)
    y = block(np.zeros(in_shape, np.float32))
    assert tuple(y.shape) == out_shape
    assert tuple(block.compute_output_shape(in_shape)) == out_shape


@pytest.mark.parametrize(
    "kwargs,channels,expected",
    [
        # 3*3*1*32 weights, no bias (batch norm), + 4*32 batch-norm values (gamma, beta, mean, variance)
        (dict(filters=32), 1, 3 * 3 * 1 * 32 + 4 * 32),
        # without batch norm: weights + one bias per filter
        (dict(filters=32, batch_norm=False), 1, 3 * 3 * 1 * 32 + 32),
        # two stacked convs: 3*3*3*16 + 3*3*16*16, each followed by a 4*16 batch norm
        (
            dict(filters=16, repeats=2, pooling="max", dropout=0.3),
            3,
            3 * 3 * 3 * 16 + 3 * 3 * 16 * 16 + 2 * 4 * 16,
        ),
        # the lecture's 32x32x3 input, ten 5x5 filters: 5*5*3*10 + 10 = 760
        (dict(filters=10, kernel_size=5, batch_norm=False, activation=None), 3, 760),
    ],
)
def test_conv_block_parameter_counts(kwargs, channels, expected):
    block = ConvBlock(**kwargs)
    block.build((None, 32, 32, channels))
    assert block.count_params() == expected


def test_conv_block_equals_the_layers_it_is_made_of():
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    block = ConvBlock(4, batch_norm=False, activation="relu", pooling="max")
    y = block(x)
    conv = keras.layers.Conv2D(4, 3, padding="same")
    conv.build(x.shape)
    conv.set_weights(block.stages[0].get_weights())
    expected = keras.layers.MaxPooling2D(2, padding="same")(keras.activations.relu(conv(x)))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_conv_block_dropout_only_in_training():
    block = ConvBlock(4, batch_norm=False, dropout=0.5)
    x = np.ones((2, 8, 8, 1), np.float32)
    np.testing.assert_array_equal(block(x, training=False), block(x, training=False))
    assert float(keras.ops.min(block(x, training=True))) == 0.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(filters=0), "Received: filters=0"),
        (dict(filters=8, kernel_size=-1), "Received: kernel_size=-1"),
        (dict(filters=8, padding="full"), "Received: padding='full'"),
        (dict(filters=8, pooling="sum"), "Received: pooling='sum'"),
        (dict(filters=8, dropout=1.0), "Received: dropout=1.0"),
        (dict(filters=8, repeats=0), "Received: repeats=0"),
        (dict(filters=8, batch_norm_momentum=1.5), "Received: batch_norm_momentum=1.5"),
        (dict(filters=2.5), "Received: filters=2.5"),
    ],
)
def test_conv_block_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvBlock(**kwargs)


def test_conv_block_wrong_rank_names_the_layer_and_the_rank():
    with pytest.raises(
        ValueError,
        match=r"layer 'block1'.*expected ndim=4, found ndim=3\. Full shape received: \(2, 28, 28\)",
    ):
        ConvBlock(8, name="block1")(np.zeros((2, 28, 28), np.float32))


def test_conv_block_wrong_channel_count():
    with pytest.raises(
        ValueError, match=r"layer 'block1'.*expected axis -1 of input shape to have value 1.*\(2, 28, 28, 3\)"
    ):
        ConvBlock(8, input_channels=1, name="block1")(np.zeros((2, 28, 28, 3), np.float32))
    assert ConvBlock(8, input_channels=1).input_spec.axes == {-1: 1}  # known before build
    block = ConvBlock(8)
    block(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="to have value 1"):
        block(np.zeros((1, 8, 8, 3), np.float32))


def test_conv_block_config_round_trip():
    block = ConvBlock(16, kernel_size=5, repeats=2, pooling="avg", dropout=0.1, input_channels=3, name="b")
    config = block.get_config()
    assert ConvBlock.from_config(config).get_config() == config
    assert config["filters"] == 16 and config["repeats"] == 2 and config["input_channels"] == 3


# ---------- ClassifierHead ----------


@pytest.mark.parametrize(
    "kwargs,in_shape,expected_params",
    [
        (dict(num_classes=10), (None, 7, 7, 32), 7 * 7 * 32 * 10 + 10),
        (dict(num_classes=10, pooling="avg"), (None, 7, 7, 32), 32 * 10 + 10),
        (
            dict(num_classes=10, hidden_units=(128,), dropout=0.5),
            (None, 7, 7, 64),
            (3136 * 128 + 128) + (128 * 10 + 10),
        ),
        (
            dict(num_classes=3, hidden_units=(16, 8), pooling="max"),
            (None, 4, 4, 8),
            (8 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3),
        ),
        (dict(num_classes=10, hidden_units=(32,)), (None, 100), (100 * 32 + 32) + (32 * 10 + 10)),
    ],
)
def test_head_shapes_and_parameter_counts(kwargs, in_shape, expected_params):
    head = ClassifierHead(**kwargs)
    y = head(np.zeros((2,) + in_shape[1:], np.float32))
    assert tuple(y.shape) == (2, kwargs["num_classes"])
    assert head.count_params() == expected_params


def test_head_softmax_output_sums_to_one():
    head = ClassifierHead(5, output_activation="softmax")
    y = head(np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype("float32"))
    np.testing.assert_allclose(np.sum(y, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_classes=0), "Received: num_classes=0"),
        (dict(num_classes=10, hidden_units=(0,)), "Received: hidden_units=0"),
        (dict(num_classes=10, pooling="mean"), "Received: pooling='mean'"),
        (dict(num_classes=10, dropout=-0.1), "Received: dropout=-0.1"),
    ],
)
def test_head_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassifierHead(**kwargs)


def test_head_rejects_wrong_rank():
    with pytest.raises(
        ValueError, match=r"rank 2 \(batch, features\) or 4.*Received: input_shape=\(2, 7, 7\)"
    ):
        ClassifierHead(10)(np.zeros((2, 7, 7), np.float32))


def test_head_config_round_trip():
    head = ClassifierHead(10, hidden_units=[64, 32], pooling="avg", dropout=0.2, output_activation="softmax")
    config = head.get_config()
    assert ClassifierHead.from_config(config).get_config() == config


# ---------- Both, in a model, through .keras ----------


def test_model_round_trip_through_keras_file(keras_file_roundtrip):
    inputs = keras.Input((28, 28, 1))
    x = ConvBlock(8, pooling="max", dropout=0.25, input_channels=1)(inputs)
    x = ConvBlock(16, repeats=2, pooling="max")(x)
    outputs = ClassifierHead(10, hidden_units=(32,), dropout=0.5)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x_data = rng.random((16, 28, 28, 1), dtype=np.float32)
    model.fit(x_data, rng.integers(0, 10, 16), epochs=1, verbose=0)  # moves batch-norm statistics
    loaded = keras_file_roundtrip(model, x_data)
    assert isinstance(loaded.layers[1], ConvBlock) and isinstance(loaded.layers[-1], ClassifierHead)
    assert loaded.count_params() == model.count_params()
    assert loaded.layers[2].get_config() == model.layers[2].get_config()


def test_tf_train_checkpoint_sees_every_weight_of_the_blocks(checkpoint_roundtrip):
    """tf.train.Checkpoint (not only .keras files) must save the sub-layers' weights and statistics."""

    def build():
        inputs = keras.Input((8, 8, 1))
        x = ConvBlock(4, repeats=2, pooling="max", dropout=0.1)(inputs)
        return keras.Model(inputs, ClassifierHead(3, hidden_units=(5,), dropout=0.2)(x))

    checkpoint_roundtrip(build)
