"""Reusable, serializable Keras layers the course's models are built from."""

from tfcourse.layers.blocks import ClassifierHead, ConvBlock
from tfcourse.layers.dense import DenseBlock, TransitionLayer
from tfcourse.layers.inception import InceptionModule
from tfcourse.layers.residual import BottleneckBlock, ResidualBlock

__all__ = [
    "BottleneckBlock",
    "ClassifierHead",
    "ConvBlock",
    "DenseBlock",
    "InceptionModule",
    "ResidualBlock",
    "TransitionLayer",
]
