"""Semantic segmentation: metrics, losses and the way back from pixels to objects (notebook 09).

A segmentation model predicts a class for every pixel. Its metrics all come from one confusion
matrix of pixel counts (rows: true class, columns: predicted class):

- **pixel accuracy**, the share of pixels classified right. When most pixels are background it
  flatters a model: predicting background everywhere already scores the background's share;
- **IoU** per class, ``TP / (TP + FP + FN)``, and its mean over classes (``keras.metrics.MeanIoU``
  computes the same; classes absent from both truth and prediction are left out of the mean,
  as Keras does);
- **Dice** per class, ``2 TP / (2 TP + FP + FN)``, the F1 score of a class's pixels.

For training, :class:`DiceLoss` is a soft Dice on the predicted probabilities, and
:func:`class_weights` balances cross-entropy when classes have very different pixel counts.
:func:`connected_components` (written by hand, by label propagation) and
:func:`mask_to_detections` turn a predicted class mask into objects with boxes, in the format
that :func:`tfcourse.detection.mean_average_precision` scores.

Class masks here use ``0`` for background and ``1 .. C - 1`` for the object classes, as the
``segment`` scenes of :mod:`tfcourse.scenes` do (class ``k`` of Fashion-MNIST is mask value
``k + 1``).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def _int_masks(y_true, y_pred, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r}")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "`y_true` and `y_pred` must be class masks of the same shape (take the argmax of "
            f"logits first). Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    for name, mask in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.issubdtype(mask.dtype, np.integer):
            raise ValueError(f"`{name}` must hold integer class ids. Received dtype {mask.dtype}")
        if mask.size and (mask.min() < 0 or mask.max() >= num_classes):
            raise ValueError(
                f"`{name}` has class ids from {mask.min()} to {mask.max()}, outside 0 .. "
                f"{num_classes - 1}; pass a larger `num_classes`."
            )
    return y_true.astype(np.int64).ravel(), y_pred.astype(np.int64).ravel()


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Pixel counts ``(num_classes, num_classes)``: row = true class, column = predicted class.

    Args:
        y_true: integer class mask of any shape (e.g. ``(N, H, W)``).
        y_pred: predicted class mask of the same shape.
        num_classes: classes ``0 .. num_classes - 1``.

    Example:
    >>> confusion_matrix([[0, 0, 1, 2]], [[0, 1, 1, 1]], 3).tolist()
    [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    """
    true, pred = _int_masks(y_true, y_pred, num_classes)
    return np.bincount(true * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def _check_confusion(confusion) -> np.ndarray:
    confusion = np.asarray(confusion, np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(
            f"Expected a square confusion matrix (see `confusion_matrix`). Received shape {confusion.shape}"
        )
    return confusion


def pixel_accuracy(confusion) -> float:
    """Share of pixels whose predicted class is the true one: ``trace / sum``."""
    confusion = _check_confusion(confusion)
    return float(np.trace(confusion) / max(confusion.sum(), 1))


def per_class_iou(confusion) -> np.ndarray:
    """``TP / (TP + FP + FN)`` for every class; NaN for a class absent from truth and prediction.

    Example:
    >>> per_class_iou(confusion_matrix([[0, 0, 1, 1]], [[0, 1, 1, 1]], 3)).round(3).tolist()
    [0.5, 0.667, nan]
    """
    confusion = _check_confusion(confusion)
    tp = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(confusion) -> float:
    """Mean of :func:`per_class_iou` over the classes present in truth or prediction.

    The same convention as ``keras.metrics.MeanIoU``: a class that appears nowhere is left out
    rather than counted as 0 or 1.
    """
    return float(np.nanmean(per_class_iou(confusion)))


def dice(confusion) -> np.ndarray:
    """``2 TP / (2 TP + FP + FN)`` for every class (NaN where absent), the F1 score of its pixels.

    Dice and IoU rank models alike (``dice = 2 IoU / (1 + IoU)``); Dice is the larger number.
    """
    confusion = _check_confusion(confusion)
    tp = np.diag(confusion)
    total = confusion.sum(axis=0) + confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2 * tp / total, np.nan)


def class_weights(masks, num_classes: int, method: str = "median") -> np.ndarray:
    """Per-class weights that balance cross-entropy over classes of very different pixel counts.

    Args:
        masks: integer class masks, any shape; their pixel counts give each class's frequency.
        num_classes: classes ``0 .. num_classes - 1``.
        method: ``"median"``, median-frequency balancing (Eigen and Fergus, 2015):
            ``w_c = median(f) / f_c``, so a class of median frequency weighs 1 and the dominant
            background much less; or ``"inverse"``: ``w_c = 1 / (num_classes f_c)``, which makes
            every class's total weight equal.

    Returns:
        ``(num_classes,)`` float32 weights; 0 for a class with no pixels (it contributes no loss).

    Example:
    >>> [round(float(w), 2) for w in class_weights(np.array([0, 0, 0, 0, 0, 0, 1, 1, 2]), 3)]
    [0.33, 1.0, 2.0]
    """
    masks = np.asarray(masks)
    _int_masks(masks, masks, num_classes)
    counts = np.bincount(masks.ravel().astype(np.int64), minlength=num_classes).astype(np.float64)
    frequency = counts / counts.sum()
    present = counts > 0
    if method == "median":
        scale = np.median(frequency[present])
    elif method == "inverse":
        scale = 1.0 / num_classes
    else:
        raise ValueError(f"`method` must be 'median' or 'inverse'. Received: method={method!r}")
    weights = np.zeros(num_classes)
    weights[present] = scale / frequency[present]
    return weights.astype(np.float32)


def pixel_weights(masks, weights) -> np.ndarray:
    """The weight of every pixel's true class, ``weights[masks]``: the ``sample_weight`` that turns
    cross-entropy into class-weighted cross-entropy (``Dataset.map`` it next to the masks)."""
    weights = np.asarray(weights, np.float32)
    masks = np.asarray(masks)
    _int_masks(masks, masks, len(weights))
    return weights[masks]


@keras.saving.register_keras_serializable(package="tfcourse")
class DiceLoss(keras.losses.Loss):
    """Soft Dice loss for per-pixel classification: ``1 - mean over classes of soft Dice``.

    For each class ``c``, with ``p`` the predicted probability and ``t`` the one-hot truth,
    summed over the batch's pixels: ``(2 sum(p t) + smooth) / (sum(p) + sum(t) + smooth)``. It is
    computed over the whole batch, so every class weighs the same however few pixels it has:
    a loss that does not let the background dominate. ``smooth`` keeps a class absent from the
    batch (truth and prediction near 0) at a Dice near 1 rather than 0/0.

    Args:
        num_classes: channels of the prediction.
        from_logits: the predictions are logits (softmax applied here) rather than probabilities.
        smooth: the additive constant above.

    ``y_true``: ``(N, H, W)`` or ``(N, H, W, 1)`` integer class masks; ``y_pred``:
    ``(N, H, W, num_classes)``. Returns one value per batch (reduction is over the batch already).
    A ``sample_weight`` per example scales it as Keras does for any loss; a weight per pixel
    (:func:`pixel_weights`) is refused: it is meant for cross-entropy, and Dice already weighs
    every class the same.
    """

    def __init__(
        self,
        num_classes: int,
        from_logits: bool = True,
        smooth: float = 1.0,
        name: str = "dice_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r}")
        self.num_classes, self.from_logits, self.smooth = num_classes, bool(from_logits), float(smooth)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            shape = tuple(keras.ops.shape(sample_weight))
            if any(side != 1 for side in shape[1:]):
                raise ValueError(
                    "DiceLoss takes at most one `sample_weight` per example, not one per pixel: it "
                    "pools the whole batch's pixels and already weighs every class the same. Use "
                    "per-pixel weights (`pixel_weights`) with cross-entropy. Received sample_weight "
                    f"of shape {shape}"
                )
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        if y_pred.shape.rank != 4 or (y_pred.shape[-1] is not None and y_pred.shape[-1] != self.num_classes):
            raise ValueError(
                f"DiceLoss expects predictions of shape (batch, height, width, {self.num_classes}). "
                f"Received: {tuple(y_pred.shape)}"
            )
        y_true = tf.cast(y_true, tf.int32)
        if y_true.shape.rank == 4:
            y_true = tf.squeeze(y_true, axis=-1)
        probabilities = tf.nn.softmax(y_pred, axis=-1) if self.from_logits else y_pred
        truth = tf.one_hot(y_true, self.num_classes, dtype=probabilities.dtype)
        axes = [0, 1, 2]
        overlap = tf.reduce_sum(probabilities * truth, axis=axes)
        total = tf.reduce_sum(probabilities, axis=axes) + tf.reduce_sum(truth, axis=axes)
        soft_dice = (2.0 * overlap + self.smooth) / (total + self.smooth)
        loss = 1.0 - tf.reduce_mean(soft_dice)
        batch = tf.shape(y_pred)[0]
        return tf.fill([batch], loss)  # the same batch value per example, so Keras's mean keeps it

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "from_logits": self.from_logits,
            "smooth": self.smooth,
        }


