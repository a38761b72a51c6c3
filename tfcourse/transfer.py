"""Transfer learning on Fashion-MNIST: a source task, a small target task, and a cached source model.

Notebook 05 splits Fashion-MNIST's ten classes in two: a *source* task the network learns
from many labels, and a *target* task of the other classes with only a few labels per class.
The source model is trained once with :class:`~tfcourse.checkpointing.CheckpointedTrainer`
and kept under ``data/models/``, keyed by a hash of everything that shapes it (architecture,
classes, images, steps, learning rate, seed), so a changed setting never reuses a stale model.
The networks it trains and cuts are built in :mod:`tfcourse.models` (``block_cnn``,
``feature_extractor``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from tfcourse import checks
from tfcourse._keras_private import sublayers
from tfcourse.config import PATHS

# Tops and a bag and sneakers for the source; the target keeps look-alikes of them (coat and shirt
# are tops, sandal and ankle boot are shoes) plus trousers, which the source never saw.
SOURCE_CLASSES: tuple[int, ...] = (0, 2, 3, 7, 8)  # T-shirt/top, Pullover, Dress, Sneaker, Bag
TARGET_CLASSES: tuple[int, ...] = (1, 4, 5, 6, 9)  # Trouser, Coat, Sandal, Shirt, Ankle boot


def select_classes(
    images: np.ndarray, labels: np.ndarray, classes: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the images of ``classes`` and renumber their labels 0, 1, ... in the order given.

    Example:
    >>> x, y = select_classes(np.arange(6), np.array([3, 1, 3, 0, 1, 2]), classes=(1, 3))
    >>> x.tolist(), y.tolist()
    ([0, 1, 2, 4], [1, 0, 1, 0])
    """
    classes = tuple(int(c) for c in classes)
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"`classes` must be distinct class numbers. Received: classes={classes!r}")
    labels = np.asarray(labels)
    keep = np.isin(labels, classes)
    lookup = np.full(int(max(labels.max(initial=0), max(classes))) + 1, -1, dtype=np.int64)
    lookup[list(classes)] = np.arange(len(classes))
    return np.asarray(images)[keep], lookup[labels[keep]]


def few_per_class(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of every class, drawn at random but nested across budgets.

    With the same ``seed`` the 10 examples of a class are the first 10 of its 50, which are the
    first 50 of its 200: a larger budget only adds labels, so budgets compare fairly.

    Raises:
        ValueError: ``per_class`` is not a positive integer or a class has fewer examples.

    Example:
    >>> labels = np.array([0, 1] * 50)
    >>> small, large = few_per_class(labels, 2), few_per_class(labels, 10)
    >>> np.bincount(labels[small]).tolist(), set(small) <= set(large)
    ([2, 2], True)
    """
    checks.positive_int("per_class", per_class)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(
                f"Class {c} has only {len(members)} examples, fewer than asked. Received: per_class={per_class}"
            )
        chosen.append(rng.permutation(members)[:per_class])
    return np.sort(np.concatenate(chosen))


def cache_key(config: dict) -> str:
    """A short, stable hash of a JSON-serialisable ``config``: equal settings give equal keys.

    Example:
    >>> cache_key({"b": 1, "a": [2, 3]}) == cache_key({"a": [2, 3], "b": 1})
    True
    >>> len(cache_key({}))
    12
    """
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def model_cache_dir(name: str, config: dict) -> Path:
    """Where a cached model lives: ``data/models/<name>/<cache_key(config)>`` (git-ignored)."""
    return PATHS.data / "models" / name / cache_key(config)


def train_or_restore(
    model: keras.Model,
    dataset,
    steps: int,
    directory: str | os.PathLike,
    *,
    learning_rate: float = 2e-3,
    config: dict | None = None,
    verbose: int = 1,
) -> dict:
    """Restore ``model`` from the newest checkpoint in ``directory``, training what is missing.

    A :class:`~tfcourse.checkpointing.CheckpointedTrainer` (Adam with a cosine-decaying learning
    rate over ``steps``) restores model, optimizer and step; if fewer than ``steps`` steps are
    on disk (nothing cached, or an interrupted run), it trains the rest on
    ``dataset.repeat()`` and saves. ``config`` is written next to the checkpoints as
    ``config.json``, for a person looking at the cache.

    Args:
        model: a built model whose outputs are logits.
        dataset: a ``tf.data.Dataset`` of ``(images, labels)`` batches.
        steps: total training steps.
        directory: the checkpoint directory, e.g. :func:`model_cache_dir`.
        learning_rate: the peak learning rate.
        config: what the cache key was made of.
        verbose: 1 shows a progress bar while training.

    Returns:
        ``{"restored_steps": ..., "trained_steps": ..., "seconds": ...}``.

    Example:
    >>> import tempfile, tensorflow as tf
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> data = tf.data.Dataset.from_tensor_slices((np.eye(2, dtype="float32"), [0, 1])).batch(2)
    >>> directory = tempfile.mkdtemp()
    >>> train_or_restore(model, data, 5, directory, verbose=0)["trained_steps"]
    5
    >>> again = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> train_or_restore(again, data, 5, directory, verbose=0)["restored_steps"]
    5
    >>> bool(np.all(model.layers[0].kernel.numpy() == again.layers[0].kernel.numpy()))
    True
    """
    from tfcourse.checkpointing import CheckpointedTrainer

    checks.positive_int("steps", steps)
    directory = Path(directory)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    trainer = CheckpointedTrainer(model, optimizer, loss, directory, save_every=max(1, steps // 4))
    restored = trainer.restore()
    start = time.perf_counter()
    if restored < steps:
        trainer.train(steps - restored, data=dataset.repeat(), verbose=verbose)
    if config is not None:
        (directory / "config.json").write_text(
            json.dumps(config, indent=2, sort_keys=True, default=str) + "\n"
        )
    return {
        "restored_steps": restored,
        "trained_steps": max(0, steps - restored),
        "seconds": time.perf_counter() - start,
    }


def set_trainable(model: keras.Model, names: Sequence[str] = (), *, batch_norm: bool = False) -> int:
    """Freeze every layer of ``model`` but those named in ``names``; return the trainable weights' count.

    Inside the unfrozen layers, batch-norm layers stay frozen unless ``batch_norm=True``. A frozen
    ``BatchNormalization`` runs in inference mode: it normalises with the moving mean and
    variance of the source task and does not update them. Calling the base with
    ``training=False`` is not enough in Keras 3: ``fit`` calls the whole model with
    ``training=True``, which reaches the inner layers (keras-team/keras#20285).

    Example:
    >>> from tfcourse.models import block_cnn
    >>> model = block_cnn(5, width=4)
    >>> set_trainable(model, ["head"])  # the new head only: (16 + 1) * 5
    85
    >>> set_trainable(model, ["block3", "head"])  # + 3*3*8*16 + 3*3*16*16 kernels, batch norm frozen
    3541
    >>> set_trainable(model, ["block3", "head"], batch_norm=True)  # + gamma and beta of two norms
    3605
    """
    known = {layer.name for layer in model.layers}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"`names` must name layers of the model ({sorted(known)}). Received: names={unknown}"
        )
    for layer in model.layers:
        unfreeze = layer.name in names
        layer.trainable = unfreeze
        for sub in sublayers(layer, recursive=True):
            sub.trainable = unfreeze and (batch_norm or not isinstance(sub, keras.layers.BatchNormalization))
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))
