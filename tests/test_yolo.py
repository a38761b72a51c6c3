"""YOLO v1 targets, output layer and loss: hand-built cases first, then round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import yolo

SPEC = yolo.YoloSpec(grid_size=4, boxes_per_cell=2, num_classes=3)


def random_scene(rng, count):
    """``count`` normalised xyxy boxes whose centres fall in different cells of SPEC."""
    cells = rng.choice(SPEC.grid_size**2, size=count, replace=False)
    centre = (
        np.stack([cells % SPEC.grid_size, cells // SPEC.grid_size], 1) + rng.uniform(0, 1, (count, 2))
    ) / 4
    size = rng.uniform(0.05, 0.4, (count, 2))
    return np.concatenate([centre - size / 2, centre + size / 2], 1).astype("float32"), rng.integers(
        0, 3, count
    )


def perfect_prediction(target):
    """A prediction that puts every true box in the first predictor, confidence 1 there, 0 elsewhere."""
    target = np.asarray(target)
    pred = np.zeros(target.shape[:-1] + (SPEC.prediction_shape[-1],), "float32")
    pred[..., 0:4] = target[..., 0:4]
    pred[..., 4] = target[..., 4]
    pred[..., 10:] = target[..., 5:]
    return pred


# ---------- spec ----------


@pytest.mark.parametrize("field", ["grid_size", "boxes_per_cell", "num_classes"])
def test_spec_rejects_non_positive_sizes(field):
    with pytest.raises(ValueError, match=f"Received: {field}=0"):
        yolo.YoloSpec(**{field: 0})


def test_spec_shapes_match_the_paper():
    spec = yolo.YoloSpec(7, 2, 20)
    assert spec.prediction_shape == (7, 7, 30) and spec.target_shape == (7, 7, 25)


# ---------- encoder and decoder ----------


def test_encoder_by_hand():
    # Box x 0.6..0.8, y 0.1..0.3: centre (0.7, 0.2) -> column 2, row 0 of a 4x4 grid; in the cell (0.8, 0.8).
    target = np.asarray(yolo.encode_targets([[0.6, 0.1, 0.8, 0.3]], [1], SPEC, "rel_xyxy"))
    assert target.shape == (4, 4, 8)
    assert np.argwhere(target[..., 4]).tolist() == [[0, 2]]
    np.testing.assert_allclose(target[0, 2], [0.8, 0.8, 0.2, 0.2, 1, 0, 1, 0], atol=1e-6)
    assert target.sum() == pytest.approx(target[0, 2].sum())  # nothing anywhere else


def test_encoder_takes_tfds_boxes_and_empty_scenes():
    yxyx = yolo.encode_targets([[0.1, 0.6, 0.3, 0.8]], [1], SPEC)  # TFDS's rel_yxyx, the same box
    xyxy = yolo.encode_targets([[0.6, 0.1, 0.8, 0.3]], [1], SPEC, "rel_xyxy")
    np.testing.assert_allclose(yxyx, xyxy, atol=1e-6)
    empty = yolo.encode_targets(np.zeros((0, 4)), np.zeros((0,), int), SPEC)
    assert np.asarray(empty).shape == (4, 4, 8) and not np.asarray(empty).any()


def test_encoder_keeps_the_first_object_of_a_shared_cell():
    boxes = [[0.05, 0.05, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2], [0.6, 0.6, 0.9, 0.9]]  # first two in cell (0, 0)
    decoded = yolo.decode_targets(yolo.encode_targets(boxes, [0, 1, 2], SPEC, "rel_xyxy"), SPEC, "rel_xyxy")
    np.testing.assert_allclose(decoded["boxes"], np.array(boxes)[[0, 2]], atol=1e-6)
    assert decoded["classes"].tolist() == [0, 2]
    assert yolo.count_cell_collisions(boxes, SPEC, "rel_xyxy") == 1


def test_encoder_rejects_pixel_boxes():
    with pytest.raises(ValueError, match="Received: box_format='xyxy'"):
        yolo.encode_targets([[1, 2, 3, 4]], [0], SPEC, "xyxy")


def test_decoder_inverts_the_encoder_on_random_scenes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        boxes, labels = random_scene(rng, rng.integers(1, 6))
        decoded = yolo.decode_targets(yolo.encode_targets(boxes, labels, SPEC, "rel_xyxy"), SPEC, "rel_xyxy")
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        order = np.lexsort((np.floor(centre[:, 0] * 4), np.floor(centre[:, 1] * 4)))  # row-major cells
        np.testing.assert_allclose(decoded["boxes"], boxes[order], atol=1e-6)
        np.testing.assert_array_equal(decoded["classes"], labels[order])


def test_encoder_runs_inside_dataset_map():
    ds = tf.data.Dataset.from_tensors(
        {"bbox": tf.constant([[0.1, 0.6, 0.3, 0.8]]), "label": tf.constant([1], tf.int64)}
    ).map(lambda ex: yolo.encode_targets(ex["bbox"], ex["label"], SPEC))
    assert next(iter(ds)).shape == (4, 4, 8)


def test_decoder_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"Received: targets.shape=\(4, 4, 9\)"):
        yolo.decode_targets(np.zeros((4, 4, 9)), SPEC)


# ---------- output layer ----------


def test_output_layer_ranges_and_serialization(tmp_path):
    layer = yolo.YoloOutput(4, 2, 3)
    out = np.asarray(layer(np.random.default_rng(0).normal(0, 3, (5, 4, 4, 13)).astype("float32")))
    assert out.shape == (5, 4, 4, 13)
    assert ((out[..., :10] >= 0) & (out[..., :10] <= 1)).all()
    np.testing.assert_allclose(out[..., 10:].sum(-1), 1.0, atol=1e-5)
    assert yolo.YoloOutput.from_config(layer.get_config()).get_config() == layer.get_config()
    inputs = keras.Input((4 * 4 * 13,))
    model = keras.Model(inputs, yolo.YoloOutput(4, 2, 3)(inputs))
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(1).normal(size=(2, 208)).astype("float32")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(x), model(x), atol=1e-6)


def test_output_layer_rejects_the_wrong_size():
    with pytest.raises(ValueError, match=r"Received: input_shape=\(None, 100\)"):
        yolo.YoloOutput(4, 2, 3)(keras.Input((100,)))


# ---------- loss ----------


def test_perfect_prediction_gives_zero_loss():
    rng = np.random.default_rng(1)
    target = np.stack([yolo.encode_targets(*random_scene(rng, 3), SPEC, "rel_xyxy") for _ in range(4)])
    loss = yolo.YoloV1Loss(4, 2, 3)
    assert float(loss(target, perfect_prediction(target))) == pytest.approx(0.0, abs=1e-6)
    # The same with the second predictor holding the box: the responsible one is chosen by IoU.
    swapped = perfect_prediction(target)
    swapped[..., 5:10], swapped[..., 0:5] = swapped[..., 0:5].copy(), 0.0
    assert float(loss(target, swapped)) == pytest.approx(0.0, abs=1e-6)


def one_object():
    # x 0.05..0.35, y 0.1..0.3: centre (0.2, 0.2), cell (0, 0) of the 4x4 grid, at (0.8, 0.8) in the cell.
    target = np.asarray(yolo.encode_targets([[0.05, 0.1, 0.35, 0.3]], [1], SPEC, "rel_xyxy"))[None]
    assert target[0, 0, 0, 4] == 1
    return target, perfect_prediction(target)


def test_each_term_responds_to_its_own_error_by_hand():
    target, perfect = one_object()
    # Confidence target 1, so that moving a box changes only its box term (with "iou" the object
    # term follows the IoU too; see the next test).
    loss = yolo.YoloV1Loss(4, 2, 3, lambda_coord=5.0, lambda_noobj=0.5, confidence_target="one")

    def terms(pred):
        return {k: float(v[0]) for k, v in loss.terms(target, pred).items()}

    cases = {}
    shifted = perfect.copy()
    shifted[0, 0, 0, 0] += 0.1  # x off by 0.1 (IoU stays high, same predictor responsible)
    cases["coord_xy"] = (shifted, 5 * 0.1**2)
    wider = perfect.copy()
    wider[0, 0, 0, 3] = 0.2 * 1.21  # sqrt(h) off by 10%: (sqrt(0.242) - sqrt(0.2))^2
    cases["coord_wh"] = (wider, 5 * (np.sqrt(0.242) - np.sqrt(0.2)) ** 2)
    unsure = perfect.copy()
    unsure[0, 0, 0, 4] = 0.6  # responsible confidence 0.6, target IoU 1
    cases["object"] = (unsure, 0.4**2)
    ghost = perfect.copy()
    ghost[0, 3, 3, 4] = 0.5  # a confident box in an empty cell
    cases["no_object"] = (ghost, 0.5 * 0.5**2)
    confused = perfect.copy()
    confused[0, 0, 0, 10:] = [0.2, 0.7, 0.1]
    cases["class"] = (confused, 0.2**2 + 0.3**2 + 0.1**2)
    for term, (pred, expected) in cases.items():
        got = terms(pred)
        assert got[term] == pytest.approx(expected, rel=1e-4), term
        others = {k: v for k, v in got.items() if k != term}
        assert all(abs(v) < 1e-6 for v in others.values()), (term, got)


def test_object_confidence_target_is_the_iou():
    target, perfect = one_object()
    shifted = perfect.copy()
    shifted[0, 0, 0, 0] += 0.1  # moves the box by 0.1 cells = 0.025 of the image
    # True box x 0.05..0.35 (w 0.3), predicted x 0.075..0.375: overlap 0.275 in x, full in y.
    iou = 0.275 / (0.3 + 0.3 - 0.275)
    terms = yolo.YoloV1Loss(4, 2, 3).terms(target, shifted)
    assert float(terms["object"][0]) == pytest.approx((iou - 1.0) ** 2, rel=1e-4)
    terms_one = yolo.YoloV1Loss(4, 2, 3, confidence_target="one").terms(target, shifted)
    assert float(terms_one["object"][0]) == pytest.approx(0.0, abs=1e-6)


def test_the_loss_is_the_sum_of_its_terms_averaged_over_the_batch():
    rng = np.random.default_rng(2)
    target = np.stack([yolo.encode_targets(*random_scene(rng, 2), SPEC, "rel_xyxy") for _ in range(3)])
    pred = np.asarray(yolo.YoloOutput(4, 2, 3)(rng.normal(size=(3, 4, 4, 13)).astype("float32")))
    loss = yolo.YoloV1Loss(4, 2, 3)
    terms = loss.terms(target, pred)
    assert set(terms) == set(yolo.LOSS_TERMS)
    assert float(loss(target, pred)) == pytest.approx(
        float(np.mean(sum(np.asarray(v) for v in terms.values()))), rel=1e-5
    )


def test_loss_config_round_trip_and_bad_arguments():
    loss = yolo.YoloV1Loss(4, 2, 3, lambda_coord=3.0, confidence_target="one")
    assert yolo.YoloV1Loss.from_config(loss.get_config()).get_config() == loss.get_config()
    with pytest.raises(ValueError, match="Received: lambda_coord=0"):
        yolo.YoloV1Loss(4, lambda_coord=0)
    with pytest.raises(ValueError, match="Received: confidence_target='half'"):
        yolo.YoloV1Loss(4, confidence_target="half")
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(1, 4, 4, 12\)"):
        loss(np.zeros((1, 4, 4, 8)), np.zeros((1, 4, 4, 12)))


def test_overfitting_one_small_batch_cuts_the_loss_by_a_large_factor():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    scenes = [random_scene(rng, rng.integers(1, 4)) for _ in range(8)]
    target = np.stack([yolo.encode_targets(b, lab, SPEC, "rel_xyxy") for b, lab in scenes])
    images = rng.normal(size=(8, 16, 16, 1)).astype("float32")
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(64, activation="relu")(x)
    model = keras.Model(inputs, yolo.YoloOutput(4, 2, 3)(keras.layers.Dense(4 * 4 * 13)(x)))
    model.compile(keras.optimizers.Adam(3e-3), yolo.YoloV1Loss(4, 2, 3))
    batch = tf.data.Dataset.from_tensors((images, target)).repeat()
    first = float(model.evaluate(images, target, verbose=0))
    model.fit(batch, steps_per_epoch=150, epochs=1, shuffle=False, verbose=0)
    assert float(model.evaluate(images, target, verbose=0)) < first / 10


# ---------- decoding predictions ----------


def test_decode_predictions_inverts_perfect_predictions():
    boxes, labels = random_scene(np.random.default_rng(4), 4)
    pred = perfect_prediction(yolo.encode_targets(boxes, labels, SPEC, "rel_xyxy"))[None]
    found = yolo.detect(pred, SPEC, score_threshold=0.5)[0]
    order = np.argsort(boxes[:, 0])
    np.testing.assert_allclose(found["boxes"][np.argsort(found["boxes"][:, 0])], boxes[order], atol=1e-6)
    assert sorted(found["classes"].tolist()) == sorted(labels.tolist())
    np.testing.assert_allclose(found["scores"], 1.0)


def test_decode_predictions_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"Received: predictions.shape=\(4, 4, 13\)"):
        yolo.decode_predictions(np.zeros((4, 4, 13)), SPEC)
