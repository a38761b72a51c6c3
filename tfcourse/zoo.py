"""The model zoo: ``keras.applications`` bases without their top, with ImageNet weights when available.

``keras.applications.MobileNetV2(weights="imagenet", include_top=False)`` downloads its weights
into the Keras cache (``$KERAS_HOME/models``, default ``~/.keras/models``) the first time and
reads them from there afterwards. Offline, a missing file means a download that fails (or
hangs). :func:`load_base` therefore looks in the cache first and downloads only when asked:

* ``weights="auto"`` (what notebooks use): ImageNet weights if the cache holds them, else a
  randomly initialised network, and never the network;
* ``weights="imagenet"``: the cache, else a download (needs network);
* ``weights=None``: random initialisation.

Either way the result says which path ran (:attr:`LoadedBase.source`), so a notebook can print it.
The file names and checksums are those ``keras.applications`` uses (Keras 3.8 to 3.15), so a
cache filled by Keras serves this module and the other way round.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import keras

from tfcourse import checks
from tfcourse.layers import ClassifierHead

WEIGHTS_CHOICES = ("auto", "imagenet", None)
MOBILENET_V2_ROWS = (96, 128, 160, 192, 224)  # the input sizes MobileNetV2 has weights for


@dataclass(frozen=True)
class ZooEntry:
    """How to build one ``keras.applications`` network and where its no-top ImageNet weights live.

    Attributes:
        builder: the constructor's name in ``keras.applications``.
        origin: the folder Keras downloads the weights from.
        file_hash: the checksum Keras checks the no-top file against (None: Keras checks none).
        preprocessing: what the network expects: ``"tf"`` pixels in [-1, 1], ``"caffe"`` 0-255
            minus ImageNet's BGR mean, ``"raw"`` 0-255 (the network rescales itself).
        min_size: the smallest input side Keras accepts with ``include_top=False``.
    """

    builder: str
    origin: str
    file_hash: str | None
    preprocessing: str
    min_size: int = 32


ZOO: dict[str, ZooEntry] = {
    "MobileNetV2": ZooEntry(
        "MobileNetV2",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/",
        None,
        "tf",
    ),
    "ResNet50": ZooEntry(
        "ResNet50",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/",
        "4d473c1dd8becc155b73f8504c6f6626",
        "caffe",
    ),
    "EfficientNetB0": ZooEntry(
        "EfficientNetB0",
        "https://storage.googleapis.com/keras-applications/",
        "50bc09e76180e00e4465e1a485ddc09d",
        "raw",
    ),
}
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)  # what "caffe" preprocessing subtracts


class ZooError(RuntimeError):
    """ImageNet weights cannot be had: a corrupted cache file or a failed download; the message says the fix."""


def _entry(name: str) -> ZooEntry:
    if name not in ZOO:
        raise ValueError(f"`name` must be one of {sorted(ZOO)}. Received: name={name!r}")
    return ZOO[name]


def weights_file_name(name: str, alpha: float = 1.0, input_size: int = 224) -> str:
    """The file name ``keras.applications`` gives the no-top ImageNet weights of ``name``.

    MobileNetV2 has one file per width ``alpha`` and input size; for a size it has no weights
    for (such as 32), Keras loads the 224 ones, which fit any size once the top is removed.

    Example:
    >>> weights_file_name("MobileNetV2", alpha=0.35, input_size=32)
    'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5'
    >>> weights_file_name("ResNet50")
    'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'
    """
    _entry(name)
    if name == "MobileNetV2":
        rows = input_size if input_size in MOBILENET_V2_ROWS else 224
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    if name == "ResNet50":
        return "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return f"{name.lower()}_notop.h5"


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models``, else ``~/.keras/models``.

    ``$KERAS_HOME`` is read at each call (Keras reads it once, at import).
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


@dataclass
class LoadedBase:
    """A ``keras.applications`` network without its top, and where its weights came from.

    Attributes:
        model: the network; outputs feature maps ``(batch, h, w, channels)``.
        name: its ``ZOO`` name.
        source: ``"cache"`` (ImageNet weights read from the Keras cache), ``"download"``
            (ImageNet weights downloaded now) or ``"random"`` (no ImageNet weights).
        path: the weights file, or None for ``"random"``.
    """

    model: keras.Model
    name: str
    source: str
    path: Path | None = None

    @property
    def pretrained(self) -> bool:
        """True when the network holds ImageNet weights."""
        return self.source != "random"

    def describe(self) -> str:
        """One sentence saying which path ran, for a notebook to print."""
        if self.source == "cache":
            return f"{self.name}: ImageNet weights read from the Keras cache ({self.path})."
        if self.source == "download":
            return f"{self.name}: ImageNet weights downloaded into the Keras cache ({self.path})."
        return (
            f"{self.name}: randomly initialised, NOT pretrained: no ImageNet weights in the Keras cache "
            f"({keras_cache_dir()}). With network, load_base(..., weights='imagenet') downloads them."
        )


def file_checksum(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """The hex digest of a file, read in chunks (Keras's checksums of these files are MD5)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_file(path: Path, entry: ZooEntry) -> None:
    if entry.file_hash is not None and file_checksum(path) != entry.file_hash:
        raise ZooError(
            f"{path} does not hold the {entry.builder} ImageNet weights Keras publishes (its checksum is not "
            f"{entry.file_hash}): an interrupted download or another file. Delete it and load again with "
            "weights='imagenet' and network, or copy the right file there."
        )


def load_base(
    name: str,
    input_size: int = 32,
    weights: str | None = "auto",
    *,
    alpha: float = 1.0,
) -> LoadedBase:
    """Build ``keras.applications.<name>(include_top=False)`` for ``input_size`` x ``input_size`` x 3 images.

    Args:
        name: a key of :data:`ZOO`: ``"MobileNetV2"``, ``"ResNet50"`` or ``"EfficientNetB0"``.
        input_size: the side of the square RGB input (at least 32).
        weights: ``"auto"`` (ImageNet from the Keras cache, else random; never downloads),
            ``"imagenet"`` (the cache, else download) or ``None`` (random).
        alpha: MobileNetV2's width multiplier (0.35, 0.5, 0.75, 1.0, 1.3 or 1.4 have weights).

    Returns:
        A :class:`LoadedBase`: the model, and which weights it got.

    Raises:
        ValueError: an unknown name or weights choice, or a too small input.
        ZooError: the cached file fails Keras's checksum, or the download failed.

    Example:
    >>> base = load_base("MobileNetV2", 32, weights=None, alpha=0.35)
    >>> base.source, base.model.output_shape
    ('random', (None, 1, 1, 1280))
    """
    entry = _entry(name)
    if weights not in WEIGHTS_CHOICES:
        raise ValueError(f"`weights` must be one of {WEIGHTS_CHOICES}. Received: weights={weights!r}")
    checks.positive_int("input_size", input_size)
    if input_size < entry.min_size:
        raise ValueError(
            f"{name} needs inputs of at least {entry.min_size}x{entry.min_size}; resize the images first. "
            f"Received: input_size={input_size}"
        )
    kwargs = {"alpha": alpha} if name == "MobileNetV2" else {}
    fname = weights_file_name(name, alpha, input_size)
    path = keras_cache_dir() / fname
    source = "random"
    if weights is not None and path.is_file():
        _check_file(path, entry)
        source = "cache"
    elif weights == "imagenet":
        try:
            downloaded = keras.utils.get_file(
                fname,
                entry.origin + fname,
                cache_subdir="models",
                cache_dir=str(keras_cache_dir().parent),
                file_hash=entry.file_hash,
            )
        except Exception as err:  # urllib, socket and hash errors all mean: no weights
            raise ZooError(
                f"Could not download {entry.origin + fname} ({type(err).__name__}: {err}). Without "
                f"network, copy the file into {keras_cache_dir()} or use weights='auto' (random "
                "initialisation when the file is missing)."
            ) from err
        path, source = Path(downloaded), "download"
    builder = getattr(keras.applications, entry.builder)
    model = builder(
        include_top=False,
        weights=str(path) if source != "random" else None,
        input_shape=(input_size, input_size, 3),
        **kwargs,
    )
    return LoadedBase(model, name, source, path if source != "random" else None)


def preprocessing_layers(name: str) -> list[keras.layers.Layer]:
    """Layers that map [0, 255] RGB pixels to what network ``name`` was trained on.

    Example:
    >>> [type(layer).__name__ for layer in preprocessing_layers("MobileNetV2")]
    ['Rescaling']
    """
    kind = _entry(name).preprocessing
    if kind == "tf":
        return [keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_minus1_1")]
    if kind == "caffe":  # gray images have equal channels, so RGB -> BGR changes nothing
        return [
            keras.layers.Normalization(mean=IMAGENET_BGR_MEAN, variance=(1.0, 1.0, 1.0), name="minus_mean")
        ]
    return []


def transfer_model(
    base: LoadedBase,
    num_classes: int,
    input_shape: tuple[int, int, int] = (28, 28, 1),
    dropout: float = 0.2,
) -> keras.Model:
    """The course's images into a zoo base, and a new head: resize, gray to RGB, preprocess, base, head.

    Inputs are the course's images (pixels in [0, 1], e.g. Fashion-MNIST's 28x28x1); they are
    resized to the base's input size, repeated to three channels, scaled to [0, 255] and
    preprocessed as the base expects. The base is called with ``training=False`` and its
    batch-norm layers are frozen (:func:`tfcourse.transfer.set_trainable` explains why
    ``training=False`` alone does not keep them so in Keras 3), so their statistics stay those
    of ImageNet when the base is unfrozen later. The head is a
    :class:`~tfcourse.layers.ClassifierHead` (global average pooling, dropout, dense) that
    outputs logits. Notebook 05 trains it on the target task. It lives here, not with the
    other builders in :mod:`tfcourse.models`, because it is made of the zoo's pieces: a
    :class:`LoadedBase` and :func:`preprocessing_layers`.

    Example:
    >>> base = load_base("MobileNetV2", 32, weights=None, alpha=0.35)
    >>> model = transfer_model(base, 5)
    >>> model.input_shape, model.output_shape
    ((None, 28, 28, 1), (None, 5))
    """
    checks.positive_int("num_classes", num_classes)
    size = base.model.input_shape[1]
    inputs = keras.Input(tuple(input_shape), name="image")
    x = keras.layers.Resizing(size, size, name="resize")(inputs)  # (B, size, size, C)
    if input_shape[-1] == 1:
        x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])  # (B, size, size, 3)
    x = keras.layers.Rescaling(255.0, name="to_0_255")(x)
    for layer in preprocessing_layers(base.name):
        x = layer(x)
    for layer in base.model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # inference mode: ImageNet's statistics, never updated
    x = base.model(x, training=False)
    outputs = ClassifierHead(num_classes, pooling="avg", dropout=dropout, name="head")(x)
    return keras.Model(inputs, outputs, name=f"{base.name.lower()}_transfer")
