"""The clothing catalogue: Fashion-MNIST items pasted on textured canvases, with their true boxes.

Localization (notebook 06) and detection (notebook 07) need images whose objects have boxes.
This module makes them from Fashion-MNIST, locally and deterministically, as a TensorFlow
Datasets builder, so that ``tfds.load``, ``tfds.visualization.show_examples`` and ``tf.data``
work on them as on any published dataset::

    ds, info = load_scenes("single_small", "train")   # builds once into data/tfds, then reads

Each scene is a square grayscale canvas with a textured background (smooth blotches, stripes
and grain, drawn from the seed) on which one or more items are pasted, each scaled by a random
factor (0.8x to 2x of 28 px by default) at a random place, by max-compositing (an item's pixel
shows where it is brighter than the background). An item's box is the tight box around its
non-zero pixels after scaling, not its 28x28 frame. In multi-object scenes items are placed so
that no two boxes have IoU above ``max_iou`` and no box is covered more than ``max_cover`` by
another. Training scenes take their items from Fashion-MNIST's training images and test scenes
from its test images, so no item appears in both splits.

Generation is vectorised with NumPy: each item is scaled by two small matrix products
(bilinear resampling is separable), pasted with fancy indexing, and placements are drawn for
all scenes at once. A few thousand scenes take seconds; the data is written once and reused.
The builder never touches the network: Fashion-MNIST is read from ``$TFCOURSE_DATA_DIR`` or
the project's cache (``python -m tfcourse fetch`` fills it).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from pathlib import Path

import numpy as np
import PIL.Image
import tensorflow_datasets as tfds

from tfcourse import boxes as box_utils
from tfcourse import data
from tfcourse.config import PATHS

CLASS_NAMES: tuple[str, ...] = data.CLASS_NAMES
ITEM_SIZE = 28  # Fashion-MNIST images are 28x28
_CHUNK = 512  # scenes whose pixels are computed at once; fixed, so that results never depend on it
_PLACEMENT_TRIES = 32  # candidate positions per item in multi-object scenes
# A pixel of the masks belongs to an item only where the item's own (scaled) value is at least
# this, out of 255. Scaling blurs every item's outline into a faint halo one or two pixels wide,
# which the tight box includes but which a viewer would not call part of the item; 32 drops that
# halo and keeps the item's body, dark fabric included. Measured on 300 `segment_small` scenes:
# 68% of the outline pixels of scaled items are below 32 but only 7% of their inner pixels, and
# 32 leaves the fewest items split into pieces (20% of masks have more than one 8-connected
# piece at thresholds 8 to 32, 24% at 48, 29% at 64, 36% at 1, where halo specks count). Dark
# fabric lost regardless is where the background's texture (up to about 80) is brighter than
# the item, so that the canvas shows the background there.
MASK_THRESHOLD = 32


def default_data_dir() -> Path:
    """Where the scenes are written: ``data/tfds`` in the project (git-ignored)."""
    return PATHS.data / "tfds"


@dataclasses.dataclass(eq=False)
class ScenesConfig(tfds.core.BuilderConfig):
    """How to make one variant of the scenes. The ``name`` identifies its files on disk.

    Args:
        name: the config's name, e.g. ``"single"``.
        canvas_size: height and width of the square canvas, in pixels.
        min_objects: fewest items per scene.
        max_objects: most items per scene (uniform between the two; fewer if no free place is
            found).
        min_scale: smallest scale factor of an item (1.0 keeps its 28x28 size).
        max_scale: largest scale factor; ``28 * max_scale`` must fit on the canvas.
        max_iou: largest IoU allowed between two items' boxes in one scene.
        max_cover: largest share of an item's box that another item's box may cover.
        train_examples: scenes in the ``train`` split.
        test_examples: scenes in the ``test`` split.
        seed: everything random (items, scales, places, backgrounds) follows from it.
        masks: also make a per-pixel class mask and instance mask for every scene (semantic
            segmentation, notebook 09). They are derived from the same paste and draw no random
            numbers, so the images and boxes are the same with or without them.
    """

    canvas_size: int = 64
    min_objects: int = 1
    max_objects: int = 1
    min_scale: float = 0.8
    max_scale: float = 2.0
    max_iou: float = 0.3
    max_cover: float = 0.5
    train_examples: int = 4000
    test_examples: int = 1000
    seed: int = 0
    masks: bool = False

    def __post_init__(self):
        for field in ("canvas_size", "min_objects", "max_objects", "train_examples", "test_examples"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"Received an invalid value for `{field}`, expected a positive integer. "
                    f"Received: {field}={value!r}"
                )
        if self.max_objects < self.min_objects:
            raise ValueError(
                "`max_objects` must be at least `min_objects`. "
                f"Received: min_objects={self.min_objects}, max_objects={self.max_objects}"
            )
        if not 0 < self.min_scale <= self.max_scale:
            raise ValueError(
                "Scales must satisfy 0 < min_scale <= max_scale. "
                f"Received: min_scale={self.min_scale}, max_scale={self.max_scale}"
            )
        if math.ceil(ITEM_SIZE * self.max_scale) > self.canvas_size:
            raise ValueError(
                f"An item scaled by `max_scale` ({ITEM_SIZE} * {self.max_scale} px) must fit on the "
                f"canvas. Received: canvas_size={self.canvas_size}, max_scale={self.max_scale}"
            )
        for field in ("max_iou", "max_cover"):
            if not 0 < getattr(self, field) <= 1:
                raise ValueError(f"`{field}` must be in (0, 1]. Received: {field}={getattr(self, field)!r}")


# The single-object configs keep every item at least at its 28x28 size (shrinking it loses the
# detail that tells a shirt from a pullover); version 1.1.0 marks that change from 1.0.0, whose
# items were scaled from 0.8x, so that a cache of the old scenes is not read as the new ones.
SINGLE_DESCRIPTION = "One item per 64x64 canvas, scaled 1x to 2x, for localization (notebook 06)."
MULTI_DESCRIPTION = "One to four items per 96x96 canvas, boxes with IoU < 0.3, for detection (notebook 07)."
SEGMENT_DESCRIPTION = (
    "The multi-object scenes (the same pixels and boxes as `multi`) with class and instance masks, "
    "for semantic segmentation (notebook 09)."
)
SEGMENT_RELEASE_NOTES = {"1.0.0": "The multi configs' scenes with class and instance masks (PNG features)."}

BUILDER_CONFIGS: tuple[ScenesConfig, ...] = (
    ScenesConfig(
        name="single",
        description=SINGLE_DESCRIPTION,
        version="1.1.0",
        min_scale=1.0,
        train_examples=60_000,
        test_examples=10_000,
    ),
    ScenesConfig(
        name="single_small",
        description=SINGLE_DESCRIPTION,
        version="1.1.0",
        min_scale=1.0,
        train_examples=4_000,
        test_examples=1_000,
    ),
    ScenesConfig(
        name="multi",
        description=MULTI_DESCRIPTION,
        version="1.1.0",  # 1.0.0 had 15,000 training scenes; notebook 07's detector overfitted them
        canvas_size=96,
        max_objects=4,
        train_examples=30_000,
        test_examples=2_500,
    ),
    ScenesConfig(
        name="multi_small",
        description=MULTI_DESCRIPTION,
        canvas_size=96,
        max_objects=4,
        train_examples=2_000,
        test_examples=500,
    ),
    # The multi configs' parameters and seed, so that the scenes are identical, plus masks.
    ScenesConfig(
        name="segment",
        description=SEGMENT_DESCRIPTION,
        version="1.0.0",
        release_notes=SEGMENT_RELEASE_NOTES,
        canvas_size=96,
        max_objects=4,
        train_examples=30_000,
        test_examples=2_500,
        masks=True,
    ),
    ScenesConfig(
        name="segment_small",
        description=SEGMENT_DESCRIPTION,
        version="1.0.0",
        release_notes=SEGMENT_RELEASE_NOTES,
        canvas_size=96,
        max_objects=4,
        train_examples=2_000,
        test_examples=500,
        masks=True,
    ),
)
"""The predefined configs: ``single``, ``multi`` and ``segment`` for the full profile, ``*_small``
for quick. ``segment`` is ``multi`` with masks."""


# ---------- Generation (NumPy) ----------


def resampling_weights(out_size: int, scales: np.ndarray, in_size: int, clamp: bool = False) -> np.ndarray:
    """Bilinear resampling as a matrix: ``out = W @ signal`` scales a 1-D signal by ``scales``.

    Output pixel ``p`` (centre ``p + 0.5``) reads the input at ``(p + 0.5) / scale - 0.5`` and
    mixes its two neighbours linearly. Outside the input the signal is 0 (or, with ``clamp``,
    the edge value). An image is scaled by applying the matrix to its rows and columns:
    ``W @ image @ W.T``.

    Args:
        out_size: length of the output.
        scales: ``(N,)`` scale factors, one matrix each.
        in_size: length of the input.
        clamp: repeat the edge values beyond the input instead of zeros.

    Returns:
        ``(N, out_size, in_size)`` float32 weights.

    Example:
    >>> w = resampling_weights(4, np.array([2.0]), 2)
    >>> (w[0] @ np.array([0.0, 8.0])).tolist()  # doubled; beyond the last pixel it fades to 0
    [0.0, 2.0, 6.0, 6.0]
    """
    scales = np.asarray(scales, np.float64)
    source = (np.arange(out_size) + 0.5)[None, :] / scales[:, None] - 0.5  # (N, out)
    if clamp:
        source = np.clip(source, 0, in_size - 1)
    weights = 1.0 - np.abs(source[:, :, None] - np.arange(in_size)[None, None, :])  # (N, out, in)
    return np.maximum(weights, 0.0).astype(np.float32)


def scale_items(items: np.ndarray, scales: np.ndarray, patch_size: int) -> np.ndarray:
    """Scale 28x28 items by per-item factors into the top-left corner of ``patch_size`` patches.

    Args:
        items: ``(N, 28, 28)`` uint8 images.
        scales: ``(N,)`` factors; ``28 * scale`` must not exceed ``patch_size``.
        patch_size: side of the output patches.

    Returns:
        ``(N, patch_size, patch_size)`` uint8 patches (bilinear, rounded).

    Example:
    >>> item = np.zeros((1, 28, 28), np.uint8); item[0, 10:20, 5:9] = 200
    >>> patch = scale_items(item, np.array([2.0]), 56)
    >>> patch.shape, tight_boxes(patch).tolist()  # x from 10 to 18, y from 20 to 40, give or take the blur
    ((1, 56, 56), [[9, 19, 19, 41]])
    """
    weights = resampling_weights(patch_size, scales, items.shape[-1])  # (N, P, 28)
    scaled = (
        weights @ items.astype(np.float32) @ weights.transpose(0, 2, 1)
    )  # (N, P, 28) @ (N, 28, P) -> (N, P, P)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def tight_boxes(images: np.ndarray) -> np.ndarray:
    """Pixel ``xyxy`` box around the non-zero pixels of each image: ``(N, H, W) -> (N, 4)`` int.

    ``x2`` and ``y2`` are exclusive (one past the last non-zero column and row). An empty
    image gets the box ``[0, 0, 0, 0]``.

    Example:
    >>> image = np.zeros((1, 5, 6), np.uint8); image[0, 1:3, 2:5] = 7
    >>> tight_boxes(image).tolist()
    [[2, 1, 5, 3]]
    """
    rows, cols = images.any(axis=2), images.any(axis=1)  # (N, H), (N, W)
    y1, x1 = rows.argmax(axis=1), cols.argmax(axis=1)
    y2 = images.shape[1] - rows[:, ::-1].argmax(axis=1)
    x2 = images.shape[2] - cols[:, ::-1].argmax(axis=1)
    found = rows.any(axis=1)
    return np.stack([x1, y1, x2, y2], axis=1) * found[:, None]  # (N, 4)


def backgrounds(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Textured backgrounds, ``(count, size, size)`` uint8, darker than most items (about 0 to 80).

    Each is a base level plus smooth blotches (6x6 random values upsampled), stripes at a random
    angle, period and phase, and pixel grain.
    """
    level = rng.uniform(5, 40, (count, 1, 1)).astype(np.float32)
    coarse = rng.uniform(-1, 1, (count, 6, 6)).astype(np.float32)
    upsample = resampling_weights(size, np.full(count, size / 6), 6, clamp=True)  # (N, size, 6)
    blotches = upsample @ coarse @ upsample.transpose(0, 2, 1)  # (N, size, size)
    # Stripes cos(u x + v y + phase), written as products of a row and a column factor
    # (cos(a + b) = cos a cos b - sin a sin b), which is cheaper than a cosine per pixel.
    angle = rng.uniform(0, np.pi, (count, 1))
    frequency = 2 * np.pi / rng.uniform(5, 16, (count, 1))
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    strength = rng.uniform(0, 12, (count, 1, 1)).astype(np.float32)
    pixels = np.arange(size)[None, :]
    along_x = (frequency * np.cos(angle) * pixels).astype(np.float32)  # (N, size)
    along_y = (frequency * np.sin(angle) * pixels + phase).astype(np.float32)
    stripes = np.cos(along_y)[:, :, None] * np.cos(along_x)[:, None, :] - (
        np.sin(along_y)[:, :, None] * np.sin(along_x)[:, None, :]
    )  # (N, size, size): rows are y, columns x
    grain = rng.standard_normal((count, size, size), dtype=np.float32) * 5
    texture = level + 15 * blotches + strength * stripes + grain
    return np.clip(np.rint(texture), 0, 255).astype(np.uint8)


