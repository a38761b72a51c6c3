import keras
import numpy as np
import pytest

from tfcourse.layers import BottleneckBlock, ResidualBlock


def _norm(channels):
    return 4 * channels  # gamma, beta, moving mean, moving variance


@pytest.mark.parametrize(
    "block,in_shape,out_shape",
    [
        (ResidualBlock(8), (2, 10, 10, 8), (2, 10, 10, 8)),
        (ResidualBlock(16, strides=2), (2, 10, 10, 8), (2, 5, 5, 16)),
        (ResidualBlock(16, strides=2), (2, 7, 7, 16), (2, 4, 4, 16)),  # "same" padding: ceil(7 / 2)
        (ResidualBlock(4, shortcut="none"), (2, 6, 6, 3), (2, 6, 6, 4)),
        (BottleneckBlock(4), (2, 8, 8, 16), (2, 8, 8, 16)),
        (BottleneckBlock(4, strides=2, stride_on="1x1"), (2, 8, 8, 16), (2, 4, 4, 16)),
        (BottleneckBlock(4, expansion=2), (2, 8, 8, 3), (2, 8, 8, 8)),
    ],
)
def test_residual_output_shapes(block, in_shape, out_shape):
    y = block(np.zeros(in_shape, np.float32))
    assert tuple(y.shape) == out_shape
    assert tuple(block.compute_output_shape(in_shape)) == out_shape


@pytest.mark.parametrize(
    "block,channels,expected",
    [
        # identity shortcut: two 3x3 convolutions (no bias) and two norms
        (ResidualBlock(64), 64, 2 * (3 * 3 * 64 * 64 + _norm(64))),
        # downsampling: the projection adds a 1x1 convolution and a norm
        (ResidualBlock(128, strides=2), 64, 3 * 3 * 64 * 128 + 3 * 3 * 128 * 128 + 64 * 128 + 3 * _norm(128)),
        # channels change without a stride: still a projection
        (ResidualBlock(32), 16, 9 * 16 * 32 + 9 * 32 * 32 + 16 * 32 + 3 * _norm(32)),
        # a projection forced on an identity-shaped block
        (ResidualBlock(8, shortcut="projection"), 8, 2 * (9 * 8 * 8 + _norm(8)) + 8 * 8 + _norm(8)),
        # with biases, as in Keras's ResNet50
        (ResidualBlock(8, use_bias=True), 8, 2 * (9 * 8 * 8 + 8 + _norm(8))),
        # plain block: same main path, no shortcut at all
        (ResidualBlock(32, shortcut="none"), 16, 9 * 16 * 32 + 9 * 32 * 32 + 2 * _norm(32)),
        # ResNet-50's conv2_block1: 64 -> (64, 64, 256) with a projection
        (
            BottleneckBlock(64),
            64,
            64 * 64 + 9 * 64 * 64 + 64 * 256 + 64 * 256 + _norm(64) * 2 + _norm(256) * 2,
        ),
        # conv2_block2: identity shortcut, 256 -> (64, 64, 256)
        (BottleneckBlock(64), 256, 256 * 64 + 9 * 64 * 64 + 64 * 256 + _norm(64) * 2 + _norm(256)),
    ],
)
def test_residual_parameter_counts_by_hand(block, channels, expected):
    block.build((None, 16, 16, channels))
    assert block.count_params() == expected


def test_projection_only_when_the_shape_changes():
    same, down = ResidualBlock(8), ResidualBlock(8, strides=2)
    same.build((None, 8, 8, 8))
    down.build((None, 8, 8, 8))
    assert same.projection == [] and [type(layer).__name__ for layer in down.projection] == [
        "Conv2D",
        "BatchNormalization",
    ]
    assert down.projection[0].strides == (2, 2) and down.projection[0].kernel_size == (1, 1)


def test_stride_position_changes_where_not_how_many():
    first, middle = (
        BottleneckBlock(8, strides=2, stride_on="1x1"),
        BottleneckBlock(8, strides=2, stride_on="3x3"),
    )
    for block in (first, middle):
        block.build((None, 8, 8, 16))
    assert first.count_params() == middle.count_params()
    assert [c.strides for c in first.main if isinstance(c, keras.layers.Conv2D)] == [(2, 2), (1, 1), (1, 1)]
    assert [c.strides for c in middle.main if isinstance(c, keras.layers.Conv2D)] == [(1, 1), (2, 2), (1, 1)]


