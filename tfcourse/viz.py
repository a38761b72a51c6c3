"""Plots the notebooks share: projector-sized defaults, labelled image grids, curves, confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np


def setup_plots(font_size: int = 13) -> None:
    """Matplotlib defaults that read from the back of the room: larger fonts, tight layouts."""
    plt.rcParams.update(
        {
            "font.size": font_size,
            "axes.titlesize": font_size + 2,
            "axes.labelsize": font_size + 1,
            "figure.titlesize": font_size + 4,
            "legend.fontsize": font_size - 1,
            "figure.dpi": 100,
            "figure.autolayout": True,
        }
    )


def show_images(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str = "gray",
    title_colors: Sequence[str] | None = None,
    suptitle: str | None = None,
    size: float = 1.6,
) -> plt.Figure:
    """Show a grid of images (``(N, H, W)`` or ``(N, H, W, C)``) with optional per-image titles.

    Example:
    >>> fig = show_images(np.zeros((3, 28, 28)), ["a", "b", "c"], ncols=2, suptitle="demo")
    >>> len(fig.axes), fig.axes[2].get_title()
    (4, 'c')
    >>> plt.close(fig)
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]  # (N, H, W)
    if images.ndim not in (3, 4):
        raise ValueError(f"`images` must be (N, H, W) or (N, H, W, C). Received: images.shape={images.shape}")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.35) * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap if images.ndim == 3 else None)
            if titles is not None:
                color = title_colors[i] if title_colors is not None else "black"
                ax.set_title(titles[i], fontsize=plt.rcParams["font.size"] - 2, color=color)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_history(
    histories: dict[str, dict[str, list[float]]], metrics: Sequence[str] = ("loss", "accuracy")
) -> plt.Figure:
    """Training curves of one or more runs: one panel per metric, solid training and dashed validation."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, (name, history) in enumerate(histories.items()):
            color = f"C{i}"
            if metric in history:
                epochs = np.arange(1, len(history[metric]) + 1)
                ax.plot(epochs, history[metric], color=color, marker="o", label=f"{name} (train)")
            if f"val_{metric}" in history:
                epochs = np.arange(1, len(history[f"val_{metric}"]) + 1)
                ax.plot(
                    epochs,
                    history[f"val_{metric}"],
                    color=color,
                    ls="--",
                    marker="s",
                    label=f"{name} (validation)",
                )
        ax.set(title=metric.capitalize(), xlabel="epoch", ylabel=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def plot_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix"
) -> plt.Figure:
    """A confusion matrix (rows: true class, columns: predicted class) with counts in the cells."""
    matrix = np.asarray(matrix)
    k = len(class_names)
    if matrix.shape != (k, k):
        raise ValueError(
            f"`matrix` must be ({k}, {k}) for {k} class names. Received: matrix.shape={matrix.shape}"
        )
    fig, ax = plt.subplots(figsize=(1.0 * k + 2, 0.9 * k + 1.5))
    im = ax.imshow(matrix, cmap="Blues")
    threshold = matrix.max() / 2
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{matrix[i, j]:d}",
                ha="center",
                va="center",
                fontsize=10,
                color="white" if matrix[i, j] > threshold else "black",
            )
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.colorbar(im, ax=ax, label="images")
    return fig


def draw_boxes(
    ax: plt.Axes,
    boxes,
    labels: Sequence[int] | None = None,
    scores: Sequence[float] | None = None,
    *,
    box_format: str,
    class_names: Sequence[str] | None = None,
    color: str | Sequence[str] = "C1",
    image_shape: Sequence[int] | None = None,
    linestyle: str = "-",
    linewidth: float = 2.0,
) -> list:
    """Draw boxes (with class names and scores) on an axes that shows an image.

    Pixel coordinates follow :mod:`tfcourse.boxes`: pixel column ``i`` spans ``[i, i + 1)``.
    Matplotlib's ``imshow`` centres pixel ``i`` on ``i``, so rectangles are shifted by half a
    pixel and frame exactly the pixels of the box.

    Args:
        ax: the axes, usually after ``ax.imshow(image)``.
        boxes: ``(N, 4)`` boxes in ``box_format``.
        labels: ``(N,)`` class indices, or None for unlabelled boxes.
        scores: ``(N,)`` confidences, shown after the class name, or None.
        box_format: the format of ``boxes``, any of :data:`tfcourse.boxes.FORMATS` (required, no
            default), e.g. ``"xyxy"`` for pixel corners or ``"rel_yxyx"`` for TFDS boxes.
        class_names: names for the labels (else the label numbers are shown).
        color: one colour for all boxes or one per box.
        image_shape: ``(height, width)`` for normalised formats; by default the shape of the
            last image shown on ``ax``.
        linestyle: e.g. ``"--"`` to tell predictions from ground truth.
        linewidth: line width in points.

    Returns:
        The rectangles and texts added, one rectangle (and text if labelled or scored) per box.

    Example:
    >>> fig, ax = plt.subplots()
    >>> _ = ax.imshow(np.zeros((64, 64)))
    >>> artists = draw_boxes(ax, [[0.25, 0.5, 0.75, 1.0]], [1], box_format="rel_yxyx",
    ...                      class_names=["cat", "dog"], scores=[0.9])
    >>> [float(v) for v in artists[0].get_xy()], float(artists[0].get_width()), artists[1].get_text()
    ([31.5, 15.5], 32.0, 'dog 0.90')
    >>> plt.close(fig)
    """
    from matplotlib.patches import Rectangle

    from tfcourse import boxes as box_utils

    if box_utils.is_relative(box_format) and image_shape is None:
        if not ax.images:
            raise ValueError(
                f"Normalised boxes ({box_format!r}) need the image's size: show the image on `ax` "
                f"first or pass `image_shape=(height, width)`. Received: image_shape={image_shape}"
            )
        image_shape = ax.images[-1].get_array().shape[:2]
    xyxy = np.asarray(
        box_utils.convert_format(
            np.asarray(boxes, np.float32).reshape(-1, 4), box_format, "xyxy", image_shape
        )
    )
    n = len(xyxy)
    for name, values in (("labels", labels), ("scores", scores)):
        if values is not None and len(values) != n:
            raise ValueError(f"`{name}` needs one entry per box ({n}). Received: len({name})={len(values)}")
    colors = [color] * n if isinstance(color, str) else list(color)
    artists = []
    for i, (x1, y1, x2, y2) in enumerate(xyxy):
        rect = Rectangle(
            (x1 - 0.5, y1 - 0.5),
            x2 - x1,
            y2 - y1,
            fill=False,
            edgecolor=colors[i],
            linewidth=linewidth,
            linestyle=linestyle,
        )
        ax.add_patch(rect)
        artists.append(rect)
        parts = []
        if labels is not None:
            label = int(labels[i])
            parts.append(class_names[label] if class_names is not None else str(label))
        if scores is not None:
            parts.append(f"{float(scores[i]):.2f}")
        if parts:
            text = ax.text(
                x1 - 0.5,
                y1 - 1.0,
                " ".join(parts),
                color="white",
                fontsize=max(plt.rcParams["font.size"] - 4, 8),
                va="bottom",
                bbox={"facecolor": colors[i], "alpha": 0.7, "pad": 1, "edgecolor": "none"},
            )
            artists.append(text)
    return artists
