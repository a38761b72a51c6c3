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
    target = np.asarray(yolo.encode_targets([[0.6, 0.1, 0.8, 0.3]], [1], SPEC, box_format="rel_xyxy"))
    assert target.shape == (4, 4, 8)
    assert np.argwhere(target[..., 4]).tolist() == [[0, 2]]
    np.testing.assert_allclose(target[0, 2], [0.8, 0.8, 0.2, 0.2, 1, 0, 1, 0], atol=1e-6)
    assert target.sum() == pytest.approx(target[0, 2].sum())  # nothing anywhere else


def test_encoder_takes_tfds_boxes_and_empty_scenes():
    yxyx = yolo.encode_targets(
        [[0.1, 0.6, 0.3, 0.8]], [1], SPEC, box_format="rel_yxyx"
    )  # TFDS's order, the same box
    xyxy = yolo.encode_targets([[0.6, 0.1, 0.8, 0.3]], [1], SPEC, box_format="rel_xyxy")
    np.testing.assert_allclose(yxyx, xyxy, atol=1e-6)
    empty = yolo.encode_targets(np.zeros((0, 4)), np.zeros((0,), int), SPEC, box_format="rel_yxyx")
    assert np.asarray(empty).shape == (4, 4, 8) and not np.asarray(empty).any()


def test_encoder_keeps_the_first_object_of_a_shared_cell():
    boxes = [[0.05, 0.05, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2], [0.6, 0.6, 0.9, 0.9]]  # first two in cell (0, 0)
    decoded = yolo.decode_targets(
        yolo.encode_targets(boxes, [0, 1, 2], SPEC, box_format="rel_xyxy"), SPEC, box_format="rel_xyxy"
    )
    np.testing.assert_allclose(decoded["boxes"], np.array(boxes)[[0, 2]], atol=1e-6)
    assert decoded["classes"].tolist() == [0, 2]
    assert yolo.count_cell_collisions(boxes, SPEC, box_format="rel_xyxy") == 1


def test_encoder_rejects_pixel_boxes():
    with pytest.raises(ValueError, match="Received: box_format='xyxy'"):
        yolo.encode_targets([[1, 2, 3, 4]], [0], SPEC, box_format="xyxy")


def test_decoder_inverts_the_encoder_on_random_scenes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        boxes, labels = random_scene(rng, rng.integers(1, 6))
        decoded = yolo.decode_targets(
            yolo.encode_targets(boxes, labels, SPEC, box_format="rel_xyxy"), SPEC, box_format="rel_xyxy"
        )
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        order = np.lexsort((np.floor(centre[:, 0] * 4), np.floor(centre[:, 1] * 4)))  # row-major cells
        np.testing.assert_allclose(decoded["boxes"], boxes[order], atol=1e-6)
        np.testing.assert_array_equal(decoded["classes"], labels[order])


def test_encoder_runs_inside_dataset_map():
    ds = tf.data.Dataset.from_tensors(
        {"bbox": tf.constant([[0.1, 0.6, 0.3, 0.8]]), "label": tf.constant([1], tf.int64)}
    ).map(lambda ex: yolo.encode_targets(ex["bbox"], ex["label"], SPEC, box_format="rel_yxyx"))
    assert next(iter(ds)).shape == (4, 4, 8)


def test_decoder_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"Received: targets.shape=\(4, 4, 9\)"):
        yolo.decode_targets(np.zeros((4, 4, 9)), SPEC, box_format="rel_yxyx")


# ---------- box_format: required, keyword only ----------

YOLO_FUNCTIONS = {
    "encode_targets": (yolo.encode_targets, ([[0.1, 0.2, 0.5, 0.6]], [1], SPEC)),
    "count_cell_collisions": (yolo.count_cell_collisions, ([[0.1, 0.2, 0.5, 0.6]], SPEC)),
    "cell_boxes_to_image": (yolo.cell_boxes_to_image, (np.full((4, 4, 2, 4), 0.5, "float32"), SPEC)),
    "decode_targets": (yolo.decode_targets, (np.zeros(SPEC.target_shape, "float32"), SPEC)),
    "decode_predictions": (yolo.decode_predictions, (np.zeros((1, *SPEC.prediction_shape), "float32"), SPEC)),
    "detect": (yolo.detect, (np.zeros((1, *SPEC.prediction_shape), "float32"), SPEC)),
}


