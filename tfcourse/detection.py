"""Detections: non-max suppression, matching to ground truth, precision-recall, AP and mAP, by hand.

Detections travel as one dict per image, ``{"boxes": (K, 4), "scores": (K,), "classes": (K,)}``,
and ground truths as ``{"boxes": (M, 4), "classes": (M,)}``; boxes are in any format of
:data:`tfcourse.boxes.FORMATS`, which every function here takes as the required keyword argument
``box_format`` (no default). Everything here is NumPy and written to be read.

Average precision follows the COCO evaluator (``pycocotools``'s ``COCOeval.evaluateImg`` and
``accumulate``) rule for rule, so the two agree number for number:

1. In each image and for each class, the detections are sorted by score, highest first (a stable
   sort: equal scores keep their order), and only the first ``max_detections`` (100, as COCO's
   ``maxDets``) are kept; the rest are not evaluated at all, neither hits nor false positives.
2. Each kept detection, in that order, takes the still unmatched ground truth it overlaps most,
   provided that IoU is at least ``min(iou_threshold, 1 - 1e-10)`` (so an identical box matches
   at threshold 1). Among truths with equal IoU it takes the *last* one in the image's order:
   COCO visits the truths in order and replaces its choice whenever ``IoU >= the best so far``.
3. The detections of a class from all images are ranked by score (stable, images in order); AP
   is the mean of the interpolated precision at the 101 recall levels 0, 0.01, ..., 1
   (``method="coco101"``). PASCAL VOC's all-point interpolation (the area under the precision
   envelope) is available with ``method="voc"``.

Scores are ranked in float64, as pycocotools ranks Python floats. Conventions of this module
where COCO has none: a class without true boxes has AP NaN (COCO: -1) and is left out of the
mean; with no true boxes at all the mAP is 0.

A box with its corners out of order (x2 < x1 or y2 < y1) is bad input (COCO would silently
ignore it, being of negative area): every function here raises a ValueError that names it. A
box of zero width or height is allowed. :func:`coco_mean_average_precision` runs ``pycocotools``
itself on the same detections, as the reference.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

from tfcourse import boxes as box_utils

AP_METHODS: tuple[str, ...] = ("coco101", "voc")


def _as_xyxy(boxes, box_format: str, name: str = "boxes") -> np.ndarray:
    """``(N, 4)`` float64 corners in the format's own units (pixels or normalised), in NumPy.

    :func:`tfcourse.boxes.to_corners` on a NumPy array, so that evaluating thousands of images
    makes no TensorFlow call per image. An inverted box raises a ValueError naming it as ``name[i]``.
    """
    given = np.asarray(boxes, np.float64).reshape(-1, 4)
    corners = box_utils.to_corners(given, box_format=box_format)
    box_utils.check_ordered(given, corners, box_format=box_format, name=name)
    return np.stack(corners, axis=1)  # (N, 4)


def _check_max_detections(max_detections: int | None) -> int | None:
    if max_detections is not None and (
        isinstance(max_detections, bool)
        or not isinstance(max_detections, (int, np.integer))
        or max_detections < 1
    ):
        raise ValueError(
            "`max_detections` must be a positive integer (COCO's maxDets, 100) or None for no cap. "
            f"Received: max_detections={max_detections!r}"
        )
    return max_detections


def _iou_matrix(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of corner boxes, ``(N, 4), (M, 4) -> (N, M)``, in NumPy: the same rule as
    :func:`tfcourse.boxes.iou_matrix` (tested against it), without a TensorFlow call per image."""
    a, b = boxes1[:, None, :], boxes2[None, :, :]  # (N, 1, 4), (1, M, 4)
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height  # (N, M)

    def area(x):
        return np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)

    union = area(a) + area(b) - inter
    # inter / union, and 0 where both boxes have zero area (as pycocotools, which divides exactly)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def non_max_suppression(
    boxes,
    scores,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
    max_output_size: int | None = None,
    *,
    box_format: str,
) -> np.ndarray:
    """Greedy non-max suppression: keep the best box, drop the boxes that overlap it, repeat.

    Args:
        boxes: ``(N, 4)`` boxes in ``box_format``.
        scores: ``(N,)`` scores.
        iou_threshold: a box is dropped when its IoU with a kept box is *above* this (as in
            ``tf.image.non_max_suppression``).
        score_threshold: boxes scoring at or below this are dropped first.
        max_output_size: stop after keeping this many (None: no limit).
        box_format: the format of ``boxes``, one of :data:`tfcourse.boxes.FORMATS` (required, no
            default). An inverted box (x2 < x1 or y2 < y1) raises a ValueError.

    Boxes and scores are taken in float32, as ``tf.image.non_max_suppression`` takes them, so that
    the two keep the same boxes.

    Returns:
        ``(K,)`` int indices into ``boxes`` of the kept boxes, highest score first.

    Example:
    >>> boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]
    >>> non_max_suppression(boxes, [0.9, 0.8, 0.7], iou_threshold=0.5, box_format="xyxy").tolist()  # IoU 0.68
    [0, 2]
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(
            f"`scores` needs one entry per box. Received: boxes.shape={boxes.shape}, scores.shape={scores.shape}"
        )
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"`iou_threshold` must be in [0, 1]. Received: iou_threshold={iou_threshold}")
    limit = len(boxes) if max_output_size is None else max_output_size
    corners = _as_xyxy(boxes, box_format)
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > score_threshold]
    ious = _iou_matrix(corners, corners)  # (N, N)
    keep: list[int] = []
    while order and len(keep) < limit:
        best, order = order[0], order[1:]
        keep.append(int(best))
        order = [i for i in order if ious[best, i] <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def batched_non_max_suppression(
    boxes,
    scores,
    classes,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
    max_output_size: int | None = None,
    *,
    box_format: str,
) -> np.ndarray:
    """Non-max suppression within each class (boxes of different classes never suppress each other).

    Args:
        boxes, scores, iou_threshold, score_threshold, max_output_size: as in
            :func:`non_max_suppression`.
        classes: ``(N,)`` class of each box.
        box_format: the format of ``boxes``, one of :data:`tfcourse.boxes.FORMATS` (required).

    Returns:
        ``(K,)`` int indices of the kept boxes over all classes, highest score first.

    Example:
    >>> boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]]
    >>> batched_non_max_suppression(boxes, [0.9, 0.8, 0.7], [0, 0, 1], box_format="xyxy").tolist()
    [0, 2]
    """
    scores = np.asarray(scores, np.float32).reshape(-1)
    classes = np.asarray(classes).reshape(-1)
    if len(classes) != len(scores):
        raise ValueError(
            f"`classes` needs one entry per box. Received: classes.shape={classes.shape}, scores.shape={scores.shape}"
        )
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) != len(scores):
        raise ValueError(
            f"`scores` needs one entry per box. Received: boxes.shape={boxes.shape}, scores.shape={scores.shape}"
        )
    _as_xyxy(boxes, box_format)  # inverted boxes are named with their index among all boxes
    kept = []
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        kept.extend(
            members[
                non_max_suppression(
                    boxes[members],
                    scores[members],
                    iou_threshold,
                    score_threshold,
                    None,
                    box_format=box_format,
                )
            ]
        )
    kept = np.array(kept, dtype=np.int64)
    kept = kept[np.argsort(-scores[kept], kind="stable")]
    return kept if max_output_size is None else kept[:max_output_size]


def match_detections(det_boxes, det_scores, gt_boxes, iou_threshold: float = 0.5, *, box_format: str):
    """Which detections of one class in one image are true positives (COCO's greedy matching).

    From the highest score down (stable: equal scores keep their order), each detection takes the
    still unmatched ground truth it overlaps most, if that IoU is at least
    ``min(iou_threshold, 1 - 1e-10)``; otherwise it is a false positive. Among truths with the same
    IoU it takes the last one, as ``pycocotools`` does (its loop over the truths keeps replacing the
    match while ``IoU >= the best so far``). No detection is dropped here: the cap of
    :func:`precision_recall` is applied before.

    Args:
        det_boxes: ``(K, 4)`` detected boxes.
        det_scores: ``(K,)`` their scores.
        gt_boxes: ``(M, 4)`` true boxes.
        iou_threshold: IoU a detection needs with a true box to count.
        box_format: the format of ``det_boxes`` and ``gt_boxes``, one of
            :data:`tfcourse.boxes.FORMATS` (required).

    Returns:
        ``(K,)`` bool, in the order of ``det_boxes``.

    Example:
    >>> match_detections([[0, 0, 10, 10], [0, 0, 10, 9], [50, 50, 60, 60]], [0.9, 0.8, 0.7],
    ...                  [[0, 0, 10, 10]], box_format="xyxy").tolist()  # a duplicate second, a miss third
    [True, False, False]
    >>> # a tie: [2, 0, 12, 10] overlaps both truths by 8/12 and takes the second one,
    >>> # which leaves the first for [-1, 0, 9, 10]
    >>> match_detections([[2, 0, 12, 10], [-1, 0, 9, 10]], [0.9, 0.8], [[0, 0, 10, 10], [4, 0, 14, 10]],
    ...                  box_format="xyxy").tolist()
    [True, True]
    """
    det_corners = _as_xyxy(det_boxes, box_format, "det_boxes")
    gt_corners = _as_xyxy(gt_boxes, box_format, "gt_boxes")
    det_scores = np.asarray(det_scores, np.float64).reshape(-1)
    if len(det_scores) != len(det_corners):
        raise ValueError(
            "`det_scores` needs one entry per detection. "
            f"Received: det_boxes.shape={det_corners.shape}, det_scores.shape={det_scores.shape}"
        )
    return _match(det_corners, det_scores, gt_corners, iou_threshold)


def _match(
    det_corners: np.ndarray, det_scores: np.ndarray, gt_corners: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """:func:`match_detections` on checked float64 corners and scores (no input checks)."""
    ious = _iou_matrix(det_corners, gt_corners)  # (K, M)
    threshold = min(iou_threshold, 1 - 1e-10)  # pycocotools' rule
    taken = np.zeros(ious.shape[1], bool)
    hit = np.zeros(len(det_scores), bool)
    if not ious.shape[1]:
        return hit
    for d in np.argsort(-det_scores, kind="stable"):
        candidates = np.where(taken, -np.inf, ious[d])  # (M,)
        best = candidates.max()
        if best >= threshold:
            g = len(candidates) - 1 - int(np.argmax(candidates[::-1]))  # the last truth with the best IoU
            taken[g], hit[d] = True, True
    return hit


def precision_recall(
    detections: Sequence[dict],
    ground_truths: Sequence[dict],
    class_id: int,
    iou_threshold: float = 0.5,
    *,
    box_format: str,
    max_detections: int | None = 100,
) -> dict[str, np.ndarray | int]:
    """Precision and recall of one class as its score threshold is lowered, over a set of images.

    Args:
        detections: one dict per image (``boxes``, ``scores``, ``classes``).
        ground_truths: one dict per image (``boxes``, ``classes``), same order.
        class_id: the class.
        iou_threshold: IoU a detection needs with a true box to count.
        box_format: the format of all boxes, detected and true, one of :data:`tfcourse.boxes.FORMATS`
            (required, no default).
        max_detections: in each image, only this many detections of the class, the highest
            scoring, are evaluated (COCO's ``maxDets``, 100, applied per image and class as
            ``pycocotools`` does); the others are left out, neither hits nor false positives.
            None: no cap.

    Returns:
        ``{"precision": (K,), "recall": (K,), "scores": (K,), "num_truths": int}``, one entry per
        evaluated detection of the class, from the highest score down (scores in float64).

    Example:
    >>> truth = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "classes": [0, 0]}]
    >>> dets = [{"boxes": [[0, 0, 10, 10], [40, 40, 50, 50], [20, 20, 30, 31]],
    ...          "scores": [0.9, 0.8, 0.7], "classes": [0, 0, 0]}]
    >>> pr = precision_recall(dets, truth, class_id=0, box_format="xyxy")
    >>> pr["precision"].round(3).tolist(), pr["recall"].tolist()
    ([1.0, 0.5, 0.667], [0.5, 0.5, 1.0])
    """
    if len(detections) != len(ground_truths):
        raise ValueError(
            "`detections` and `ground_truths` need one entry per image. "
            f"Received: len(detections)={len(detections)}, len(ground_truths)={len(ground_truths)}"
        )
    _check_max_detections(max_detections)
    box_utils.check_format(box_format)  # also when there are no images
    return _precision_recall(
        _checked_images(detections, ground_truths, box_format), class_id, iou_threshold, max_detections
    )


def _checked_images(
    detections: Sequence[dict], ground_truths: Sequence[dict], box_format: str
) -> list[tuple]:
    """Every image's ``(det corners, det classes, det scores, truth corners, truth classes)``, checked once."""
    images = []
    for i, (det, truth) in enumerate(zip(detections, ground_truths)):
        gt_boxes, gt_classes = _entry(truth, box_format, f"ground_truths[{i}]", scored=False)
        det_boxes, det_classes, det_scores = _entry(det, box_format, f"detections[{i}]", scored=True)
        images.append((det_boxes, det_classes, det_scores, gt_boxes, gt_classes))
    return images