def _place(rng, sizes, placed, present, config: ScenesConfig):
    """Choose each item's box position so that it overlaps the items already placed little enough.

    Args:
        sizes: ``(N, 2)`` width and height of each new item's box.
        placed: ``(N, K, 4)`` pixel ``xyxy`` boxes of the items placed so far.
        present: ``(N, K)`` which of those are real.

    Returns:
        ``(N, 2)`` top-left corners and ``(N,)`` whether a free place was found.
    """
    n, tries = len(sizes), 1 if placed.shape[1] == 0 else _PLACEMENT_TRIES
    high = config.canvas_size - sizes  # (N, 2): the box stays on the canvas
    corner = rng.integers(0, high[:, None, :] + 1, size=(n, tries, 2))  # (N, T, 2)
    candidates = np.concatenate([corner, corner + sizes[:, None, :]], axis=-1)  # (N, T, 4)
    if placed.shape[1] == 0:
        return corner[:, 0], np.ones(n, bool)
    cand, prev = candidates[:, :, None, :], placed[:, None, :, :]  # (N, T, 1, 4), (N, 1, K, 4)
    iou = np.asarray(box_utils.iou(cand, prev, box_format="xyxy"))  # (N, T, K)
    inter = np.asarray(box_utils.intersection(cand, prev, box_format="xyxy"))
    smaller = np.minimum(
        np.asarray(box_utils.box_area(cand, box_format="xyxy")),
        np.asarray(box_utils.box_area(prev, box_format="xyxy")),
    )
    clash = (iou > config.max_iou) | (inter > config.max_cover * smaller)
    free = ~(clash & present[:, None, :]).any(axis=2)  # (N, T)
    first = free.argmax(axis=1)
    return corner[np.arange(n), first], free.any(axis=1)