@pytest.mark.parametrize("name", list(YOLO_FUNCTIONS))
def test_box_format_is_a_required_keyword(name, box_format_required):
    fn, args = YOLO_FUNCTIONS[name]
    box_format_required(fn, args, box_format="rel_xyxy")


def test_the_encoder_reads_boxes_in_the_format_it_is_told():
    # One box written as TFDS's (y1, x1, y2, x2): read as x1, y1, x2, y2 instead, its centre moves
    # from x 0.7, y 0.2 (cell row 0, column 2) to x 0.2, y 0.7 (row 2, column 0).
    box = [[0.1, 0.6, 0.3, 0.8]]
    as_yxyx = np.asarray(yolo.encode_targets(box, [1], SPEC, box_format="rel_yxyx"))
    as_xyxy = np.asarray(yolo.encode_targets(box, [1], SPEC, box_format="rel_xyxy"))
    assert np.argwhere(as_yxyx[..., 4]).tolist() == [[0, 2]]
    assert np.argwhere(as_xyxy[..., 4]).tolist() == [[2, 0]]


# ---------- output layer ----------


def test_output_layer_ranges_and_serialization(tmp_path):
    layer = yolo.YoloOutput(SPEC)
    out = np.asarray(layer(np.random.default_rng(0).normal(0, 3, (5, 4, 4, 13)).astype("float32")))
    assert out.shape == (5, 4, 4, 13)
    assert ((out[..., :10] >= 0) & (out[..., :10] <= 1)).all()
    np.testing.assert_allclose(out[..., 10:].sum(-1), 1.0, atol=1e-5)
    assert yolo.YoloOutput.from_config(layer.get_config()).get_config() == layer.get_config()
    inputs = keras.Input((4 * 4 * 13,))
    model = keras.Model(inputs, yolo.YoloOutput(SPEC)(inputs))
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(1).normal(size=(2, 208)).astype("float32")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(x), model(x), atol=1e-6)


def test_output_layer_rejects_the_wrong_size():
    with pytest.raises(ValueError, match=r"Received: input_shape=\(None, 100\)"):
        yolo.YoloOutput(SPEC)(keras.Input((100,)))


# ---------- loss ----------


def test_perfect_prediction_gives_zero_loss():
    rng = np.random.default_rng(1)
    target = np.stack(
        [yolo.encode_targets(*random_scene(rng, 3), SPEC, box_format="rel_xyxy") for _ in range(4)]
    )
    loss = yolo.YoloV1Loss(SPEC)
    assert float(loss(target, perfect_prediction(target))) == pytest.approx(0.0, abs=1e-6)
    # The same with the second predictor holding the box: the responsible one is chosen by IoU.
    swapped = perfect_prediction(target)
    swapped[..., 5:10], swapped[..., 0:5] = swapped[..., 0:5].copy(), 0.0
    assert float(loss(target, swapped)) == pytest.approx(0.0, abs=1e-6)


def one_object():
    # x 0.05..0.35, y 0.1..0.3: centre (0.2, 0.2), cell (0, 0) of the 4x4 grid, at (0.8, 0.8) in the cell.
    target = np.asarray(yolo.encode_targets([[0.05, 0.1, 0.35, 0.3]], [1], SPEC, box_format="rel_xyxy"))[None]
    assert target[0, 0, 0, 4] == 1
    return target, perfect_prediction(target)


def test_each_term_responds_to_its_own_error_by_hand():
    target, perfect = one_object()
    # Confidence target 1, so that moving a box changes only its box term (with "iou" the object
    # term follows the IoU too; see the next test).
    loss = yolo.YoloV1Loss(SPEC, lambda_coord=5.0, lambda_noobj=0.5, confidence_target="one")

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
    terms = yolo.YoloV1Loss(SPEC).terms(target, shifted)
    assert float(terms["object"][0]) == pytest.approx((iou - 1.0) ** 2, rel=1e-4)
    terms_one = yolo.YoloV1Loss(SPEC, confidence_target="one").terms(target, shifted)
    assert float(terms_one["object"][0]) == pytest.approx(0.0, abs=1e-6)


