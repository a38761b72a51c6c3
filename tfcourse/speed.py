"""How fast this machine trains a CNN, against the course's reference machine.

The notebooks' time budgets (``tfcourse.budget_s`` in their metadata) are set at about twice what
the reference machine takes: 2 CPU cores with AVX-512, where notebook 02's CNN trains at about
3,400 images/s. A 2-core CPU without AVX-512 can be three to four times slower at the same work,
and would fail every budget without any cell having become slower. :func:`training_speed`
measures the same training (notebook 02's CNN, Adam, batches of 128) for a few seconds, and
:func:`budget_scale` turns it into the factor by which budgets stretch on this machine, never
below 1. The test suite applies it (see ``conftest.py``), so a budget still catches a cell that
got slower, in the reference machine's seconds.

Example:
>>> budget_scale(REFERENCE_IMAGES_PER_SECOND / 3)
3.0
>>> budget_scale(2 * REFERENCE_IMAGES_PER_SECOND)  # a faster machine keeps the budgets
1.0
"""

from __future__ import annotations

import time

import numpy as np

REFERENCE_IMAGES_PER_SECOND = 3_400.0
"""Notebook 02's training speed on the reference machine (``fit_images_per_second`` in
``results/full.json``: 3,397 images/s, batches of 128, validation included)."""


def training_speed(images: int = 2_048, batch_size: int = 128, epochs: int = 2, seed: int = 0) -> float:
    """Images per second of notebook 02's CNN trained with ``fit`` on random 28x28 images.

    One untimed epoch traces the training step; then ``epochs`` timed epochs, of which the
    fastest counts (the least disturbed by whatever else the machine is doing). About 3 s on the
    reference machine, 8 s on one four times slower.

    Args:
        images: random images per epoch.
        batch_size: as in notebook 02.
        epochs: timed epochs; the fastest is reported.
        seed: for the random images, labels and weights.

    Returns:
        Training images per second.
    """
    if images < batch_size or batch_size < 1 or epochs < 1:
        raise ValueError(
            "`images` must be at least `batch_size`, and `batch_size` and `epochs` positive. "
            f"Received: images={images}, batch_size={batch_size}, epochs={epochs}"
        )
    import keras
    import tensorflow as tf

    from tfcourse.models import fashion_cnn

    rng = np.random.default_rng(seed)
    x = rng.random((images, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, images)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size, drop_remainder=True).cache()

    class EpochClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    keras.utils.set_random_seed(seed)
    model = fashion_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    clock = EpochClock()
    model.fit(dataset, epochs=1 + epochs, callbacks=[clock], verbose=0)
    del model
    keras.backend.clear_session()  # leave nothing behind in the caller's process
    trained = (images // batch_size) * batch_size
    return trained / min(clock.seconds[1:])


def budget_scale(images_per_second: float, reference: float = REFERENCE_IMAGES_PER_SECOND) -> float:
    """``reference / images_per_second``, at least 1: how much longer this machine may take.

    Raises:
        ValueError: when a speed is not a positive number.
    """
    if not (images_per_second > 0 and reference > 0):
        raise ValueError(
            "Training speeds must be positive numbers of images per second. "
            f"Received: images_per_second={images_per_second!r}, reference={reference!r}"
        )
    return max(1.0, round(reference / images_per_second, 2))
