"""Non-max suppression, matching, precision-recall and mAP: by hand, then against TensorFlow and pycocotools."""

import numpy as np
import pytest
import tensorflow as tf

from tfcourse import detection


def random_boxes(rng, n, size=100.0):
    corner = rng.uniform(0, size * 0.8, (n, 2))
    extent = rng.uniform(size * 0.05, size * 0.3, (n, 2))
    return np.concatenate([corner, corner + extent], 1).astype("float32")  # xyxy pixels


# ---------- box_format: required, keyword only ----------

ONE_IMAGE = (
    [{"boxes": [[0, 0, 10, 10]], "scores": [0.9], "classes": [0]}],  # detections
    [{"boxes": [[0, 0, 10, 10]], "classes": [0]}],  # ground truths
)
DETECTION_FUNCTIONS = {
    "non_max_suppression": (detection.non_max_suppression, ([[0, 0, 10, 10]], [0.9])),
    "batched_non_max_suppression": (detection.batched_non_max_suppression, ([[0, 0, 10, 10]], [0.9], [0])),
    "match_detections": (detection.match_detections, ([[0, 0, 10, 10]], [0.9], [[0, 0, 10, 10]])),
    "precision_recall": (detection.precision_recall, (*ONE_IMAGE, 0)),
    "mean_average_precision": (detection.mean_average_precision, (*ONE_IMAGE, 1)),
    "coco_mean_average_precision": (detection.coco_mean_average_precision, (*ONE_IMAGE, 1)),
}


@pytest.mark.parametrize("name", list(DETECTION_FUNCTIONS))
def test_box_format_is_a_required_keyword(name, box_format_required):
    fn, args = DETECTION_FUNCTIONS[name]
    box_format_required(fn, args)


def test_box_format_is_the_boxes_format_not_a_default():
    # The same numbers read as corners and as x, y, width, height: [5, 0, 10, 10] lies inside
    # [0, 0, 10, 10] as corners (IoU 50 / 100) but sticks out of it as xywh (IoU 50 / 150), so the
    # 0.4 threshold drops it in the first case and keeps it in the second.
    boxes, scores = [[0, 0, 10, 10], [5, 0, 10, 10]], [0.9, 0.8]
    assert detection.non_max_suppression(boxes, scores, 0.4, box_format="xyxy").tolist() == [0]
    assert detection.non_max_suppression(boxes, scores, 0.4, box_format="xywh").tolist() == [0, 1]


# ---------- non-max suppression ----------


def test_nms_by_hand():
    boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 5], [30, 30, 40, 40]]
    scores = [0.6, 0.9, 0.8, 0.1]
    # 1 (0.9) is kept; 0 overlaps it by 9/11 > 0.5 and goes; 2 overlaps 1 by 45/105 and stays; 3 is far.
    assert detection.non_max_suppression(boxes, scores, 0.5, box_format="xyxy").tolist() == [1, 2, 3]
    assert detection.non_max_suppression(boxes, scores, 0.4, box_format="xyxy").tolist() == [1, 3]
    assert detection.non_max_suppression(
        boxes, scores, 0.5, score_threshold=0.2, box_format="xyxy"
    ).tolist() == [1, 2]
    assert detection.non_max_suppression(
        boxes, scores, 0.5, max_output_size=1, box_format="xyxy"
    ).tolist() == [1]
    assert detection.non_max_suppression(np.zeros((0, 4)), [], 0.5, box_format="xyxy").tolist() == []


@pytest.mark.parametrize("iou_threshold", [0.1, 0.3, 0.5, 0.7])
def test_nms_equals_tensorflow_on_random_boxes(iou_threshold):
    rng = np.random.default_rng(int(iou_threshold * 10))
    for _ in range(10):
        boxes = random_boxes(rng, 60)
        scores = rng.uniform(size=60).astype("float32")
        ours = detection.non_max_suppression(
            boxes, scores, iou_threshold, score_threshold=0.2, max_output_size=30, box_format="xyxy"
        )
        yxyx = boxes[:, [1, 0, 3, 2]]
        theirs = tf.image.non_max_suppression(yxyx, scores, 30, iou_threshold, score_threshold=0.2).numpy()
        np.testing.assert_array_equal(ours, theirs)


def test_nms_takes_any_box_format():
    rng = np.random.default_rng(0)
    boxes, scores = random_boxes(rng, 40), rng.uniform(size=40)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
    np.testing.assert_array_equal(
        detection.non_max_suppression(boxes, scores, 0.3, box_format="xyxy"),
        detection.non_max_suppression(xywh, scores, 0.3, box_format="xywh"),
    )