def generate_scenes(
    images: np.ndarray, labels: np.ndarray, count: int, config: ScenesConfig, seed
) -> dict[str, np.ndarray]:
    """Make ``count`` scenes from a pool of Fashion-MNIST items (NumPy, vectorised, deterministic).

    Args:
        images: ``(M, 28, 28)`` uint8 items to draw from (each used once while it lasts).
        labels: ``(M,)`` their classes.
        count: number of scenes.
        config: canvas size, objects per scene, scales and overlap limits.
        seed: anything ``np.random.default_rng`` takes; the same seed gives the same bytes.

    Returns:
        A dict of NumPy arrays, with ``K = config.max_objects`` slots per scene:
        ``image`` ``(count, S, S)`` uint8; ``boxes`` ``(count, K, 4)`` pixel ``xyxy`` (int);
        ``labels`` and ``items`` (index into ``images``) ``(count, K)``; ``present``
        ``(count, K)`` bool, which slots hold an item (the first one always does); ``scales``
        ``(count, K)`` each item's scale factor. With ``config.masks`` also ``instance_mask``
        ``(count, S, S)`` uint8 (0 background, ``k + 1`` the item in slot ``k``) and
        ``class_mask`` ``(count, S, S)`` uint8 (0 background, ``label + 1`` the item's class).

    A pixel belongs to the item whose pasted value is on top there (the largest; on a tie the
    later slot, as with any order of pasting the pixel's value is the same), provided that value
    is at least :data:`MASK_THRESHOLD` and above the background's value at that pixel (where the
    background is brighter, the canvas shows the background). So every item's mask lies inside
    its box, which is the tight box of all its non-zero pixels, halo and occluded parts included.

    Example:
    >>> items = np.zeros((3, 28, 28), np.uint8); items[:, 4:24, 8:20] = 255
    >>> scenes = generate_scenes(items, np.array([0, 1, 2]), 2, ScenesConfig("demo"), seed=0)
    >>> scenes["image"].shape, scenes["boxes"].shape, scenes["present"].tolist()
    ((2, 64, 64), (2, 1, 4), [[True], [True]])
    """
    rng = np.random.default_rng(seed)
    size, slots = config.canvas_size, config.max_objects
    patch = math.ceil(ITEM_SIZE * config.max_scale)

    # Which slots hold an item, which item, at what scale.
    counts = rng.integers(config.min_objects, config.max_objects + 1, size=count)
    present = np.arange(slots)[None, :] < counts[:, None]  # (count, K)
    repeats = math.ceil(count * slots / len(images))
    pool = np.concatenate([rng.permutation(len(images)) for _ in range(repeats)])
    items = pool[: count * slots].reshape(count, slots)  # (count, K)
    scales = rng.uniform(config.min_scale, config.max_scale, size=(count, slots))

    # Each item's tight box inside its own patch, then a place on the canvas for every slot.
    patch_boxes = np.empty((count, slots, 4), np.int64)
    for start in range(0, count, _CHUNK):
        part = slice(start, start + _CHUNK)
        patches = scale_items(
            images[items[part]].reshape(-1, ITEM_SIZE, ITEM_SIZE), scales[part].ravel(), patch
        )
        patch_boxes[part] = tight_boxes(patches).reshape(-1, slots, 4)
    box_sizes = patch_boxes[..., 2:] - patch_boxes[..., :2]  # (count, K, 2)
    boxes = np.zeros((count, slots, 4), np.int64)
    for k in range(slots):
        corner, found = _place(rng, box_sizes[:, k], boxes[:, :k], present[:, :k], config)
        present[:, k] &= found
        boxes[:, k] = np.concatenate([corner, corner + box_sizes[:, k]], axis=1) * present[:, k, None]

    # Pixels: background, then every item's patch pasted at its place, by max-compositing.
    canvas = np.empty((count, size, size), np.uint8)
    if config.masks:
        instance_mask = np.zeros((count, size, size), np.uint8)
        class_mask = np.zeros((count, size, size), np.uint8)
    offset = np.arange(patch)
    for start in range(0, count, _CHUNK):
        part = slice(start, start + _CHUNK)
        n = len(canvas[part])
        layer = backgrounds(rng, n, size)
        padded = np.zeros((n, size + 2 * patch, size + 2 * patch), np.uint8)  # room for patches hanging over
        patches = scale_items(
            images[items[part]].reshape(-1, ITEM_SIZE, ITEM_SIZE), scales[part].ravel(), patch
        )
        patches = patches.reshape(n, slots, patch, patch) * present[part, :, None, None]
        top_left = (
            boxes[part, :, :2] - patch_boxes[part, :, :2] + patch
        )  # (n, K, 2): patch corner in `padded`
        scene = np.arange(n)[:, None, None]
        owner = np.zeros(padded.shape, np.uint8) if config.masks else None  # slot + 1 on top
        for k in range(slots):
            rows = top_left[:, k, 1, None, None] + offset[None, :, None]  # (n, P, 1)
            cols = top_left[:, k, 0, None, None] + offset[None, None, :]  # (n, 1, P)
            current = padded[scene, rows, cols]
            if owner is not None:
                on_top = (patches[:, k] >= current) & (patches[:, k] > 0)
                owner[scene, rows, cols] = np.where(on_top, k + 1, owner[scene, rows, cols])
            padded[scene, rows, cols] = np.maximum(current, patches[:, k])
        items_layer = padded[:, patch : patch + size, patch : patch + size]
        canvas[part] = np.maximum(layer, items_layer)
        if owner is not None:
            shown = (items_layer >= MASK_THRESHOLD) & (items_layer > layer)
            instance = np.where(shown, owner[:, patch : patch + size, patch : patch + size], 0)
            classes = np.concatenate([np.zeros((n, 1), np.int64), labels[items[part]] + 1], axis=1)
            instance_mask[part] = instance
            class_mask[part] = np.take_along_axis(classes, instance.reshape(n, -1), axis=1).reshape(
                n, size, size
            )
    scenes = {
        "image": canvas,
        "boxes": boxes,
        "labels": labels[items].astype(np.int64) * present,
        "items": items * present,
        "present": present,
        "scales": scales * present,
    }
    if config.masks:
        scenes["instance_mask"], scenes["class_mask"] = instance_mask, class_mask
    return scenes


