"""Bounding boxes: formats, conversions, areas and IoU (after keras-cv's ``bounding_box``).

A box is four numbers on the last axis of an array, ``(..., 4)``. What the four numbers mean is
the box's *format*. Every function of the package that takes boxes takes their format as the
required keyword argument ``box_format`` (as keras-cv's ``bounding_box_format``), with no
default, so that each call says what its numbers mean: ``iou(a, b, box_format="xyxy")``;
:func:`convert_format` takes its two as ``source`` and ``target``. Leaving it out is Python's
TypeError, an unknown one a ValueError listing :data:`FORMATS`:

================  ==============================  =========================================
format            the four numbers                typical user
================  ==============================  =========================================
``"xyxy"``        ``x1, y1, x2, y2`` (corners)     drawing, IoU; the central format here
``"xywh"``        ``x1, y1, width, height``        COCO annotations, matplotlib rectangles
``"cxcywh"``      ``cx, cy, width, height``        YOLO, box regression targets
``"yxyx"``        ``y1, x1, y2, x2`` (corners)     TensorFlow (``tf.image``), TFDS ``BBoxFeature``
================  ==============================  =========================================

Each format comes in pixels (``"xyxy"``) or normalised by the image's width and height to
[0, 1] (``"rel_xyxy"``). Pixel coordinates are continuous: pixel column ``i`` spans
``[i, i + 1)``, so a box around columns 3 to 5 has ``x1 = 3``, ``x2 = 6`` and width 3.

Every conversion goes through one central format, pixel-or-normalised ``xyxy``: the source
is turned into corners, rescaled if it changes between pixels and normalised coordinates
(which needs the image's shape), then turned into the target. Adding a format means writing
two small functions, not one per pair.

The functions use ``keras.ops``, so they take NumPy arrays or TensorFlow tensors (also inside a
``tf.function`` or a loss) and return tensors; ``np.asarray`` turns a result into NumPy.
Non-maximum suppression and mAP, which build on IoU, are in :mod:`tfcourse.detection` (taught
in the YOLO notebook).

**Dtypes.** A result has the floating dtype of the boxes given (float16, bfloat16, float32 or
float64), so float64 boxes keep their precision and mixed-precision code gets float16 back;
integer boxes (and lists of integers) become ``keras.config.floatx()``. Two boxes of zero area
have IoU 0 in every dtype, never NaN.

**Inverted boxes.** A box whose corners are out of order (``x2 < x1`` or ``y2 < y1``, that is a
negative width or height in ``xywh`` and ``cxcywh``) is not a box: the functions here raise a
ValueError naming the first such box (its index and values) and the format. A box of zero
width or height (``x1 == x2``) is degenerate but ordered, and allowed: its area is 0. The check
needs the numbers, so it runs on concrete inputs (NumPy arrays, lists, eager tensors) and never
on the symbolic tensors of a traced graph (``tf.function``, ``model.fit``, ``Dataset.map``),
where there is nothing to look at and a network's early predictions may well be inverted.
Code that feeds a network's raw predictions (a loss, an evaluation of an untrained model) passes
``validate=False``, which treats an inverted box as empty (area 0, IoU 0) the same way eagerly
and in a graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

BASE_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh", "yxyx")
FORMATS: tuple[str, ...] = BASE_FORMATS + tuple(f"rel_{f}" for f in BASE_FORMATS)
"""Every format a function here accepts: the four pixel formats and their ``rel_`` versions."""


def check_format(box_format: str, name: str = "box_format") -> str:
    """Return ``box_format`` if it is one of :data:`FORMATS`, else raise a ValueError listing them.

    Example:
    >>> check_format("rel_cxcywh")
    'rel_cxcywh'
    >>> check_format("xyhw")
    Traceback (most recent call last):
    ...
    ValueError: Unknown box format for `box_format`, expected one of ('xyxy', 'xywh', 'cxcywh', 'yxyx', 'rel_xyxy', 'rel_xywh', 'rel_cxcywh', 'rel_yxyx'). Received: box_format='xyhw'
    """
    if box_format not in FORMATS:
        raise ValueError(
            f"Unknown box format for `{name}`, expected one of {FORMATS}. Received: {name}={box_format!r}"
        )
    return box_format


def is_relative(box_format: str) -> bool:
    """True for the normalised formats (``"rel_..."``)."""
    return check_format(box_format).startswith("rel_")


def _as_boxes(boxes):
    """A tensor of ``boxes`` whose last axis has 4 entries: floating dtypes kept, others -> floatx."""
    boxes = ops.convert_to_tensor(boxes)
    if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(boxes.dtype)):
        boxes = ops.cast(boxes, keras.config.floatx())
    return _check_last_axis(boxes)


def _as_box_pair(boxes1, boxes2):
    """Both sets as box tensors of one floating dtype, the wider of the two (as NumPy promotes):
    float64 boxes against a list of Python numbers stay float64, float16 against float32 gives float32."""
    boxes1, boxes2 = _as_boxes(boxes1), _as_boxes(boxes2)
    dtype = keras.backend.result_type(boxes1.dtype, boxes2.dtype)
    return ops.cast(boxes1, dtype), ops.cast(boxes2, dtype)


def _concrete(x) -> np.ndarray | None:
    """``x`` as a NumPy array when its values exist now (NumPy, eager tensor), None when symbolic."""
    if isinstance(x, (np.ndarray, np.generic)):  # the common case, without tf.is_tensor's slow check
        return x
    if isinstance(x, keras.KerasTensor) or (tf.is_tensor(x) and tf.is_symbolic_tensor(x)):
        return None
    return np.asarray(x)


_ORDER_RULE = {
    "xyxy": "x1 <= x2 and y1 <= y2",
    "yxyx": "y1 <= y2 and x1 <= x2",
    "xywh": "width >= 0 and height >= 0",
    "cxcywh": "width >= 0 and height >= 0",
}


def check_ordered(boxes, corners, *, box_format: str, name: str = "boxes") -> None:
    """Raise a ValueError if a box's corners ``(x1, y1, x2, y2)`` are out of order (x2 < x1 or y2 < y1).

    ``boxes`` are the boxes as given (named ``name`` in the error) and ``corners`` the four corner
    arrays :func:`to_corners` made of them. ``box_format`` is the format of ``boxes``, one of
    :data:`FORMATS`; the error states that format's rule. Symbolic tensors (a traced graph) are
    not checked; see the module docstring.

    Example:
    >>> import numpy as np
    >>> b = np.array([[0.0, 0, 4, 4], [5, 5, 2, 9]])
    >>> check_ordered(b, to_corners(b, box_format="xyxy"), box_format="xyxy")
    Traceback (most recent call last):
    ...
    ValueError: `boxes` holds 1 inverted box (x2 < x1 or y2 < y1 once in corners); format 'xyxy' needs x1 <= x2 and y1 <= y2. Fix the box, or pass `validate=False` to treat inverted boxes as empty (area 0), as for a network's raw predictions. Received: boxes[1]=[5.0, 5.0, 2.0, 9.0]
    """
    check_format(box_format)
    values = [_concrete(c) for c in corners]
    if any(v is None for v in values):
        return
    x1, y1, x2, y2 = (v.astype(np.float64) for v in values)
    inverted = np.broadcast_to((x2 < x1) | (y2 < y1), np.broadcast(x1, y1, x2, y2).shape)
    if not inverted.any():
        return
    count = int(inverted.sum())
    index = tuple(int(i) for i in np.argwhere(inverted)[0])
    given = np.asarray(_concrete(boxes), np.float64).reshape(*inverted.shape, 4)
    where = "".join(f"[{i}]" for i in index)
    raise ValueError(
        f"`{name}` holds {count} inverted box{'es' if count > 1 else ''} (x2 < x1 or y2 < y1 once in corners); "
        f"format {box_format!r} needs {_ORDER_RULE[box_format.removeprefix('rel_')]}. Fix the box, or pass "
        "`validate=False` to treat inverted boxes as empty (area 0), as for a network's raw predictions. "
        f"Received: {name}{where}={given[index].tolist()}"
    )


def _check_last_axis(boxes):
    if boxes.shape[-1] is not None and boxes.shape[-1] != 4:
        raise ValueError(
            f"Boxes need 4 numbers on their last axis, shape (..., 4). Received: boxes.shape={tuple(boxes.shape)}"
        )
    return boxes


def _split(boxes):
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def _corners(boxes, box_format: str, validate: bool, name: str):
    """(x1, y1, x2, y2) of ``boxes`` as float tensors in the format's own units, checked if ``validate``."""
    corners = to_corners(_as_boxes(boxes), box_format=box_format)
    if validate:
        check_ordered(boxes, corners, box_format=box_format, name=name)
    return corners


