"""U-Net blocks and the segmentation models: shapes, parameters by formula, files, errors, learning."""

import keras
import numpy as np
import pytest

from tfcourse import models
from tfcourse.layers import DecoderBlock, EncoderBlock


def _pair(c_in, f):
    """Two 3x3 convolutions without bias, each with batch norm (gamma, beta, mean, variance)."""
    return 9 * c_in * f + 4 * f + 9 * f * f + 4 * f


def test_encoder_block_shapes_and_parameters():
    block = EncoderBlock(8)
    features, pooled = block(np.zeros((2, 16, 12, 3), "float32"))
    assert features.shape == (2, 16, 12, 8) and pooled.shape == (2, 8, 6, 8)
    assert block.count_params() == _pair(3, 8)
    np.testing.assert_allclose(pooled, keras.layers.MaxPooling2D(2)(features))


@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
def test_decoder_block_shapes_and_parameters(upsampling):
    block = DecoderBlock(8, upsampling)
    out = block([np.zeros((2, 4, 6, 16), "float32"), np.zeros((2, 8, 12, 5), "float32")])
    assert out.shape == (2, 8, 12, 8)
    up = 2 * 2 * 16 * 8 + 8 if upsampling == "transpose" else 9 * 16 * 8 + 8
    assert block.count_params() == up + _pair(8 + 5, 8)


def test_bilinear_upsampling_is_interpolation():
    block = DecoderBlock(1, "bilinear")
    block([np.zeros((1, 2, 2, 1), "float32"), np.zeros((1, 4, 4, 1), "float32")])
    x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    up = np.asarray(block.upsample(x))[0, :, :, 0]
    # half-pixel centres: the corner keeps its value, neighbours mix 3:1
    assert up[0, 0] == 0 and up[0, 1] == pytest.approx(0.25) and up[3, 3] == 3


def test_decoder_block_refuses_mismatched_skips():
    block = DecoderBlock(8)
    with pytest.raises(ValueError, match="twice the input's"):
        block([np.zeros((2, 4, 4, 16), "float32"), np.zeros((2, 6, 8, 5), "float32")])
    with pytest.raises(ValueError, match="expects 2 input"):
        DecoderBlock(8)(np.zeros((2, 4, 4, 16), "float32"))
    with pytest.raises(ValueError, match="expected ndim=4"):
        DecoderBlock(8)([np.zeros((2, 4, 16), "float32"), np.zeros((2, 8, 8, 5), "float32")])
    with pytest.raises(ValueError, match="upsampling"):
        DecoderBlock(8, "nearest")


def test_encoder_block_refuses_odd_sizes_and_wrong_ranks():
    with pytest.raises(ValueError, match="must be even"):
        EncoderBlock(4)(np.zeros((1, 15, 16, 1), "float32"))
    with pytest.raises(ValueError, match="expected ndim=4"):
        EncoderBlock(4)(np.zeros((1, 16, 16), "float32"))


def test_config_round_trips():
    for layer in (
        EncoderBlock(6, batch_norm_momentum=0.8, kernel_regularizer=keras.regularizers.L2(1e-4)),
        DecoderBlock(6, "bilinear", kernel_initializer=keras.initializers.HeUniform(seed=3)),
    ):
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config


@pytest.mark.parametrize(
    "build",
    [
        lambda: models.unet((32, 32, 1), 5, filters=(4, 8)),
        lambda: models.unet((32, 32, 1), 5, filters=(4, 8), upsampling="bilinear"),
        lambda: models.fcn((32, 32, 1), 5, "32s", filters=(4, 8, 8, 16)),
        lambda: models.fcn((32, 32, 1), 5, "8s", filters=(4, 8, 8, 16)),
    ],
)
def test_models_save_load_and_learn(build, tmp_path):
    model = build()
    assert model.output_shape == (None, 32, 32, 5)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 32, 32, 1)).astype("float32")
    masks = np.zeros((2, 32, 32), np.int64)
    masks[:, 8:20, 4:16] = 3
    masks[1, 20:30, 18:30] = 1
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images, masks, epochs=25, batch_size=2, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0]
    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_model_parameter_counts_and_bad_arguments():
    small = models.unet((96, 96, 1), 11, filters=(16, 32, 64))
    # encoder pairs, bottleneck pair, decoders (2x2 transposed conv + pair), 1x1 logits
    expected = _pair(1, 16) + _pair(16, 32) + _pair(32, 64) + _pair(64, 128)
    for f, c_in in ((64, 128), (32, 64), (16, 32)):
        expected += 4 * c_in * f + f + _pair(2 * f, f)
    expected += 16 * 11 + 11
    assert small.count_params() == expected
    assert 100_000 < models.fcn((96, 96, 1), 11, "8s").count_params() < 1_000_000
    with pytest.raises(ValueError, match="multiples of 8"):
        models.fcn((100, 96, 1))
    with pytest.raises(ValueError, match="variant"):
        models.fcn(variant="16s")
    with pytest.raises(ValueError, match="must be even"):
        models.unet((40, 40, 1), filters=(4, 8, 16, 32))