def _precision_recall(
    images: list[tuple], class_id: int, iou_threshold: float, max_detections: int | None
) -> dict:
    """:func:`precision_recall` on the images :func:`_checked_images` made."""
    hits, scores, num_truths = [np.zeros(0, bool)], [np.zeros(0)], 0
    for det_boxes, det_classes, det_scores, gt_boxes, gt_classes in images:
        gt_boxes = gt_boxes[gt_classes == class_id]
        mine = np.flatnonzero(det_classes == class_id)
        mine = mine[np.argsort(-det_scores[mine], kind="stable")][:max_detections]  # the image's best, capped
        num_truths += len(gt_boxes)
        hits.append(_match(det_boxes[mine], det_scores[mine], gt_boxes, iou_threshold))
        scores.append(det_scores[mine])
    hits, scores = np.concatenate(hits), np.concatenate(scores)
    order = np.argsort(-scores, kind="mergesort")  # the order pycocotools uses
    true_positives = np.cumsum(hits[order])
    ranks = np.arange(1, len(order) + 1)
    return {
        "precision": true_positives / ranks,
        "recall": true_positives / max(num_truths, 1),
        "scores": scores[order],
        "num_truths": num_truths,
    }


def _entry(entry: dict, box_format: str, name: str, scored: bool):
    """One image's dict -> corner boxes ``(N, 4)``, classes ``(N,)`` (and float64 scores ``(N,)``), checked."""
    boxes = _as_xyxy(entry["boxes"], box_format, f"{name}['boxes']")
    classes = np.asarray(entry["classes"]).reshape(-1)
    arrays = {
        "classes": classes,
        **({"scores": np.asarray(entry["scores"], np.float64).reshape(-1)} if scored else {}),
    }
    for key, values in arrays.items():
        if len(values) != len(boxes):
            raise ValueError(
                f"`{name}` needs one `{key}` entry per box. "
                f"Received: {name}['boxes'] has {len(boxes)}, {name}['{key}'] has {len(values)}"
            )
    return (boxes, classes, arrays["scores"]) if scored else (boxes, classes)


