"""The lectures' classic CNNs at full size, built from ``tfcourse.layers``: LeNet-5 to DenseNet-121.

Each builder returns an (untrained) Keras model with the published layer sizes, so that its
shapes and parameter count can be checked against the papers and against
``keras.applications``. None of them is meant to be trained on a CPU; to count without
drawing millions of random weights, build them with
:func:`tfcourse.summary.build_without_weights`. Notebook 04 builds every one of them and shows
the source of :func:`alexnet` and :func:`resnet`; the small networks it trains are in
:mod:`tfcourse.models`.

| builder | input | parameters | reference |
| --- | --- | --- | --- |
| :func:`lenet5` | 32x32x1 | 61,706 | LeCun et al. 1998: about 60,000 |
| :func:`alexnet` | 227x227x3 | 62,378,344 (one tower); 60,965,224 with ``groups=2`` | Krizhevsky et al. 2012: 60 million |
| :func:`vgg` 16 / 19 | 224x224x3 | 138,357,544 / 143,667,240 | ``keras.applications.VGG16`` / ``VGG19`` |
| :func:`googlenet` | 224x224x3 | 6,998,552 | Szegedy et al. 2014, table 1: about 6.8 million |
| :func:`resnet` 18 / 34 / 50 | 224x224x3 | 11,689,512 / 21,797,672 / 25,557,032 trainable | He et al. 2015; torchvision |
| :func:`resnet` 50, Keras variant | 224x224x3 | 25,636,712 | ``keras.applications.ResNet50`` |
| :func:`densenet` 121 | 224x224x3 | 8,062,504 | ``keras.applications.DenseNet121`` |
| :func:`mobilenet` | 224x224x3 | 4,253,864 | ``keras.applications.MobileNet``; Howard et al. 2017: 4.2 million, 569 million mult-adds |
| :func:`mobilenet_v2` | 224x224x3 | 3,538,984 | ``keras.applications.MobileNetV2``; Sandler et al. 2018: 3.4 million, 300 million mult-adds |
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from tfcourse.layers import (
    BottleneckBlock,
    ClassifierHead,
    ConvBlock,
    DenseBlock,
    InceptionModule,
    InvertedResidualBlock,
    ResidualBlock,
    SeparableConvBlock,
    TransitionLayer,
)

VGG_BLOCKS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
DENSENET_BLOCKS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}

# MobileNet's table 1 after the first convolution: (output channels, stride) of each separable block.
MOBILENET_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    *[(512, 1)] * 5,
    (1024, 2),
    (1024, 1),
)
# MobileNetV2's table 2: expansion t, output channels c, repeats n, stride s of the first repeat.
MOBILENET_V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

# GoogLeNet's table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj; "pool" a 3x3/2 max pooling.
GOOGLENET_STAGES = (
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    "pool",
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    "pool",
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
)


def _depth(name: str, depth: int, table: dict) -> tuple[int, ...]:
    if depth not in table:
        raise ValueError(f"`depth` must be one of {sorted(table)} for {name}. Received: depth={depth!r}")
    return table[depth]


def lenet5(
    input_shape: Sequence[int] = (32, 32, 1), num_classes: int = 10, activation: str = "tanh"
) -> keras.Model:
    """LeNet-5 (LeCun et al. 1998): conv 5x5 (6) -> avg pool -> conv 5x5 (16) -> avg pool -> conv 5x5 (120) -> 84 -> 10.

    The modern reading: every C3 map sees all six S2 maps (the paper wired only some of them,
    1,516 weights instead of 2,416), the pooling layers have no trainable coefficients and
    the output layer is a dense layer instead of radial basis functions.

    Example:
    >>> lenet5().count_params()  # 156 + 2,416 + 48,120 + 10,164 + 850
    61706
    """
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    for i, filters in enumerate((6, 16, 120)):
        x = ConvBlock(
            filters,
            5,
            padding="valid",
            batch_norm=False,
            activation=activation,
            pooling="avg" if i < 2 else None,
            name=f"c{2 * i + 1}",
        )(x)
    outputs = ClassifierHead(num_classes, hidden_units=(84,), activation=activation, name="f6_output")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def alexnet(
    input_shape: Sequence[int] = (227, 227, 3),
    num_classes: int = 1000,
    filters: Sequence[int] = (96, 256, 384, 384, 256),
    first_kernel_size: int = 11,
    first_strides: int = 4,
) -> keras.Model:
    """AlexNet (Krizhevsky et al. 2012) as one tower: five convolutions, three overlapping 3x3/2 max poolings, 4096-4096-1000.

    Shapes: 227 -> conv 11x11/4 -> 55 -> pool -> 27 -> conv 5x5 -> pool -> 13 -> three conv
    3x3 -> pool -> 6, then 6x6x256 = 9,216 features into the dense layers. The paper split
    conv2, conv4 and conv5 over two GPUs (each half seeing half the channels) and normalized
    responses locally (LRN, no parameters); this builder does neither. ``filters``,
    ``first_kernel_size`` and ``first_strides`` give ZFNet's variations.

    Example:
    >>> from tfcourse.summary import build_without_weights
    >>> build_without_weights(alexnet).count_params()
    62378344
    """
    f1, f2, f3, f4, f5 = filters
    inputs = keras.Input(tuple(input_shape), name="image")
    x = ConvBlock(
        f1, first_kernel_size, strides=first_strides, padding="valid", batch_norm=False, name="conv1"
    )(inputs)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = ConvBlock(f2, 5, batch_norm=False, name="conv2")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    for name, f in (("conv3", f3), ("conv4", f4), ("conv5", f5)):
        x = ConvBlock(f, 3, batch_norm=False, name=name)(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    outputs = ClassifierHead(num_classes, hidden_units=(4096, 4096), dropout=0.5, name="fc")(x)
    return keras.Model(inputs, outputs, name="alexnet")


def vgg(depth: int = 16, input_shape: Sequence[int] = (224, 224, 3), num_classes: int = 1000) -> keras.Model:
    """VGG (Simonyan and Zisserman 2014): five blocks of 3x3 convolutions (64 to 512 channels), each ending in 2x2 max pooling, then 4096-4096-1000.

    Args:
        depth: 11, 13, 16 or 19 weight layers.

    Example:
    >>> vgg(11, input_shape=(32, 32, 3), num_classes=10).output_shape
    (None, 10)
    """
    repeats = _depth("VGG", depth, VGG_BLOCKS)
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    for i, (n, filters) in enumerate(zip(repeats, (64, 128, 256, 512, 512))):
        x = ConvBlock(filters, repeats=n, batch_norm=False, pooling="max", name=f"block{i + 1}")(x)
    outputs = ClassifierHead(num_classes, hidden_units=(4096, 4096), dropout=0.5, name="fc")(x)
    return keras.Model(inputs, outputs, name=f"vgg{depth}")


def googlenet(input_shape: Sequence[int] = (224, 224, 3), num_classes: int = 1000) -> keras.Model:
    """GoogLeNet / Inception v1 (Szegedy et al. 2014) without its two auxiliary classifiers.

    Stem (7x7/2 conv, 3x3/2 pool, 1x1 and 3x3 convs, 3x3/2 pool) -> nine Inception modules
    with 3x3/2 poolings after 3b and 4e -> global average pooling -> dropout 0.4 -> 1000.
    The convolutions have biases and no batch norm, as in the paper; LRN is left out.

    Example:
    >>> from tfcourse.summary import build_without_weights
    >>> build_without_weights(googlenet).count_params()
    6998552
    """
    inputs = keras.Input(tuple(input_shape), name="image")
    x = ConvBlock(64, 7, strides=2, batch_norm=False, name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = ConvBlock(64, 1, batch_norm=False, name="conv2_reduce")(x)
    x = ConvBlock(192, 3, batch_norm=False, name="conv2")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    for i, stage in enumerate(GOOGLENET_STAGES):
        if stage == "pool":
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{i + 3}")(x)
            continue
        name, (f1, r3, f3, r5, f5, pool_proj) = stage
        x = InceptionModule(
            f1, f3, f5, reduce_3x3=r3, reduce_5x5=r5, pool_proj=pool_proj, name=f"inception{name}"
        )(x)
    outputs = ClassifierHead(num_classes, pooling="avg", dropout=0.4, name="head")(x)
    return keras.Model(inputs, outputs, name="googlenet")


def resnet(
    depth: int = 50,
    input_shape: Sequence[int] = (224, 224, 3),
    num_classes: int = 1000,
    use_bias: bool = False,
    stride_on: str = "3x3",
    batch_norm_epsilon: float = 1e-5,
) -> keras.Model:
    """ResNet (He et al. 2015): 7x7/2 conv, 3x3/2 max pool, four stages of residual blocks (64 to 512), global average pooling, 1000.

    ResNet-18 and -34 stack :class:`~tfcourse.layers.ResidualBlock`; 50, 101 and 152 stack
    :class:`~tfcourse.layers.BottleneckBlock`. The first block of stages 2-4 halves the size
    with a stride of 2; projection shortcuts only where the shape changes.

    Args:
        depth: 18, 34, 50, 101 or 152.
        use_bias: biases in the convolutions. Keras's ``ResNet50`` has them (its weights
            come from the original Caffe model); torchvision's has none.
        stride_on: where a bottleneck block puts its stride, ``"1x1"`` (the paper, Keras)
            or ``"3x3"`` (torchvision); the parameter count is the same.
        batch_norm_epsilon: Keras's ``ResNet50`` uses 1.001e-5, torchvision 1e-5.

    Example:
    >>> from tfcourse.summary import build_without_weights
    >>> model = build_without_weights(resnet, 50, use_bias=True, stride_on="1x1", batch_norm_epsilon=1.001e-5)
    >>> model.count_params()  # equal to keras.applications.ResNet50(weights=None)
    25636712
    """
    blocks = _depth("ResNet", depth, RESNET_BLOCKS)
    common = dict(use_bias=use_bias, batch_norm_epsilon=batch_norm_epsilon)
    inputs = keras.Input(tuple(input_shape), name="image")
    x = keras.layers.Conv2D(64, 7, strides=2, padding="same", use_bias=use_bias, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(epsilon=batch_norm_epsilon, name="conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    for stage, (n, filters) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for i in range(n):
            strides = 2 if stage > 0 and i == 0 else 1
            name = f"conv{stage + 2}_block{i + 1}"
            if depth < 50:
                x = ResidualBlock(filters, strides, name=name, **common)(x)
            else:
                x = BottleneckBlock(filters, strides, stride_on=stride_on, name=name, **common)(x)
    outputs = ClassifierHead(num_classes, pooling="avg", name="head")(x)
    return keras.Model(inputs, outputs, name=f"resnet{depth}")


def densenet(
    depth: int = 121,
    input_shape: Sequence[int] = (224, 224, 3),
    num_classes: int = 1000,
    growth_rate: int = 32,
    batch_norm_epsilon: float = 1.001e-5,
) -> keras.Model:
    """DenseNet-BC (Huang et al. 2017): 7x7/2 conv, 3x3/2 max pool, four dense blocks joined by transition layers (compression 0.5), BN-ReLU, global average pooling, 1000.

    Args:
        depth: 121, 169 or 201.
        growth_rate: channels each composite layer adds (32).
        batch_norm_epsilon: Keras's ``DenseNet121`` uses 1.001e-5.

    Example:
    >>> from tfcourse.summary import build_without_weights
    >>> build_without_weights(densenet, 121).count_params()  # equal to keras.applications.DenseNet121(weights=None)
    8062504
    """
    blocks = _depth("DenseNet", depth, DENSENET_BLOCKS)
    inputs = keras.Input(tuple(input_shape), name="image")
    x = keras.layers.Conv2D(2 * growth_rate, 7, strides=2, padding="same", use_bias=False, name="conv1")(
        inputs
    )
    x = keras.layers.BatchNormalization(epsilon=batch_norm_epsilon, name="conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    for i, n in enumerate(blocks):
        x = DenseBlock(n, growth_rate, batch_norm_epsilon=batch_norm_epsilon, name=f"dense{i + 1}")(x)
        if i < len(blocks) - 1:
            x = TransitionLayer(0.5, batch_norm_epsilon=batch_norm_epsilon, name=f"transition{i + 1}")(x)
    x = keras.layers.BatchNormalization(epsilon=batch_norm_epsilon, name="bn")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    outputs = ClassifierHead(num_classes, pooling="avg", name="head")(x)
    return keras.Model(inputs, outputs, name=f"densenet{depth}")


def _mobile_stem(inputs, filters, momentum):
    x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(momentum=momentum, epsilon=1e-3, name="conv1_bn")(x)
    return keras.layers.ReLU(6.0, name="conv1_relu6")(x)


def mobilenet(input_shape: Sequence[int] = (224, 224, 3), num_classes: int = 1000) -> keras.Model:
    """MobileNet (Howard et al. 2017), width 1.0: a 3x3/2 convolution with 32 channels, 13
    :class:`~tfcourse.layers.SeparableConvBlock` of table 1 (64 to 1024 channels, four halvings),
    global average pooling, ``num_classes``.

    Example:
    >>> from tfcourse.summary import build_without_weights
    >>> build_without_weights(mobilenet).count_params()  # equal to keras.applications.MobileNet(weights=None)
    4253864
    """
    inputs = keras.Input(tuple(input_shape), name="image")
    x = _mobile_stem(inputs, 32, 0.99)
    for i, (filters, strides) in enumerate(MOBILENET_BLOCKS):
        x = SeparableConvBlock(filters, strides, name=f"separable{i + 1}")(x)
    outputs = ClassifierHead(num_classes, pooling="avg", name="head")(x)
    return keras.Model(inputs, outputs, name="mobilenet")


def mobilenet_v2(input_shape: Sequence[int] = (224, 224, 3), num_classes: int = 1000) -> keras.Model:
    """MobileNetV2 (Sandler et al. 2018), width 1.0: a 3x3/2 convolution with 32 channels, the 17
    :class:`~tfcourse.layers.InvertedResidualBlock` of table 2, a 1x1 convolution to 1280 channels,
    global average pooling, ``num_classes``.

    Example:
    >>> from tfcourse.summary import build_without_weights
    >>> build_without_weights(mobilenet_v2).count_params()  # equal to keras.applications.MobileNetV2(weights=None)
    3538984
    """
    inputs = keras.Input(tuple(input_shape), name="image")
    x = _mobile_stem(inputs, 32, 0.999)
    block = 0
    for expansion, filters, repeats, first_stride in MOBILENET_V2_STAGES:
        for i in range(repeats):
            block += 1
            strides = first_stride if i == 0 else 1
            x = InvertedResidualBlock(
                filters, strides, expansion, batch_norm_momentum=0.999, name=f"inverted{block}"
            )(x)
    x = keras.layers.Conv2D(1280, 1, use_bias=False, name="conv_last")(x)
    x = keras.layers.BatchNormalization(momentum=0.999, epsilon=1e-3, name="conv_last_bn")(x)
    x = keras.layers.ReLU(6.0, name="conv_last_relu6")(x)
    outputs = ClassifierHead(num_classes, pooling="avg", name="head")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2")