def test_batched_nms_never_suppresses_across_classes():
    rng = np.random.default_rng(1)
    boxes, scores, classes = random_boxes(rng, 50), rng.uniform(size=50), rng.integers(0, 3, 50)
    keep = detection.batched_non_max_suppression(boxes, scores, classes, 0.4, box_format="xyxy")
    assert np.all(np.diff(scores[keep]) <= 0)
    for c in range(3):
        members = np.flatnonzero(classes == c)
        expected = members[
            detection.non_max_suppression(boxes[members], scores[members], 0.4, box_format="xyxy")
        ]
        assert sorted(keep[classes[keep] == c].tolist()) == sorted(expected.tolist())


def test_nms_bad_arguments():
    with pytest.raises(ValueError, match="Received: iou_threshold=1.5"):
        detection.non_max_suppression([[0, 0, 1, 1]], [1.0], 1.5, box_format="xyxy")
    with pytest.raises(ValueError, match="one entry per box"):
        detection.non_max_suppression([[0, 0, 1, 1]], [1.0, 0.5], box_format="xyxy")


# ---------- matching, precision-recall, AP ----------


def test_matching_takes_the_best_unmatched_truth():
    truths = [[0, 0, 10, 10], [2, 0, 12, 10]]
    # The best detection overlaps truth 1 most; the second then takes truth 0 (IoU 0.67 >= 0.5).
    hit = detection.match_detections(
        [[2, 0, 12, 10], [1, 0, 11, 10]], [0.9, 0.8], truths, 0.5, box_format="xyxy"
    )
    assert hit.tolist() == [True, True]
    # At IoU 0.9 the second detection has nothing left above the threshold.
    hit = detection.match_detections(
        [[2, 0, 12, 10], [1, 0, 11, 10]], [0.9, 0.8], truths, 0.9, box_format="xyxy"
    )
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
    pr = detection.precision_recall(dets, truths, 0, box_format="xyxy")
    # From the top: hit (0.9), hit (0.8), miss (0.7): precision 1, 1, 2/3; recall 1/3, 2/3, 2/3.
    np.testing.assert_allclose(pr["precision"], [1, 1, 2 / 3])
    np.testing.assert_allclose(pr["recall"], [1 / 3, 2 / 3, 2 / 3])
    assert pr["num_truths"] == 3
    assert detection.average_precision(pr["precision"], pr["recall"], "voc") == pytest.approx(2 / 3)
    # 101-point: recall levels 0 .. 0.66 (67 of them) at precision 1, the rest 0.
    assert detection.average_precision(pr["precision"], pr["recall"], "coco101") == pytest.approx(67 / 101)
    result = detection.mean_average_precision(dets, truths, num_classes=2, box_format="xyxy")
    assert result["ap"][0] == pytest.approx(67 / 101) and np.isnan(result["ap"][1])
    assert result["map"] == pytest.approx(67 / 101)