def average_precision(precision, recall, method: str = "coco101") -> float:
    """The area under a precision-recall curve, with interpolated (never rising) precision.

    ``"coco101"``: the mean of the interpolated precision at recall 0, 0.01, ..., 1 (0 beyond the
    largest recall reached), as ``pycocotools``. ``"voc"``: PASCAL VOC 2010+ all-point
    interpolation, the exact area under the precision envelope.

    Example:
    >>> average_precision([1.0, 0.5, 2 / 3], [0.5, 0.5, 1.0], "voc")  # 0.5 * 1 + 0.5 * 2/3
    0.8333333333333333
    >>> round(average_precision([1.0, 0.5, 2 / 3], [0.5, 0.5, 1.0], "coco101"), 4)  # (51 * 1 + 50 * 2/3) / 101
    0.835
    """
    if method not in AP_METHODS:
        raise ValueError(f"Unknown AP method, expected one of {AP_METHODS}. Received: method={method!r}")
    precision = np.asarray(precision, np.float64)
    recall = np.asarray(recall, np.float64)
    if precision.shape != recall.shape:
        raise ValueError(
            f"`precision` and `recall` need the same shape. Received: {precision.shape} and {recall.shape}"
        )
    if len(precision) == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # the best precision at this recall or more
    if method == "voc":
        recall_steps = np.diff(np.concatenate([[0.0], recall]))
        return float(np.sum(recall_steps * envelope))
    levels = np.linspace(0.0, 1.0, 101)
    at = np.searchsorted(recall, levels, side="left")  # first detection reaching each recall level
    return float(np.mean(np.where(at < len(envelope), envelope[np.minimum(at, len(envelope) - 1)], 0.0)))


