"""YOLO v1 (Redmon et al., 2016): grid targets, the output layer, the loss, and decoding.

The image is cut into an ``S x S`` grid. The cell that holds an object's centre is
*responsible* for it. Every cell predicts ``B`` boxes, each ``(x, y, w, h, confidence)``, and one
set of ``C`` class probabilities, so the network's output is ``(S, S, B*5 + C)``; the paper has
``S = 7, B = 2, C = 20``: 7x7x30. In one cell's vector::

    [x, y, w, h, conf] * B  |  p(class 0), ..., p(class C - 1)
     x, y: the box centre as an offset inside the cell, in [0, 1]
     w, h: the box size as a fraction of the image, in [0, 1]

Targets use the same cell layout with one box: ``(S, S, 5 + C)`` =
``x, y, w, h, object (0 or 1), one-hot class``. :func:`encode_targets` builds them from boxes,
:func:`decode_targets` inverts it, :class:`YoloOutput` turns a network's raw numbers into the
prediction tensor, :class:`YoloV1Loss` is the paper's sum-squared loss term by term, and
:func:`decode_predictions` turns predictions back into scored boxes for non-max suppression
(:mod:`tfcourse.detection`).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfcourse import boxes as box_utils
from tfcourse import checks, detection

LOSS_TERMS: tuple[str, ...] = ("coord_xy", "coord_wh", "object", "no_object", "class")
"""The five terms of the YOLO v1 loss, in the paper's order."""

_EPSILON = 1e-9


@dataclasses.dataclass(frozen=True)
class YoloSpec:
    """The shape of a YOLO v1 output: grid side ``S``, boxes per cell ``B``, classes ``C``.

    Args:
        grid_size: ``S``, the grid has ``S x S`` cells.
        boxes_per_cell: ``B``, boxes predicted by each cell.
        num_classes: ``C``.

    Example:
    >>> spec = YoloSpec(grid_size=7, boxes_per_cell=2, num_classes=20)  # the paper's
    >>> spec.prediction_shape, spec.target_shape
    ((7, 7, 30), (7, 7, 25))
    >>> YoloSpec(grid_size=0)
    Traceback (most recent call last):
    ...
    ValueError: Received an invalid value for `grid_size`, expected a positive integer. Received: grid_size=0
    """

    grid_size: int = 6
    boxes_per_cell: int = 2
    num_classes: int = 10

    def __post_init__(self):
        for name in ("grid_size", "boxes_per_cell", "num_classes"):
            checks.positive_int(name, getattr(self, name))

    @property
    def prediction_shape(self) -> tuple[int, int, int]:
        """``(S, S, B*5 + C)``, the network's output per image."""
        s, b, c = self.grid_size, self.boxes_per_cell, self.num_classes
        return (s, s, b * 5 + c)

    @property
    def target_shape(self) -> tuple[int, int, int]:
        """``(S, S, 5 + C)``, the encoded ground truth per image."""
        return (self.grid_size, self.grid_size, 5 + self.num_classes)


def _spec_argument(owner: str, spec, boxes_per_cell, num_classes, grid_size) -> YoloSpec:
    """The ``YoloSpec`` a layer or loss was given, or the one its three sizes make.

    ``spec`` is a :class:`YoloSpec`; the older form, three sizes ``(grid_size, boxes_per_cell,
    num_classes)`` by position or keyword, still works (notebooks and saved ``.keras`` files use it).
    """
    if isinstance(spec, YoloSpec):
        if (boxes_per_cell, num_classes, grid_size) != (None, None, None):
            raise ValueError(
                f"{owner} takes a `YoloSpec` or the sizes, not both. Received: spec={spec}, "
                f"grid_size={grid_size!r}, boxes_per_cell={boxes_per_cell!r}, num_classes={num_classes!r}"
            )
        return spec
    if spec is not None and grid_size is not None:
        raise ValueError(f"{owner} got the grid size twice. Received: spec={spec!r}, grid_size={grid_size!r}")
    grid_size = spec if grid_size is None else grid_size
    if grid_size is None:
        raise ValueError(f"{owner} needs a `YoloSpec` (or a grid size). Received: spec=None")
    defaults = YoloSpec()
    return YoloSpec(
        grid_size,
        defaults.boxes_per_cell if boxes_per_cell is None else boxes_per_cell,
        defaults.num_classes if num_classes is None else num_classes,
    )


