"""Fashion-MNIST, loaded offline-first and verified, plus the tf.data pipeline the notebooks share.

Lookup order for the four IDX files (``.gz`` or already decompressed):

1. the directory named by ``$TFCOURSE_DATA_DIR`` (CI and tests point it at ``../shared/data``);
2. the project's cache, ``data/fashion-mnist/``;
3. a download from the dataset's official mirror into ``data/fashion-mnist/``.

Every file is checked by the SHA-256 of its *decompressed* bytes, so a re-gzipped copy is
accepted and a truncated or corrupted one is refused with a message naming the file and the fix.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfcourse.config import PATHS

DATA_DIR_ENV_VAR = "TFCOURSE_DATA_DIR"

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# SHA-256 of the decompressed IDX bytes (the published files' content).
FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "a8adc57f677927963cb0586145c4a453f381f1ef90c933cb3043e3196ba65bcc",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "4be2ed5e8b4d8ec15414037406eaff205ff050ccabefbf78cca097a19238fda9",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

# The dataset's official mirror first, then the copy Keras downloads from.
MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)

_FIX = (
    "Delete it and run `python -m tfcourse fetch` to download a fresh copy, or point "
    f"${DATA_DIR_ENV_VAR} at a directory holding the four Fashion-MNIST IDX files."
)


class DataError(RuntimeError):
    """A data file is missing, truncated or corrupted; the message names the file and the fix."""


def cache_dir() -> Path:
    """The project's Fashion-MNIST cache: ``data/fashion-mnist/``."""
    return PATHS.data / "fashion-mnist"


def _candidates(directory: Path, name: str) -> list[Path]:
    return [p for p in (directory / f"{name}.gz", directory / name) if p.is_file()]


def _read_bytes(path: Path, gz: bool | None = None) -> bytes:
    """Read an IDX file, decompressing ``.gz`` (or when ``gz``); a broken gzip stream is a DataError."""
    try:
        if path.suffix == ".gz" if gz is None else gz:
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(f"{path} is truncated or corrupted ({err}). {_FIX}") from err


def _verify(path: Path, raw: bytes, name: str) -> None:
    digest = hashlib.sha256(raw).hexdigest()
    if digest != FILES[name]:
        raise DataError(
            f"{path} does not hold the expected Fashion-MNIST content: SHA-256 of its "
            f"decompressed bytes is {digest}, expected {FILES[name]}. {_FIX}"
        )


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    """Decode an IDX file: magic (0x0000 08 ndim), big-endian int32 dims, uint8 data."""
    if len(raw) < 4:
        raise DataError(f"{path} is too short to be an IDX file. {_FIX}")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number). {_FIX}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path} holds {data.size} values where its header promises {dims}. {_FIX}")
    return data.reshape(dims)


def _search_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    dirs = []
    if data_dir is not None:
        dirs.append(Path(data_dir))
    elif os.environ.get(DATA_DIR_ENV_VAR):
        dirs.append(Path(os.environ[DATA_DIR_ENV_VAR]).expanduser())
    dirs.append(cache_dir())
    return dirs


def find_file(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """Return the first copy of ``name`` (``.gz`` or raw) in the lookup order, or None."""
    if name not in FILES:
        raise ValueError(
            f"Unknown Fashion-MNIST file. Expected one of {sorted(FILES)}. Received: name={name!r}"
        )
    for directory in _search_dirs(data_dir):
        found = _candidates(directory, name)
        if found:
            return found[0]
    return None


def download(
    names: Sequence[str] = tuple(FILES),
    dest: str | os.PathLike | None = None,
    mirrors: Sequence[str] = MIRRORS,
    timeout: float = 60.0,
) -> list[Path]:
    """Download the named files into ``dest`` (default ``data/fashion-mnist``) and verify them.

    Each file is written to a temporary name and moved into place only once its content
    checks out, so an interrupted download never leaves a half file in the cache.
    """
    dest = Path(dest) if dest is not None else cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        target = dest / f"{name}.gz"
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + f"/{name}.gz"
            fd, tmp = tempfile.mkstemp(dir=dest, suffix=".part")
            os.close(fd)
            tmp_path = Path(tmp)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp_path, "wb") as out:
                    shutil.copyfileobj(response, out)
                _verify(target, _read_bytes(tmp_path, gz=True), name)
                tmp_path.replace(target)
                written.append(target)
                break
            except (OSError, DataError) as err:
                errors.append(f"{url}: {err}")
            finally:
                tmp_path.unlink(missing_ok=True)
        else:
            raise DataError(
                f"Could not download {name}.gz. Tried:\n  " + "\n  ".join(errors) + "\n"
                f"Without network, copy the four Fashion-MNIST files into {dest} or set "
                f"${DATA_DIR_ENV_VAR} to a directory that holds them."
            )
    return written


