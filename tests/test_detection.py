"""Non-max suppression, matching, precision-recall and mAP: by hand, then against TensorFlow and pycocotools."""

import numpy as np
import pytest
import tensorflow as tf

from tfcourse import detection


def random_boxes(rng, n, size=100.0):
    corner = rng.uniform(0, size * 0.8, (n, 2))
    extent = rng.uniform(size * 0.05, size * 0.3, (n, 2))
    return np.concatenate([corner, corner + extent], 1).astype("float32")  # xyxy pixels


# ---------- non-max suppression ----------


def test_nms_by_hand():
    boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 5], [30, 30, 40, 40]]
    scores = [0.6, 0.9, 0.8, 0.1]
    # 1 (0.9) is kept; 0 overlaps it by 9/11 > 0.5 and goes; 2 overlaps 1 by 45/105 and stays; 3 is far.
    assert detection.non_max_suppression(boxes, scores, 0.5).tolist() == [1, 2, 3]
    assert detection.non_max_suppression(boxes, scores, 0.4).tolist() == [1, 3]
    assert detection.non_max_suppression(boxes, scores, 0.5, score_threshold=0.2).tolist() == [1, 2]
    assert detection.non_max_suppression(boxes, scores, 0.5, max_output_size=1).tolist() == [1]
    assert detection.non_max_suppression(np.zeros((0, 4)), [], 0.5).tolist() == []


@pytest.mark.parametrize("iou_threshold", [0.1, 0.3, 0.5, 0.7])
def test_nms_equals_tensorflow_on_random_boxes(iou_threshold):
    rng = np.random.default_rng(int(iou_threshold * 10))
    for _ in range(10):
        boxes = random_boxes(rng, 60)
        scores = rng.uniform(size=60).astype("float32")
        ours = detection.non_max_suppression(
            boxes, scores, iou_threshold, score_threshold=0.2, max_output_size=30
        )
        yxyx = boxes[:, [1, 0, 3, 2]]
        theirs = tf.image.non_max_suppression(yxyx, scores, 30, iou_threshold, score_threshold=0.2).numpy()
        np.testing.assert_array_equal(ours, theirs)


def test_nms_takes_any_box_format():
    rng = np.random.default_rng(0)
    boxes, scores = random_boxes(rng, 40), rng.uniform(size=40)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
    np.testing.assert_array_equal(
        detection.non_max_suppression(boxes, scores, 0.3),
        detection.non_max_suppression(xywh, scores, 0.3, box_format="xywh"),
    )


def test_batched_nms_never_suppresses_across_classes():
    rng = np.random.default_rng(1)
    boxes, scores, classes = random_boxes(rng, 50), rng.uniform(size=50), rng.integers(0, 3, 50)
    keep = detection.batched_non_max_suppression(boxes, scores, classes, 0.4)
    assert np.all(np.diff(scores[keep]) <= 0)
    for c in range(3):
        members = np.flatnonzero(classes == c)
        expected = members[detection.non_max_suppression(boxes[members], scores[members], 0.4)]
        assert sorted(keep[classes[keep] == c].tolist()) == sorted(expected.tolist())


def test_nms_bad_arguments():
    with pytest.raises(ValueError, match="Received: iou_threshold=1.5"):
        detection.non_max_suppression([[0, 0, 1, 1]], [1.0], 1.5)
    with pytest.raises(ValueError, match="one entry per box"):
        detection.non_max_suppression([[0, 0, 1, 1]], [1.0, 0.5])


# ---------- matching, precision-recall, AP ----------


def test_matching_takes_the_best_unmatched_truth():
    truths = [[0, 0, 10, 10], [2, 0, 12, 10]]
    # The best detection overlaps truth 1 most; the second then takes truth 0 (IoU 0.67 >= 0.5).
    hit = detection.match_detections([[2, 0, 12, 10], [1, 0, 11, 10]], [0.9, 0.8], truths, 0.5)
    assert hit.tolist() == [True, True]
    # At IoU 0.9 the second detection has nothing left above the threshold.
    hit = detection.match_detections([[2, 0, 12, 10], [1, 0, 11, 10]], [0.9, 0.8], truths, 0.9)
    assert hit.tolist() == [True, False]


