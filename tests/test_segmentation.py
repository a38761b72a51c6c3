"""Segmentation metrics, losses and components, against Keras, TensorFlow and plain-loop references."""

from collections import deque

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import detection, segmentation

RNG = np.random.default_rng(0)


def _random_masks(shape=(3, 16, 16), num_classes=5, absent=None):
    masks = RNG.integers(0, num_classes, size=shape)
    if absent is not None:
        masks[masks == absent] = 0
    return masks


def test_confusion_matrix_matches_tensorflow():
    true, pred = _random_masks(), _random_masks()
    ours = segmentation.confusion_matrix(true, pred, 5)
    theirs = tf.math.confusion_matrix(true.ravel(), pred.ravel(), num_classes=5).numpy()
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("absent", [None, 3])
def test_mean_iou_matches_keras(absent):
    for _ in range(5):
        true, pred = _random_masks(absent=absent), _random_masks(absent=absent)
        metric = keras.metrics.MeanIoU(num_classes=5)
        metric.update_state(true, pred)
        confusion = segmentation.confusion_matrix(true, pred, 5)
        np.testing.assert_allclose(segmentation.mean_iou(confusion), float(metric.result()), rtol=1e-6)
        if absent is not None:
            assert np.isnan(segmentation.per_class_iou(confusion)[absent])


def test_iou_dice_and_pixel_accuracy_by_hand():
    true = np.array([[0, 0, 0, 0, 1, 1, 2, 2]])
    pred = np.array([[0, 0, 0, 1, 1, 1, 2, 0]])
    confusion = segmentation.confusion_matrix(true, pred, 4)
    # class 0: TP 3, FP 1 (the last pixel), FN 1 -> 3/5; class 1: TP 2, FP 1 -> 2/3; class 2: TP 1, FN 1 -> 1/2
    np.testing.assert_allclose(segmentation.per_class_iou(confusion)[:3], [3 / 5, 2 / 3, 1 / 2])
    assert np.isnan(segmentation.per_class_iou(confusion)[3])
    np.testing.assert_allclose(segmentation.dice(confusion)[:3], [6 / 8, 4 / 5, 2 / 3])
    assert segmentation.mean_iou(confusion) == pytest.approx((3 / 5 + 2 / 3 + 1 / 2) / 3)
    assert segmentation.pixel_accuracy(confusion) == pytest.approx(6 / 8)
    iou = segmentation.per_class_iou(confusion)[:3]
    np.testing.assert_allclose(segmentation.dice(confusion)[:3], 2 * iou / (1 + iou))


def test_all_background_predictor_scores_the_background_share():
    true = np.zeros((2, 10, 10), np.int64)
    true[:, 2:4, 2:6] = 3  # 8 of 100 pixels per image are an object
    confusion = segmentation.confusion_matrix(true, np.zeros_like(true), 11)
    assert segmentation.pixel_accuracy(confusion) == pytest.approx(0.92)
    assert segmentation.mean_iou(confusion) == pytest.approx((0.92 + 0.0) / 2)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros((2, 3), int), np.zeros((2, 4), int), 3), "same shape"),
        ((np.zeros((2, 3), int), np.full((2, 3), 3), 3), "larger `num_classes`"),
        ((np.zeros((2, 3), int), np.zeros((2, 3), int), 1), ">= 2"),
        ((np.zeros((2, 3), float), np.zeros((2, 3), int), 3), "integer class ids"),
    ],
)
def test_bad_masks_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        segmentation.confusion_matrix(*args)


def test_class_weights_and_pixel_weights():
    masks = np.array([0] * 6 + [1] * 2 + [2])
    np.testing.assert_allclose(segmentation.class_weights(masks, 4), [2 / 6, 1, 2, 0], rtol=1e-6)
    inverse = segmentation.class_weights(masks, 4, method="inverse")
    counts = np.bincount(masks, minlength=4)
    np.testing.assert_allclose((inverse * counts)[:3], [9 / 4] * 3, rtol=1e-6)  # equal totals
    np.testing.assert_allclose(segmentation.pixel_weights(masks[:3], [0.5, 1, 2, 0]), [0.5] * 3)
    with pytest.raises(ValueError, match="'median' or 'inverse'"):
        segmentation.class_weights(masks, 4, method="log")