def to_corners(boxes, *, box_format: str):
    """``(x1, y1, x2, y2)`` of ``boxes`` in ``box_format``, in the format's own units.

    ``box_format`` is the format of ``boxes``, one of :data:`FORMATS`.

    The first half of every conversion. It only indexes the last axis and adds, so the array
    type is kept: NumPy in, NumPy out (no TensorFlow call, which matters when evaluating
    thousands of images), tensors in, tensors out; a list becomes a float tensor. ``rel_``
    formats give normalised corners. It only rearranges the numbers and does not check their
    order (see :func:`check_ordered`).

    Example:
    >>> import numpy as np
    >>> [float(v) for v in to_corners(np.array([30.0, 30.0, 40.0, 20.0]), box_format="cxcywh")]
    [10.0, 20.0, 50.0, 40.0]
    """
    base = check_format(box_format).removeprefix("rel_")
    boxes = _check_last_axis(boxes) if hasattr(boxes, "shape") else _as_boxes(boxes)
    a, b, c, d = _split(boxes)
    if base == "xyxy":
        return a, b, c, d
    if base == "xywh":
        return a, b, a + c, b + d
    if base == "cxcywh":
        return a - c / 2, b - d / 2, a + c / 2, b + d / 2
    return b, a, d, c  # yxyx