def test_precision_recall_and_ap_by_hand():
    truths = [
        {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "classes": [0, 0]},
        {"boxes": [[0, 0, 5, 5]], "classes": [0]},
    ]
    dets = [
        {"boxes": [[0, 0, 10, 10], [50, 50, 60, 60]], "scores": [0.9, 0.7], "classes": [0, 0]},
        {"boxes": [[0, 0, 5, 5], [0, 0, 5, 5]], "scores": [0.8, 0.6], "classes": [0, 1]},
    ]
    pr = detection.precision_recall(dets, truths, 0)
    # From the top: hit (0.9), hit (0.8), miss (0.7): precision 1, 1, 2/3; recall 1/3, 2/3, 2/3.
    np.testing.assert_allclose(pr["precision"], [1, 1, 2 / 3])
    np.testing.assert_allclose(pr["recall"], [1 / 3, 2 / 3, 2 / 3])
    assert pr["num_truths"] == 3
    assert detection.average_precision(pr["precision"], pr["recall"], "voc") == pytest.approx(2 / 3)
    # 101-point: recall levels 0 .. 0.66 (67 of them) at precision 1, the rest 0.
    assert detection.average_precision(pr["precision"], pr["recall"], "coco101") == pytest.approx(67 / 101)
    result = detection.mean_average_precision(dets, truths, num_classes=2)
    assert result["ap"][0] == pytest.approx(67 / 101) and np.isnan(result["ap"][1])
    assert result["map"] == pytest.approx(67 / 101)


def test_ap_edge_cases_and_errors():
    assert detection.average_precision([], []) == 0.0
    assert detection.average_precision([1.0], [1.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Received: method='11point'"):
        detection.average_precision([1.0], [1.0], "11point")
    with pytest.raises(ValueError, match="one entry per image"):
        detection.precision_recall([], [{"boxes": [], "classes": []}], 0)


# ---------- against pycocotools ----------


def random_evaluation(rng, images=40, classes=4):
    truths, dets = [], []
    for _ in range(images):
        n = rng.integers(0, 5)
        gt = random_boxes(rng, n)
        gt_classes = rng.integers(0, classes, n)
        truths.append({"boxes": gt, "classes": gt_classes})
        # Noisy copies of the truths (some with the wrong class) plus random false alarms.
        noisy = gt + rng.normal(0, 1.5, gt.shape).astype("float32")
        # Keep x2 > x1: COCO ignores boxes of negative area.
        noisy[:, 2:] = np.maximum(noisy[:, 2:], noisy[:, :2] + 1)
        noisy_classes = np.where(rng.uniform(size=n) < 0.2, rng.integers(0, classes, n), gt_classes)
        extra = rng.integers(0, 4)
        boxes = np.concatenate([noisy, random_boxes(rng, extra)])
        dets.append(
            {
                "boxes": boxes,
                "scores": rng.uniform(size=len(boxes)),
                "classes": np.concatenate([noisy_classes, rng.integers(0, classes, extra)]),
            }
        )
    return dets, truths


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou_threshold", [0.5, 0.75])
def test_map_agrees_with_pycocotools(seed, iou_threshold):
    dets, truths = random_evaluation(np.random.default_rng(seed), classes=5)
    ours = detection.mean_average_precision(dets, truths, 5, iou_threshold)
    reference = detection.coco_mean_average_precision(dets, truths, 5, iou_threshold)
    np.testing.assert_allclose(ours["ap"], reference["ap"], atol=1e-9)
    assert ours["map"] == pytest.approx(reference["map"], abs=1e-9)
    assert 0.1 < ours["map"] < 0.99  # a test that can tell right from wrong


def test_map_agrees_with_pycocotools_in_normalised_coordinates():
    dets, truths = random_evaluation(np.random.default_rng(5))
    scale = lambda d: {**d, "boxes": np.asarray(d["boxes"]) / 100.0}  # noqa: E731
    dets, truths = [scale(d) for d in dets], [scale(t) for t in truths]
    ours = detection.mean_average_precision(dets, truths, 4, box_format="rel_xyxy")
    reference = detection.coco_mean_average_precision(dets, truths, 4, box_format="rel_xyxy")
    np.testing.assert_allclose(ours["ap"], reference["ap"], atol=1e-9)


def test_perfect_and_empty_detections():
    _, truths = random_evaluation(np.random.default_rng(7))
    perfect = [{**t, "scores": np.ones(len(t["classes"]))} for t in truths]
    assert detection.mean_average_precision(perfect, truths, 4)["map"] == pytest.approx(1.0)
    assert detection.coco_mean_average_precision(perfect, truths, 4)["map"] == pytest.approx(1.0)
    nothing = [
        {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "classes": np.zeros(0, int)} for _ in truths
    ]
    assert detection.mean_average_precision(nothing, truths, 4)["map"] == 0.0
    assert detection.coco_mean_average_precision(nothing, truths, 4)["map"] == 0.0


def test_numpy_iou_matches_tfcourse_boxes():
    from tfcourse import boxes

    rng = np.random.default_rng(3)
    a, b = random_boxes(rng, 7), random_boxes(rng, 5)
    b[0] = [10, 10, 5, 5]  # an inverted box has no area
    np.testing.assert_allclose(detection._iou_matrix(a, b), boxes.iou_matrix(a, b, "xyxy"), atol=1e-6)
    for box_format in boxes.FORMATS:
        np.testing.assert_allclose(
            detection._as_xyxy(a, box_format),
            boxes.convert_format(a, box_format, "rel_xyxy" if boxes.is_relative(box_format) else "xyxy"),
            rtol=1e-6,
        )
