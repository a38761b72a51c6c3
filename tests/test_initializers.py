"""BilinearUpsampling checked against tf.image.resize, the independent reference."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import models
from tfcourse.initializers import BilinearUpsampling, bilinear_filter


def test_bilinear_filter_by_hand():
    np.testing.assert_allclose(bilinear_filter(2), [0.5, 0.5])  # factor 1, even size
    np.testing.assert_allclose(bilinear_filter(3), [0.5, 1.0, 0.5])  # factor 2, odd size
    np.testing.assert_allclose(bilinear_filter(4), [0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(bilinear_filter(8), [1, 3, 5, 7, 7, 5, 3, 1] / np.float64(8))
    with pytest.raises(ValueError, match="positive integer"):
        bilinear_filter(0)


def test_stride_2_transposed_convolution_equals_tf_image_resize_inside_the_border():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 7, 3)).astype("float32")
    layer = keras.layers.Conv2DTranspose(
        3, 4, strides=2, padding="same", use_bias=False, kernel_initializer=BilinearUpsampling()
    )
    ours = layer(x).numpy()
    reference = tf.image.resize(x, (12, 14), method="bilinear").numpy()
    np.testing.assert_allclose(ours[:, 1:-1, 1:-1], reference[:, 1:-1, 1:-1], atol=1e-6)
    # channels stay apart: a signal in channel 0 only never reaches channels 1 and 2
    only_first = np.zeros_like(x)
    only_first[..., 0] = x[..., 0]
    assert np.all(layer(only_first).numpy()[..., 1:] == 0)


def test_wrong_kernel_shapes_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="as many filters as its input has channels"):
        keras.layers.Conv2DTranspose(4, 4, strides=2, kernel_initializer=BilinearUpsampling())(
            np.zeros((1, 3, 3, 2), "float32")
        )
    with pytest.raises(ValueError, match="square"):
        BilinearUpsampling()((4, 3, 2, 2))


def test_config_round_trip_and_fcn_starts_from_the_one_step_upsampling(tmp_path):
    initializer = keras.initializers.get(keras.initializers.serialize(BilinearUpsampling()))
    assert isinstance(initializer, BilinearUpsampling)
    model = models.fcn((32, 32, 1), 5, "8s", filters=(4, 8, 8, 16))
    for name in ("score4", "score2"):  # the skips' scores start at zero, as in the paper
        assert np.all(model.get_layer(name).kernel.numpy() == 0)
    kernel = model.get_layer("up_to_4").kernel.numpy()
    np.testing.assert_allclose(kernel[:, :, 2, 2], np.outer(bilinear_filter(4), bilinear_filter(4)))
    assert np.all(kernel[:, :, 1, 2] == 0)
    path = tmp_path / "fcn.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    config = again.get_layer("up_to_4").get_config()["kernel_initializer"]
    assert "BilinearUpsampling" in str(config)