def test_the_loss_is_the_sum_of_its_terms_averaged_over_the_batch():
    rng = np.random.default_rng(2)
    target = np.stack(
        [yolo.encode_targets(*random_scene(rng, 2), SPEC, box_format="rel_xyxy") for _ in range(3)]
    )
    pred = np.asarray(yolo.YoloOutput(SPEC)(rng.normal(size=(3, 4, 4, 13)).astype("float32")))
    loss = yolo.YoloV1Loss(SPEC)
    terms = loss.terms(target, pred)
    assert set(terms) == set(yolo.LOSS_TERMS)
    assert float(loss(target, pred)) == pytest.approx(
        float(np.mean(sum(np.asarray(v) for v in terms.values()))), rel=1e-5
    )


def test_loss_config_round_trip_and_bad_arguments():
    loss = yolo.YoloV1Loss(SPEC, lambda_coord=3.0, confidence_target="one")
    assert yolo.YoloV1Loss.from_config(loss.get_config()).get_config() == loss.get_config()
    with pytest.raises(ValueError, match="Received: lambda_coord=0"):
        yolo.YoloV1Loss(SPEC, lambda_coord=0)
    with pytest.raises(ValueError, match="Received: confidence_target='half'"):
        yolo.YoloV1Loss(SPEC, confidence_target="half")
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(1, 4, 4, 12\)"):
        loss(np.zeros((1, 4, 4, 8)), np.zeros((1, 4, 4, 12)))


# ---------- the spec as one argument, and the older three-size form ----------

# What YoloOutput(4, 2, 3) and YoloV1Loss(4, 2, 3, lambda_coord=3.0, confidence_target="one")
# wrote as their config before they took a YoloSpec: saved .keras files hold it.
OLD_OUTPUT_CONFIG = {
    "name": "yolo_output",
    "trainable": True,
    "dtype": {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    },
    "grid_size": 4,
    "boxes_per_cell": 2,
    "num_classes": 3,
}
OLD_LOSS_CONFIG = {
    "name": "yolo_v1_loss",
    "reduction": "sum_over_batch_size",
    "grid_size": 4,
    "boxes_per_cell": 2,
    "num_classes": 3,
    "lambda_coord": 3.0,
    "lambda_noobj": 0.5,
    "confidence_target": "one",
}


def test_layer_and_loss_take_a_spec_or_the_older_three_sizes():
    x = np.random.default_rng(6).normal(size=(2, 208)).astype("float32")
    forms = [
        yolo.YoloOutput(SPEC),
        yolo.YoloOutput(spec=SPEC),
        yolo.YoloOutput(4, 2, 3),  # as notebook 07 calls it
        yolo.YoloOutput(grid_size=4, boxes_per_cell=2, num_classes=3),
    ]
    for layer in forms:
        assert layer.spec == SPEC
        np.testing.assert_array_equal(layer(x), forms[0](x))
    assert yolo.YoloOutput(4).spec == yolo.YoloSpec(4, 2, 10)  # the old defaults
    target, perfect = one_object()
    for loss in [
        yolo.YoloV1Loss(SPEC),
        yolo.YoloV1Loss(4, 2, 3),
        yolo.YoloV1Loss(grid_size=4, num_classes=3),
    ]:
        assert loss.spec == SPEC
        assert float(loss(target, perfect)) == pytest.approx(0.0, abs=1e-6)
    assert (
        yolo.YoloV1Loss(4, 2, 3, 3.0, 0.25, "one").get_config()
        == yolo.YoloV1Loss(SPEC, lambda_coord=3.0, lambda_noobj=0.25, confidence_target="one").get_config()
    )