def _config_with_spec(config: dict) -> dict:
    """A ``get_config()`` dict with its ``spec`` made a :class:`YoloSpec` again (older configs hold
    ``grid_size``, ``boxes_per_cell`` and ``num_classes`` instead, which the constructor takes as they are)."""
    config = dict(config)
    if isinstance(config.get("spec"), dict):
        config["spec"] = YoloSpec(**config["spec"])
    return config


def _check_last_axis(name: str, tensor, size: int, rank: int | None = None) -> None:
    shape = tuple(tensor.shape)
    if (rank is not None and len(shape) != rank) or shape[-1] != size:
        expected = f"rank {rank} with {size} entries on the last axis" if rank else f"{size} on the last axis"
        raise ValueError(f"`{name}` must have {expected}. Received: {name}.shape={shape}")


def encode_targets(boxes, labels, spec: YoloSpec, *, box_format: str):
    """One image's boxes and labels -> the YOLO target grid ``(S, S, 5 + C)``.

    Each object goes to the cell that holds its centre; the cell stores the centre's offset
    inside the cell, the size as a fraction of the image, a 1 for "object here" and the one-hot
    class. A cell holds one object: when two centres fall into the same cell, the first object
    keeps it and the later ones are dropped (YOLO v1 cannot predict two objects per cell; see
    :func:`count_cell_collisions`). Written with TensorFlow ops, so it runs inside ``Dataset.map``.

    Args:
        boxes: ``(N, 4)`` normalised boxes (``N`` may be 0).
        labels: ``(N,)`` integer classes in ``[0, C)``.
        spec: the grid.
        box_format: the format of ``boxes``, a normalised (``rel_``) one of
            :data:`tfcourse.boxes.FORMATS`, e.g. TFDS's ``"rel_yxyx"``; required, no default.

    Returns:
        A float32 tensor ``(S, S, 5 + C)``.

    Example:
    >>> spec = YoloSpec(grid_size=4, boxes_per_cell=1, num_classes=3)
    >>> box = [[0.5, 0.25, 0.7, 0.55]]  # x1, y1, x2, y2: centre x 0.6, y 0.4
    >>> target = encode_targets(box, [2], spec, box_format="rel_xyxy")
    >>> np.argwhere(np.asarray(target[..., 4])).tolist()  # row 1 (y), column 2 (x)
    [[1, 2]]
    >>> np.asarray(target[1, 2]).astype(float).round(2).tolist()  # x, y in the cell; w, h of the image; object; class
    [0.4, 0.6, 0.2, 0.3, 1.0, 0.0, 0.0, 1.0]
    """
    if not box_utils.is_relative(box_format):
        raise ValueError(
            f"`encode_targets` needs normalised boxes (a 'rel_' format). Received: box_format={box_format!r}"
        )
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))  # (N, 4)
    labels = tf.reshape(tf.cast(labels, tf.int32), (-1,))  # (N,)
    s = spec.grid_size
    cx, cy, w, h = tf.unstack(
        tf.convert_to_tensor(box_utils.convert_format(boxes, box_format, "rel_cxcywh")), axis=-1
    )
    col = tf.clip_by_value(tf.cast(tf.floor(cx * s), tf.int32), 0, s - 1)  # (N,)
    row = tf.clip_by_value(tf.cast(tf.floor(cy * s), tf.int32), 0, s - 1)
    x_in_cell = cx * s - tf.cast(col, tf.float32)
    y_in_cell = cy * s - tf.cast(row, tf.float32)
    # An object keeps its cell only if no earlier object has it: same[i, j] = cell i == cell j, j < i.
    cell = row * s + col
    n = tf.shape(cell)[0]
    earlier = tf.linalg.band_part(tf.ones((n, n), tf.bool), -1, 0) & ~tf.eye(n, dtype=tf.bool)
    first = ~tf.reduce_any((cell[:, None] == cell[None, :]) & earlier, axis=1)  # (N,)
    values = tf.concat(
        [
            tf.stack([x_in_cell, y_in_cell, w, h, tf.ones_like(w)], axis=-1),  # (N, 5)
            tf.one_hot(labels, spec.num_classes, dtype=tf.float32),  # (N, C)
        ],
        axis=-1,
    )  # (N, 5 + C)
    indices = tf.stack([row, col], axis=-1)  # (N, 2)
    return tf.scatter_nd(
        tf.boolean_mask(indices, first), tf.boolean_mask(values, first), spec.target_shape
    )  # (S, S, 5 + C)