def test_ap_edge_cases_and_errors():
    assert detection.average_precision([], []) == 0.0
    assert detection.average_precision([1.0], [1.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Received: method='11point'"):
        detection.average_precision([1.0], [1.0], "11point")
    with pytest.raises(ValueError, match="one entry per image"):
        detection.precision_recall([], [{"boxes": [], "classes": []}], 0, box_format="xyxy")


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
    ours = detection.mean_average_precision(dets, truths, 5, iou_threshold, box_format="xyxy")
    reference = detection.coco_mean_average_precision(dets, truths, 5, iou_threshold, box_format="xyxy")
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
    assert detection.mean_average_precision(perfect, truths, 4, box_format="xyxy")["map"] == pytest.approx(
        1.0
    )
    assert detection.coco_mean_average_precision(perfect, truths, 4, box_format="xyxy")[
        "map"
    ] == pytest.approx(1.0)
    nothing = [
        {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "classes": np.zeros(0, int)} for _ in truths
    ]
    assert detection.mean_average_precision(nothing, truths, 4, box_format="xyxy")["map"] == 0.0
    assert detection.coco_mean_average_precision(nothing, truths, 4, box_format="xyxy")["map"] == 0.0


def test_numpy_iou_matches_tfcourse_boxes():
    from tfcourse import boxes

    rng = np.random.default_rng(3)
    a, b = random_boxes(rng, 7), random_boxes(rng, 5)
    b[0] = [10, 10, 5, 5]  # an inverted box is empty for both (the public function refuses it by default)
    np.testing.assert_allclose(
        detection._iou_matrix(a, b), boxes.iou_matrix(a, b, box_format="xyxy", validate=False), atol=1e-6
    )
    for box_format in boxes.FORMATS:
        np.testing.assert_allclose(
            detection._as_xyxy(a, box_format),
            boxes.convert_format(a, box_format, "rel_xyxy" if boxes.is_relative(box_format) else "xyxy"),
            rtol=1e-6,
        )


# ---------- pycocotools itself as the reference, on adversarial cases ----------


def pycocotools_ap(dets, truths, num_classes, iou_threshold=0.5, max_dets=100):
    """AP per class (NaN without truths) from COCOeval, called directly on xyxy pixel boxes.

    Written here rather than through :func:`detection.coco_mean_average_precision`, so that the
    project's evaluator is compared with pycocotools and not with its own wrapper.
    """
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        b = np.asarray(b, np.float64).reshape(-1, 4)
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)

    images = [{"id": i + 1} for i in range(len(truths))]
    annotations, results = [], []
    for i, (t, d) in enumerate(zip(truths, dets)):
        for box, c in zip(xywh(t["boxes"]), np.asarray(t["classes"]).reshape(-1)):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": int(c),
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }
            )
        for box, score, c in zip(
            xywh(d["boxes"]), np.asarray(d["scores"]).reshape(-1), np.asarray(d["classes"]).reshape(-1)
        ):
            results.append(
                {"image_id": i + 1, "category_id": int(c), "bbox": box.tolist(), "score": float(score)}
            )
    has_truth = np.isin(np.arange(num_classes), [a["category_id"] for a in annotations])
    ap = np.where(has_truth, 0.0, np.nan)
    if not results or not annotations:
        return ap
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c} for c in range(num_classes)],
        }
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.params.iouThrs = np.array([iou_threshold])
        evaluator.params.areaRng = [[0.0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.params.maxDets = [max_dets]
        evaluator.evaluate()
        evaluator.accumulate()
    for k, c in enumerate(evaluator.params.catIds):
        values = evaluator.eval["precision"][0, :, k, 0, 0]
        if has_truth[c]:
            ap[c] = values[values > -1].mean() if (values > -1).any() else 0.0
    return ap


def assert_agrees_with_pycocotools(dets, truths, num_classes, iou_threshold=0.5, max_dets=100):
    reference = pycocotools_ap(dets, truths, num_classes, iou_threshold, max_dets)
    ours = detection.mean_average_precision(
        dets, truths, num_classes, iou_threshold, max_detections=max_dets, box_format="xyxy"
    )
    np.testing.assert_allclose(ours["ap"], reference, atol=1e-6, rtol=0)
    if np.isfinite(reference).any():
        assert ours["map"] == pytest.approx(np.nanmean(reference), abs=1e-6)
    return ours["ap"], reference


def one_class(truth_boxes, det_boxes, scores):
    truths = [{"boxes": truth_boxes, "classes": [0] * len(truth_boxes)}]
    dets = [{"boxes": det_boxes, "scores": scores, "classes": [0] * len(det_boxes)}]
    return dets, truths


def test_iou_ties_go_to_the_last_truth_as_in_pycocotools():
    # The first detection overlaps both truths by 8/12; COCO gives it the later truth, which leaves
    # the earlier one for the second detection (IoU 9/11): AP 1. Taking the first truth gives 0.505.
    dets, truths = one_class([[0, 0, 10, 10], [4, 0, 14, 10]], [[2, 0, 12, 10], [-1, 0, 9, 10]], [0.9, 0.8])
    ours, reference = assert_agrees_with_pycocotools(dets, truths, 1)
    assert reference[0] == pytest.approx(1.0) and ours[0] == pytest.approx(1.0)
    assert detection.match_detections(
        dets[0]["boxes"], [0.9, 0.8], truths[0]["boxes"], box_format="xyxy"
    ).tolist() == [
        True,
        True,
    ]


def test_matching_takes_the_last_of_equal_ious_and_the_threshold_inclusively():
    truths = [[0, 0, 10, 10], [10, 0, 20, 10], [5, 10, 15, 20]]
    # The detection [5, 0, 15, 10] overlaps truths 0 and 1 by 50/150 each: at 0.3 it takes truth 1.
    hit = detection.match_detections(
        [[5, 0, 15, 10], [0, 0, 10, 10]], [0.9, 0.8], truths, 0.3, box_format="xyxy"
    )
    assert hit.tolist() == [True, True]  # the second then finds truth 0 free
    # IoU exactly at the threshold counts: [0, 0, 10, 10] with [0, 0, 10, 5] is 0.5.
    assert detection.match_detections([[0, 0, 10, 5]], [1.0], truths, 0.5, box_format="xyxy").tolist() == [
        True
    ]
    # At threshold 1 an identical box still matches (COCO caps the threshold at 1 - 1e-10).
    assert detection.match_detections([[10, 0, 20, 10]], [1.0], truths, 1.0, box_format="xyxy").tolist() == [
        True
    ]


@pytest.mark.parametrize("iou_threshold", [0.3, 0.5, 0.75])
def test_ties_between_many_truths_agree_with_pycocotools(iou_threshold):
    # A row of unit-spaced boxes, detections half way between neighbours: every IoU is a tie.
    truth_boxes = [[4 * i, 0, 4 * i + 4, 4] for i in range(6)]
    det_boxes = [[4 * i + 2, 0, 4 * i + 6, 4] for i in range(5)] + [
        [4 * i + 1, 0, 4 * i + 5, 4] for i in range(5)
    ]
    scores = np.linspace(0.9, 0.1, len(det_boxes))
    assert_agrees_with_pycocotools(*one_class(truth_boxes, det_boxes, scores), 1, iou_threshold)


def crowded_image(rng, n_dets=150, true_rank=121):
    """One truth; ``n_dets`` detections of which only the one ranked ``true_rank`` hits it."""
    truth = [[0, 0, 10, 10]]
    boxes = np.array([[20 + i, 20, 30 + i, 30] for i in range(n_dets)], np.float64)
    boxes[true_rank - 1] = truth[0]
    scores = 1.0 - np.arange(n_dets) / n_dets
    return one_class(truth, boxes, scores)


def test_at_most_100_detections_per_image_as_in_coco():
    dets, truths = crowded_image(np.random.default_rng(0))
    ours, reference = assert_agrees_with_pycocotools(dets, truths, 1)
    assert reference[0] == 0.0 and ours[0] == 0.0  # the hit is ranked 121st, beyond the cap
    uncapped = detection.mean_average_precision(dets, truths, 1, max_detections=None, box_format="xyxy")
    assert uncapped["ap"][0] == pytest.approx(1 / 121)  # precision 1/121 at every recall level
    assert_agrees_with_pycocotools(dets, truths, 1, max_dets=200)
    assert detection.mean_average_precision(dets, truths, 1, max_detections=200, box_format="xyxy")["ap"][
        0
    ] == pytest.approx(1 / 121)
    pr = detection.precision_recall(dets, truths, 0, box_format="xyxy")
    assert len(pr["precision"]) == 100 and pr["num_truths"] == 1


def test_the_cap_is_per_image_and_per_class():
    # 120 detections of class 0 and 50 of class 1 in one image: COCO keeps 100 of class 0 and all
    # 50 of class 1 (170 boxes, more than 100 in the image).
    dets, truths = crowded_image(np.random.default_rng(0), n_dets=120, true_rank=90)
    more, classes = crowded_image(np.random.default_rng(1), n_dets=50, true_rank=50)
    dets = [
        {
            "boxes": np.concatenate([dets[0]["boxes"], more[0]["boxes"]]),
            "scores": np.concatenate([dets[0]["scores"], more[0]["scores"] - 0.5]),
            "classes": [0] * 120 + [1] * 50,
        }
    ]
    truths = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 10]], "classes": [0, 1]}]
    ours, reference = assert_agrees_with_pycocotools(dets, truths, 2)
    assert reference[0] == pytest.approx(1 / 90) and reference[1] == pytest.approx(1 / 50)


