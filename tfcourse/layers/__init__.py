"""Reusable, serializable Keras layers the course's models are built from."""

from tfcourse.layers.blocks import ClassifierHead, ConvBlock
from tfcourse.layers.dense import DenseBlock, TransitionLayer
from tfcourse.layers.inception import InceptionModule
from tfcourse.layers.mobile import InvertedResidualBlock, SeparableConvBlock, SqueezeExcitation
from tfcourse.layers.residual import BottleneckBlock, ResidualBlock
from tfcourse.layers.unet import DecoderBlock, EncoderBlock

__all__ = [
    "BottleneckBlock",
    "ClassifierHead",
    "ConvBlock",
    "DecoderBlock",
    "DenseBlock",
    "EncoderBlock",
    "InceptionModule",
    "InvertedResidualBlock",
    "ResidualBlock",
    "SeparableConvBlock",
    "SqueezeExcitation",
    "TransitionLayer",
]