@pytest.mark.parametrize("cls", [yolo.YoloOutput, yolo.YoloV1Loss])
def test_layer_and_loss_reject_a_spec_and_sizes_together_or_none(cls):
    with pytest.raises(ValueError, match=r"not both\. Received: spec=YoloSpec\(.*boxes_per_cell=2"):
        cls(SPEC, 2)
    with pytest.raises(ValueError, match="not both"):
        cls(SPEC, grid_size=4)
    with pytest.raises(ValueError, match="Received: spec=4, grid_size=4"):
        cls(4, grid_size=4)
    with pytest.raises(ValueError, match="Received: spec=None"):
        cls()
    with pytest.raises(ValueError, match="Received: grid_size=0"):
        cls(0, 2, 3)
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        cls(grid_size=4, num_classes=0)


def test_configs_hold_the_spec_and_round_trip():
    layer, loss = yolo.YoloOutput(SPEC), yolo.YoloV1Loss(SPEC, lambda_coord=3.0, confidence_target="one")
    spec_dict = {"grid_size": 4, "boxes_per_cell": 2, "num_classes": 3}
    assert layer.get_config()["spec"] == spec_dict and loss.get_config()["spec"] == spec_dict
    assert "grid_size" not in layer.get_config() and "grid_size" not in loss.get_config()
    for obj in (layer, loss):
        again = type(obj).from_config(obj.get_config())
        assert again.spec == SPEC and again.get_config() == obj.get_config()
        revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
        assert type(revived) is type(obj) and revived.get_config() == obj.get_config()


def test_configs_written_before_the_spec_still_load():
    layer = yolo.YoloOutput.from_config(OLD_OUTPUT_CONFIG)
    assert layer.spec == SPEC and layer.get_config() == yolo.YoloOutput(SPEC, name="yolo_output").get_config()
    loss = yolo.YoloV1Loss.from_config(OLD_LOSS_CONFIG)
    assert loss.get_config() == yolo.YoloV1Loss(SPEC, lambda_coord=3.0, confidence_target="one").get_config()
    for cls, config in [(yolo.YoloOutput, OLD_OUTPUT_CONFIG), (yolo.YoloV1Loss, OLD_LOSS_CONFIG)]:
        serialized = {
            "module": "tfcourse.yolo",
            "class_name": cls.__name__,
            "config": config,
            "registered_name": f"tfcourse>{cls.__name__}",
        }
        assert keras.saving.deserialize_keras_object(serialized).spec == SPEC


def test_a_keras_file_saved_with_the_older_configs_still_loads(tmp_path):
    import json
    import zipfile

    inputs = keras.Input((208,))
    model = keras.Model(inputs, yolo.YoloOutput(SPEC)(keras.layers.Dense(208)(inputs)))
    model.compile("adam", yolo.YoloV1Loss(SPEC, lambda_coord=3.0, confidence_target="one"))
    new_file, old_file = tmp_path / "new.keras", tmp_path / "old.keras"
    model.save(new_file)
    # Rewrite the file's config as the code before the spec wrote it: three sizes, no `spec`.
    with zipfile.ZipFile(new_file) as source:
        members = {name: source.read(name) for name in source.namelist()}
    config = json.loads(members["config.json"])
    output = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "YoloOutput")
    for inner in (output["config"], config["compile_config"]["loss"]["config"]):
        inner.update(inner.pop("spec"))
    assert output["config"]["grid_size"] == 4 and "spec" not in json.dumps(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(old_file, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)

    loaded = keras.saving.load_model(old_file)
    x = np.random.default_rng(7).normal(size=(2, 208)).astype("float32")
    np.testing.assert_array_equal(loaded(x), model(x))
    assert loaded.layers[-1].spec == SPEC
    assert loaded.loss.get_config() == model.loss.get_config()


def test_overfitting_one_small_batch_cuts_the_loss_by_a_large_factor():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    scenes = [random_scene(rng, rng.integers(1, 4)) for _ in range(8)]
    target = np.stack([yolo.encode_targets(b, lab, SPEC, box_format="rel_xyxy") for b, lab in scenes])
    images = rng.normal(size=(8, 16, 16, 1)).astype("float32")
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(64, activation="relu")(x)
    model = keras.Model(inputs, yolo.YoloOutput(SPEC)(keras.layers.Dense(4 * 4 * 13)(x)))
    model.compile(keras.optimizers.Adam(3e-3), yolo.YoloV1Loss(SPEC))
    batch = tf.data.Dataset.from_tensors((images, target)).repeat()
    first = float(model.evaluate(images, target, verbose=0))
    model.fit(batch, steps_per_epoch=150, epochs=1, shuffle=False, verbose=0)
    assert float(model.evaluate(images, target, verbose=0)) < first / 10


# ---------- decoding predictions ----------


def test_decode_predictions_inverts_perfect_predictions():
    boxes, labels = random_scene(np.random.default_rng(4), 4)
    pred = perfect_prediction(yolo.encode_targets(boxes, labels, SPEC, box_format="rel_xyxy"))[None]
    found = yolo.detect(pred, SPEC, score_threshold=0.5, box_format="rel_xyxy")[0]
    order = np.argsort(boxes[:, 0])
    np.testing.assert_allclose(found["boxes"][np.argsort(found["boxes"][:, 0])], boxes[order], atol=1e-6)
    assert sorted(found["classes"].tolist()) == sorted(labels.tolist())
    np.testing.assert_allclose(found["scores"], 1.0)


def test_decode_predictions_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"Received: predictions.shape=\(4, 4, 13\)"):
        yolo.decode_predictions(np.zeros((4, 4, 13)), SPEC, box_format="rel_xyxy")


