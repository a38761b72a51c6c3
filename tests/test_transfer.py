"""Source/target split, nested label budgets, cached training and freezing for fine-tuning."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import transfer
from tfcourse.models import block_cnn


def test_source_and_target_classes_split_fashion_mnist():
    assert sorted(transfer.SOURCE_CLASSES + transfer.TARGET_CLASSES) == list(range(10))


def test_select_classes_renumbers_in_the_given_order_and_refuses_repeats():
    x, y = transfer.select_classes(np.arange(5), np.array([4, 2, 9, 2, 4]), (4, 2))
    assert x.tolist() == [0, 1, 3, 4] and y.tolist() == [0, 1, 1, 0]
    with pytest.raises(ValueError, match=r"Received: classes=\(1, 1\)"):
        transfer.select_classes(np.arange(3), np.arange(3), (1, 1))


def test_few_per_class_is_balanced_nested_and_refuses_too_many():
    labels = np.repeat(np.arange(5), 30)
    budgets = [transfer.few_per_class(labels, n, seed=3) for n in (2, 10, 30)]
    for n, idx in zip((2, 10, 30), budgets):
        assert np.bincount(labels[idx]).tolist() == [n] * 5
    assert set(budgets[0]) <= set(budgets[1]) <= set(budgets[2])
    assert not np.array_equal(transfer.few_per_class(labels, 2, seed=4), budgets[0])
    with pytest.raises(ValueError, match="Received: per_class=31"):
        transfer.few_per_class(labels, 31)
    with pytest.raises(ValueError, match="Received: per_class=0"):
        transfer.few_per_class(labels, 0)


def test_cache_key_changes_with_any_setting():
    config = {"architecture": "a", "steps": 10}
    assert transfer.cache_key(config) == transfer.cache_key(dict(config))
    assert transfer.cache_key(config) != transfer.cache_key({**config, "steps": 11})
    assert transfer.model_cache_dir("x", config).parts[-3:] == ("models", "x", transfer.cache_key(config))


def test_train_or_restore_resumes_an_interrupted_run(tmp_path):
    data = tf.data.Dataset.from_tensor_slices((np.eye(4, dtype="float32"), [0, 1, 0, 1])).batch(2)

    def model():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])

    first = transfer.train_or_restore(model(), data, 4, tmp_path, verbose=0, config={"steps": 8})
    assert (first["restored_steps"], first["trained_steps"]) == (0, 4)
    resumed = transfer.train_or_restore(model(), data, 8, tmp_path, verbose=0)
    assert (resumed["restored_steps"], resumed["trained_steps"]) == (4, 4)
    assert (tmp_path / "config.json").is_file()


def test_set_trainable_freezes_batch_norm_so_it_keeps_its_statistics():
    model = block_cnn(3, width=4)
    transfer.set_trainable(model, ["block3", "head"])
    bn = model.get_layer("block3").stage_bn1
    assert not bn.trainable and model.get_layer("block3").stage_conv1.trainable
    assert not model.get_layer("block1").trainable
    before = bn.moving_mean.numpy().copy()
    model(np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32), training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)
    transfer.set_trainable(model, ["block3", "head"], batch_norm=True)
    model(np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32), training=True)
    assert bn.trainable and not np.array_equal(bn.moving_mean.numpy(), before)
    with pytest.raises(ValueError, match=r"Received: names=\['block9'\]"):
        transfer.set_trainable(model, ["block9"])
