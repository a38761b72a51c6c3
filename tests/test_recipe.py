"""The fast-training recipe pieces, each against a reference written apart from the package.

References: the one-cycle formula in plain Python and Keras's own ``CosineDecay`` with warm-up;
the EMA recomputed in NumPy from the weights after every step of ``fit``; smoothed targets and
``log_softmax`` in NumPy; batch norm's moving-mean update from the batch mean in NumPy.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse.layers import ConvBlock
from tfcourse.recipe import (
    OneCycle,
    SmoothedSparseCrossentropy,
    recipe_optimizer,
    set_batch_norm_momentum,
    smoothed_sparse_crossentropy,
)
from tfcourse.training import make_train_step

# ---------- OneCycle ----------


def one_cycle_reference(step, peak, total, warmup_fraction, start_factor, end_factor):
    """The one-cycle rate in plain Python, phase by phase."""
    start, end, warmup = peak * start_factor, peak * end_factor, warmup_fraction * total
    step = min(step, total)
    if step < warmup:
        return start + (peak - start) * step / warmup
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


SHAPES = [
    dict(peak=0.1, total=100, warmup_fraction=0.25, start_factor=0.04, end_factor=1e-4),
    dict(peak=3e-3, total=37, warmup_fraction=0.3, start_factor=0.0, end_factor=0.01),  # w = 11.1
    dict(peak=1.0, total=10, warmup_fraction=0.0, start_factor=0.5, end_factor=0.0),  # no warm-up
    dict(peak=0.5, total=1, warmup_fraction=0.5, start_factor=0.2, end_factor=0.1),  # one step
]


@pytest.mark.parametrize("shape", SHAPES)
def test_one_cycle_matches_the_formula_at_every_step_and_beyond(shape):
    schedule = OneCycle(
        shape["peak"],
        shape["total"],
        warmup_fraction=shape["warmup_fraction"],
        start_factor=shape["start_factor"],
        end_factor=shape["end_factor"],
    )
    steps = list(range(shape["total"] + 1)) + [shape["total"] + 1, 10 * shape["total"] + 7]
    got = [float(schedule(s)) for s in steps]
    expected = [one_cycle_reference(s, **shape) for s in steps]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)


def test_one_cycle_landmarks_by_hand():
    schedule = OneCycle(peak=0.1, total_steps=100, warmup_fraction=0.2, start_factor=0.04, end_factor=1e-4)
    at = {s: float(schedule(s)) for s in (0, 10, 20, 60, 99, 100, 101, 5000)}
    assert at[0] == pytest.approx(0.004)  # peak * start_factor
    assert at[10] == pytest.approx((0.004 + 0.1) / 2)  # half-way up
    assert at[20] == pytest.approx(0.1)  # the peak, at warmup_fraction * total_steps
    assert at[60] == pytest.approx((0.1 + 1e-5) / 2)  # half-way down the cosine
    assert 1e-5 < at[99] < 1e-4  # the last update's rate: just above the end
    assert at[100] == at[101] == at[5000] == pytest.approx(1e-5)  # the end, and it stays there
    rates = [float(schedule(s)) for s in range(101)]
    assert np.all(np.diff(rates[:21]) > 0) and np.all(np.diff(rates[20:]) < 0)


def test_one_cycle_equals_keras_cosine_decay_with_warmup():
    peak, total, warmup = 0.2, 80, 20
    ours = OneCycle(peak, total, warmup_fraction=warmup / total, start_factor=0.1, end_factor=0.05)
    keras_own = keras.optimizers.schedules.CosineDecay(
        peak * 0.1, total - warmup, alpha=0.05, warmup_target=peak, warmup_steps=warmup
    )
    steps = np.arange(0, 120)
    np.testing.assert_allclose(
        [float(ours(s)) for s in steps], [float(keras_own(s)) for s in steps], rtol=1e-5, atol=1e-8
    )


def test_one_cycle_runs_inside_tf_function_with_a_tensor_step():
    schedule = OneCycle(1.0, 10, warmup_fraction=0.5, start_factor=0.0, end_factor=0.0)
    compiled = tf.function(lambda step: schedule(step))
    got = [float(compiled(tf.constant(s, tf.int64))) for s in (0, 2, 5, 10)]
    np.testing.assert_allclose(got, [0.0, 0.4, 1.0, 0.0], atol=1e-6)


def test_optimizer_learning_rate_follows_the_schedule_in_a_compiled_train_step():
    """``optimizer.learning_rate`` after n updates is schedule(n); update n+1 uses exactly that rate."""
    schedule = OneCycle(0.5, 6, warmup_fraction=0.5, start_factor=0.2, end_factor=0.01)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    # loss = -w * x with x = 1: the gradient is -1, so plain SGD moves w up by exactly the rate
    optimizer = keras.optimizers.SGD(schedule)
    step = make_train_step(model, optimizer, lambda y, p: -keras.ops.mean(p), [])
    x, y = np.ones((1, 1), "float32"), np.zeros((1,), "int32")
    weights = [0.0]
    for n in range(8):
        assert float(optimizer.learning_rate) == pytest.approx(float(schedule(n)))
        step(x, y)
        weights.append(float(model.layers[0].kernel.numpy()[0, 0]))
    np.testing.assert_allclose(np.diff(weights), [float(schedule(n)) for n in range(8)], rtol=1e-5)
    assert int(optimizer.iterations) == 8


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(peak=0.1, total_steps=0), "Received: total_steps=0"),
        (dict(peak=0.1, total_steps=2.5), "Received: total_steps=2.5"),
        (dict(peak=0.0, total_steps=10), "Received: peak=0.0"),
        (dict(peak=0.1, total_steps=10, warmup_fraction=1.0), "Received: warmup_fraction=1.0"),
        (dict(peak=0.1, total_steps=10, warmup_fraction=-0.1), "Received: warmup_fraction=-0.1"),
        (dict(peak=0.1, total_steps=10, start_factor=1.5), "Received: start_factor=1.5"),
        (dict(peak=0.1, total_steps=10, end_factor=-1e-4), "Received: end_factor=-0.0001"),
    ],
)
def test_one_cycle_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OneCycle(**kwargs)


def test_one_cycle_config_round_trip():
    schedule = OneCycle(0.3, 50, warmup_fraction=0.1, start_factor=0.5, end_factor=0.02, name="cycle")
    again = OneCycle.from_config(schedule.get_config())
    assert again.get_config() == schedule.get_config()
    revived = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(revived, OneCycle) and revived.get_config() == schedule.get_config()


# ---------- recipe optimizer, loss and .keras round trip ----------


def test_recipe_optimizer_settings_and_bad_arguments():
    opt = recipe_optimizer(0.01, 200, weight_decay=0.05, ema_momentum=0.9, warmup_fraction=0.1, beta_1=0.8)
    assert isinstance(opt, keras.optimizers.AdamW)
    config = opt.get_config()
    assert (config["use_ema"], config["ema_momentum"], config["weight_decay"], config["beta_1"]) == (
        True,
        0.9,
        0.05,
        0.8,
    )
    assert config["learning_rate"]["config"] == OneCycle(0.01, 200, warmup_fraction=0.1).get_config()
    assert recipe_optimizer(0.01, 200, ema=False).use_ema is False
    with pytest.raises(ValueError, match="Received: ema_momentum=1.0"):
        recipe_optimizer(0.01, 200, ema_momentum=1.0)
    with pytest.raises(ValueError, match="Received: weight_decay=-0.1"):
        recipe_optimizer(0.01, 200, weight_decay=-0.1)
    with pytest.raises(ValueError, match="Received: total_steps=0"):
        recipe_optimizer(0.01, 0)


def test_fit_leaves_the_ema_of_the_weights_in_the_model():
    """The weights after ``fit`` are Keras's EMA of the weights after each step, recomputed in NumPy."""
    momentum = 0.6
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 4)).astype("float32")
    y = rng.integers(0, 3, size=10)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(recipe_optimizer(0.2, 5, ema_momentum=momentum), SmoothedSparseCrossentropy(0.1))

    after_each_step = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            after_each_step.append([w.numpy().copy() for w in self.model.trainable_weights])

    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=[Record()])
    assert len(after_each_step) == 5

    def ema(m):
        average = [w.copy() for w in after_each_step[0]]  # the first update copies the weights
        for weights in after_each_step[1:]:
            average = [m * a + (1 - m) * w for a, w in zip(average, weights)]
        return average

    final = [w.numpy() for w in model.trainable_weights]
    for got, expected in zip(final, ema(momentum)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # the check can tell: the raw last weights, or another momentum, are measurably different
    for other in (after_each_step[-1], ema(0.5), ema(0.7)):
        assert max(np.abs(g - o).max() for g, o in zip(final, other)) > 1e-3


def test_model_with_recipe_optimizer_and_loss_survives_a_keras_file(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(recipe_optimizer(0.05, 40, ema_momentum=0.9), SmoothedSparseCrossentropy(0.2))
    x = np.random.default_rng(2).normal(size=(6, 4)).astype("float32")
    model.fit(x, np.array([0, 1, 2, 0, 1, 2]), batch_size=2, epochs=1, verbose=0)
    model.save(tmp_path / "recipe.keras")
    loaded = keras.saving.load_model(tmp_path / "recipe.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(loaded.optimizer.iterations) == 3
    assert float(loaded.optimizer.learning_rate) == pytest.approx(float(OneCycle(0.05, 40)(3)))
    assert isinstance(loaded.loss, SmoothedSparseCrossentropy)
    assert loaded.loss.get_config() == model.loss.get_config()


# ---------- label smoothing ----------


def smoothed_ce_reference(labels, logits, eps):
    """Cross-entropy of ``(1 - eps) * one_hot + eps / K`` against log-softmax, in NumPy."""
    logits = np.asarray(logits, np.float64)
    k = logits.shape[-1]
    targets = (1 - eps) * np.eye(k)[labels] + eps / k
    log_softmax = logits - logits.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    return -(targets * log_softmax).sum(-1)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35])
def test_smoothed_crossentropy_matches_numpy(eps):
    rng = np.random.default_rng(3)
    logits = (3 * rng.normal(size=(7, 5))).astype("float32")
    labels = rng.integers(0, 5, size=7)
    expected = smoothed_ce_reference(labels, logits, eps)
    np.testing.assert_allclose(smoothed_sparse_crossentropy(labels, logits, eps), expected, rtol=1e-5)
    np.testing.assert_allclose(  # labels as (B, 1), as Keras datasets often give them
        smoothed_sparse_crossentropy(labels[:, None], logits, eps), expected, rtol=1e-5
    )
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(
        smoothed_sparse_crossentropy(labels, probs, eps, from_logits=False), expected, rtol=1e-4
    )
    loss = SmoothedSparseCrossentropy(eps)
    assert float(loss(labels, logits)) == pytest.approx(expected.mean(), rel=1e-5)
    weights = rng.uniform(size=7)
    assert float(loss(labels, logits, sample_weight=weights)) == pytest.approx(
        (weights * expected).mean(), rel=1e-5
    )


def test_no_smoothing_is_keras_sparse_crossentropy():
    logits = np.random.default_rng(4).normal(size=(6, 4)).astype("float32")
    labels = np.array([0, 3, 1, 2, 2, 0])
    keras_own = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert float(SmoothedSparseCrossentropy(0.0)(labels, logits)) == pytest.approx(
        float(keras_own(labels, logits)), rel=1e-6
    )


def test_smoothed_crossentropy_config_and_bad_arguments():
    loss = SmoothedSparseCrossentropy(0.2, from_logits=False, reduction="sum", name="ls")
    again = SmoothedSparseCrossentropy.from_config(loss.get_config())
    assert again.get_config() == loss.get_config()
    revived = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(revived, SmoothedSparseCrossentropy) and revived.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="Received: label_smoothing=1.0"):
        SmoothedSparseCrossentropy(1.0)