def detect_decoding_twice(
    predictions, spec, score_threshold=0.2, iou_threshold=0.5, max_detections=100, box_format="rel_xyxy"
):
    """``yolo.detect`` as it was written first: decoded in ``box_format`` and again in corners for NMS."""
    from tfcourse import detection

    decoded = yolo.decode_predictions(predictions, spec, box_format=box_format)
    corners = yolo.decode_predictions(predictions, spec, box_format="rel_xyxy")["boxes"]
    results = []
    for boxes, xyxy, scores, classes in zip(decoded["boxes"], corners, decoded["scores"], decoded["classes"]):
        keep = detection.batched_non_max_suppression(
            xyxy, scores, classes, iou_threshold, score_threshold, max_detections, box_format="rel_xyxy"
        )
        results.append({"boxes": boxes[keep], "scores": scores[keep], "classes": classes[keep]})
    return results


@pytest.mark.parametrize("box_format", ["rel_xyxy", "rel_yxyx", "rel_xywh", "rel_cxcywh"])
def test_detect_decodes_once_and_finds_exactly_what_decoding_twice_found(box_format):
    rng = np.random.default_rng(8)
    for spec, batch in [(SPEC, 6), (yolo.YoloSpec(7, 2, 10), 3), (yolo.YoloSpec(3, 3, 1), 4)]:
        raw = rng.normal(0, 2, (batch, *spec.prediction_shape)).astype("float32")
        pred = np.array(yolo.YoloOutput(spec)(raw))
        pred[0] = 0  # an image where nothing scores: an empty result
        for threshold, nms_iou, most in [(0.2, 0.5, 100), (0.01, 0.3, 100), (0.05, 0.7, 3)]:
            got = yolo.detect(pred, spec, threshold, nms_iou, most, box_format=box_format)
            expected = detect_decoding_twice(pred, spec, threshold, nms_iou, most, box_format)
            assert len(got) == len(expected) == batch
            for g, e in zip(got, expected):
                assert set(g) == {"boxes", "scores", "classes"}
                for key in g:
                    assert g[key].dtype == e[key].dtype and g[key].shape == e[key].shape, key
                    if key == "boxes" and box_format == "rel_cxcywh":
                        # Decoding straight into centres skipped the trip through corners, whose
                        # (x1 + x2) / 2 and x2 - x1 round differently: equal to float32 resolution.
                        np.testing.assert_allclose(g[key], e[key], rtol=0, atol=1e-7, err_msg=key)
                    else:
                        np.testing.assert_array_equal(g[key], e[key], err_msg=key)
            assert len(got[0]["scores"]) == 0 and got[0]["boxes"].shape == (0, 4)
            assert sum(len(d["scores"]) for d in got) > batch  # several per image on average