def _from_corners(x1, y1, x2, y2, base: str):
    """(x1, y1, x2, y2) -> ``base`` format, in the same units."""
    if base == "xyxy":
        parts = (x1, y1, x2, y2)
    elif base == "xywh":
        parts = (x1, y1, x2 - x1, y2 - y1)
    elif base == "cxcywh":
        parts = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
    else:  # yxyx
        parts = (y1, x1, y2, x2)
    return ops.stack(parts, axis=-1)  # (..., 4)


def _height_width(image_shape: Sequence[int]) -> tuple[float, float]:
    if image_shape is None or len(image_shape) not in (2, 3):
        raise ValueError(
            "Converting between pixel and normalised (`rel_`) formats needs the image's "
            f"`image_shape=(height, width)` or `(height, width, channels)`. Received: image_shape={image_shape!r}"
        )
    return float(image_shape[0]), float(image_shape[1])


def convert_format(
    boxes, source: str, target: str, image_shape: Sequence[int] | None = None, *, validate: bool = True
):
    """Convert boxes from one format to another, through corners (``xyxy``).

    Args:
        boxes: ``(..., 4)`` array or tensor of boxes in the ``source`` format.
        source: one of :data:`FORMATS`, e.g. ``"xyxy"`` or ``"rel_cxcywh"``.
        target: one of :data:`FORMATS`.
        image_shape: ``(height, width)`` (or ``(height, width, channels)``) of the image; needed
            only to go between pixels and normalised coordinates.
        validate: raise a ValueError for an inverted box (x2 < x1 or y2 < y1 in corners: a
            negative width or height in ``xywh``); ``False`` converts it as it is. Symbolic
            tensors are never checked (module docstring).

    Returns:
        A tensor of shape ``(..., 4)`` in the ``target`` format, of the dtype of ``boxes`` if that
        is floating, else ``keras.config.floatx()``.

    Example:
    >>> import numpy as np
    >>> box = np.array([10.0, 20.0, 50.0, 40.0])  # x1, y1, x2, y2 in pixels
    >>> np.asarray(convert_format(box, "xyxy", "cxcywh")).tolist()
    [30.0, 30.0, 40.0, 20.0]
    >>> print(np.asarray(convert_format(box, "xyxy", "rel_yxyx", image_shape=(100, 200))))
    [0.2  0.05 0.4  0.25]
    """
    source, target = check_format(source, "source"), check_format(target, "target")
    given, boxes = boxes, _as_boxes(boxes)
    x1, y1, x2, y2 = to_corners(boxes, box_format=source)
    if validate:
        check_ordered(given, (x1, y1, x2, y2), box_format=source)
    if source == target:
        return boxes
    if is_relative(source) != is_relative(target):
        height, width = _height_width(image_shape)
        if is_relative(source):  # normalised -> pixels
            x1, x2, y1, y2 = x1 * width, x2 * width, y1 * height, y2 * height
        else:  # pixels -> normalised
            x1, x2, y1, y2 = x1 / width, x2 / width, y1 / height, y2 / height
    return _from_corners(x1, y1, x2, y2, target.removeprefix("rel_"))