# ---------- batch norm momentum ----------


def _bn_model():
    inner = keras.Sequential([keras.layers.BatchNormalization(name="inner_bn")], name="inner")
    return keras.Sequential(
        [
            keras.Input((4, 4, 2)),
            keras.layers.BatchNormalization(name="bn_in"),
            ConvBlock(3, repeats=2, name="block"),  # two norms inside
            inner,  # one norm in a nested model
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )


def _norms(model):
    block = model.get_layer("block").stages
    return {
        "bn_in": model.get_layer("bn_in"),
        **{f"block/{s.name}": s for s in block if isinstance(s, keras.layers.BatchNormalization)},
        "inner_bn": model.get_layer("inner").get_layer("inner_bn"),
    }


def test_set_batch_norm_momentum_counts_and_sets_every_norm():
    model = _bn_model()
    assert set_batch_norm_momentum(model, 0.8) == 4
    assert {name: bn.momentum for name, bn in _norms(model).items()} == dict.fromkeys(
        ["bn_in", "block/bn1", "block/bn2", "inner_bn"], 0.8
    )
    assert model.get_layer("block").get_config()["batch_norm_momentum"] == 0.8  # config says what runs
    assert set_batch_norm_momentum(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), 0.5) == 0
    assert set_batch_norm_momentum(keras.layers.BatchNormalization(), 0.5) == 1
    with pytest.raises(ValueError, match="Received: momentum=1.0"):
        set_batch_norm_momentum(model, 1.0)


