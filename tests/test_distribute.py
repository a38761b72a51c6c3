"""Data-parallel training with MirroredStrategy on logical CPUs (tfcourse.distribute).

TensorFlow fixes its logical devices when its runtime starts, and in pytest it has started
long before these tests. So the check that needs two logical CPUs runs in a fresh Python
process (``SCRIPT``). The rest runs here, where ``split_cpu`` is always too late.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse.distribute import (
    compile_in_scope,
    cross_device_ops_for,
    global_batch_size,
    mirrored_strategy,
    split_cpu,
)

# Mirrored training with two replicas of 32 against one device with the same 64 images: the same
# arithmetic, summed in another order. Measured on a 2-core AVX2 CPU: at most 9e-8 in any weight
# after 8 SGD steps (lr 0.05), while the weights moved by up to 0.18; 3.6e-7 after 16 steps at
# lr 0.1. Allowed: 1e-5.
ATOL = 1e-5

SCRIPT = r'''
import json
import sys

import numpy as np
import tensorflow as tf

tf.config.set_visible_devices([], "GPU")  # both sides of the comparison on the CPU

from tfcourse.distribute import compile_in_scope, global_batch_size, mirrored_strategy, split_cpu

devices = split_cpu(2)  # before anything starts the runtime
report = {"devices": [d.name for d in devices], "again": [d.name for d in split_cpu(2)]}
try:
    split_cpu(3)
except RuntimeError as err:
    report["too_late"] = str(err)

import keras

from tfcourse import seed_everything
from tfcourse.data import load_fashion_mnist, make_dataset
from tfcourse.layers import ClassifierHead, ConvBlock

STEPS, EPOCHS, PER_REPLICA, LR = 4, 2, 32, 0.05
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

strategy = mirrored_strategy(devices)
report["replicas"] = strategy.num_replicas_in_sync
batch = global_batch_size(strategy, PER_REPLICA)
(x_train, y_train), _, _ = load_fashion_mnist(sys.argv[2], allow_download=False)
images, labels = x_train[: STEPS * batch], y_train[: STEPS * batch]
dataset = make_dataset(images, labels, batch_size=batch)  # in order, no shuffling
first = next(iter(strategy.experimental_distribute_dataset(dataset)))[0]
report["local_batches"] = [int(t.shape[0]) for t in strategy.experimental_local_results(first)]


def cnn_without_bn():
    """Notebook 02's CNN, small, without batch norm or dropout: nothing differs between replicas."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            ConvBlock(8, batch_norm=False, pooling="max", name="block1"),
            ConvBlock(16, batch_norm=False, pooling="max", name="block2"),
            ClassifierHead(10, hidden_units=(32,), name="head"),
        ]
    )


def max_difference(a, b):
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b, strict=True))


def single_against_mirrored(build):
    """Train ``build()`` on one device and under the strategy, from the same initial weights."""
    seed_everything(0)
    single = build()
    initial = single.get_weights()
    single.compile(optimizer=keras.optimizers.SGD(LR), loss=LOSS)
    single_loss = single.fit(dataset, epochs=EPOCHS, shuffle=False, verbose=0).history["loss"]
    mirrored = compile_in_scope(strategy, build, optimizer=keras.optimizers.SGD(LR), loss=LOSS)
    mirrored.set_weights(initial)
    mirrored_loss = mirrored.fit(dataset, epochs=EPOCHS, shuffle=False, verbose=0).history["loss"]
    return {
        "mirrored_variables": all(
            isinstance(v.value, tf.distribute.DistributedValues) for v in mirrored.variables
        ),
        "single_loss": single_loss,
        "mirrored_loss": mirrored_loss,
        "max_weight_difference": max_difference(single.get_weights(), mirrored.get_weights()),
        "moved": max_difference(single.get_weights(), initial),
    }


report["without_bn"] = single_against_mirrored(cnn_without_bn)

# One batch-norm layer in training mode, on one global batch of 64 images, split 32 + 32.
x = (images[:batch, ..., None] / 255.0).astype("float32")
one_batch = tf.data.Dataset.from_tensor_slices(x).batch(batch)
local = next(iter(strategy.experimental_distribute_dataset(one_batch)))
plain = keras.layers.BatchNormalization(momentum=0.0)  # on one device, as a reference
whole = plain(x, training=True).numpy()
halves = np.concatenate([plain(x[:PER_REPLICA], training=True), plain(x[PER_REPLICA:], training=True)])
for synchronized in (False, True):
    with strategy.scope():  # momentum 0: the moving mean becomes the batch mean
        layer = keras.layers.BatchNormalization(momentum=0.0, synchronized=synchronized)
        layer.build(x.shape)
    out = tf.function(lambda t: strategy.run(lambda u: layer(u, training=True), args=(t,)))(local)
    out = np.concatenate([t.numpy() for t in strategy.experimental_local_results(out)])
    report[f"bn_synchronized_{synchronized}"] = {
        "vs_whole_batch": float(np.max(np.abs(out - whole))),
        "vs_halves": float(np.max(np.abs(out - halves))),
        "moving_mean_copies": [
            float(t.numpy()[0]) for t in strategy.experimental_local_results(layer.moving_mean.value)
        ],
    }
report["means"] = {
    "whole": float(x.mean()),
    "first_half": float(x[:PER_REPLICA].mean()),
    "second_half": float(x[PER_REPLICA:].mean()),
}