def box_area(boxes, *, box_format: str, validate: bool = True):
    """Area of each box, ``(..., 4) -> (...)``; a box of zero width or height has area 0.

    ``box_format`` is the format of ``boxes``, one of :data:`FORMATS` (pixel formats give areas
    in pixels, ``rel_`` formats fractions of the image). An inverted box (x2 < x1 or y2 < y1)
    raises a ValueError, or has area 0 with ``validate=False`` (see the module docstring).

    Example:
    >>> import numpy as np
    >>> np.asarray(box_area([[0, 0, 4, 3], [5, 5, 5, 9]], box_format="xyxy")).tolist()  # a line has area 0
    [12.0, 0.0]
    >>> np.asarray(box_area([[0, 0, 4, 3], [2, 2, 1, 1]], box_format="xyxy", validate=False)).tolist()  # inverted: 0
    [12.0, 0.0]
    """
    x1, y1, x2, y2 = _corners(boxes, box_format, validate, "boxes")
    return ops.maximum(x2 - x1, 0.0) * ops.maximum(y2 - y1, 0.0)


def intersection(boxes1, boxes2, *, box_format: str, validate: bool = True):
    """Area of the overlap of two sets of boxes, broadcast against each other: ``(..., 4) -> (...)``.

    ``box_format`` is the format of both sets, one of :data:`FORMATS`; ``validate``: as in
    :func:`box_area`.

    Example:
    >>> import numpy as np
    >>> np.asarray(intersection([0, 0, 4, 4], [[2, 2, 6, 6], [5, 5, 6, 6]], box_format="xyxy")).tolist()
    [4.0, 0.0]
    """
    boxes1, boxes2 = _as_box_pair(boxes1, boxes2)
    ax1, ay1, ax2, ay2 = _corners(boxes1, box_format, validate, "boxes1")
    bx1, by1, bx2, by2 = _corners(boxes2, box_format, validate, "boxes2")
    width = ops.maximum(ops.minimum(ax2, bx2) - ops.maximum(ax1, bx1), 0.0)
    height = ops.maximum(ops.minimum(ay2, by2) - ops.maximum(ay1, by1), 0.0)
    return width * height


def iou(boxes1, boxes2, *, box_format: str, validate: bool = True):
    """Intersection over union of pairs of boxes, broadcast against each other: ``(..., 4) -> (...)``.

    ``IoU = area(A ∩ B) / area(A ∪ B)``: 1 for identical boxes, 0 for disjoint ones. A box of
    zero area (a point or a line) has IoU 0 with everything, itself included, never NaN.

    Args:
        boxes1: ``(..., 4)`` boxes.
        boxes2: ``(..., 4)`` boxes, broadcastable against ``boxes1``.
        box_format: the format of both, one of :data:`FORMATS`. IoU does not depend on the
            units, so pixel and normalised boxes give the same value.
        validate: raise a ValueError for an inverted box (x2 < x1 or y2 < y1); ``False`` treats
            it as empty (IoU 0), as a loss on a network's predictions needs. Symbolic tensors are
            never checked (module docstring).

    Returns:
        A tensor of the broadcast shape without the last axis, in the boxes' floating dtype.

    Example:
    >>> import numpy as np
    >>> a = np.array([0, 0, 4, 4])  # 16 pixels
    >>> b = np.array([[2, 2, 6, 6], [0, 0, 4, 4], [4, 0, 8, 4], [1, 1, 1, 1]])
    >>> print(np.asarray(iou(a, b, box_format="xyxy")).round(4))  # 4 / (16 + 16 - 4), same, touching, a point
    [0.1429 1.     0.     0.    ]
    """
    boxes1, boxes2 = _as_box_pair(boxes1, boxes2)
    inter = intersection(boxes1, boxes2, box_format=box_format, validate=validate)
    union = (
        box_area(boxes1, box_format=box_format, validate=False)
        + box_area(boxes2, box_format=box_format, validate=False)
        - inter
    )
    return ops.divide_no_nan(inter, union)  # 0 where both boxes have zero area, in every dtype