def test_dice_loss_against_numpy():
    labels = RNG.integers(0, 4, size=(2, 5, 6))
    logits = RNG.normal(size=(2, 5, 6, 4)).astype("float32")
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    t = np.eye(4)[labels]
    expected = 1 - np.mean((2 * (p * t).sum((0, 1, 2)) + 1) / (p.sum((0, 1, 2)) + t.sum((0, 1, 2)) + 1))
    loss = segmentation.DiceLoss(4)
    assert float(loss(labels, logits)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(labels[..., None], logits)) == pytest.approx(expected, rel=1e-5)
    perfect = np.where(np.eye(4)[labels] > 0, 30.0, -30.0).astype("float32")
    assert float(loss(labels, perfect)) < 1e-3
    probabilities = segmentation.DiceLoss(4, from_logits=False)
    assert float(probabilities(labels, p.astype("float32"))) == pytest.approx(expected, rel=1e-5)


def test_dice_loss_config_and_shape_check():
    loss = segmentation.DiceLoss(5, from_logits=False, smooth=0.5)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(again, segmentation.DiceLoss)
    assert (again.num_classes, again.from_logits, again.smooth) == (5, False, 0.5)
    with pytest.raises(ValueError, match=r"\(batch, height, width, 5\)"):
        loss(np.zeros((2, 4, 4), int), np.zeros((2, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match=">= 2"):
        segmentation.DiceLoss(1)


def test_dice_loss_weights_examples_but_refuses_pixel_weights():
    labels = RNG.integers(0, 3, size=(2, 4, 4))
    logits = RNG.normal(size=(2, 4, 4, 3)).astype("float32")
    loss = segmentation.DiceLoss(3)
    value = float(loss(labels, logits))
    # Keras's "sum_over_batch_size": weighted sum over examples / number of examples
    assert float(loss(labels, logits, sample_weight=np.array([1.0, 0.0]))) == pytest.approx(value / 2)
    assert float(loss(labels, logits, sample_weight=np.ones((2, 1)))) == pytest.approx(value)
    with pytest.raises(ValueError, match=r"one per pixel.*\(2, 4, 4\)"):
        loss(labels, logits, sample_weight=np.ones((2, 4, 4), "float32"))


def test_dice_loss_trains_a_model():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, padding="same")])
    model.compile(keras.optimizers.Adam(0.05), segmentation.DiceLoss(3))
    images = RNG.uniform(size=(4, 8, 8, 1)).astype("float32")
    masks = np.digitize(images[..., 0], [0.33, 0.66])
    history = model.fit(images, masks, epochs=30, verbose=0).history["loss"]
    assert history[-1] < history[0] - 0.1


def _flood_fill_reference(mask, connectivity):
    """Plain Python: breadth-first search from each unlabelled pixel, row by row."""
    height, width = len(mask), len(mask[0])
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)]
    if connectivity == 8:
        steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    labels = [[0] * width for _ in range(height)]
    count = 0
    for r in range(height):
        for c in range(width):
            if mask[r][c] == 0 or labels[r][c]:
                continue
            count += 1
            labels[r][c] = count
            queue = deque([(r, c)])
            while queue:
                y, x = queue.popleft()
                for dy, dx in steps:
                    ny, nx = y + dy, x + dx
                    if (
                        0 <= ny < height
                        and 0 <= nx < width
                        and not labels[ny][nx]
                        and mask[ny][nx] == mask[y][x]
                    ):
                        labels[ny][nx] = count
                        queue.append((ny, nx))
    return np.array(labels), count


@pytest.mark.parametrize("connectivity", [4, 8])
def test_connected_components_match_a_flood_fill(connectivity):
    for density in (0.3, 0.55, 0.8):
        for classes in (1, 3):
            mask = (RNG.uniform(size=(20, 23)) < density) * RNG.integers(1, classes + 1, size=(20, 23))
            labels, count = segmentation.connected_components(mask, connectivity)
            expected, expected_count = _flood_fill_reference(mask.tolist(), connectivity)
            assert count == expected_count
            np.testing.assert_array_equal(labels, expected)


