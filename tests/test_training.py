import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import seed_everything
from tfcourse.models import fashion_cnn
from tfcourse.training import evaluate_by_hand, make_train_step, train_by_hand

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _blobs(n=256, seed=0):
    """Two separable classes of 8x8 images: bright top half vs bright bottom half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 8, 8, 1)).astype("float32")
    x[y == 0, :4] += 1.0
    x[y == 1, 4:] += 1.0
    return x, y


def _small_model():
    return fashion_cnn(num_classes=2, filters=(4,), hidden_units=8, input_shape=(8, 8, 1))


def test_train_step_matches_a_manual_sgd_update():
    """One step of the compiled step equals w - lr * dL/dw computed separately."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = tf.constant([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    y = tf.constant([0, 1])
    before = [w.numpy() for w in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = LOSS(y, model(x))
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    accuracy = keras.metrics.SparseCategoricalAccuracy()
    step = make_train_step(model, keras.optimizers.SGD(0.1), LOSS, [accuracy])
    returned = step(x, y)
    np.testing.assert_allclose(float(returned), float(loss), rtol=1e-6)
    for w, b, g in zip(model.trainable_variables, before, grads, strict=True):
        np.testing.assert_allclose(w.numpy(), b - 0.1 * g, rtol=1e-6, atol=1e-7)
    assert accuracy.count.numpy() == 2


def test_train_by_hand_learns_and_reports_history(capsys):
    seed_everything(0)
    x, y = _blobs()
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(256, seed=0).batch(32)
    val = tf.data.Dataset.from_tensor_slices(_blobs(128, seed=1)).batch(64)
    model = _small_model()
    before = evaluate_by_hand(model, val, LOSS)
    history = train_by_hand(model, keras.optimizers.Adam(1e-2), LOSS, train, epochs=3, val_ds=val, verbose=1)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.95 and history["val_loss"][-1] < before["loss"]
    out = capsys.readouterr().out
    assert "Epoch 3/3" in out and "val_accuracy" in out


def test_hand_loop_and_fit_reach_comparable_accuracy():
    x, y = _blobs(512)
    val = _blobs(256, seed=2)
    results = []
    for by_hand in (True, False):
        seed_everything(1)
        model = _small_model()
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(512, seed=0).batch(32)
        if by_hand:
            train_by_hand(model, keras.optimizers.Adam(5e-3), LOSS, ds, epochs=2, verbose=0)
        else:
            model.compile(keras.optimizers.Adam(5e-3), LOSS)
            model.fit(ds, epochs=2, verbose=0)
        results.append(
            evaluate_by_hand(model, tf.data.Dataset.from_tensor_slices(val).batch(64), LOSS)["accuracy"]
        )
    assert min(results) > 0.9 and abs(results[0] - results[1]) < 0.05


def test_train_by_hand_rejects_zero_epochs():
    with pytest.raises(ValueError, match="Received: epochs=0"):
        train_by_hand(_small_model(), keras.optimizers.SGD(), LOSS, tf.data.Dataset.range(1), epochs=0)