# ---------- The TFDS builder ----------


def _png(image: np.ndarray) -> bytes:
    """PNG bytes of a 2-D uint8 image (PIL is several times faster than TFDS's per-image TF call)."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


class _NoDownloads:
    """Stands in for TFDS's download manager: the scenes are generated, nothing is downloaded."""

    downloaded_size = 0

    def __getattr__(self, name):
        raise RuntimeError(
            f"ClothingScenes generates its data locally and downloads nothing; `dl_manager.{name}` "
            "is not available."
        )


class ClothingScenes(tfds.core.GeneratorBasedBuilder):
    """The clothing-catalogue scenes as a TFDS dataset: ``tfds.load("clothing_scenes/single")``.

    Features: ``image`` ``(S, S, 1)`` uint8; ``objects``, a sequence of ``bbox``
    (``tfds.features.BBox``: normalised ``ymin, xmin, ymax, xmax``, i.e. ``"rel_yxyx"``),
    ``label`` (the class) and ``item`` (the index of the Fashion-MNIST image in its split).
    Configs with masks (``segment``, ``segment_small``) add ``class_mask`` and ``instance_mask``,
    ``(S, S, 1)`` uint8 PNGs (see :func:`generate_scenes`). Examples keep the order in which they
    were generated.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Single- and multi-object scenes from Fashion-MNIST."}
    BUILDER_CONFIGS = list(BUILDER_CONFIGS)

    def _info(self) -> tfds.core.DatasetInfo:
        config: ScenesConfig = self.builder_config
        size = config.canvas_size
        masks = (
            {
                "class_mask": tfds.features.Image(shape=(size, size, 1)),
                "instance_mask": tfds.features.Image(shape=(size, size, 1)),
            }
            if config.masks
            else {}
        )
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                f"Fashion-MNIST items pasted on textured {size}x{size} canvases "
                f"({config.min_objects} to {config.max_objects} per scene, scaled "
                f"{config.min_scale}x to {config.max_scale}x), with the tight box of every item. "
                "Generated locally by tfcourse.scenes."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 1)),
                    "objects": tfds.features.Sequence(
                        {
                            "bbox": tfds.features.BBoxFeature(),
                            "label": tfds.features.ClassLabel(names=CLASS_NAMES),
                            "item": tfds.features.Scalar(np.int64),
                        }
                    ),
                    **masks,
                }
            ),
            disable_shuffling=True,
            homepage="https://github.com/zalandoresearch/fashion-mnist",
        )

    # TFDS has no public way to say "this builder downloads nothing", so this overrides the private
    # hook through which `download_and_prepare` makes its download manager (the only TFDS internal
    # the package uses); tests/test_keras_private.py fails loudly if an upgrade renames it.
    def _make_download_manager(self, download_dir, download_config):
        return _NoDownloads()

    def download_and_prepare(self, *, download_dir=None, download_config=None, **kwargs):
        """Generate the scenes if they are not on disk yet; never looks for a prepared copy online."""
        download_config = dataclasses.replace(
            download_config or tfds.download.DownloadConfig(), try_download_gcs=False
        )
        super().download_and_prepare(download_dir=download_dir, download_config=download_config, **kwargs)

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        (x_train, y_train), (x_test, y_test), _ = data.load_fashion_mnist(allow_download=False)
        config: ScenesConfig = self.builder_config
        return {
            "train": self._generate_examples(x_train, y_train, config.train_examples, (config.seed, 0)),
            "test": self._generate_examples(x_test, y_test, config.test_examples, (config.seed, 1)),
        }

    def _generate_examples(self, images, labels, count, seed):
        config: ScenesConfig = self.builder_config
        scenes = generate_scenes(images, labels, count, config, seed)
        rel_yxyx = np.asarray(
            box_utils.convert_format(
                scenes["boxes"], "xyxy", "rel_yxyx", image_shape=(config.canvas_size,) * 2
            )
        )
        for i in range(count):
            keep = scenes["present"][i]
            example = {
                "image": _png(scenes["image"][i]),
                "objects": {
                    "bbox": rel_yxyx[i][keep],
                    "label": scenes["labels"][i][keep],
                    "item": scenes["items"][i][keep],
                },
            }
            if config.masks:
                example["class_mask"] = _png(scenes["class_mask"][i])
                example["instance_mask"] = _png(scenes["instance_mask"][i])
            yield i, example


def builder(
    config: str | ScenesConfig = "single", data_dir: str | os.PathLike | None = None
) -> ClothingScenes:
    """The scenes' TFDS builder for a config name or a custom :class:`ScenesConfig`, data in ``data_dir``."""
    return ClothingScenes(config=config, data_dir=os.fspath(data_dir or default_data_dir()))