def test_detect_rejects_pixel_and_unknown_formats():
    pred = np.zeros((1, *SPEC.prediction_shape), "float32")
    with pytest.raises(ValueError, match="Received: box_format='xyxy'"):
        yolo.detect(pred, SPEC, box_format="xyxy")
    with pytest.raises(ValueError, match="Received: box_format='xyhw'"):
        yolo.detect(pred, SPEC, box_format="xyhw")


# ---------- the loss against a plain-loop reference written from the paper ----------
#
# Everything below reads the tensors only through their documented layout (targets
# ``x, y, w, h, object, one-hot class``; predictions ``[x, y, w, h, conf] * B`` then ``C`` class
# probabilities; x, y offsets inside the cell, w, h fractions of the image) and computes the
# paper's eq. 3 one cell and one predictor at a time, in float64 Python arithmetic.


def reference_iou(a, b):
    """IoU of two ``(cx, cy, w, h)`` image boxes, by hand; 0 when the union is empty."""
    ix = max(0.0, min(a[0] + a[2] / 2, b[0] + b[2] / 2) - max(a[0] - a[2] / 2, b[0] - b[2] / 2))
    iy = max(0.0, min(a[1] + a[3] / 2, b[1] + b[3] / 2) - max(a[1] - a[3] / 2, b[1] - b[3] / 2))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def reference_yolo_v1_loss(y_true, y_pred, s, b, c, lambda_coord=5.0, lambda_noobj=0.5, confidence="iou"):
    """YOLO v1's eq. 3 with plain loops: ``[{term: value}]``, one dict per image.

    The responsible predictor of a cell with an object is the one of highest IoU with the true
    box (the first one on a tie, e.g. when none overlaps it); every other predictor, and every
    predictor of an empty cell, is a "no object" predictor whose confidence should be 0.
    """
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    images = []
    for n in range(len(y_true)):
        terms = dict.fromkeys(yolo.LOSS_TERMS, 0.0)
        for row in range(s):
            for col in range(s):
                t, p = y_true[n, row, col], y_pred[n, row, col]
                boxes = [p[5 * j : 5 * j + 5] for j in range(b)]
                if t[4] == 0:  # an empty cell: every predictor's confidence should be 0
                    for box in boxes:
                        terms["no_object"] += lambda_noobj * box[4] ** 2
                    continue
                truth = ((col + t[0]) / s, (row + t[1]) / s, t[2], t[3])
                ious = [
                    reference_iou(((col + box[0]) / s, (row + box[1]) / s, box[2], box[3]), truth)
                    for box in boxes
                ]
                best = 0
                for j in range(1, b):
                    if ious[j] > ious[best]:
                        best = j
                for j, box in enumerate(boxes):
                    if j != best:
                        terms["no_object"] += lambda_noobj * box[4] ** 2
                        continue
                    x, y, w, h, conf = box
                    terms["coord_xy"] += lambda_coord * ((t[0] - x) ** 2 + (t[1] - y) ** 2)
                    terms["coord_wh"] += lambda_coord * (
                        (np.sqrt(t[2]) - np.sqrt(w)) ** 2 + (np.sqrt(t[3]) - np.sqrt(h)) ** 2
                    )
                    target_conf = ious[best] if confidence == "iou" else 1.0
                    terms["object"] += (target_conf - conf) ** 2
                for k in range(c):
                    terms["class"] += (t[5 + k] - p[5 * b + k]) ** 2
        images.append(terms)
    return images


def random_targets(rng, batch, s, c, fill):
    """Targets written directly in the documented layout: a fraction ``fill`` of cells hold an object."""
    target = np.zeros((batch, s, s, 5 + c), "float32")
    for n in range(batch):
        for row in range(s):
            for col in range(s):
                if rng.random() < fill:
                    target[n, row, col, :2] = rng.uniform(0, 1, 2)  # centre inside the cell
                    target[n, row, col, 2:4] = rng.uniform(0.02, 0.9, 2)  # size of the image
                    target[n, row, col, 4] = 1
                    target[n, row, col, 5 + rng.integers(c)] = 1
    return target