def count_cell_collisions(boxes, spec: YoloSpec, *, box_format: str) -> int:
    """How many of one image's objects share their centre's cell with an earlier object (and are lost).

    ``boxes`` are one image's ``(N, 4)`` boxes in ``box_format``, a normalised (``rel_``) one of
    :data:`tfcourse.boxes.FORMATS` (required, no default), e.g. TFDS's ``"rel_yxyx"``.

    Example:
    >>> count_cell_collisions([[0.1, 0.1, 0.2, 0.2], [0.12, 0.1, 0.22, 0.2], [0.6, 0.6, 0.9, 0.9]],
    ...                       YoloSpec(grid_size=2), box_format="rel_xyxy")
    1
    """
    box_utils.check_format(box_format)  # an unknown one is named as `box_format`
    cxcywh = np.asarray(box_utils.convert_format(np.reshape(boxes, (-1, 4)), box_format, "rel_cxcywh"))
    cells = np.clip(np.floor(cxcywh[:, :2] * spec.grid_size), 0, spec.grid_size - 1).astype(int)
    return len(cells) - len(np.unique(cells, axis=0))


def cell_offsets(spec: YoloSpec):
    """Column and row index of every cell, ``(S, S, 1)`` each, to add to in-cell offsets."""
    cols, rows = np.meshgrid(np.arange(spec.grid_size), np.arange(spec.grid_size))  # (S, S): [row, col]
    return cols[..., None].astype("float32"), rows[..., None].astype("float32")


def cell_boxes_to_image(xywh, spec: YoloSpec, *, box_format: str):
    """Cell-relative boxes ``(..., S, S, K, 4)`` (x, y in the cell; w, h of the image) -> image boxes.

    ``box_format`` is the format of the returned boxes, a normalised (``rel_``) one of
    :data:`tfcourse.boxes.FORMATS` (required, no default).

    Example:
    >>> spec = YoloSpec(grid_size=2)
    >>> xywh = np.zeros((2, 2, 1, 4), "float32"); xywh[1, 0, 0] = [0.5, 0.5, 0.2, 0.4]
    >>> image_boxes = np.asarray(cell_boxes_to_image(xywh, spec, box_format="rel_cxcywh"))
    >>> image_boxes[1, 0, 0].astype(float).round(2).tolist()
    [0.25, 0.75, 0.2, 0.4]
    """
    box_utils.check_format(box_format)  # an unknown one is named as `box_format`
    xywh = ops.convert_to_tensor(xywh)
    cols, rows = cell_offsets(spec)  # (S, S, 1) each, broadcast over K
    s = float(spec.grid_size)
    cxcywh = ops.stack(
        [(xywh[..., 0] + cols) / s, (xywh[..., 1] + rows) / s, xywh[..., 2], xywh[..., 3]], axis=-1
    )  # (..., S, S, K, 4)
    return box_utils.convert_format(cxcywh, "rel_cxcywh", box_format)


