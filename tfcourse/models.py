"""Model builders that more than one notebook trains (notebook 02's CNN, reused in notebook 03)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from tfcourse import checks
from tfcourse.layers import ClassifierHead, ConvBlock


def fashion_cnn(
    num_classes: int = 10,
    filters: Sequence[int] = (32, 64),
    hidden_units: int = 256,
    conv_dropout: float = 0.1,
    head_dropout: float = 0.3,
    input_shape: tuple[int, int, int] = (28, 28, 1),
    augmentation: keras.layers.Layer | None = None,
    name: str = "fashion_cnn",
) -> keras.Model:
    """Notebook 02's CNN: one ``ConvBlock`` per entry of ``filters`` (conv, batch norm, ReLU,
    2x2 max pooling), then a ``ClassifierHead`` with one hidden layer. Outputs logits.

    Each block halves height and width and the depth grows: 28x28x1 -> 14x14x32 -> 7x7x64.
    Dropout follows every block but the first (``conv_dropout``) and the head's hidden layer
    (``head_dropout``).

    Args:
        num_classes: number of classes.
        filters: output channels of each block.
        hidden_units: width of the head's hidden dense layer.
        conv_dropout: dropout after the second and later blocks.
        head_dropout: dropout in the head.
        input_shape: ``(height, width, channels)``.
        augmentation: optional preprocessing layer(s) placed first; Keras runs them only in
            training, so the saved model predicts on clean images.
        name: the model's name.

    Example:
    >>> model = fashion_cnn()
    >>> model.output_shape
    (None, 10)
    >>> model.count_params()
    824746
    """
    if not filters:
        raise ValueError(f"`filters` needs at least one entry. Received: filters={filters!r}")
    checks.positive_int("hidden_units", hidden_units)
    inputs = keras.Input(input_shape, name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    for i, f in enumerate(filters):
        x = ConvBlock(
            f,
            pooling="max",
            dropout=conv_dropout if i > 0 else 0.0,
            input_channels=input_shape[-1] if i == 0 else None,
            name=f"block{i + 1}",
        )(x)
    outputs = ClassifierHead(num_classes, hidden_units=(hidden_units,), dropout=head_dropout, name="head")(x)
    return keras.Model(inputs, outputs, name=name)
