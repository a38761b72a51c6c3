import keras
import numpy as np
import pytest

from tfcourse.layers import DenseBlock, TransitionLayer


def _dense_block_params(channels, num_layers, k, bottleneck):
    """Hand count: per layer, a norm on its input, [1x1 conv and norm], 3x3 conv; no biases."""
    total = 0
    for i in range(num_layers):
        c = channels + i * k
        if bottleneck:
            total += 4 * c + c * bottleneck * k + 4 * bottleneck * k + 9 * bottleneck * k * k
        else:
            total += 4 * c + 9 * c * k
    return total


@pytest.mark.parametrize(
    "kwargs,in_shape,out_shape",
    [
        (
            dict(num_layers=6, growth_rate=32),
            (1, 8, 8, 64),
            (1, 8, 8, 64 + 6 * 32),
        ),  # DenseNet-121's first block
        (dict(num_layers=3, growth_rate=4, bottleneck=None), (2, 7, 7, 5), (2, 7, 7, 17)),
        (dict(num_layers=1, growth_rate=2, dropout=0.2), (2, 4, 4, 1), (2, 4, 4, 3)),
    ],
)
def test_dense_block_output_shapes(kwargs, in_shape, out_shape):
    block = DenseBlock(**kwargs)
    y = block(np.zeros(in_shape, np.float32))
    assert tuple(y.shape) == out_shape
    assert tuple(block.compute_output_shape(in_shape)) == out_shape


@pytest.mark.parametrize(
    "kwargs,channels",
    [
        (dict(num_layers=6, growth_rate=32), 64),
        (dict(num_layers=4, growth_rate=12, bottleneck=None), 24),
        (dict(num_layers=2, growth_rate=8, bottleneck=2), 5),
    ],
)
def test_dense_block_parameter_counts_by_hand(kwargs, channels):
    block = DenseBlock(**kwargs)
    block.build((None, 16, 16, channels))
    expected = _dense_block_params(
        channels, kwargs["num_layers"], kwargs["growth_rate"], kwargs.get("bottleneck", 4)
    )
    assert block.count_params() == expected
    if kwargs == dict(num_layers=6, growth_rate=32):
        assert expected == 338_304  # DenseNet-121's first dense block, as keras.applications has it


def test_dense_block_keeps_its_input_and_grows():
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype("float32")
    block = DenseBlock(3, growth_rate=2)
    y = block(x, training=False).numpy()
    np.testing.assert_array_equal(y[..., :3], x)  # the first channels are the input itself
    # each layer's new maps come from a ReLU-ed 3x3 convolution of everything before: they differ from the input
    assert y.shape[-1] == 9 and not np.allclose(y[..., 3:5], 0)


def test_transition_layer_shapes_and_parameters():
    layer = TransitionLayer(0.5)
    y = layer(np.zeros((2, 56, 56, 256), np.float32))
    assert tuple(y.shape) == (2, 28, 28, 128)
    assert layer.count_params() == 4 * 256 + 256 * 128
    odd = TransitionLayer(0.5)
    assert tuple(odd(np.zeros((1, 7, 7, 5), np.float32)).shape) == (1, 3, 3, 2)  # floor(7 / 2), int(5 * 0.5)
    assert tuple(odd.compute_output_shape((1, 7, 7, 5))) == (1, 3, 3, 2)
    keep_all = TransitionLayer(1.0)
    keep_all.build((None, 8, 8, 10))
    assert keep_all.count_params() == 4 * 10 + 10 * 10


@pytest.mark.parametrize(
    "cls,kwargs,match",
    [
        (DenseBlock, dict(num_layers=0, growth_rate=12), "Received: num_layers=0"),
        (DenseBlock, dict(num_layers=2, growth_rate=-12), "Received: growth_rate=-12"),
        (DenseBlock, dict(num_layers=2, growth_rate=12, bottleneck=0), "Received: bottleneck=0"),
        (DenseBlock, dict(num_layers=2, growth_rate=12, dropout=1.5), "Received: dropout=1.5"),
        (
            DenseBlock,
            dict(num_layers=2, growth_rate=12, batch_norm_epsilon=-1e-3),
            "Received: batch_norm_epsilon=-0.001",
        ),
        (TransitionLayer, dict(compression=0.0), "Received: compression=0.0"),
        (TransitionLayer, dict(compression=1.5), "Received: compression=1.5"),
        (TransitionLayer, dict(compression="half"), "Received: compression='half'"),
    ],
)
def test_dense_rejects_bad_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("layer", [DenseBlock(2, 4), TransitionLayer()])
def test_dense_rejects_wrong_rank(layer):
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3\. Full shape received: \(2, 8, 8\)"):
        layer(np.zeros((2, 8, 8), np.float32))


def test_dense_config_round_trip():
    for layer in (
        DenseBlock(3, 8, bottleneck=None, dropout=0.1, batch_norm_epsilon=1.001e-5, name="d"),
        TransitionLayer(0.25, batch_norm_momentum=0.99, name="t"),
    ):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_dense_round_trip_through_keras_file(keras_file_roundtrip):
    inputs = keras.Input((8, 8, 3))
    x = DenseBlock(2, 4, name="dense1")(inputs)  # 3 + 2*4 = 11 channels
    x = TransitionLayer(0.5, name="transition1")(x)  # 5 channels, 4x4
    x = DenseBlock(2, 3, bottleneck=None, name="dense2")(x)  # 11 channels
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    x_data = np.random.default_rng(1).random((4, 8, 8, 3), dtype=np.float32)
    model(x_data, training=True)  # moves the batch-norm statistics away from their initial values
    loaded = keras_file_roundtrip(model, x_data)
    assert loaded.output_shape == (None, 11) and loaded.count_params() == model.count_params()


def test_tf_train_checkpoint_sees_every_weight(checkpoint_roundtrip):
    """tf.train.Checkpoint (not only .keras files) must save every composite layer's and the transition's weights."""

    def build():
        inputs = keras.Input((6, 6, 2))
        x = DenseBlock(2, 3)(inputs)
        return keras.Model(inputs, TransitionLayer(0.5)(x))

    checkpoint_roundtrip(build)
