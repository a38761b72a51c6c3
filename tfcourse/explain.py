"""What a CNN sees: saliency, guided backpropagation, Grad-CAM, occlusion, top patches, receptive fields.

Every map function takes a Keras classifier that outputs class scores (logits, or probabilities
with ``from_logits=False`` where it matters), a batch of images ``(N, H, W, C)`` and the classes
to explain (``None``: each image's predicted class), and returns NumPy arrays. The layer-based
functions (:func:`grad_cam`, :func:`top_patches`, :func:`receptive_field`) name a layer of the
model's top level; an unknown name, or a layer whose output has no spatial axes, raises a
``ValueError`` that says which names are valid.

Notebook 08 writes each method out with ``tf.GradientTape`` first and then checks that the
function here gives the same maps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfcourse import _keras_private
from tfcourse import boxes as box_utils


def _as_images(images) -> tf.Tensor:
    images = tf.convert_to_tensor(images, dtype=tf.float32)
    if images.shape.rank != 4:
        raise ValueError(
            f"`images` must be a batch (N, H, W, C). Received: images.shape={tuple(images.shape)}"
        )
    return images


def _classes(scores: tf.Tensor, class_index) -> tf.Tensor:
    """Class indices (N,): each image's top class when ``class_index`` is None, else the given ones."""
    n = scores.shape[0]
    if class_index is None:
        return tf.argmax(scores, axis=-1, output_type=tf.int32)
    index = np.broadcast_to(np.asarray(class_index, dtype=np.int32), (n,))
    if (index < 0).any() or (index >= scores.shape[-1]).any():
        raise ValueError(
            f"`class_index` must lie in [0, {scores.shape[-1]}). Received: class_index={class_index!r}"
        )
    return tf.constant(index)