def _snake(size):
    """One 4-connected path that winds across the whole mask: the longest path a mask can hold."""
    mask = np.zeros((size, size), np.int64)
    mask[::2] = 1
    for row in range(1, size, 2):
        mask[row, -1 if row // 2 % 2 == 0 else 0] = 1
    return mask


@pytest.mark.parametrize("connectivity", [4, 8])
def test_connected_components_of_a_winding_region(connectivity):
    mask = _snake(41)
    labels, count = segmentation.connected_components(mask, connectivity)
    assert count == 1 and (labels == mask).all()
    # the gaps between the turns, as a second class: separate regions, as the flood fill finds
    two = np.where(mask == 0, 2, 1)
    labels, count = segmentation.connected_components(two, connectivity)
    expected, expected_count = _flood_fill_reference(two.tolist(), connectivity)
    assert count == expected_count
    np.testing.assert_array_equal(labels, expected)


def test_connected_components_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        segmentation.connected_components(np.zeros((2, 3, 3), int))
    with pytest.raises(ValueError, match="4 or 8"):
        segmentation.connected_components(np.zeros((3, 3), int), connectivity=6)


def test_mask_to_detections_boxes_classes_scores():
    mask = np.zeros((10, 12), np.int64)
    mask[1:4, 2:7] = 4  # class 3
    mask[6:9, 8:11] = 1  # class 0
    mask[9, 0] = 2  # one pixel of class 1: a speck
    probabilities = np.zeros((10, 12, 5), np.float32)
    probabilities[..., 4] = 0.6
    probabilities[..., 1] = 0.9
    found = segmentation.mask_to_detections(mask, probabilities, min_pixels=2)
    np.testing.assert_array_equal(found["boxes"], [[2, 1, 7, 4], [8, 6, 11, 9]])
    np.testing.assert_array_equal(found["classes"], [3, 0])
    np.testing.assert_allclose(found["scores"], [0.6, 0.9])
    assert len(segmentation.mask_to_detections(mask)["classes"]) == 3
    empty = segmentation.mask_to_detections(np.zeros((4, 4), int))
    assert empty["boxes"].shape == (0, 4)
    with pytest.raises(ValueError, match="probabilities"):
        segmentation.mask_to_detections(mask, probabilities[:5])


def test_mask_to_detections_matches_a_region_by_region_loop():
    for connectivity in (4, 8):
        mask = (RNG.uniform(size=(24, 30)) < 0.5) * RNG.integers(1, 4, size=(24, 30))
        probabilities = RNG.uniform(size=(24, 30, 4)).astype("float32")
        found = segmentation.mask_to_detections(mask, probabilities, min_pixels=3, connectivity=connectivity)
        labels, count = _flood_fill_reference(mask.tolist(), connectivity)
        boxes, classes, scores = [], [], []
        for region in range(1, count + 1):
            rows, cols = np.nonzero(labels == region)
            if len(rows) >= 3:
                value = mask[rows[0], cols[0]]
                boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
                classes.append(value - 1)
                scores.append(probabilities[rows, cols, value].mean())
        np.testing.assert_array_equal(found["boxes"], np.array(boxes, np.float32))
        np.testing.assert_array_equal(found["classes"], classes)
        np.testing.assert_allclose(found["scores"], scores, rtol=1e-6)
    with pytest.raises(ValueError, match="min_pixels"):
        segmentation.mask_to_detections(mask, min_pixels=0)


def test_detections_from_true_masks_score_a_perfect_map():
    masks, truths = [], []
    for _ in range(4):
        mask = np.zeros((32, 32), np.int64)
        boxes, classes = [], []
        for k in range(2):
            x1, y1 = RNG.integers(0, 10, size=2) + 16 * k
            w, h = RNG.integers(3, 7, size=2)
            c = int(RNG.integers(0, 10))
            mask[y1 : y1 + h, x1 : x1 + w] = c + 1
            boxes.append([x1, y1, x1 + w, y1 + h])
            classes.append(c)
        masks.append(mask)
        truths.append({"boxes": np.array(boxes, float), "classes": np.array(classes)})
    found = [segmentation.mask_to_detections(m) for m in masks]
    result = detection.mean_average_precision(found, truths, 10, 0.5, box_format="xyxy")
    assert result["map"] == pytest.approx(1.0)