def load_scenes(
    config: str | ScenesConfig = "single",
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
):
    """Build the scenes if they are not on disk yet (no network), then return ``(dataset, info)``.

    Args:
        config: ``"single"``, ``"single_small"``, ``"multi"``, ``"multi_small"``,
            ``"segment"``, ``"segment_small"`` or a :class:`ScenesConfig`.
        split: a TFDS split, e.g. ``"train"``, ``"test"`` or ``"train[:90%]"``.
        data_dir: where TFDS keeps the data; default ``data/tfds`` in the project (git-ignored).

    Returns:
        The ``tf.data.Dataset`` of examples (dicts, see :class:`ClothingScenes`) and the
        ``tfds.core.DatasetInfo``.

    Example:
    >>> import tempfile
    >>> tiny = ScenesConfig("doctest", train_examples=8, test_examples=4)
    >>> ds, info = load_scenes(tiny, "test", data_dir=tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Downloading and preparing dataset ...
    Dataset clothing_scenes downloaded and prepared to .... Subsequent calls will reuse this data.
    >>> info.splits["test"].num_examples, info.features["objects"]["label"].names[9]
    (4, 'Ankle boot')
    >>> example = next(iter(ds))
    >>> example["image"].shape, example["objects"]["bbox"].shape
    (TensorShape([64, 64, 1]), TensorShape([1, 4]))
    """
    scenes_builder = builder(config, data_dir)
    scenes_builder.download_and_prepare()
    return scenes_builder.as_dataset(split=split), scenes_builder.info