def iou_matrix(boxes1, boxes2, *, box_format: str, validate: bool = True):
    """IoU of every box of one set with every box of another: ``(N, 4), (M, 4) -> (N, M)``.

    ``box_format`` is the format of both sets, one of :data:`FORMATS`; ``validate``: as in
    :func:`iou`.

    Example:
    >>> import numpy as np
    >>> truth = np.array([[0, 0, 4, 4], [10, 10, 20, 20]])
    >>> predictions = np.array([[0, 0, 4, 2], [10, 10, 20, 20], [30, 30, 31, 31]])
    >>> np.asarray(iou_matrix(truth, predictions, box_format="xyxy")).tolist()
    [[0.5, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    boxes1, boxes2 = _as_box_pair(boxes1, boxes2)
    if len(boxes1.shape) != 2 or len(boxes2.shape) != 2:
        raise ValueError(
            "`iou_matrix` takes two sets of boxes of shapes (N, 4) and (M, 4); use `iou` for other "
            f"shapes. Received: boxes1.shape={tuple(boxes1.shape)}, boxes2.shape={tuple(boxes2.shape)}"
        )
    if validate:
        for name, given in (("boxes1", boxes1), ("boxes2", boxes2)):
            check_ordered(given, to_corners(given, box_format=box_format), box_format=box_format, name=name)
    return iou(
        boxes1[:, None, :], boxes2[None, :, :], box_format=box_format, validate=False
    )  # (N, 1, 4) with (1, M, 4) -> (N, M)


def giou(boxes1, boxes2, *, box_format: str, validate: bool = True):
    """Generalised IoU (Rezatofighi et al., 2019) of pairs of boxes: ``(..., 4) -> (...)``.

    ``GIoU = IoU - area(C minus (A ∪ B)) / area(C)``, with ``C`` the smallest box enclosing both.
    It lies in (-1, 1], equals IoU for boxes that fill their enclosing box, and keeps falling as
    disjoint boxes move apart, where IoU is stuck at 0: ``1 - GIoU`` is a loss with a gradient
    even when the predicted box misses the true one. ``box_format`` is the format of both sets,
    one of :data:`FORMATS`; ``validate``: as in :func:`iou` (a loss called eagerly on a
    network's predictions passes ``False``).

    Example:
    >>> import numpy as np
    >>> a = np.array([0, 0, 2, 2])
    >>> b = np.array([[0, 0, 2, 2], [2, 0, 4, 2], [6, 0, 8, 2]])
    >>> np.asarray(giou(a, b, box_format="xyxy")).tolist()  # identical, touching (C = 8, union 8), far apart (C = 16)
    [1.0, 0.0, -0.5]
    """
    boxes1, boxes2 = _as_box_pair(boxes1, boxes2)
    ax1, ay1, ax2, ay2 = _corners(boxes1, box_format, validate, "boxes1")
    bx1, by1, bx2, by2 = _corners(boxes2, box_format, validate, "boxes2")
    inter = intersection(boxes1, boxes2, box_format=box_format, validate=False)
    union = (
        box_area(boxes1, box_format=box_format, validate=False)
        + box_area(boxes2, box_format=box_format, validate=False)
        - inter
    )
    enclosing = ops.maximum(ops.maximum(ax2, bx2) - ops.minimum(ax1, bx1), 0.0) * ops.maximum(
        ops.maximum(ay2, by2) - ops.minimum(ay1, by1), 0.0
    )
    # divide_no_nan: 0 (not NaN) where the boxes have no area, in every dtype (float16 too)
    return ops.divide_no_nan(inter, union) - ops.divide_no_nan(enclosing - union, enclosing)
