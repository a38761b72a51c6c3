"""Reusable, serializable Keras layers the course's models are built from."""

from tfcourse.layers.blocks import ClassifierHead, ConvBlock

__all__ = ["ClassifierHead", "ConvBlock"]