def _picked(scores: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """scores[i, classes[i]] for each i: (N,)."""
    return tf.gather(scores, classes, axis=1, batch_dims=1)


def spatial_layers(model: keras.Model) -> list[str]:
    """Names of the model's top-level layers whose output is a feature map ``(N, h, w, C)``."""
    return [layer.name for layer in model.layers if len(layer.output.shape) == 4]


def get_spatial_layer(model: keras.Model, layer_name: str) -> keras.layers.Layer:
    """The top-level layer ``layer_name`` of ``model``, checked to output ``(N, h, w, C)``.

    Raises:
        ValueError: no such layer, or its output has no spatial axes; the message lists the
            layers that would do.
    """
    names = [layer.name for layer in model.layers]
    valid = spatial_layers(model)
    if layer_name not in names:
        raise ValueError(
            f"`layer_name` must name a layer of {model.name!r} with a spatial output, one of {valid}. "
            f"Received: layer_name={layer_name!r}"
        )
    layer = model.get_layer(layer_name)
    if layer_name not in valid:
        raise ValueError(
            f"Layer {layer_name!r} outputs {tuple(layer.output.shape)}, which has no spatial axes; "
            f"use one of {valid}. Received: layer_name={layer_name!r}"
        )
    return layer


def feature_model(model: keras.Model, layer_name: str) -> keras.Model:
    """A model from the same inputs to ``[feature maps of layer_name, class scores]``."""
    layer = get_spatial_layer(model, layer_name)
    return keras.Model(model.input, [layer.output, model.output], name=f"{model.name}_{layer_name}")


def saliency_map(model: keras.Model, images, class_index=None) -> np.ndarray:
    """Gradient saliency (Simonyan et al., 2014): ``max over channels |d score_c / d pixel|``.

    Args:
        model: a classifier, ``(N, H, W, C) -> (N, classes)`` scores.
        images: a batch ``(N, H, W, C)``.
        class_index: the class to explain, one for all or one per image; None: the predicted one.

    Returns:
        ``(N, H, W)`` non-negative maps.

    Example:
    >>> model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant([[1], [-2], [3], [0]]))])
    >>> saliency_map(model, np.zeros((1, 2, 2, 1)))[0].tolist()
    [[1.0, 2.0], [3.0, 0.0]]
    """
    images = _as_images(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = model(images, training=False)
        score = _picked(scores, _classes(scores, class_index))
    grads = tape.gradient(score, images)  # (N, H, W, C)
    return tf.reduce_max(tf.abs(grads), axis=-1).numpy()


@tf.custom_gradient
def _guided_relu(x):
    """ReLU whose backward pass lets only positive gradients through where the input was positive."""

    def grad(upstream):
        return upstream * tf.cast(x > 0, upstream.dtype) * tf.cast(upstream > 0, upstream.dtype)

    return tf.nn.relu(x), grad


@contextlib.contextmanager
def guided_relus(model: keras.Model) -> Iterator[int]:
    """Within the block, every ReLU of ``model`` (``Activation("relu")`` or a layer's
    ``activation="relu"``, nested layers included) back-propagates the guided way; yields their count.

    Raises:
        ValueError: the model has no ReLU to guide.
    """
    swapped = []
    for layer in [model, *_keras_private.sublayers(model, recursive=True)]:
        activation = getattr(layer, "activation", None)
        if activation is keras.activations.relu or getattr(activation, "__name__", "") == "relu":
            swapped.append((layer, activation))
    if not swapped:
        raise ValueError(f"Model {model.name!r} has no ReLU activation for guided backpropagation.")
    try:
        for layer, _ in swapped:
            layer.activation = _guided_relu
        yield len(swapped)
    finally:
        for layer, activation in swapped:
            layer.activation = activation


def guided_backprop(model: keras.Model, images, class_index=None) -> np.ndarray:
    """Guided backpropagation (Springenberg et al., 2015): the input gradient of the class score
    with every ReLU passing back only positive gradients (the deconvnet idea) at positive inputs.

    Args:
        model: a classifier whose ReLUs are ``Activation`` layers or layer activations; it is
            called eagerly, with its ReLUs swapped for the guided one during the call.
        images: a batch ``(N, H, W, C)``.
        class_index: as in :func:`saliency_map`.

    Returns:
        ``(N, H, W, C)`` gradients (signed; show them with their positive part or absolute value).
    """
    images = _as_images(images)
    with guided_relus(model), tf.GradientTape() as tape:
        tape.watch(images)
        scores = model(images, training=False)
        score = _picked(scores, _classes(scores, class_index))
    return tape.gradient(score, images).numpy()


def grad_cam(
    model: keras.Model,
    images,
    layer_name: str,
    class_index=None,
    *,
    upsample: bool = True,
    normalize: bool = True,
) -> np.ndarray:
    """Grad-CAM (Selvaraju et al., 2017) at the feature maps ``A`` of ``layer_name``.

    ``alpha_k = mean over positions of d score_c / d A_k``; the map is ``ReLU(sum_k alpha_k A_k)``.

    Args:
        model: a classifier, ``(N, H, W, C) -> (N, classes)`` scores (logits).
        images: a batch ``(N, H, W, C)``.
        layer_name: a top-level layer with a spatial output (usually the last convolutional block).
        class_index: as in :func:`saliency_map`.
        upsample: resize the ``(h, w)`` map bilinearly to the image's ``(H, W)``.
        normalize: divide each map by its maximum (a map that is all zero stays zero).

    Returns:
        ``(N, H, W)`` maps (``(N, h, w)`` when ``upsample`` is False).
    """
    features_and_scores = feature_model(model, layer_name)
    images = _as_images(images)
    with tf.GradientTape() as tape:
        features, scores = features_and_scores(images, training=False)  # (N, h, w, K), (N, classes)
        score = _picked(scores, _classes(scores, class_index))
    grads = tape.gradient(score, features)  # (N, h, w, K)
    alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # (N, 1, 1, K)
    cam = tf.nn.relu(tf.reduce_sum(alpha * features, axis=-1))  # (N, h, w)
    if upsample:
        cam = tf.image.resize(cam[..., None], images.shape[1:3], method="bilinear")[..., 0]  # (N, H, W)
    cam = cam.numpy()
    if normalize:
        peak = cam.max(axis=(1, 2), keepdims=True)
        cam = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)
    return cam


def _probabilities(model: keras.Model, images: np.ndarray, from_logits: bool, batch_size: int) -> np.ndarray:
    out = [model(images[i : i + batch_size], training=False) for i in range(0, len(images), batch_size)]
    scores = tf.concat(out, axis=0)
    return (tf.nn.softmax(scores, axis=-1) if from_logits else scores).numpy()


def occlusion_positions(image_size: int, patch: int, stride: int) -> np.ndarray:
    """Top-left offsets of a ``patch`` sliding by ``stride`` along a side of ``image_size`` pixels.

    Example:
    >>> occlusion_positions(8, 4, 2).tolist()
    [0, 2, 4]
    """
    if not 0 < patch <= image_size:
        raise ValueError(f"`patch` must lie in [1, {image_size}]. Received: patch={patch}")
    if stride < 1:
        raise ValueError(f"`stride` must be a positive integer. Received: stride={stride}")
    return np.arange(0, image_size - patch + 1, stride)


def occlusion_map(
    model: keras.Model,
    images,
    class_index=None,
    *,
    patch: int = 8,
    stride: int = 4,
    fill: float = 0.5,
    from_logits: bool = True,
    per_pixel: bool = False,
    batch_size: int = 256,
) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus, 2014): the drop in the class's probability when a
    ``patch`` x ``patch`` square of value ``fill`` covers each position.

    All occluded copies of an image go through the model as batches; no Python loop per pixel.

    Args:
        model: a classifier, ``(N, H, W, C) -> (N, classes)``.
        images: a batch ``(N, H, W, C)``.
        class_index: as in :func:`saliency_map`.
        patch: side of the grey square, in pixels.
        stride: step between positions, in pixels.
        fill: the square's value.
        from_logits: the model outputs logits (softmax is applied) rather than probabilities.
        per_pixel: return, for each pixel, the mean drop over the squares that cover it,
            ``(N, H, W)``, instead of one value per square position ``(N, rows, cols)``.
        batch_size: occluded images per model call.

    Returns:
        ``(N, rows, cols)`` drops (``p(original) - p(occluded)``; positive: the square hid evidence),
        or ``(N, H, W)`` with ``per_pixel``.
    """
    images = _as_images(images).numpy()
    n, height, width, _ = images.shape
    rows, cols = occlusion_positions(height, patch, stride), occlusion_positions(width, patch, stride)
    base = _probabilities(model, images, from_logits, batch_size)  # (N, classes)
    classes = _classes(tf.constant(base), class_index).numpy()
    # one mask per position: 1 inside the square
    masks = np.zeros((len(rows), len(cols), height, width, 1), np.float32)
    for i, y in enumerate(rows):
        for j, x in enumerate(cols):
            masks[i, j, y : y + patch, x : x + patch] = 1.0
    masks = masks.reshape(-1, height, width, 1)  # (P, H, W, 1)
    maps = np.empty((n, len(rows), len(cols)), np.float32)
    for k in range(n):
        occluded = images[k] * (1.0 - masks) + fill * masks  # (P, H, W, C)
        p = _probabilities(model, occluded, from_logits, batch_size)[:, classes[k]]  # (P,)
        maps[k] = (base[k, classes[k]] - p).reshape(len(rows), len(cols))
    if not per_pixel:
        return maps
    cover = masks.reshape(len(rows) * len(cols), height * width)  # (P, H*W)
    counts = cover.sum(axis=0)  # (H*W,)
    summed = maps.reshape(n, -1) @ cover  # (N, H*W)
    pixel = np.divide(summed, counts, out=np.zeros_like(summed), where=counts > 0)
    return pixel.reshape(n, height, width)


@dataclass(frozen=True)
class ReceptiveField:
    """Where a unit of a feature map looks in the input, by the rule for a chain of layers.

    A unit at row ``i`` sees the input rows ``start + i * jump - (size - 1) / 2`` to
    ``start + i * jump + (size - 1) / 2``: ``size`` pixels centred on ``start + i * jump``.

    Attributes:
        size: side of the receptive field, in input pixels.
        jump: input pixels between neighbouring units (the product of the strides).
        start: input coordinate of the centre of unit 0 (pixel ``p`` spans ``[p, p + 1)``, its
            centre is ``p``).
    """

    size: int
    jump: int
    start: float

    def box(self, row: int, col: int, image_shape: Sequence[int] | None = None) -> tuple[int, int, int, int]:
        """The unit's field as pixel rows and columns ``(y0, x0, y1, x1)``, end exclusive,
        clipped to ``image_shape`` ``(H, W)`` when given."""
        half = (self.size - 1) / 2
        y0 = int(round(self.start + row * self.jump - half))
        x0 = int(round(self.start + col * self.jump - half))
        y1, x1 = y0 + self.size, x0 + self.size
        if image_shape is not None:
            y0, x0 = max(y0, 0), max(x0, 0)
            y1, x1 = min(y1, image_shape[0]), min(x1, image_shape[1])
        return y0, x0, y1, x1


def _window(layer) -> tuple[int, int, str] | None:
    """(kernel extent, stride, padding) of a layer that changes the spatial grid, else None."""
    if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D):
        (k, _), (s, _), (d, _) = layer.kernel_size, layer.strides, layer.dilation_rate
        return (k - 1) * d + 1, s, layer.padding
    if isinstance(layer, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D):
        (k, _), (s, _) = layer.pool_size, layer.strides
        return k, s, layer.padding
    return None


def _chain(layer) -> list:
    """The leaf layers of ``layer`` in the order they run (ConvBlock's stages, a Sequential's layers)."""
    if hasattr(layer, "stages"):
        return [leaf for stage in layer.stages for leaf in _chain(stage)]
    if isinstance(layer, keras.Sequential):
        return [leaf for inner in layer.layers for leaf in _chain(inner)]
    return [layer]


def receptive_field(model: keras.Model, layer_name: str) -> ReceptiveField:
    """The receptive field of a unit of ``layer_name``'s output, by the rule
    ``size += (k - 1) * jump``, ``jump *= stride``, for the chain of layers up to it.

    Convolutions (with dilation) and pooling change the field; other layers (batch norm,
    activations, dropout) do not. ``"same"`` padding is taken as TensorFlow pads an input whose
    side the stride divides: ``k - s`` pixels, the smaller half before.

    Raises:
        ValueError: as :func:`get_spatial_layer`; also for a model that is not a chain (a layer
            with several inputs, such as a residual addition, before ``layer_name``).

    Example:
    >>> inputs = keras.Input((28, 28, 1))
    >>> x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    >>> x = keras.layers.MaxPooling2D(2, name="pool")(x)
    >>> model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    >>> receptive_field(model, "pool")
    ReceptiveField(size=4, jump=2, start=0.5)
    """
    get_spatial_layer(model, layer_name)
    size, jump, start = 1, 1, 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer.input, list | tuple) and len(layer.input) > 1:
            raise ValueError(
                f"receptive_field follows a chain of layers; {layer.name!r} has several inputs. "
                f"Received: layer_name={layer_name!r}"
            )
        for leaf in _chain(layer):
            window = _window(leaf)
            if window is None:
                continue
            k, s, padding = window
            pad_before = (max(k - s, 0) // 2) if padding == "same" else 0
            start += ((k - 1) / 2 - pad_before) * jump
            size += (k - 1) * jump
            jump *= s
        if layer.name == layer_name:
            break
    return ReceptiveField(size, jump, start)


@dataclass(frozen=True)
class Patch:
    """One top-activating unit: the image, the unit's position, its activation and its field.

    ``box`` is ``(y0, x0, y1, x1)`` in pixels, end exclusive, clipped to the image.
    """

    image_index: int
    row: int
    col: int
    activation: float
    box: tuple[int, int, int, int]


def top_patches(
    model: keras.Model, images, layer_name: str, channel: int, k: int = 9, *, batch_size: int = 256
) -> list[Patch]:
    """The ``k`` images whose strongest unit of ``channel`` at ``layer_name`` fires most (Zeiler &
    Fergus, 2014), each with that unit and its receptive field (at most one patch per image).

    Args:
        model: the network; ``layer_name`` is one of its top-level layers with a spatial output.
        images: ``(N, H, W, C)``.
        layer_name: see :func:`get_spatial_layer`.
        channel: the channel of the layer's output.
        k: how many patches, strongest first.
        batch_size: images per model call.

    Returns:
        Up to ``k`` :class:`Patch` es, by decreasing activation.
    """
    layer = get_spatial_layer(model, layer_name)
    channels = layer.output.shape[-1]
    if not 0 <= channel < channels:
        raise ValueError(f"`channel` must lie in [0, {channels}). Received: channel={channel}")
    images = _as_images(images).numpy()
    field = receptive_field(model, layer_name)
    features = keras.Model(model.input, layer.output)
    maps = np.concatenate(
        [
            features(images[i : i + batch_size], training=False).numpy()[..., channel]
            for i in range(0, len(images), batch_size)
        ]
    )  # (N, h, w)
    flat = maps.reshape(len(maps), -1)
    best_unit = flat.argmax(axis=1)  # (N,)
    best = flat[np.arange(len(flat)), best_unit]
    patches = []
    for i in np.argsort(-best, kind="stable")[:k]:
        row, col = divmod(int(best_unit[i]), maps.shape[2])
        patches.append(Patch(int(i), row, col, float(best[i]), field.box(row, col, images.shape[1:3])))
    return patches


def crop(images, patch: Patch, size: int | None = None, fill: float = 0.0) -> np.ndarray:
    """The pixels of ``patch.box`` from ``images[patch.image_index]``, ``(h, w, C)``.

    With ``size`` (the field's side), a field cut by the image border is padded with ``fill`` on
    the side where it was cut, so that every crop is ``(size, size, C)`` and in place.
    """
    image = np.asarray(images[patch.image_index])
    y0, x0, y1, x1 = patch.box
    cut = image[y0:y1, x0:x1]
    if size is None:
        return cut
    pad_y, pad_x = size - cut.shape[0], size - cut.shape[1]
    before_y = pad_y if y0 == 0 else 0  # cut at the top: the missing rows lie above
    before_x = pad_x if x0 == 0 else 0
    return np.pad(
        cut, ((before_y, pad_y - before_y), (before_x, pad_x - before_x), (0, 0)), constant_values=fill
    )


def _pixel_corners(boxes, box_format: str, image_shape: Sequence[int]) -> np.ndarray:
    """``(N, 4)`` boxes in ``box_format`` -> float64 pixel corners ``(x1, y1, x2, y2)``, as given
    (an inverted box stays inverted and holds no pixel)."""
    box_utils.check_format(box_format)  # an unknown one is named as `box_format`
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    return np.asarray(
        box_utils.convert_format(
            boxes, box_format, "xyxy", image_shape=tuple(image_shape[:2]), validate=False
        ),
        dtype=float,
    )


def pointing_game(maps: np.ndarray, boxes: np.ndarray, *, box_format: str) -> np.ndarray:
    """Hits of the pointing game (Zhang et al., 2016): does each map's peak fall inside its box?

    Args:
        maps: ``(N, H, W)`` maps.
        boxes: ``(N, 4)`` boxes, one per map, in ``box_format``.
        box_format: the format of ``boxes``, one of :data:`tfcourse.boxes.FORMATS` (required, no
            default): ``"xyxy"`` for pixel corners (pixel column ``i`` spans ``[i, i + 1)``), a
            ``rel_`` format for boxes normalised by the maps' ``(H, W)``.

    Returns:
        ``(N,)`` booleans.

    Example:
    >>> maps = np.zeros((2, 4, 4)); maps[0, 1, 2] = maps[1, 3, 3] = 1
    >>> pointing_game(maps, np.array([[2, 0, 4, 2], [0, 0, 2, 2]]), box_format="xyxy").tolist()
    [True, False]
    """
    maps = np.asarray(maps)
    n, height, width = maps.shape
    peak = maps.reshape(n, -1).argmax(axis=1)
    rows, cols = np.divmod(peak, width)
    x, y = cols + 0.5, rows + 0.5  # the centre of the peak pixel
    boxes = _pixel_corners(boxes, box_format, (height, width))
    return (x >= boxes[:, 0]) & (x <= boxes[:, 2]) & (y >= boxes[:, 1]) & (y <= boxes[:, 3])


def random_pointing(boxes: np.ndarray, image_shape: Sequence[int], *, box_format: str) -> np.ndarray:
    """The chance that a uniformly random pixel falls inside each box: the box's area (clipped to
    the image) over the image's, ``(N,)``.

    ``boxes`` are ``(N, 4)`` in ``box_format``, one of :data:`tfcourse.boxes.FORMATS` (required,
    no default), e.g. ``"xyxy"`` for pixel corners; ``image_shape`` is ``(height, width)``.

    Example:
    >>> random_pointing(np.array([[0, 0, 2, 5], [8, 8, 12, 12]]), (10, 10), box_format="xyxy").tolist()
    [0.1, 0.04]
    """
    height, width = image_shape[:2]
    boxes = _pixel_corners(boxes, box_format, (height, width))
    w = np.clip(boxes[:, 2], 0, width) - np.clip(boxes[:, 0], 0, width)
    h = np.clip(boxes[:, 3], 0, height) - np.clip(boxes[:, 1], 0, height)
    return np.clip(w, 0, None) * np.clip(h, 0, None) / (height * width)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties sharing the average of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    _, tie_group, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(tie_group, weights=ranks) / counts)[tie_group]


def rank_correlation(map_a, map_b) -> float:
    """Spearman's rank correlation of two maps of the same shape (the randomisation check's measure).

    The Pearson correlation of the two maps' ranks, ties given their average rank (as
    ``scipy.stats.spearmanr``): 1 when both maps order the pixels alike, whatever their scales.
    A constant map orders nothing: NaN, as Pearson's correlation of a constant.

    Example:
    >>> rank_correlation([[1.0, 2.0], [3.0, 4.0]], [[10.0, 20.0], [30.0, 400.0]])
    1.0
    >>> rank_correlation([0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 0.0, 2.0])  # ranks 1.5 1.5 3 4 and 1.5 3 1.5 4
    0.5
    """
    a = np.asarray(map_a, np.float64).ravel()
    b = np.asarray(map_b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"`map_a` and `map_b` need the same number of values. Received: {np.shape(map_a)} and {np.shape(map_b)}"
        )
    ra, rb = _average_ranks(a) - (len(a) + 1) / 2, _average_ranks(b) - (len(b) + 1) / 2
    denominator = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")