def decode_targets(targets, spec: YoloSpec, *, box_format: str) -> dict[str, np.ndarray]:
    """Invert :func:`encode_targets`: one target grid -> the boxes and classes it holds.

    Args:
        targets: ``(S, S, 5 + C)``.
        spec: the grid.
        box_format: the format of the returned boxes, a normalised (``rel_``) one of
            :data:`tfcourse.boxes.FORMATS` (required, no default; there is no image shape for pixels).

    Returns:
        ``{"boxes": (K, 4), "classes": (K,)}`` NumPy arrays, the ``K`` objects in row-major cell order.

    Example:
    >>> spec = YoloSpec(grid_size=4, boxes_per_cell=1, num_classes=3)
    >>> target = encode_targets([[0.5, 0.25, 0.7, 0.55]], [2], spec, box_format="rel_xyxy")
    >>> decoded = decode_targets(target, spec, box_format="rel_xyxy")
    >>> decoded["boxes"].astype(float).round(4).tolist(), decoded["classes"].tolist()
    ([[0.5, 0.25, 0.7, 0.55]], [2])
    """
    targets = np.asarray(targets, np.float32)
    if targets.shape != spec.target_shape:
        raise ValueError(
            f"`targets` must have shape {spec.target_shape} for {spec}. Received: targets.shape={targets.shape}"
        )
    boxes = cell_boxes_to_image(targets[..., None, :4], spec, box_format=box_format)  # (S, S, 1, 4)
    boxes = np.asarray(boxes)[..., 0, :]  # (S, S, 4)
    present = targets[..., 4] > 0.5  # (S, S)
    return {"boxes": boxes[present], "classes": targets[..., 5:].argmax(-1)[present]}