def random_predictions(rng, target, b, c):
    """Predictions in their ranges; in object cells some predictors sit near the truth, so IoUs differ."""
    batch, s = target.shape[:2]
    boxes = rng.uniform(0, 1, (batch, s, s, b, 5))  # x, y, conf in [0, 1]
    boxes[..., 2:4] = rng.uniform(0.01, 1, (batch, s, s, b, 2))  # w, h
    for n, row, col in np.argwhere(target[..., 4] > 0):
        for j in range(b):
            if rng.random() < 0.7:  # a predictor near the true box, at a random distance
                noise = rng.normal(0, rng.choice([0.02, 0.1, 0.3]), 4)
                boxes[n, row, col, j, :4] = np.clip(target[n, row, col, :4] + noise, [0, 0, 0.01, 0.01], 1)
    classes = rng.uniform(0, 1, (batch, s, s, c))  # (batch, S, S, C)
    return np.concatenate([boxes.reshape(batch, s, s, 5 * b), classes], -1).astype(
        "float32"
    )  # (batch, S, S, 5B + C)


CASES = [  # (S, B, C, batch, fill): every grid size, box count and class count at least once
    (2, 1, 1, 3, 0.5),
    (3, 2, 3, 4, 0.4),
    (5, 3, 10, 3, 0.3),
    (7, 2, 10, 2, 0.25),
    (7, 1, 3, 2, 0.5),
    (5, 2, 1, 3, 0.6),
    (3, 3, 1, 2, 0.7),
    (2, 3, 3, 4, 0.5),
]


@pytest.mark.parametrize("confidence", ["iou", "one"])
@pytest.mark.parametrize("s,b,c,batch,fill", CASES)
def test_loss_matches_the_papers_equation_written_with_loops(s, b, c, batch, fill, confidence):
    rng = np.random.default_rng([s, b, c, batch])
    target = random_targets(rng, batch, s, c, fill)
    target[0] = 0  # one image with no object at all
    pred = random_predictions(rng, target, b, c)
    lambda_coord, lambda_noobj = rng.uniform(0.5, 6), rng.uniform(0.1, 1)
    loss = yolo.YoloV1Loss(
        yolo.YoloSpec(s, b, c),
        lambda_coord=lambda_coord,
        lambda_noobj=lambda_noobj,
        confidence_target=confidence,
    )
    expected = reference_yolo_v1_loss(target, pred, s, b, c, lambda_coord, lambda_noobj, confidence)

    got = {k: np.asarray(v, np.float64) for k, v in loss.terms(target, pred).items()}
    assert set(got) == set(yolo.LOSS_TERMS)
    for term in yolo.LOSS_TERMS:
        np.testing.assert_allclose(got[term], [e[term] for e in expected], rtol=1e-4, atol=1e-5, err_msg=term)
    # The empty image has only the no-object term.
    assert all(got[term][0] == 0 for term in yolo.LOSS_TERMS if term != "no_object")
    # Keras's reduction: the per-image sums, averaged over the batch.
    per_image = [sum(e.values()) for e in expected]
    assert float(loss(target, pred)) == pytest.approx(np.mean(per_image), rel=1e-4)
    np.testing.assert_allclose(np.asarray(loss.call(target, pred)), per_image, rtol=1e-4, atol=1e-5)


def test_reference_cases_exercise_every_part_of_the_equation():
    """The random cases above are not degenerate: several objects per image, empty cells, every
    predictor index responsible somewhere, and some cells where no predictor overlaps the truth."""
    responsible, no_overlap, objects = set(), 0, []
    for s, b, c, batch, fill in CASES:
        rng = np.random.default_rng([s, b, c, batch])
        target = random_targets(rng, batch, s, c, fill)
        target[0] = 0
        pred = random_predictions(rng, target, b, c)
        objects += (target[1:, ..., 4].sum(axis=(1, 2))).tolist()
        for n, row, col in np.argwhere(target[..., 4] > 0):
            t = target[n, row, col]
            truth = ((col + t[0]) / s, (row + t[1]) / s, t[2], t[3])
            ious = [
                reference_iou(((col + q[0]) / s, (row + q[1]) / s, q[2], q[3]), truth)
                for q in pred[n, row, col, : 5 * b].reshape(b, 5)
            ]
            no_overlap += max(ious) == 0
            responsible.add((b, int(np.argmax(ious))))
    assert min(objects) >= 1 and max(objects) >= 10
    assert {(3, 0), (3, 1), (3, 2), (2, 0), (2, 1)} <= responsible
    assert no_overlap > 0


