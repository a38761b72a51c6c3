import keras
import numpy as np
import pytest

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