# ---------- in files, as tests/test_layer_files.py checks the single-input layers ----------


def _blocks_model(upsampling="transpose", **kwargs):
    """Input -> EncoderBlock -> DecoderBlock([pooled, features]): both blocks, each once."""
    inputs = keras.Input((8, 8, 2), name="images")
    features, pooled = EncoderBlock(4, name="encoder", **kwargs)(inputs)
    outputs = DecoderBlock(4, upsampling, name="decoder", **kwargs)([pooled, features])
    return keras.Model(inputs, outputs, name=f"blocks_{upsampling}")


@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
def test_blocks_round_trip_through_a_keras_file(upsampling, keras_file_roundtrip):
    model = _blocks_model(upsampling)
    x = np.random.default_rng(0).random((4, 8, 8, 2), dtype=np.float32)
    model(x, training=True)  # moves batch-norm statistics away from their initial values
    for v in model.trainable_weights:
        v.assign(np.random.default_rng(1).normal(size=v.shape).astype(v.dtype))
    loaded = keras_file_roundtrip(model, x)  # equal predictions
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for a, b in zip(model.weights, loaded.weights, strict=True):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
def test_initializer_and_regularizer_objects_reach_every_kernel_and_survive_a_file(upsampling, tmp_path):
    model = _blocks_model(
        upsampling,
        kernel_initializer=keras.initializers.HeUniform(seed=3),
        kernel_regularizer=keras.regularizers.L2(0.1),
    )
    for layer in model.layers[1:]:
        kernels = [v for v in layer.weights if v.path.endswith("/kernel")]
        # encoder: 2 convolutions; decoder: the upsampling convolution and 2 more
        assert len(kernels) == (2 if isinstance(layer, EncoderBlock) else 3)
        assert len(layer.losses) == len(kernels)
        expected = 0.1 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
        np.testing.assert_allclose(float(keras.ops.sum(layer.losses)), expected, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    for layer in keras.saving.load_model(tmp_path / "m.keras").layers[1:]:
        assert isinstance(layer.kernel_initializer, keras.initializers.HeUniform)
        assert layer.kernel_initializer.get_config()["seed"] == 3
        assert isinstance(layer.kernel_regularizer, keras.regularizers.L2)
        assert layer.get_config() == model.get_layer(layer.name).get_config()


def test_after_build_the_blocks_refuse_other_channel_counts():
    encoder = EncoderBlock(4, name="encoder")
    encoder(np.zeros((1, 8, 8, 2), "float32"))
    with pytest.raises(ValueError, match=r"layer 'encoder'.*expected axis -1 of input shape to have value 2"):
        encoder(np.zeros((1, 8, 8, 3), "float32"))
    decoder = DecoderBlock(4, name="decoder")
    decoder([np.zeros((1, 4, 4, 6), "float32"), np.zeros((1, 8, 8, 2), "float32")])
    with pytest.raises(ValueError, match=r"layer 'decoder'.*expected axis -1 of input shape to have value 6"):
        decoder([np.zeros((1, 4, 4, 5), "float32"), np.zeros((1, 8, 8, 2), "float32")])
    with pytest.raises(ValueError, match=r"layer 'decoder'.*expected axis -1 of input shape to have value 2"):
        decoder([np.zeros((1, 4, 4, 6), "float32"), np.zeros((1, 8, 8, 3), "float32")])
