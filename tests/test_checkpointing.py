import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from tfcourse import seed_everything
from tfcourse.checkpointing import CheckpointedTrainer, CheckpointError, ModelVariables
from tfcourse.models import fashion_cnn

SEED = 7
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture
def deterministic():
    """Seed everything and use deterministic kernels for one test, then switch them off again."""
    was_on = tf_config.is_op_determinism_enabled()
    seed_everything(SEED, deterministic=True)
    yield
    if not was_on:
        tf_config.disable_op_determinism()


def build(directory, *, with_iterator=True, **kwargs):
    """What a training script does when it starts: seed, build model, optimizer and data, then a trainer.

    The model is notebook 02's CNN, tiny: it keeps what makes resuming hard (sub-layers held in
    lists, batch-norm statistics, dropout seeds, Adam's slots, a shuffled dataset).
    """
    seed_everything(SEED)
    model = fashion_cnn(filters=(4, 8), hidden_units=8, input_shape=(8, 8, 1))
    optimizer = keras.optimizers.Adam(0.01)
    rng = np.random.default_rng(0)
    images = rng.random((48, 8, 8, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 48)
    # repeat before shuffle and prefetch last: the iterator then holds all of the stream's state
    data = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .repeat()
        .shuffle(48, seed=SEED)
        .batch(8)
        .prefetch(2)
    )
    iterator = iter(data) if with_iterator else None
    trainer = CheckpointedTrainer(model, optimizer, LOSS, directory, iterator=iterator, **kwargs)
    return trainer, data


def weights(model):
    return [v.numpy() for v in model.variables]


def max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def checkpoint_steps(trainer):
    return [int(path.rsplit("-", 1)[1]) for path in trainer.manager.checkpoints]


# ---------- what is saved ----------


def test_model_variables_saves_what_checkpointing_the_model_object_misses(tmp_path):
    trainer, _ = build(tmp_path)
    model = trainer.model
    via_model = tf.train.Checkpoint(model=model).write(str(tmp_path / "object" / "ckpt"))
    via_variables = tf.train.Checkpoint(model=ModelVariables(model)).write(str(tmp_path / "vars" / "ckpt"))
    saved = {name for name, _ in tf.train.list_variables(via_variables) if name.startswith("model/")}
    assert saved == {f"model/by_index/{i}/.ATTRIBUTES/VARIABLE_VALUE" for i in range(len(model.variables))}
    paths = [v.path for v in model.variables]
    assert sum("moving_mean" in p for p in paths) == 2 and any("seed_generator" in p for p in paths)
    # 2 ConvBlocks x (kernel + 4 batch-norm values) + dropout seed states + 2 dense x (kernel + bias)
    assert len(paths) == 2 * 5 + sum("seed_generator" in p for p in paths) + 4
    kept = [name for name, _ in tf.train.list_variables(via_model) if name.startswith("model/")]
    seeds = sum("seed_generator" in p for p in paths)
    # Checkpointing the model object keeps every weight and statistic but not dropout's seed state.
    assert len(kept) == len(model.variables) - seeds, (
        "update notebook 03's text on what tf.train.Checkpoint misses"
    )


def test_model_variables_rejects_unbuilt_model():
    with pytest.raises(ValueError, match="Received: model="):
        ModelVariables(keras.Sequential([keras.layers.Dense(2)]))


# ---------- resuming ----------


def test_resume_is_bit_exact(tmp_path, deterministic):
    n, m = 7, 6
    uninterrupted, _ = build(tmp_path / "a", save_every=100)
    losses = uninterrupted.train(n + m, verbose=0)

    first, _ = build(tmp_path / "b", save_every=100)
    first.train(n, verbose=0)
    resumed, _ = build(tmp_path / "b", save_every=100)
    assert max_difference(weights(resumed.model), weights(first.model)) > 0, (
        "the fresh model starts elsewhere"
    )
    assert resumed.restore() == n
    resumed_losses = resumed.train(m, verbose=0)

    for a, b in zip(weights(uninterrupted.model), weights(resumed.model)):
        np.testing.assert_array_equal(a, b)
    assert resumed_losses == losses[n:]
    assert int(resumed.step.numpy()) == int(resumed.optimizer.iterations.numpy()) == n + m