def test_identity_block_adds_its_input():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 6, 4)).astype("float32")
    block = ResidualBlock(4)
    y = block(x, training=False)
    main = x
    for layer in block.main:
        main = layer(main, training=False)
    np.testing.assert_allclose(y, np.maximum(main + x, 0.0), rtol=1e-5, atol=1e-5)
    # zero the last norm's scale: the residual F(x) vanishes and the block passes relu(x) through
    gamma, beta, mean, var = block.main[-1].get_weights()
    block.main[-1].set_weights([np.zeros_like(gamma), np.zeros_like(beta), mean, var])
    np.testing.assert_allclose(block(x, training=False), np.maximum(x, 0.0), atol=1e-6)


@pytest.mark.parametrize(
    "cls,kwargs,match",
    [
        (ResidualBlock, dict(filters=0), "Received: filters=0"),
        (ResidualBlock, dict(filters=8, strides=0), "Received: strides=0"),
        (ResidualBlock, dict(filters=8, shortcut="dense"), "Received: shortcut='dense'"),
        (ResidualBlock, dict(filters=8, batch_norm_epsilon=0), "Received: batch_norm_epsilon=0"),
        (ResidualBlock, dict(filters=8, batch_norm_momentum=-0.1), "Received: batch_norm_momentum=-0.1"),
        (BottleneckBlock, dict(filters=8, expansion=0), "Received: expansion=0"),
        (BottleneckBlock, dict(filters=8, stride_on="5x5"), "Received: stride_on='5x5'"),
        (BottleneckBlock, dict(filters=1.5), "Received: filters=1.5"),
    ],
)
def test_residual_rejects_bad_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_identity_shortcut_needs_matching_shapes():
    with pytest.raises(
        ValueError, match=r"identity shortcut needs.*Received: input_shape=\(2, 8, 8, 4\), strides=2"
    ):
        ResidualBlock(4, strides=2, shortcut="identity")(np.zeros((2, 8, 8, 4), np.float32))
    with pytest.raises(ValueError, match="identity shortcut"):
        BottleneckBlock(4, shortcut="identity")(np.zeros((2, 8, 8, 4), np.float32))  # 4 -> 16 channels


@pytest.mark.parametrize("cls", [ResidualBlock, BottleneckBlock])
def test_residual_rejects_wrong_rank_and_channels(cls):
    with pytest.raises(
        ValueError, match=r"expected ndim=4, found ndim=3\. Full shape received: \(2, 28, 28\)"
    ):
        cls(8)(np.zeros((2, 28, 28), np.float32))
    block = cls(8)
    block(np.zeros((1, 8, 8, 8), np.float32))
    with pytest.raises(
        ValueError, match=rf"layer '{block.name}'.*expected axis -1 of input shape to have value 8"
    ):
        block(np.zeros((1, 8, 8, 3), np.float32))


def test_residual_config_round_trip():
    for block in (
        ResidualBlock(16, 2, shortcut="projection", use_bias=True, batch_norm_epsilon=1.001e-5, name="r"),
        BottleneckBlock(16, 2, expansion=2, stride_on="1x1", activation="elu", name="b"),
    ):
        config = block.get_config()
        assert type(block).from_config(config).get_config() == config
    assert config["stride_on"] == "1x1" and config["expansion"] == 2 and config["strides"] == 2


def test_residual_round_trip_through_keras_file(keras_file_roundtrip):
    inputs = keras.Input((8, 8, 3))
    x = ResidualBlock(4, name="res1")(inputs)  # 3 -> 4 channels: projection
    x = ResidualBlock(4, name="res2")(x)  # identity
    x = BottleneckBlock(2, strides=2, stride_on="1x1", name="bottleneck")(x)
    x = ResidualBlock(8, shortcut="none", name="plain")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    x_data = np.random.default_rng(1).random((4, 8, 8, 3), dtype=np.float32)
    model(x_data, training=True)  # moves the batch-norm statistics away from their initial values
    loaded = keras_file_roundtrip(model, x_data)
    assert len(loaded.get_layer("res1").projection) == 2 and loaded.get_layer("res2").projection == []
    assert loaded.count_params() == model.count_params()


def test_tf_train_checkpoint_sees_every_weight(checkpoint_roundtrip):
    """tf.train.Checkpoint (not only .keras files) must save the main path's and the projection's weights."""

    def build():
        inputs = keras.Input((6, 6, 2))
        x = ResidualBlock(4, strides=2)(inputs)  # with a projection, made in build()
        return keras.Model(inputs, BottleneckBlock(2)(x))

    checkpoint_roundtrip(build)
