"""The helpers the layers keep, build and run their sub-layers with (``tfcourse.layers._chain``), and
the one that hands each convolution its own initializer (``tfcourse.layers._kernel``)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse.layers import _kernel
from tfcourse.layers._chain import attach, attached, build_chain, call_chain, image_spec, output_shape


def _dense_relu_dropout():
    return [
        keras.layers.Dense(3, name="dense"),
        keras.layers.ReLU(name="relu"),
        keras.layers.Dropout(0.5, name="dropout"),
    ]


def test_attach_sets_one_attribute_per_layer_named_by_the_scheme():
    owner = keras.layers.Layer(name="owner")
    layers = _dense_relu_dropout()
    names = attach(owner, layers, prefix="stage_")
    assert names == ("stage_dense", "stage_relu", "stage_dropout")
    assert owner.stage_dense is layers[0] and owner.stage_dropout is layers[2]
    assert attached(owner, names) == layers
    assert attach(keras.layers.Layer(), [keras.layers.ReLU(name="act")]) == ("act",)  # no prefix


def test_attach_refuses_two_layers_with_one_name():
    with pytest.raises(
        ValueError, match=r"owner: two sub-layers would share an attribute.*'stage_a', 'stage_a'"
    ):
        attach(
            keras.layers.Layer(name="owner"),
            [keras.layers.ReLU(name="a"), keras.layers.ReLU(name="a")],
            "stage_",
        )


def test_attached_layers_are_seen_by_tf_train_checkpoint(tmp_path):
    """What a Python list would not give: a checkpoint restores the attached layer's weights."""

    def make():
        owner = keras.layers.Layer()
        names = attach(owner, [keras.layers.Dense(2, name="dense")])
        build_chain(attached(owner, names), (None, 3))
        return owner

    saved, fresh = make(), make()
    saved.dense.kernel.assign(np.arange(6, dtype="float32").reshape(3, 2))
    path = tf.train.Checkpoint(owner=saved).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(owner=fresh).read(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(fresh.dense.kernel.numpy(), np.arange(6).reshape(3, 2))


def test_build_and_call_chain_equal_the_layers_applied_by_hand():
    layers = _dense_relu_dropout()
    assert build_chain(layers, (None, 4)) == (None, 3) == output_shape(layers, (None, 4))
    assert all(layer.built for layer in layers)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    kernel, bias = (w.numpy() for w in layers[0].weights)
    np.testing.assert_allclose(
        call_chain(layers, x, training=False), np.maximum(x @ kernel + bias, 0), rtol=1e-6
    )


def test_call_chain_passes_the_training_flag():
    layers = [keras.layers.Dropout(0.5, seed=0)]
    x = np.ones((4, 64), np.float32)
    np.testing.assert_array_equal(call_chain(layers, x, training=False), x)
    dropped = np.asarray(call_chain(layers, x, training=True))
    assert set(np.unique(dropped)) == {0.0, 2.0}  # kept units scaled by 1 / (1 - rate)


def test_image_spec_asks_for_rank_4_and_the_channels_if_known():
    assert image_spec().ndim == 4 and image_spec().axes == {}
    assert image_spec(3).axes == {-1: 3}


def test_handout_gives_the_object_first_then_fresh_copies():
    template = keras.initializers.HeNormal()
    next_initializer = _kernel.handout(template)
    first, second, third = next_initializer(), next_initializer(), next_initializer()
    assert first is template and isinstance(second, keras.initializers.HeNormal) and second is not third
    shape = (3, 3, 4, 4)
    assert not np.array_equal(second(shape), third(shape))  # unseeded: each copy draws its own seed


def test_a_seeded_copy_keeps_the_seed():
    template = keras.initializers.HeUniform(seed=3)
    copy = _kernel.fresh_copy(template)
    assert copy is not template and copy.get_config() == template.get_config()
    np.testing.assert_array_equal(copy((2, 2)), keras.initializers.HeUniform(seed=3)((2, 2)))
    plain = keras.initializers.get("zeros")
    assert isinstance(_kernel.fresh_copy(plain), keras.initializers.Zeros)
