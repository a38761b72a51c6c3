"""Training by hand: a mini-batch loop with ``tf.GradientTape``, as notebook 02 teaches it.

``model.fit`` does the same work; this module spells it out so that a notebook can show the
source (``inspect.getsource``) and a benchmark can time the two side by side.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss_fn: keras.losses.Loss,
    metrics: list[keras.metrics.Metric],
) -> Callable:
    """Return a compiled (``tf.function``) step: forward, loss, gradients, update, metrics.

    ``metrics`` are updated with ``(labels, logits)``; pass e.g. ``SparseCategoricalAccuracy``.
    """

    @tf.function
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)  # dropout on, batch norm uses batch statistics
            loss = loss_fn(labels, logits)
            if model.losses:  # weight penalties added by layers
                loss += tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        for metric in metrics:
            metric.update_state(labels, logits)
        return loss

    return train_step


def make_eval_step(
    model: keras.Model, loss_fn: keras.losses.Loss, metrics: list[keras.metrics.Metric]
) -> Callable:
    """Return a compiled step that runs the model in inference mode and updates the metrics."""

    @tf.function
    def eval_step(images, labels):
        logits = model(images, training=False)
        for metric in metrics:
            metric.update_state(labels, logits)
        return loss_fn(labels, logits)

    return eval_step


def evaluate_by_hand(
    model: keras.Model, dataset: tf.data.Dataset, loss_fn: keras.losses.Loss
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``dataset`` of ``(images, labels)`` batches."""
    loss_mean = keras.metrics.Mean()
    accuracy = keras.metrics.SparseCategoricalAccuracy()
    step = make_eval_step(model, loss_fn, [accuracy])
    for images, labels in dataset:
        loss_mean.update_state(step(images, labels))
    return {"loss": float(loss_mean.result()), "accuracy": float(accuracy.result())}


def train_by_hand(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss_fn: keras.losses.Loss,
    train_ds: tf.data.Dataset,
    epochs: int,
    val_ds: tf.data.Dataset | None = None,
    verbose: int = 1,
) -> dict[str, list[float]]:
    """Mini-batch gradient descent over ``train_ds`` for ``epochs`` epochs, with a progress bar.

    Returns a history like ``model.fit``'s: ``loss``, ``accuracy`` (running means over each
    epoch, as Keras reports them) and, with ``val_ds``, ``val_loss`` and ``val_accuracy``.

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> ds = tf.data.Dataset.from_tensor_slices((np.eye(4, dtype="float32"), [0, 1, 0, 1])).batch(2)
    >>> loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> history = train_by_hand(model, keras.optimizers.SGD(0.5), loss, ds, epochs=30, verbose=0)
    >>> history["accuracy"][-1]
    1.0
    """
    if epochs <= 0:
        raise ValueError(f"`epochs` must be a positive integer. Received: epochs={epochs}")
    loss_mean = keras.metrics.Mean(name="loss")
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    train_step = make_train_step(model, optimizer, loss_fn, [accuracy])
    steps = int(train_ds.cardinality())
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    for epoch in range(epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}")
        bar = keras.utils.Progbar(steps if steps > 0 else None, verbose=verbose, interval=0.5)
        loss_mean.reset_state()
        accuracy.reset_state()
        for i, (images, labels) in enumerate(train_ds):
            loss_mean.update_state(train_step(images, labels))
            bar.update(i + 1, [("loss", float(loss_mean.result())), ("accuracy", float(accuracy.result()))])
        history["loss"].append(float(loss_mean.result()))
        history["accuracy"].append(float(accuracy.result()))
        if val_ds is not None:
            result = evaluate_by_hand(model, val_ds, loss_fn)
            history.setdefault("val_loss", []).append(result["loss"])
            history.setdefault("val_accuracy", []).append(result["accuracy"])
            if verbose:
                print(f"  val_loss: {result['loss']:.4f} - val_accuracy: {result['accuracy']:.4f}")
    return history