def _load_file(name: str, data_dir: str | os.PathLike | None, allow_download: bool) -> np.ndarray:
    path = find_file(name, data_dir)
    if path is None:
        if not allow_download:
            looked = ", ".join(str(d) for d in _search_dirs(data_dir))
            raise DataError(
                f"{name}(.gz) not found (looked in: {looked}). Run `python -m tfcourse fetch` "
                f"with network, or set ${DATA_DIR_ENV_VAR} to a directory holding the files."
            )
        (path,) = download([name])
    raw = _read_bytes(path)
    _verify(path, raw, name)
    return _parse_idx(raw, path)


def load_fashion_mnist(
    data_dir: str | os.PathLike | None = None, *, allow_download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], tuple[str, ...]]:
    """Load Fashion-MNIST as uint8 arrays, verified by content.

    Args:
        data_dir: look here first instead of ``$TFCOURSE_DATA_DIR``.
        allow_download: download missing files into ``data/fashion-mnist`` (default True).

    Returns:
        ``(x_train, y_train), (x_test, y_test), class_names`` with images of shape
        ``(N, 28, 28)`` and labels of shape ``(N,)``, both ``uint8``.

    Raises:
        DataError: a file is missing (and cannot be downloaded), truncated or corrupted.
    """
    x_train = _load_file("train-images-idx3-ubyte", data_dir, allow_download)
    y_train = _load_file("train-labels-idx1-ubyte", data_dir, allow_download)
    x_test = _load_file("t10k-images-idx3-ubyte", data_dir, allow_download)
    y_test = _load_file("t10k-labels-idx1-ubyte", data_dir, allow_download)
    return (x_train, y_train), (x_test, y_test), CLASS_NAMES


def fetch(dest: str | os.PathLike | None = None) -> list[Path]:
    """Fill the cache for offline use: verify what is there, download what is missing or bad.

    Files already found through the lookup order are verified and, if they are not in
    ``dest`` yet, copied there, so the cache is complete even when ``$TFCOURSE_DATA_DIR``
    is unset later.
    """
    dest = Path(dest) if dest is not None else cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    ready = []
    for name in FILES:
        path = find_file(name)
        if path is not None:
            try:
                _verify(path, _read_bytes(path), name)
            except DataError:
                if path.parent.resolve() != dest.resolve():
                    raise
                path.unlink()
                path = None
        if path is None:
            ready.extend(download([name], dest))
            continue
        if path.parent.resolve() != dest.resolve():
            target = dest / path.name
            shutil.copyfile(path, target)
            path = target
        ready.append(path)
    return ready


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int | None = None,
    cache: bool = True,
    augment=None,
    drop_remainder: bool = False,
):
    """Build the course's input pipeline: normalise, (cache), (shuffle), batch, (augment), prefetch.

    Args:
        images: uint8 images ``(N, H, W)`` or ``(N, H, W, C)``; a channel axis is added to
            rank-3 input and pixels are scaled to [0, 1] as float32.
        labels: optional integer labels ``(N,)``; without them the dataset yields images only.
        batch_size: images per batch.
        shuffle: reshuffle every epoch (use for training, not for evaluation).
        seed: shuffle seed, for a repeatable order.
        cache: keep the normalised tensors in memory after the first pass.
        augment: optional callable (e.g. a ``keras.Sequential`` of preprocessing layers)
            applied to each batch with ``training=True``, after caching so that every
            epoch sees new augmentations.
        drop_remainder: drop the last incomplete batch.

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)`` or ``images`` batches.

    Example:
    >>> import numpy as np
    >>> ds = make_dataset(np.zeros((10, 28, 28), np.uint8), np.arange(10), batch_size=4)
    >>> [tuple(x.shape) for x, _ in ds]
    [(4, 28, 28, 1), (4, 28, 28, 1), (2, 28, 28, 1)]
    """
    import tensorflow as tf

    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"`images` must have shape (N, H, W) or (N, H, W, C). Received: images.shape={images.shape}"
        )
    if labels is not None and len(labels) != len(images):
        raise ValueError(
            "`images` and `labels` must have the same length. "
            f"Received: len(images)={len(images)}, len(labels)={len(labels)}"
        )
    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size}")

    def normalise(x):
        x = tf.cast(x, tf.float32) / 255.0
        return x[..., tf.newaxis] if images.ndim == 3 else x

    ds = tf.data.Dataset.from_tensor_slices(images if labels is None else (images, labels))
    ds = ds.map(
        normalise if labels is None else (lambda x, y: (normalise(x), y)), num_parallel_calls=tf.data.AUTOTUNE
    )
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment is not None:
        if labels is None:
            ds = ds.map(lambda x: augment(x, training=True), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