def test_images_without_truths_classes_without_detections_and_duplicates():
    truths = [
        {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "classes": [0, 1]},
        {"boxes": np.zeros((0, 4)), "classes": np.zeros(0, int)},  # an empty image
        {"boxes": [[5, 5, 15, 15]], "classes": [2]},  # class 2 never detected
    ]
    dets = [
        # the same box three times with the same score: one hit, two duplicates
        {
            "boxes": [[0, 0, 10, 10]] * 3 + [[20, 20, 30, 31]],
            "scores": [0.7, 0.7, 0.7, 0.6],
            "classes": [0, 0, 0, 1],
        },
        {"boxes": [[0, 0, 10, 10], [1, 1, 9, 9]], "scores": [0.95, 0.7], "classes": [0, 3]},  # false alarms
        {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "classes": np.zeros(0, int)},
    ]
    ours, reference = assert_agrees_with_pycocotools(dets, truths, 4)
    assert reference[2] == 0.0 and np.isnan(reference[3])


def test_scores_are_ranked_in_float64_as_pycocotools_does():
    # Two scores that float32 cannot tell apart: the true positive has the higher one.
    dets, truths = one_class(
        [[0, 0, 10, 10]], [[50, 50, 60, 60], [0, 0, 10, 10]], [0.3000000001, 0.3000000002]
    )
    ours, reference = assert_agrees_with_pycocotools(dets, truths, 1)
    assert reference[0] == pytest.approx(1.0)