with open(sys.argv[1], "w") as f:
    json.dump(report, f)
'''


@pytest.fixture(scope="module")
def report(tmp_path_factory, fashion_dir) -> dict:
    """Run ``SCRIPT`` in a fresh process (TensorFlow not started yet) and return its measurements."""
    folder = tmp_path_factory.mktemp("distribute")
    script, out = folder / "mirrored.py", folder / "report.json"
    script.write_text(SCRIPT)
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    done = subprocess.run(
        [sys.executable, str(script), str(out), str(fashion_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_split_cpu_makes_logical_devices_once_and_returns_them_again(report):
    assert report["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    assert report["again"] == report["devices"]


def test_split_cpu_into_another_number_later_says_to_restart(report):
    message = report["too_late"]
    assert "split_cpu(3) came too late" in message
    assert "2 logical CPU device(s)" in message
    assert "Restart the kernel" in message and "split_cpu(3) first" in message


def test_each_replica_gets_half_of_the_global_batch(report):
    assert report["replicas"] == 2
    assert report["local_batches"] == [32, 32]


def test_mirrored_training_matches_one_device_without_batch_norm(report):
    """Gradients averaged over 2 x 32 images are the gradient over the 64: same weights, same losses."""
    result = report["without_bn"]
    assert result["mirrored_variables"]
    assert result["moved"] > 0.05  # it trained: the agreement below is not two untouched models
    assert result["max_weight_difference"] < ATOL
    np.testing.assert_allclose(result["mirrored_loss"], result["single_loss"], rtol=1e-5)
    assert result["single_loss"][1] < result["single_loss"][0]


def test_batch_norm_uses_local_statistics_unless_synchronized(report):
    """Why the equivalence above leaves batch norm out: two replicas of 32 are not one batch of 64."""
    local, synced = report["bn_synchronized_False"], report["bn_synchronized_True"]
    means = report["means"]
    # plain: each replica's output is batch norm over its own half of the batch
    assert local["vs_halves"] < 1e-6 < 1e-3 < local["vs_whole_batch"]
    # and each replica's copy of the moving mean keeps its own half's mean (aggregation "none")
    np.testing.assert_allclose(
        local["moving_mean_copies"], [means["first_half"], means["second_half"]], rtol=1e-5
    )
    # synchronized: the statistics of the whole global batch, the same on every replica
    assert synced["vs_whole_batch"] < 1e-5 < 1e-3 < synced["vs_halves"]
    np.testing.assert_allclose(synced["moving_mean_copies"], [means["whole"]] * 2, rtol=1e-5)


# In this process TensorFlow has started already.


@pytest.fixture
def started() -> list[tf.config.LogicalDevice]:
    return tf.config.list_logical_devices("CPU")  # starts the runtime if nothing has yet


def test_split_cpu_too_late_raises_a_runtime_error_that_says_how_to_fix_it(started):
    with pytest.raises(RuntimeError, match=r"came too late(.|\n)*Restart the kernel"):
        split_cpu(len(started) + 1)
    assert tf.config.list_logical_devices("CPU") == started  # nothing changed


def test_split_cpu_into_the_devices_there_already_returns_them(started):
    assert split_cpu(len(started)) == started


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_split_cpu_rejects_a_non_positive_integer(n):
    with pytest.raises(ValueError, match=f"Received: n={n!r}"):
        split_cpu(n)


def test_all_reduce_is_nccl_free_on_cpus_and_left_to_tensorflow_on_gpus():
    assert isinstance(cross_device_ops_for(["/cpu:0", "/cpu:1"]), tf.distribute.ReductionToOneDevice)
    assert isinstance(cross_device_ops_for(["/gpu:0", "/cpu:0"]), tf.distribute.ReductionToOneDevice)
    assert isinstance(
        cross_device_ops_for(tf.config.list_logical_devices("CPU")), tf.distribute.ReductionToOneDevice
    )
    assert cross_device_ops_for(["/gpu:0", "/device:GPU:1"]) is None


def test_mirrored_strategy_defaults_to_the_logical_devices():
    strategy = mirrored_strategy()
    expected = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    assert strategy.num_replicas_in_sync == len(expected)


def test_mirrored_strategy_rejects_no_devices():
    with pytest.raises(ValueError, match=r"Received: devices=\[\]"):
        mirrored_strategy([])


def test_global_batch_size_multiplies_by_the_replicas():
    strategy = mirrored_strategy(["/cpu:0"])
    assert global_batch_size(strategy, 32) == 32
    with pytest.raises(ValueError, match="Received: per_replica=0"):
        global_batch_size(strategy, 0)


def test_compile_in_scope_creates_mirrored_variables_and_compiles():
    strategy = mirrored_strategy(["/cpu:0"])
    model = compile_in_scope(
        strategy,
        lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]),
        optimizer="sgd",
        loss="mse",
    )
    assert model.compiled
    assert model.distribute_strategy is strategy
    assert all(isinstance(v.value, tf.distribute.DistributedValues) for v in model.variables)
    model.fit(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), epochs=1, verbose=0)


def test_compile_in_scope_rejects_a_build_that_returns_no_model():
    with pytest.raises(ValueError, match="Received: build\\(\\) returned"):
        compile_in_scope(mirrored_strategy(["/cpu:0"]), lambda: keras.layers.Dense(2), loss="mse")