_NEIGHBOURS = {
    4: ((0, 1), (1, 0), (0, -1), (-1, 0)),
    8: ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)),
}


def connected_components(mask, connectivity: int = 4) -> tuple[np.ndarray, int]:
    """Label the connected regions of equal non-zero value in a 2-D mask (by label propagation).

    Every non-zero pixel starts with its own label, its (1-based) index in row-major order. At
    each step a pixel takes the smallest label among itself and its neighbours of the same value,
    then *jumps* to the label that the pixel it points to holds (a label is always some pixel of
    the same region, so this is safe); until nothing changes. Without the jump a label travels one
    pixel per step, so a long winding region (a snake across a 96x96 mask) would take thousands
    of steps; with it a few dozen. Pixels of different classes that touch stay in different
    regions. Written by hand (NumPy, vectorised over the image), as ``scipy.ndimage.label`` or
    ``cv2.connectedComponents`` would do it.

    Args:
        mask: ``(H, W)`` integer mask; 0 is background, any other value a class.
        connectivity: 4 (edges) or 8 (edges and corners).

    Returns:
        ``(labels, count)``: ``labels`` ``(H, W)`` int32, 0 for background and ``1 .. count`` for
        the regions, numbered in the order of their first pixel (row by row).

    Example:
    >>> labels, count = connected_components(np.array([[1, 1, 0, 2], [0, 0, 0, 2], [1, 0, 1, 1]]))
    >>> count, labels.tolist()
    (4, [[1, 1, 0, 2], [0, 0, 0, 2], [3, 0, 4, 4]])
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"`mask` must be 2-D (height, width). Received shape {mask.shape}")
    if connectivity not in _NEIGHBOURS:
        raise ValueError(f"`connectivity` must be 4 or 8. Received: connectivity={connectivity!r}")
    height, width = mask.shape
    big = height * width + 1
    foreground = mask != 0
    # labels[p] is a pixel index + 1; `lookup[label]` is that pixel's own label (`big` stays `big`)
    labels = np.where(foreground, np.arange(1, height * width + 1).reshape(height, width), big)
    padded_mask = np.pad(mask, 1, constant_values=0)
    shifts = []
    for dy, dx in _NEIGHBOURS[connectivity]:
        neighbour = padded_mask[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        shifts.append(((dy, dx), (neighbour == mask) & foreground))
    while True:
        padded = np.pad(labels, 1, constant_values=big)
        smallest = labels
        for (dy, dx), same in shifts:
            neighbour = padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
            smallest = np.minimum(smallest, np.where(same, neighbour, big))
        lookup = np.concatenate([[big], smallest.ravel(), [big]])
        smallest = lookup[smallest]  # pointer jumping: take the label of the pixel pointed to
        if np.array_equal(smallest, labels):
            break
        labels = smallest
    roots, consecutive = np.unique(labels[foreground], return_inverse=True)
    out = np.zeros((height, width), np.int32)
    out[foreground] = consecutive.ravel() + 1
    return out, len(roots)


def mask_to_detections(
    class_mask, probabilities=None, *, min_pixels: int = 1, connectivity: int = 8
) -> dict[str, np.ndarray]:
    """Objects from a predicted class mask: one per connected region, with its box and a score.

    Args:
        class_mask: ``(H, W)`` predicted classes, 0 = background, ``k + 1`` = object class ``k``.
        probabilities: optional ``(H, W, C)`` predicted class probabilities; a region's score is
            the mean probability of its class over its pixels. Without them every score is 1.
        min_pixels: regions smaller than this are dropped (specks of noise).
        connectivity: 4 or 8, see :func:`connected_components`.

    Returns:
        ``{"boxes": (N, 4) float32 pixel xyxy (x2, y2 exclusive, as the scenes' boxes),
        "classes": (N,) int64 object classes (mask value - 1), "scores": (N,) float32}``, the
        per-image dict :func:`tfcourse.detection.mean_average_precision` takes
        (``box_format="xyxy"``).

    Example:
    >>> mask = np.zeros((6, 8), np.int64); mask[1:3, 1:4] = 3; mask[4:6, 5:8] = 1
    >>> found = mask_to_detections(mask)
    >>> found["boxes"].tolist(), found["classes"].tolist()
    ([[1.0, 1.0, 4.0, 3.0], [5.0, 4.0, 8.0, 6.0]], [2, 0])
    """
    class_mask = np.asarray(class_mask)
    if isinstance(min_pixels, bool) or not isinstance(min_pixels, (int, np.integer)) or min_pixels < 1:
        raise ValueError(f"`min_pixels` must be an integer >= 1. Received: min_pixels={min_pixels!r}")
    labels, count = connected_components(class_mask, connectivity)
    if probabilities is not None:
        probabilities = np.asarray(probabilities)
        if probabilities.shape[:2] != class_mask.shape or probabilities.ndim != 3:
            raise ValueError(
                f"`probabilities` must be (height, width, classes) matching the mask {class_mask.shape}. "
                f"Received shape {probabilities.shape}"
            )
        if class_mask.max(initial=0) >= probabilities.shape[-1]:
            raise ValueError(
                f"The mask has class {class_mask.max()} but `probabilities` only "
                f"{probabilities.shape[-1]} channels."
            )
    # Every region's pixel count, box, class and score at once (no pass over the image per region).
    flat = labels.ravel()
    rows, cols = np.divmod(np.arange(flat.size), class_mask.shape[1])
    sizes = np.bincount(flat, minlength=count + 1)
    height, width = class_mask.shape
    x1, y1 = np.full(count + 1, width, np.int64), np.full(count + 1, height, np.int64)
    x2, y2 = np.zeros(count + 1, np.int64), np.zeros(count + 1, np.int64)
    np.minimum.at(x1, flat, cols)
    np.minimum.at(y1, flat, rows)
    np.maximum.at(x2, flat, cols + 1)
    np.maximum.at(y2, flat, rows + 1)
    values = np.zeros(count + 1, np.int64)
    values[flat] = class_mask.ravel()  # every pixel of a region holds its class
    keep = np.flatnonzero(sizes >= min_pixels)
    keep = keep[keep > 0]  # region 0 is the background
    if probabilities is None:
        scores = np.ones(len(keep))
    else:
        own = probabilities.reshape(-1, probabilities.shape[-1])[np.arange(flat.size), values[flat]]
        scores = (np.bincount(flat, weights=own, minlength=count + 1) / np.maximum(sizes, 1))[keep]
    return {
        "boxes": np.stack([x1[keep], y1[keep], x2[keep], y2[keep]], axis=1).astype(np.float32),
        "classes": (values[keep] - 1).astype(np.int64),
        "scores": np.asarray(scores, np.float32),
    }
