"""Training throughput of notebook 02's CNN: the hand-written loop against ``model.fit``.

Trains ``fashion_cnn`` for a fixed number of steps on Fashion-MNIST with each loop and prints
images per second, so that later changes (to the layers, the pipeline, TensorFlow) can be
compared. Not a test: the numbers depend on the machine and its load.

    .venv/bin/python scripts/benchmark_training.py --steps 200 --batch-size 128
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import keras
import tensorflow as tf

from tfcourse import seed_everything
from tfcourse.data import load_fashion_mnist, make_dataset
from tfcourse.models import fashion_cnn
from tfcourse.training import make_train_step

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def bench_hand(dataset: tf.data.Dataset, steps: int, warmup: int) -> float:
    model = fashion_cnn()
    step = make_train_step(
        model, keras.optimizers.Adam(1e-3), LOSS, [keras.metrics.SparseCategoricalAccuracy()]
    )
    batches = iter(dataset.repeat())
    for _ in range(warmup):  # tracing and first-call overheads
        images, labels = next(batches)
        step(images, labels)
    start = time.perf_counter()
    seen = 0
    for _ in range(steps):
        images, labels = next(batches)
        step(images, labels).numpy()
        seen += int(images.shape[0])
    return seen / (time.perf_counter() - start)


def bench_fit(dataset: tf.data.Dataset, steps: int, warmup: int, batch_size: int) -> float:
    model = fashion_cnn()
    model.compile(keras.optimizers.Adam(1e-3), LOSS, metrics=["accuracy"])
    data = dataset.repeat()
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed training steps per loop")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2, help="alternate the two loops this many times")
    args = parser.parse_args()

    seed_everything(0)
    (x_train, y_train), _, _ = load_fashion_mnist()
    dataset = make_dataset(
        x_train, y_train, batch_size=args.batch_size, shuffle=True, seed=0, drop_remainder=True
    )
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"GPU: {bool(tf.config.list_physical_devices('GPU'))}; {args.steps} steps of {args.batch_size} images"
    )
    results: dict[str, list[float]] = {"hand-written loop": [], "model.fit": []}
    for _ in range(args.repeats):
        results["hand-written loop"].append(bench_hand(dataset, args.steps, args.warmup))
        results["model.fit"].append(bench_fit(dataset, args.steps, args.warmup, args.batch_size))
    for name, values in results.items():
        print(
            f"{name:<18} best {max(values):7.0f} images/s   (runs: {', '.join(f'{v:.0f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