@keras.saving.register_keras_serializable(package="tfcourse")
class YoloOutput(keras.layers.Layer):
    """Raw head outputs -> YOLO v1 predictions ``(S, S, B*5 + C)`` with each part in its range.

    The paper's last layer is linear. Here each part gets the activation that keeps it in its
    range, which makes training from scratch much steadier: ``x, y`` and the confidence go through
    a sigmoid (0 to 1), ``w, h`` through a squared sigmoid (so the network's number is the square
    root of the size, which the loss compares), the class scores through a softmax (probabilities).

    Args:
        spec: the grid (:class:`YoloSpec`). The older form ``YoloOutput(grid_size, boxes_per_cell,
            num_classes)`` still works.

    Input shape:
        ``(batch, S, S, B*5 + C)`` (a 1x1 convolution's output) or ``(batch, S*S*(B*5 + C))`` (a
        dense layer's, as in the paper).

    Output shape:
        ``(batch, S, S, B*5 + C)``.

    Example:
    >>> layer = YoloOutput(YoloSpec(grid_size=7, boxes_per_cell=2, num_classes=20))
    >>> out = layer(keras.ops.zeros((1, 7 * 7 * 30)))
    >>> tuple(out.shape), np.asarray(out[0, 0, 0, :5]).tolist(), round(float(out[0, 0, 0, 10]), 2)
    ((1, 7, 7, 30), [0.5, 0.5, 0.25, 0.25, 0.5], 0.05)
    """

    def __init__(
        self,
        spec: YoloSpec | int | None = None,
        boxes_per_cell: int | None = None,
        num_classes: int | None = None,
        *,
        grid_size: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.spec = _spec_argument("YoloOutput", spec, boxes_per_cell, num_classes, grid_size)

    def build(self, input_shape):
        size = int(np.prod(self.spec.prediction_shape))
        if int(np.prod([d for d in input_shape[1:]])) != size:
            raise ValueError(
                f"{self.name} needs {size} numbers per image ({self.spec.prediction_shape}). "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        s, b, c = self.spec.grid_size, self.spec.boxes_per_cell, self.spec.num_classes
        x = ops.reshape(inputs, (-1, s, s, b * 5 + c))  # (batch, S, S, B*5 + C)
        box = ops.reshape(x[..., : b * 5], (-1, s, s, b, 5))  # (batch, S, S, B, 5)
        box = ops.concatenate(
            [ops.sigmoid(box[..., 0:2]), ops.square(ops.sigmoid(box[..., 2:4])), ops.sigmoid(box[..., 4:5])],
            axis=-1,
        )  # (batch, S, S, B, 5)
        classes = ops.softmax(x[..., b * 5 :], axis=-1)  # (batch, S, S, C)
        return ops.concatenate(
            [ops.reshape(box, (-1, s, s, b * 5)), classes], axis=-1
        )  # (batch, S, S, B*5 + C)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.spec.prediction_shape)

    def get_config(self):
        return {**super().get_config(), "spec": dataclasses.asdict(self.spec)}

    @classmethod
    def from_config(cls, config):
        return cls(**_config_with_spec(config))


def yolo_v1_loss_terms(
    y_true,
    y_pred,
    spec: YoloSpec,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
    confidence_target: str = "iou",
) -> dict:
    """The five terms of the YOLO v1 loss, each summed over cells and boxes: ``{term: (batch,)}``.

    With ``1obj_ij`` = "object in cell i and predictor j is responsible" (of the cell's ``B``
    boxes, the one with the highest IoU with the true box; on a tie, for instance when no box
    overlaps the truth, the first of them), ``1noobj_ij = 1 - 1obj_ij`` (so the cell's other
    predictors count as "no object" too) and ``1obj_i`` = "object in cell i"::

        coord_xy  = lambda_coord * sum 1obj_ij [(x - x^)^2 + (y - y^)^2]
        coord_wh  = lambda_coord * sum 1obj_ij [(sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
        object    =                sum 1obj_ij (C - C^)^2      C = IoU(predicted, true), or 1
        no_object = lambda_noobj * sum 1noobj_ij (0 - C^)^2
        class     =                sum 1obj_i sum_c (p(c) - p^(c))^2

    ``x, y`` are offsets inside the cell and ``w, h`` fractions of the image, in targets and
    predictions alike. The IoU that picks the responsible box and serves as its confidence target
    is a constant for the gradient: the confidence learns to estimate the IoU,
    the box is not moved to raise it.

    Args:
        y_true: ``(batch, S, S, 5 + C)`` targets from :func:`encode_targets`.
        y_pred: ``(batch, S, S, B*5 + C)`` predictions (:class:`YoloOutput`).
        spec: the grid.
        lambda_coord: weight of the box terms (5 in the paper).
        lambda_noobj: weight of the confidences of boxes without an object (0.5 in the paper).
        confidence_target: ``"iou"`` (the paper: the responsible box's confidence should equal its
            IoU with the true box) or ``"one"``.

    Returns:
        A dict of ``(batch,)`` tensors keyed by :data:`LOSS_TERMS`.
    """
    s, b = spec.grid_size, spec.boxes_per_cell
    _check_last_axis("y_true", y_true, 5 + spec.num_classes, rank=4)
    _check_last_axis("y_pred", y_pred, b * 5 + spec.num_classes, rank=4)
    y_true = ops.cast(y_true, y_pred.dtype)
    pred_box = ops.reshape(y_pred[..., : b * 5], (-1, s, s, b, 5))  # (batch, S, S, B, 5)
    true_box = y_true[..., None, :4]  # (batch, S, S, 1, 4)
    has_object = y_true[..., 4]  # (batch, S, S)

    # The responsible predictor: the cell's box with the highest IoU with the true box.
    ious = box_utils.iou(
        cell_boxes_to_image(pred_box[..., :4], spec, box_format="rel_xyxy"),
        cell_boxes_to_image(true_box, spec, box_format="rel_xyxy"),
        box_format="rel_xyxy",
    )  # (batch, S, S, B)
    ious = ops.stop_gradient(ious)
    best = ops.one_hot(ops.argmax(ious, axis=-1), b, dtype=y_pred.dtype)  # (batch, S, S, B)
    responsible = best * has_object[..., None]  # 1obj_ij, (batch, S, S, B)

    xy_error = ops.sum(ops.square(pred_box[..., 0:2] - true_box[..., 0:2]), axis=-1)  # (batch, S, S, B)
    wh_error = ops.sum(
        ops.square(ops.sqrt(pred_box[..., 2:4] + _EPSILON) - ops.sqrt(true_box[..., 2:4] + _EPSILON)), axis=-1
    )
    confidence = pred_box[..., 4]  # (batch, S, S, B)
    target_confidence = ious if confidence_target == "iou" else ops.ones_like(ious)
    class_error = ops.sum(ops.square(y_pred[..., b * 5 :] - y_true[..., 5:]), axis=-1)  # (batch, S, S)

    def total(values):  # sum over cells (and boxes): (batch, S, S[, B]) -> (batch,)
        return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)

    return {
        "coord_xy": lambda_coord * total(responsible * xy_error),
        "coord_wh": lambda_coord * total(responsible * wh_error),
        "object": total(responsible * ops.square(target_confidence - confidence)),
        "no_object": lambda_noobj * total((1.0 - responsible) * ops.square(confidence)),
        "class": total(has_object * class_error),
    }


@keras.saving.register_keras_serializable(package="tfcourse")
class YoloV1Loss(keras.losses.Loss):
    """The YOLO v1 loss: the sum of :func:`yolo_v1_loss_terms`, per image, averaged over the batch.

    Args:
        spec: the grid (:class:`YoloSpec`). The older form ``YoloV1Loss(grid_size, boxes_per_cell,
            num_classes, ...)`` still works.
        lambda_coord: weight of the box terms (5 in the paper).
        lambda_noobj: weight of the no-object confidences (0.5 in the paper).
        confidence_target: ``"iou"`` (the paper) or ``"one"``.

    Example:
    >>> spec = YoloSpec(grid_size=2, boxes_per_cell=2, num_classes=3)
    >>> loss = YoloV1Loss(spec)
    >>> target = encode_targets([[0.1, 0.1, 0.4, 0.3]], [1], spec, box_format="rel_xyxy")[None]  # (1, 2, 2, 8)
    >>> perfect = np.zeros((1, 2, 2, 13), "float32")
    >>> perfect[..., :4] = target[..., :4]; perfect[..., 4] = target[..., 4]; perfect[..., 10:] = target[..., 5:]
    >>> float(loss(target, perfect))
    0.0
    >>> {k: round(float(v[0]), 3) for k, v in loss.terms(target, np.zeros_like(perfect)).items()}
    {'coord_xy': 2.05, 'coord_wh': 2.5, 'object': 0.0, 'no_object': 0.0, 'class': 1.0}
    """

    def __init__(
        self,
        spec: YoloSpec | int | None = None,
        boxes_per_cell: int | None = None,
        num_classes: int | None = None,
        lambda_coord: float = 5.0,
        lambda_noobj: float = 0.5,
        confidence_target: str = "iou",
        name: str = "yolo_v1_loss",
        *,
        grid_size: int | None = None,
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.spec = _spec_argument("YoloV1Loss", spec, boxes_per_cell, num_classes, grid_size)
        self.lambda_coord = checks.positive_float("lambda_coord", lambda_coord)
        self.lambda_noobj = checks.positive_float("lambda_noobj", lambda_noobj)
        self.confidence_target = checks.one_of("confidence_target", confidence_target, ("iou", "one"))

    def terms(self, y_true, y_pred) -> dict:
        """Each term per image, ``{name: (batch,)}``; see :func:`yolo_v1_loss_terms`."""
        return yolo_v1_loss_terms(
            ops.convert_to_tensor(y_true),
            ops.convert_to_tensor(y_pred),
            self.spec,
            self.lambda_coord,
            self.lambda_noobj,
            self.confidence_target,
        )

    def call(self, y_true, y_pred):
        return ops.sum(ops.stack(list(self.terms(y_true, y_pred).values()), axis=0), axis=0)  # (batch,)

    def term_metrics(self) -> list[keras.metrics.Metric]:
        """One Keras metric per loss term (batch mean), for ``compile(metrics=...)`` and per-term curves."""

        def metric(term):
            def fn(y_true, y_pred):
                return self.terms(y_true, y_pred)[term]

            return keras.metrics.MeanMetricWrapper(fn, name=term)

        return [metric(term) for term in LOSS_TERMS]

    def get_config(self):
        return {
            **super().get_config(),
            "spec": dataclasses.asdict(self.spec),
            "lambda_coord": self.lambda_coord,
            "lambda_noobj": self.lambda_noobj,
            "confidence_target": self.confidence_target,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**_config_with_spec(config))


def decode_predictions(predictions, spec: YoloSpec, *, box_format: str) -> dict[str, np.ndarray]:
    """Predictions ``(batch, S, S, B*5 + C)`` -> every predicted box with its class and score.

    A box's class-specific score is the paper's ``p(class | object) * confidence``; each box keeps
    its best class. ``box_format`` is the format of the returned boxes, a normalised (``rel_``) one
    of :data:`tfcourse.boxes.FORMATS` (required, no default).

    Returns:
        NumPy ``{"boxes": (batch, S*S*B, 4), "scores": (batch, S*S*B), "classes": (batch, S*S*B)}``.

    Example:
    >>> spec = YoloSpec(grid_size=2, boxes_per_cell=1, num_classes=2)
    >>> pred = np.zeros((1, 2, 2, 7), "float32"); pred[0, 0, 1] = [0.5, 0.5, 0.2, 0.2, 0.9, 0.25, 0.75]
    >>> out = decode_predictions(pred, spec, box_format="rel_cxcywh")
    >>> out["boxes"][0, 1].astype(float).round(3).tolist(), round(float(out["scores"][0, 1]), 3), int(out["classes"][0, 1])
    ([0.75, 0.25, 0.2, 0.2], 0.675, 1)
    """
    predictions = np.asarray(predictions, np.float32)
    if predictions.ndim != 4 or predictions.shape[1:] != spec.prediction_shape:
        raise ValueError(
            f"`predictions` must have shape (batch, {', '.join(map(str, spec.prediction_shape))}). "
            f"Received: predictions.shape={predictions.shape}"
        )
    s, b = spec.grid_size, spec.boxes_per_cell
    box = predictions[..., : b * 5].reshape(-1, s, s, b, 5)  # (batch, S, S, B, 5)
    class_probs = predictions[..., b * 5 :]  # (batch, S, S, C)
    scores = box[..., 4:5] * class_probs[..., None, :]  # (batch, S, S, B, C)
    boxes = np.asarray(cell_boxes_to_image(box[..., :4], spec, box_format=box_format))  # (batch, S, S, B, 4)
    n = len(predictions)
    return {
        "boxes": boxes.reshape(n, s * s * b, 4),
        "scores": scores.max(-1).reshape(n, s * s * b),
        "classes": scores.argmax(-1).reshape(n, s * s * b),
    }


def detect(
    predictions,
    spec: YoloSpec,
    score_threshold: float = 0.2,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
    *,
    box_format: str,
) -> list[dict[str, np.ndarray]]:
    """Predictions -> final detections per image: decode, drop low scores, non-max suppression per class.

    The predictions are decoded once, into corners for the suppression; the boxes kept are then
    converted to ``box_format``.

    Args:
        predictions: ``(batch, S, S, B*5 + C)`` (:class:`YoloOutput`).
        spec: the grid.
        score_threshold: boxes scoring below it are dropped before the suppression.
        iou_threshold: of two boxes of one class overlapping more than this, the lower-scoring goes.
        max_detections: at most this many per image.
        box_format: the format of the returned boxes, a normalised (``rel_``) one of
            :data:`tfcourse.boxes.FORMATS` (required, no default).

    Returns:
        One dict per image, ``{"boxes": (K, 4), "scores": (K,), "classes": (K,)}``, highest score first.

    Example:
    >>> spec = YoloSpec(grid_size=2, boxes_per_cell=2, num_classes=2)
    >>> pred = np.zeros((1, 2, 2, 12), "float32")
    >>> pred[0, 0, 0, :10] = [0.5, 0.5, 0.4, 0.4, 0.9, 0.55, 0.5, 0.4, 0.4, 0.6]  # two near-copies
    >>> pred[0, 0, 0, 10:] = [1.0, 0.0]
    >>> found = detect(pred, spec, box_format="rel_xyxy")[0]  # the 0.6 box is suppressed
    >>> found["boxes"].astype(float).round(3).tolist(), found["scores"].astype(float).round(3).tolist(), found["classes"].tolist()
    ([[0.05, 0.05, 0.45, 0.45]], [0.9], [0])
    """
    if not box_utils.is_relative(box_format):
        raise ValueError(
            f"`detect` returns normalised boxes (a 'rel_' format). Received: box_format={box_format!r}"
        )
    # Decoded once, into corners for the suppression; the boxes kept are then converted.
    decoded = decode_predictions(predictions, spec, box_format="rel_xyxy")
    results = []
    for xyxy, scores, classes in zip(decoded["boxes"], decoded["scores"], decoded["classes"]):
        keep = detection.batched_non_max_suppression(
            xyxy, scores, classes, iou_threshold, score_threshold, max_detections, box_format="rel_xyxy"
        )
        boxes = np.asarray(box_utils.convert_format(xyxy[keep], "rel_xyxy", box_format))  # (K, 4)
        results.append({"boxes": boxes, "scores": scores[keep], "classes": classes[keep]})
    return results