def _in_corners(entries: Sequence[dict], box_format: str, name: str) -> list[dict]:
    """The same dicts with their boxes in float64 corners, converted with one call for all images.

    An inverted box raises a ValueError naming it, e.g. ``detections[3]['boxes'][5]``.
    """
    given = [np.asarray(e["boxes"], np.float64).reshape(-1, 4) for e in entries]
    stacked = np.concatenate(given or [np.zeros((0, 4))])
    corners = np.stack(box_utils.to_corners(stacked, box_format=box_format), axis=1)  # (all boxes, 4)
    parts = np.split(corners, np.cumsum([len(g) for g in given])[:-1])
    for i, (g, part) in enumerate(zip(given, parts)):
        box_utils.check_ordered(g, tuple(part.T), box_format=box_format, name=f"{name}[{i}]['boxes']")
    return [{**e, "boxes": part} for e, part in zip(entries, parts)]


def _checked_corners(
    detections: Sequence[dict], ground_truths: Sequence[dict], box_format: str, max_detections: int | None
) -> tuple[list[dict], list[dict]]:
    """Both evaluators' input checks, then every image's boxes in corners (see :func:`_in_corners`)."""
    _check_max_detections(max_detections)
    if len(detections) != len(ground_truths):
        raise ValueError(
            "`detections` and `ground_truths` need one entry per image. "
            f"Received: len(detections)={len(detections)}, len(ground_truths)={len(ground_truths)}"
        )
    return _in_corners(detections, box_format, "detections"), _in_corners(
        ground_truths, box_format, "ground_truths"
    )