def test_loss_on_encoded_scenes_matches_the_reference():
    # The same check with targets built by encode_targets from image boxes (several per image).
    rng = np.random.default_rng(11)
    for s, b, c in [(3, 2, 3), (7, 2, 10), (5, 3, 1)]:
        spec = yolo.YoloSpec(s, b, c)
        scenes = []
        for _ in range(3):
            count = int(rng.integers(1, 6))
            centre = rng.uniform(0.05, 0.95, (count, 2))
            size = rng.uniform(0.05, 0.5, (count, 2))
            scenes.append(
                (np.concatenate([centre - size / 2, centre + size / 2], 1), rng.integers(0, c, count))
            )
        target = np.stack(
            [np.asarray(yolo.encode_targets(bx, lab, spec, box_format="rel_xyxy")) for bx, lab in scenes]
        )
        pred = random_predictions(rng, target, b, c)
        expected = reference_yolo_v1_loss(target, pred, s, b, c)
        got = yolo.YoloV1Loss(spec).terms(target, pred)
        for term in yolo.LOSS_TERMS:
            np.testing.assert_allclose(
                got[term], [e[term] for e in expected], rtol=1e-4, atol=1e-5, err_msg=term
            )


def test_a_tie_between_predictors_makes_the_first_one_responsible():
    # Two identical predictors: the first is responsible, the second's confidence counts as "no object".
    target = np.zeros((1, 2, 2, 6), "float32")
    target[0, 1, 0] = [0.5, 0.5, 0.4, 0.4, 1, 1]
    pred = np.zeros((1, 2, 2, 11), "float32")
    pred[0, 1, 0] = [0.6, 0.5, 0.4, 0.4, 0.7, 0.6, 0.5, 0.4, 0.4, 0.7, 1.0]
    loss = yolo.YoloV1Loss(yolo.YoloSpec(2, 2, 1))
    terms = {k: float(v[0]) for k, v in loss.terms(target, pred).items()}
    assert terms["no_object"] == pytest.approx(0.5 * 0.7**2, rel=1e-5)
    # Neither overlaps the truth (IoU 0 for both): the first is still the responsible one.
    pred[0, 1, 0, :10] = [0.0, 0.0, 0.01, 0.01, 0.2, 0.0, 0.0, 0.01, 0.01, 0.9]
    far = {k: float(v[0]) for k, v in loss.terms(target, pred).items()}
    assert far["object"] == pytest.approx(0.2**2, rel=1e-5)  # target IoU 0, confidence 0.2
    assert far["no_object"] == pytest.approx(0.5 * 0.9**2, rel=1e-5)
    expected = reference_yolo_v1_loss(target, pred, 2, 2, 1)[0]
    assert far == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_the_iou_confidence_target_is_a_constant_for_the_gradient():
    # As in the paper, the IoU is the target of the confidence, not something to optimise through:
    # the object term's gradient with respect to the box coordinates is zero.
    rng = np.random.default_rng(5)
    target = random_targets(rng, 2, 3, 3, 0.6)
    pred = tf.Variable(random_predictions(rng, target, 2, 3))
    loss = yolo.YoloV1Loss(yolo.YoloSpec(3, 2, 3))
    with tf.GradientTape() as tape:
        term = tf.reduce_sum(loss.terms(target, pred)["object"])
    grad = tape.gradient(term, pred).numpy().reshape(2, 3, 3, -1)
    boxes = grad[..., :10].reshape(2, 3, 3, 2, 5)
    assert np.abs(boxes[..., :4]).max() == 0
    assert np.abs(boxes[..., 4]).max() > 0