def crowded_scene(rng, classes=3, canvas=40):
    """One image: many small integer boxes on a small canvas, so IoU ties, score ties, duplicates,
    degenerate (zero-width) detections and sometimes more than 100 detections of a class."""
    n = int(rng.integers(0, 25))
    corner = rng.integers(0, canvas - 4, (n, 2))
    truth = np.concatenate([corner, corner + rng.integers(1, 8, (n, 2))], axis=1)
    truth_classes = rng.integers(0, classes, n)
    # Twins: a third of the truths get a copy shifted by 2 or 4 px in x and a detection half way,
    # whose IoU with the two is exactly the same (a tie that COCO breaks towards the later truth).
    twins = rng.choice(n, n // 3, replace=False) if n else np.zeros(0, int)
    shift = rng.choice([2, 4], len(twins))[:, None] * np.array([1, 0, 1, 0])
    truth = np.concatenate([truth, truth[twins] + shift])
    truth_classes = np.concatenate([truth_classes, truth_classes[twins]])
    halfway = truth[twins] + shift // 2
    n = len(truth)
    copies_of = np.repeat(np.arange(n), rng.integers(0, 5, n))  # 0 to 4 detections per truth
    copies = truth[copies_of] + rng.integers(-2, 3, (len(copies_of), 4))
    copies[:, 2:] = np.maximum(copies[:, 2:], copies[:, :2])  # corners stay ordered; x1 == x2 may happen
    copy_classes = np.where(
        rng.uniform(size=len(copies_of)) < 0.8,
        truth_classes[copies_of],
        rng.integers(0, classes, len(copies_of)),
    )
    m = int(rng.choice([0, 10, 40, 450]))  # false alarms; 450 pushes a class past the cap of 100
    corner = rng.integers(0, canvas - 4, (m, 2))
    noise = np.concatenate([corner, corner + rng.integers(0, 8, (m, 2))], axis=1)
    boxes = np.concatenate([halfway, copies, noise]).astype(np.float64)
    det_classes = np.concatenate([truth_classes[twins], copy_classes, rng.integers(0, classes, m)])
    scores = rng.integers(0, 20, len(boxes)) / 20  # coarse scores: many ties
    return {"boxes": truth, "classes": truth_classes}, {
        "boxes": boxes,
        "scores": scores,
        "classes": det_classes,
    }


@pytest.mark.parametrize("seed", range(40))
def test_random_crowded_scenes_agree_with_pycocotools(seed):
    rng = np.random.default_rng(1000 + seed)
    truths, dets = zip(*(crowded_scene(rng, classes=4) for _ in range(int(rng.integers(1, 8)))))
    iou_threshold = [0.5, 0.3, 0.75][seed % 3]
    ours, _ = assert_agrees_with_pycocotools(list(dets), list(truths), 4, iou_threshold)
    assert np.isfinite(ours).any()


def test_the_crowded_scenes_hold_the_hard_cases():
    """The random scenes above do contain what they are meant to test."""
    rng = np.random.default_rng(1000)
    scenes = [crowded_scene(rng, classes=4) for _ in range(60)]
    most_per_class = max(np.bincount(d["classes"], minlength=4).max() for _, d in scenes if len(d["classes"]))
    assert most_per_class > 100
    assert any(len(t["classes"]) == 0 for t, _ in scenes)
    ties = 0
    for t, d in scenes:
        if len(t["boxes"]) > 1 and len(d["boxes"]):
            ious = detection._iou_matrix(np.asarray(d["boxes"], float), np.asarray(t["boxes"], float))
            top = np.sort(ious, axis=1)[:, -2:]
            ties += int(((top[:, 0] == top[:, 1]) & (top[:, 1] >= 0.3)).sum())
    assert ties > 10


# ---------- inverted boxes are bad input ----------

GOOD = {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "scores": [0.9, 0.8], "classes": [0, 0]}
BAD = {"boxes": [[0, 0, 10, 10], [30, 20, 20, 30]], "scores": [0.9, 0.8], "classes": [0, 0]}  # box 1: x2 < x1


def test_the_evaluator_refuses_inverted_boxes_and_names_them():
    truths = [{"boxes": GOOD["boxes"], "classes": [0, 0]}, {"boxes": GOOD["boxes"], "classes": [0, 0]}]
    message = r"format 'xyxy' needs x1 <= x2 and y1 <= y2.*Received: detections\[1\]\['boxes'\]\[1\]=\[30.0, 20.0, 20.0, 30.0\]"
    for fn in (detection.mean_average_precision, detection.coco_mean_average_precision):
        with pytest.raises(ValueError, match=message):
            fn([GOOD, BAD], truths, 1, box_format="xyxy")
        with pytest.raises(ValueError, match=r"Received: ground_truths\[0\]\['boxes'\]\[1\]="):
            fn([GOOD, GOOD], [{"boxes": BAD["boxes"], "classes": [0, 0]}, truths[1]], 1, box_format="xyxy")
    with pytest.raises(ValueError, match=message):
        detection.precision_recall([GOOD, BAD], truths, 0, box_format="xyxy")
    with pytest.raises(ValueError, match=r"Received: det_boxes\[1\]="):
        detection.match_detections(BAD["boxes"], BAD["scores"], GOOD["boxes"], box_format="xyxy")
    with pytest.raises(ValueError, match=r"Received: gt_boxes\[1\]="):
        detection.match_detections(GOOD["boxes"], GOOD["scores"], BAD["boxes"], box_format="xyxy")
    for nms in (
        lambda: detection.non_max_suppression(BAD["boxes"], BAD["scores"], box_format="xyxy"),
        lambda: detection.batched_non_max_suppression(
            BAD["boxes"], BAD["scores"], BAD["classes"], box_format="xyxy"
        ),
    ):
        with pytest.raises(ValueError, match=r"Received: boxes\[1\]=\[30.0, 20.0, 20.0, 30.0\]"):
            nms()
    # xywh with a negative width, and a degenerate (zero-width) box, which is allowed
    with pytest.raises(ValueError, match="format 'xywh' needs width >= 0 and height >= 0"):
        detection.match_detections([[0, 0, -1, 5]], [1.0], [[0, 0, 1, 1]], box_format="xywh")
    assert detection.match_detections([[3, 0, 3, 5]], [1.0], [[0, 0, 1, 1]], box_format="xyxy").tolist() == [
        False
    ]


def test_max_detections_is_checked():
    with pytest.raises(ValueError, match="Received: max_detections=0"):
        detection.mean_average_precision(
            [GOOD], [{"boxes": GOOD["boxes"], "classes": [0, 0]}], 1, max_detections=0, box_format="xyxy"
        )


def test_at_threshold_one_a_box_within_1e_10_matches_as_in_pycocotools():
    # IoU = 99999.999999 / 100000 = 1 - 1e-11: below 1, above COCO's cap of 1 - 1e-10.
    dets, truths = one_class([[0, 0, 100000, 1]], [[0, 0, 99999.999999, 1]], [1.0])
    ours, reference = assert_agrees_with_pycocotools(dets, truths, 1, iou_threshold=1.0)
    assert reference[0] == pytest.approx(1.0) and ours[0] == pytest.approx(1.0)


@pytest.mark.parametrize("max_detections", [100, 130, None])
def test_the_wrapper_takes_the_same_cap(max_detections):
    dets, truths = crowded_image(np.random.default_rng(0))
    ours = detection.mean_average_precision(dets, truths, 1, max_detections=max_detections, box_format="xyxy")
    wrapper = detection.coco_mean_average_precision(
        dets, truths, 1, max_detections=max_detections, box_format="xyxy"
    )
    np.testing.assert_allclose(ours["ap"], wrapper["ap"], atol=1e-6)
    assert ours["ap"][0] == (0.0 if max_detections == 100 else pytest.approx(1 / 121))