def mean_average_precision(
    detections: Sequence[dict],
    ground_truths: Sequence[dict],
    num_classes: int,
    iou_threshold: float = 0.5,
    method: str = "coco101",
    *,
    box_format: str,
    max_detections: int | None = 100,
) -> dict:
    """AP of every class and their mean (mAP), over classes that have at least one true box.

    Args:
        detections: one dict per image (``boxes``, ``scores``, ``classes``).
        ground_truths: one dict per image (``boxes``, ``classes``), same order.
        num_classes: classes ``0 .. num_classes - 1`` are evaluated.
        iou_threshold: IoU a detection needs with a true box to count.
        method: ``"coco101"`` (as ``pycocotools``) or ``"voc"``, see :func:`average_precision`.
        box_format: the format of all boxes, detected and true, one of :data:`tfcourse.boxes.FORMATS`
            (required, no default).
        max_detections: detections evaluated per image and class, the highest scoring (COCO's
            100); None for no cap. See :func:`precision_recall`.

    Returns:
        ``{"map": float, "ap": (num_classes,) with NaN for classes without true boxes,
        "curves": [precision_recall(...) per class]}``.

    Example:
    >>> truth = [{"boxes": [[0, 0, 10, 10]], "classes": [0]}, {"boxes": [[5, 5, 20, 20]], "classes": [1]}]
    >>> dets = [{"boxes": [[0, 0, 10, 10]], "scores": [0.9], "classes": [0]},
    ...         {"boxes": [[5, 5, 20, 20]], "scores": [0.8], "classes": [0]}]  # right box, wrong class
    >>> result = mean_average_precision(dets, truth, num_classes=3, box_format="xyxy")
    >>> result["map"], result["ap"].tolist()
    (0.5, [1.0, 0.0, nan])
    """
    corners = "rel_xyxy" if box_utils.is_relative(box_format) else "xyxy"
    detections, ground_truths = _checked_corners(detections, ground_truths, box_format, max_detections)
    images = _checked_images(
        detections, ground_truths, corners
    )  # each image checked once, not once per class
    curves = [_precision_recall(images, c, iou_threshold, max_detections) for c in range(num_classes)]
    ap = np.array(
        [
            average_precision(curve["precision"], curve["recall"], method) if curve["num_truths"] else np.nan
            for curve in curves
        ]
    )
    return {"map": float(np.nanmean(ap)) if np.isfinite(ap).any() else 0.0, "ap": ap, "curves": curves}