RESUME_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from tfcourse import seed_everything
from test_checkpointing import SEED, build
seed_everything(SEED, deterministic=True)
trainer, _ = build({directory!r}, save_every=100)
start = trainer.restore()
losses = trainer.train({steps}, verbose=0)
np.savez({weights!r}, *[v.numpy() for v in trainer.model.variables])
with open({report!r}, "w") as f:
    json.dump(dict(start=start, losses=losses, step=int(trainer.step.numpy()),
                   iterations=int(trainer.optimizer.iterations.numpy())), f)
"""


def test_resume_in_a_new_process_is_bit_exact(tmp_path, deterministic):
    """Train n steps here, continue for m in a fresh Python process: the same as n + m in one go.

    A new process shares nothing with this one (no Python objects, no TensorFlow or Keras state,
    no random generators), so everything the second half needs must come from the checkpoint.
    """
    n, m = 7, 6
    uninterrupted, _ = build(tmp_path / "a", save_every=100)
    losses = uninterrupted.train(n + m, verbose=0)
    first, _ = build(tmp_path / "b", save_every=100)
    first.train(n, verbose=0)

    script = tmp_path / "resume.py"
    script.write_text(
        RESUME_SCRIPT.format(
            tests=str(Path(__file__).resolve().parent),
            directory=str(tmp_path / "b"),
            steps=m,
            weights=str(tmp_path / "resumed.npz"),
            report=str(tmp_path / "resumed.json"),
        )
    )
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads((tmp_path / "resumed.json").read_text())
    assert report["start"] == n
    assert report["step"] == report["iterations"] == n + m
    assert report["losses"] == losses[n:]
    with np.load(tmp_path / "resumed.npz") as resumed:
        resumed_weights = [resumed[f"arr_{i}"] for i in range(len(resumed.files))]
    expected = weights(uninterrupted.model)
    assert len(resumed_weights) == len(expected)
    for a, b in zip(expected, resumed_weights):
        np.testing.assert_array_equal(a, b)


def test_restoring_weights_only_does_not_resume(tmp_path, deterministic):
    n, m = 7, 6
    uninterrupted, _ = build(tmp_path / "a", save_every=100)
    uninterrupted.train(n + m, verbose=0)
    first, _ = build(tmp_path / "b", save_every=100)
    first.train(n, verbose=0)

    fresh, _ = build(tmp_path / "c")
    tf.train.Checkpoint(model=ModelVariables(fresh.model)).read(
        first.manager.latest_checkpoint
    ).expect_partial()
    np.testing.assert_array_equal(weights(fresh.model)[0], weights(first.model)[0])
    for _ in range(n):  # even with the data in the right place
        next(fresh.iterator)
    fresh.train(m, verbose=0)  # ... Adam starts again from zero moments and step 0
    assert max_difference(weights(uninterrupted.model), weights(fresh.model)) > 1e-4


def test_iterator_position_is_restored(tmp_path):
    trainer, _ = build(tmp_path / "a", save_every=100)
    trainer.train(5, verbose=0)
    expected = next(trainer.iterator)[1].numpy()
    resumed, data = build(tmp_path / "a")
    resumed.restore()
    np.testing.assert_array_equal(next(resumed.iterator)[1].numpy(), expected)
    assert not np.array_equal(next(iter(data))[1].numpy(), expected), "a fresh iterator starts elsewhere"


def test_checkpoint_without_iterator_does_not_restore_into_trainer_with_one(tmp_path):
    trainer, data = build(tmp_path, with_iterator=False)
    trainer.train(3, data=data, verbose=0)
    with_iterator, _ = build(tmp_path)
    with pytest.raises(CheckpointError, match="ckpt-3.*different model, optimizer or data pipeline"):
        with_iterator.restore()


# ---------- the manager: interval and max_to_keep ----------


def test_saves_every_n_steps_and_at_the_end(tmp_path):
    trainer, _ = build(tmp_path, save_every=4, max_to_keep=10)
    trainer.train(10, verbose=0)
    assert checkpoint_steps(trainer) == [4, 8, 10]
    trainer.train(2, verbose=0)  # step 12: a multiple of 4 and the end, saved once
    assert checkpoint_steps(trainer) == [4, 8, 10, 12]


def test_max_to_keep_deletes_old_files(tmp_path):
    trainer, _ = build(tmp_path, save_every=2, max_to_keep=3)
    trainer.train(12, verbose=0)
    assert checkpoint_steps(trainer) == [8, 10, 12]
    on_disk = sorted(int(f.split("-")[1].split(".")[0]) for f in os.listdir(tmp_path) if f.endswith(".index"))
    assert on_disk == [8, 10, 12]


def test_restore_chosen_checkpoint_and_fresh_directory(tmp_path):
    trainer, _ = build(tmp_path / "run", save_every=3)
    assert trainer.restore() == 0, "no checkpoint yet: a fresh start"
    trainer.train(9, verbose=0)
    other, _ = build(tmp_path / "run")
    assert other.restore(tmp_path / "run" / "ckpt-6") == 6
    assert other.restore() == 9


# ---------- faults ----------


def test_corrupted_checkpoint_raises_a_clear_error(tmp_path):
    trainer, _ = build(tmp_path, save_every=3)
    trainer.train(6, verbose=0)
    data_file = next(tmp_path.glob("ckpt-6.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])  # truncated, as by a full disk
    fresh, _ = build(tmp_path)
    with pytest.raises(
        CheckpointError, match=r"ckpt-6.*truncated or corrupted.*Restore another one \(.*ckpt-3"
    ):
        fresh.restore()
    assert fresh.restore(tmp_path / "ckpt-3") == 3


def test_missing_checkpoint_raises(tmp_path):
    trainer, _ = build(tmp_path)
    with pytest.raises(CheckpointError, match="ckpt-99"):
        trainer.restore(tmp_path / "ckpt-99")


def test_restore_into_a_different_model_raises(tmp_path):
    trainer, _ = build(tmp_path, save_every=2)
    trainer.train(2, verbose=0)
    seed_everything(SEED)
    wider = fashion_cnn(filters=(4, 16), hidden_units=8, input_shape=(8, 8, 1))
    other = CheckpointedTrainer(wider, keras.optimizers.Adam(), LOSS, tmp_path, iterator=trainer.iterator)
    with pytest.raises(CheckpointError, match="ckpt-2"):
        other.restore()


def test_data_running_out_warns_and_saves(tmp_path):
    trainer, _ = build(tmp_path, with_iterator=False)
    finite = tf.data.Dataset.from_tensor_slices((np.zeros((16, 8, 8, 1), "float32"), np.zeros(16, "int64")))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses = trainer.train(5, data=finite.batch(8), verbose=0)
    assert len(losses) == 2 and "ran out after 2 of 5 steps" in str(caught[0].message)
    assert checkpoint_steps(trainer) == [2]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(save_every=0), "Received: save_every=0"),
        (dict(save_every=2.5), "Received: save_every=2.5"),
        (dict(max_to_keep=0), "Received: max_to_keep=0"),
        (dict(directory=""), "Received: directory=''"),
        (dict(iterator="dataset"), "Received: iterator='dataset'"),
    ],
)
def test_rejects_bad_arguments(tmp_path, kwargs, match):
    model = fashion_cnn(filters=(4,), hidden_units=8, input_shape=(8, 8, 1))
    arguments = dict(directory=tmp_path, iterator=None) | kwargs
    with pytest.raises(ValueError, match=match):
        CheckpointedTrainer(model, keras.optimizers.Adam(), LOSS, **arguments)


def test_rejects_a_dataset_as_iterator(tmp_path):
    trainer, data = build(tmp_path)
    with pytest.raises(ValueError, match=r"iter\(dataset\).*Received: iterator=<"):
        CheckpointedTrainer(trainer.model, trainer.optimizer, LOSS, tmp_path, iterator=data)


def test_train_rejects_bad_steps_and_ambiguous_data(tmp_path):
    trainer, data = build(tmp_path)
    with pytest.raises(ValueError, match="Received: steps=-1"):
        trainer.train(-1)
    with pytest.raises(ValueError, match="Received: data=<"):
        trainer.train(1, data=data)
    without, _ = build(tmp_path / "b", with_iterator=False)
    with pytest.raises(ValueError, match="Received: data=None"):
        without.train(1)