def test_new_momentum_drives_the_moving_mean_even_after_fit_has_traced():
    """Moving mean after a step = m * old + (1 - m) * batch mean, for the new m, before and after a fit."""
    rng = np.random.default_rng(5)
    x = rng.normal(2.0, 1.5, size=(8, 4, 4, 2)).astype("float32")
    y = rng.integers(0, 2, size=8)
    model = _bn_model()
    model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    bn_in, conv1, bn1 = model.get_layer("bn_in"), *model.get_layer("block").stages[:2]

    # the batch statistics in NumPy (gamma 1, beta 0: the learning rate is 0): bn_in normalises x,
    # bn1 sees conv1 of that (a convolution has no state, so calling it here changes nothing)
    mean_in, var_in = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    normalised = (x - mean_in) / np.sqrt(var_in + bn_in.epsilon)
    mean_1 = keras.ops.convert_to_numpy(conv1(normalised)).mean(axis=(0, 1, 2))

    def one_step_and_check(m):
        old_in, old_1 = bn_in.moving_mean.numpy(), bn1.moving_mean.numpy()
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # one step
        np.testing.assert_allclose(bn_in.moving_mean, m * old_in + (1 - m) * mean_in, rtol=1e-5)
        np.testing.assert_allclose(bn1.moving_mean, m * old_1 + (1 - m) * mean_1, rtol=1e-4, atol=1e-5)

    set_batch_norm_momentum(model, 0.5)  # built, compiled, not yet traced
    one_step_and_check(0.5)
    set_batch_norm_momentum(model, 0.2)  # fit has traced its step with 0.5 baked in
    one_step_and_check(0.2)