def coco_mean_average_precision(
    detections: Sequence[dict],
    ground_truths: Sequence[dict],
    num_classes: int,
    iou_threshold: float = 0.5,
    *,
    box_format: str,
    max_detections: int | None = 100,
) -> dict:
    """The reference: AP per class and mAP at one IoU threshold from ``pycocotools``'s ``COCOeval``.

    Boxes are handed to COCO in float64 pixels-or-normalised ``xywh`` (COCO's format; IoU does not
    depend on the units), with one area range (all) and ``maxDets = [max_detections]``: COCO
    evaluates at most that many detections per image and class (None: all of them). Inverted
    boxes raise a ValueError, as in :func:`mean_average_precision`, instead of being ignored.

    Args:
        detections, ground_truths, num_classes, iou_threshold, max_detections: as in
            :func:`mean_average_precision`.
        box_format: the format of all boxes, detected and true, one of :data:`tfcourse.boxes.FORMATS`
            (required, no default).

    Returns:
        ``{"map": float, "ap": (num_classes,) with NaN for classes without true boxes}``.

    Example:
    >>> truth = [{"boxes": [[0, 0, 10, 10]], "classes": [0]}, {"boxes": [[5, 5, 20, 20]], "classes": [1]}]
    >>> dets = [{"boxes": [[0, 0, 10, 10]], "scores": [0.9], "classes": [0]},
    ...         {"boxes": [[5, 5, 20, 20]], "scores": [0.8], "classes": [0]}]
    >>> result = coco_mean_average_precision(dets, truth, num_classes=3, box_format="xyxy")
    >>> round(result["map"], 6), result["ap"].round(6).tolist()
    (0.5, [1.0, 0.0, nan])
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    detections, ground_truths = _checked_corners(detections, ground_truths, box_format, max_detections)

    def as_xywh(corners):  # (N, 4) float64 corners -> COCO's x, y, width, height
        return np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)

    images, annotations, results = [], [], []
    for image_id, (det, truth) in enumerate(zip(detections, ground_truths), start=1):
        images.append({"id": image_id})
        for box, label in zip(as_xywh(truth["boxes"]), np.asarray(truth["classes"]).reshape(-1)):
            annotations.append(
                {
                    "id": len(annotations) + 1,  # COCO needs ids > 0
                    "image_id": image_id,
                    "category_id": int(label),
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }
            )
        det_scores = np.asarray(det["scores"]).reshape(-1)
        for box, score, label in zip(
            as_xywh(det["boxes"]), det_scores, np.asarray(det["classes"]).reshape(-1)
        ):
            results.append(
                {"image_id": image_id, "category_id": int(label), "bbox": box.tolist(), "score": float(score)}
            )
    ap = np.full(num_classes, np.nan)
    has_truth = np.zeros(num_classes, bool)
    for annotation in annotations:
        has_truth[annotation["category_id"]] = True
    ap[has_truth] = 0.0
    if not results or not annotations:
        return {"map": float(np.nanmean(ap)) if has_truth.any() else 0.0, "ap": ap}

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth_api = COCO()
        truth_api.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c} for c in range(num_classes)],
        }
        truth_api.createIndex()
        det_api = truth_api.loadRes(results)
        evaluator = COCOeval(truth_api, det_api, "bbox")
        evaluator.params.iouThrs = np.array([iou_threshold])
        evaluator.params.maxDets = [
            max_detections if max_detections is not None else max(len(d["boxes"]) for d in detections)
        ]
        evaluator.params.areaRng = [[0.0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"]  # (iou thresholds, 101 recall levels, classes, areas, max dets)
    for k, c in enumerate(evaluator.params.catIds):
        values = precision[0, :, k, 0, -1]
        if (values > -1).any():
            ap[c] = float(values[values > -1].mean())
    return {"map": float(np.nanmean(ap)), "ap": ap}
