"""The small CNNs that notebooks build and train, made of the course's layers (``tfcourse.layers``).

=====================  ==============================================================  ==============
builder                what it is                                                      notebooks
=====================  ==============================================================  ==============
:func:`fashion_cnn`    two ``ConvBlock``s and a dense head for Fashion-MNIST           02, 03, 08
:func:`block_cnn`      three VGG-style blocks and a pooled head, cut for transfer      05
:func:`lenet` ...      the five small families of :data:`SMALL_FAMILIES`               04
:func:`unet`           a small U-Net for per-pixel classes of the scenes               09
:func:`fcn`            a fully convolutional network, one-step or skip upsampling      09
:func:`yolo_v1_small`  notebook 07's YOLO v1 detector for the 96x96 scenes             07, 09
=====================  ==============================================================  ==============

:func:`feature_extractor` cuts a model below its head (notebook 05). The paper-scale networks
(LeNet-5, AlexNet, VGG, GoogLeNet, ResNet, DenseNet at ImageNet size) are in
:mod:`tfcourse.architectures`: they are measured, not trained, and their builders follow the
papers' tables rather than Fashion-MNIST's 28x28 images.

``transfer_model`` stays in :mod:`tfcourse.zoo`: it wraps a pretrained ``keras.applications``
base (a :class:`~tfcourse.zoo.LoadedBase`) and needs the zoo's table of what each base expects
(input size, pixel preprocessing), so it belongs with the code that loads those bases and their
weights. The builders here need nothing but Keras and the course's layers, and start from
random weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from tfcourse import checks, yolo
from tfcourse.initializers import BilinearUpsampling
from tfcourse.layers import (
    ClassifierHead,
    ConvBlock,
    DecoderBlock,
    DenseBlock,
    EncoderBlock,
    InceptionModule,
    ResidualBlock,
    TransitionLayer,
)


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

    Notebook 02 builds and trains it, notebook 03 checkpoints it, and notebook 08 looks inside
    a three-block version (``filters=(32, 64, 64)``).

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


def block_cnn(
    num_classes: int,
    width: int = 16,
    input_shape: tuple[int, int, int] = (28, 28, 1),
    dropout: float = 0.2,
    name: str = "block_cnn",
) -> keras.Model:
    """Notebook 05's source network: three ``ConvBlock``s of two 3x3 convolutions, then a head.

    The blocks are those of :func:`vgg_style` (notebook 04); the head differs (global average
    pooling and one dense layer, where ``vgg_style`` flattens into a hidden layer of 128).

    The blocks are named ``block1`` to ``block3`` (28 -> 14 -> 7 -> 4 pixels, ``width`` to
    ``4 * width`` channels) and the head ``head`` (global average pooling, dropout, dense), so
    that transfer learning can cut the network below its head (:func:`feature_extractor`) and
    unfreeze its top blocks by name (:func:`tfcourse.transfer.set_trainable`).

    Example:
    >>> model = block_cnn(5, width=8)
    >>> [layer.name for layer in model.layers[1:]]
    ['block1', 'block2', 'block3', 'head']
    >>> model.output_shape, feature_extractor(model).output_shape
    ((None, 5), (None, 4, 4, 32))
    """
    checks.positive_int("num_classes", num_classes)
    checks.positive_int("width", width)
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    for i, (factor, rate) in enumerate(((1, 0.0), (2, 0.1), (4, 0.1))):
        x = ConvBlock(width * factor, repeats=2, pooling="max", dropout=rate, name=f"block{i + 1}")(x)
    outputs = ClassifierHead(num_classes, pooling="avg", dropout=dropout, name="head")(x)
    return keras.Model(inputs, outputs, name=name)


def feature_extractor(model: keras.Model, head: str = "head") -> keras.Model:
    """The part of ``model`` below the layer named ``head``: the network with its last layer removed.

    The new model shares its layers (and weights) with ``model``. Notebook 05 uses it on
    :func:`block_cnn` to take the trained source network's features for a new task.

    Example:
    >>> feature_extractor(block_cnn(3, width=4)).output_shape
    (None, 4, 4, 16)
    """
    names = [layer.name for layer in model.layers]
    if head not in names:
        raise ValueError(f"`head` must name a layer of the model ({names}). Received: head={head!r}")
    return keras.Model(model.inputs, model.get_layer(head).input, name=f"{model.name}_base")


# Notebook 04's five small families: one builder per family, all on 28x28x1 images, each taking
# `width`, the first stage's channel count (every stage after a downsampling doubles it).


def lenet(width: int, num_classes: int = 10) -> keras.Model:
    """LeNet-5 on 28x28 as in 1998: tanh, average pooling, no batch norm; its own fixed sizes.

    The sizes are the paper's (6 and 16 filters of 5x5, dense layers of 120 and 84), so ``width``
    is checked but unused: it is there so that every family is built the same way.

    Example:
    >>> lenet(8).count_params()  # (5*5*6 + 6) + (5*5*6*16 + 16) + (400*120 + 120) + (120*84 + 84) + 850
    61706
    """
    checks.positive_int("width", width)
    checks.positive_int("num_classes", num_classes)
    inputs = keras.Input((28, 28, 1))
    x = ConvBlock(6, 5, batch_norm=False, activation="tanh", pooling="avg", name="c1")(inputs)  # 14x14x6
    c3 = ConvBlock(16, 5, padding="valid", batch_norm=False, activation="tanh", pooling="avg", name="c3")
    x = c3(x)  # 5x5x16
    outputs = ClassifierHead(num_classes, hidden_units=(120, 84), activation="tanh", name="head")(x)
    return keras.Model(inputs, outputs, name="LeNet")


def vgg_style(width: int, num_classes: int = 10) -> keras.Model:
    """VGG's idea: stacks of two 3x3 convolutions, then 2x2 max pooling; a flattening dense head.

    Example:
    >>> vgg_style(8).output_shape
    (None, 10)
    """
    checks.positive_int("width", width)
    checks.positive_int("num_classes", num_classes)
    inputs = keras.Input((28, 28, 1))
    x = ConvBlock(width, repeats=2, pooling="max", name="block1")(inputs)  # 14x14
    x = ConvBlock(2 * width, repeats=2, pooling="max", dropout=0.1, name="block2")(x)  # 7x7
    x = ConvBlock(4 * width, repeats=2, pooling="max", dropout=0.2, name="block3")(x)  # 4x4
    outputs = ClassifierHead(num_classes, hidden_units=(128,), dropout=0.3, name="head")(x)
    return keras.Model(inputs, outputs, name="VGG-style")


def inception_style(width: int, num_classes: int = 10) -> keras.Model:
    """GoogLeNet's idea: Inception modules with 1x1 bottlenecks, then global average pooling.

    The narrowest branches have ``width // 2`` filters, so ``width`` must be at least 2.

    Example:
    >>> inception_style(8).get_layer("inception3").output.shape  # 4w + 6w + 2w + 2w channels
    (None, 7, 7, 112)
    """
    checks.positive_int("width", width)
    checks.positive_int("num_classes", num_classes)
    if width < 2:
        raise ValueError(
            "Received an invalid value for `width`, expected an integer of at least 2 (the narrowest "
            f"branches have width // 2 filters). Received: width={width!r}"
        )
    w = width
    inputs = keras.Input((28, 28, 1))
    x = ConvBlock(2 * w, name="stem")(inputs)
    x = InceptionModule(
        w,
        2 * w,
        w // 2,
        reduce_3x3=w,
        reduce_5x5=w // 2,
        pool_proj=w // 2,
        batch_norm=True,
        name="inception1",
    )(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)  # 14x14
    x = InceptionModule(
        2 * w, 3 * w, w, reduce_3x3=2 * w, reduce_5x5=w // 2, pool_proj=w, batch_norm=True, name="inception2"
    )(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)  # 7x7
    x = InceptionModule(
        4 * w,
        6 * w,
        2 * w,
        reduce_3x3=3 * w,
        reduce_5x5=w,
        pool_proj=2 * w,
        batch_norm=True,
        name="inception3",
    )(x)
    outputs = ClassifierHead(num_classes, pooling="avg", dropout=0.2, name="head")(x)
    return keras.Model(inputs, outputs, name="Inception-style")


def resnet_style(width: int, num_classes: int = 10) -> keras.Model:
    """ResNet's idea: basic residual blocks, with 1x1 projections where the shape changes.

    Notebook 04 also trains it wider and longer ("Push the best family further").

    Example:
    >>> resnet_style(8).get_layer("res5").output.shape
    (None, 7, 7, 32)
    """
    checks.positive_int("width", width)
    checks.positive_int("num_classes", num_classes)
    inputs = keras.Input((28, 28, 1))
    x = ConvBlock(width, name="stem")(inputs)
    x = ResidualBlock(width, name="res1")(x)
    x = ResidualBlock(2 * width, strides=2, name="res2")(x)  # 14x14
    x = ResidualBlock(2 * width, name="res3")(x)
    x = ResidualBlock(4 * width, strides=2, name="res4")(x)  # 7x7
    x = ResidualBlock(4 * width, name="res5")(x)
    outputs = ClassifierHead(num_classes, pooling="avg", dropout=0.2, name="head")(x)
    return keras.Model(inputs, outputs, name="ResNet-style")


def densenet_style(width: int, num_classes: int = 10) -> keras.Model:
    """DenseNet's idea: dense blocks (growth rate ``width``, no 1x1 bottlenecks) and a transition.

    Example:
    >>> densenet_style(8).get_layer("dense2").output.shape  # 3w + 4 layers of w channels
    (None, 7, 7, 56)
    """
    checks.positive_int("width", width)
    checks.positive_int("num_classes", num_classes)
    inputs = keras.Input((28, 28, 1))
    x = ConvBlock(2 * width, pooling="max", name="stem")(inputs)  # 14x14, 2w channels
    x = DenseBlock(4, width, bottleneck=None, name="dense1")(x)  # 14x14, 2w + 4w
    x = TransitionLayer(0.5, name="transition1")(x)  # 7x7, 3w
    x = DenseBlock(4, width, bottleneck=None, name="dense2")(x)  # 7x7, 3w + 4w
    # momentum 0.9 as in the blocks: inference statistics that catch up fast
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    outputs = ClassifierHead(num_classes, pooling="avg", name="head")(x)
    return keras.Model(inputs, outputs, name="DenseNet-style")


SMALL_FAMILIES: dict[str, Callable[..., keras.Model]] = {
    "LeNet": lenet,
    "VGG-style": vgg_style,
    "Inception-style": inception_style,
    "ResNet-style": resnet_style,
    "DenseNet-style": densenet_style,
}
"""Notebook 04's side-by-side comparison, in its order: each family's model name -> its builder."""


# ---------- Segmentation (notebook 09): a class for every pixel ----------

FCN_VARIANTS = ("32s", "8s")


def _segmentation_input(input_shape, rescale):
    inputs = keras.Input(tuple(input_shape))
    return inputs, (inputs if rescale is None else keras.layers.Rescaling(rescale, name="rescale")(inputs))


def unet(
    input_shape: Sequence[int] = (96, 96, 1),
    num_classes: int = 11,
    filters: Sequence[int] = (16, 32, 64),
    upsampling: str = "transpose",
    rescale: float | None = 1 / 255,
) -> keras.Model:
    """A small U-Net: an :class:`EncoderBlock` per entry of ``filters``, a bottleneck, a
    :class:`DecoderBlock` per encoder block joined to it by a skip, and a 1x1 convolution to
    per-pixel logits ``(batch, height, width, num_classes)``.

    Args:
        input_shape: ``(height, width, channels)``; height and width divisible by
            ``2 ** len(filters)``.
        num_classes: classes per pixel (the scenes: background + 10).
        filters: channels of the encoder blocks, from the finest scale; the bottleneck has twice
            the last, and each decoder block the channels of the encoder block it joins.
        upsampling: ``"transpose"`` or ``"bilinear"`` (see :class:`DecoderBlock`).
        rescale: a factor applied to the pixels first (``1 / 255`` for the scenes' uint8
            images), or ``None``.

    Example:
    >>> model = unet((32, 32, 1), num_classes=3, filters=(4, 8))
    >>> model.output_shape
    (None, 32, 32, 3)
    """
    filters = [checks.positive_int("filters", f) for f in filters]
    checks.positive_int("num_classes", num_classes)
    inputs, x = _segmentation_input(input_shape, rescale)
    skips = []
    for i, width in enumerate(filters):
        skip, x = EncoderBlock(width, name=f"encoder{i + 1}")(x)
        skips.append(skip)
    x = ConvBlock(2 * filters[-1], repeats=2, name="bottleneck")(x)
    for i, (width, skip) in reversed(list(enumerate(zip(filters, skips)))):
        x = DecoderBlock(width, upsampling, name=f"decoder{i + 1}")([x, skip])
    outputs = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"unet_{upsampling}")


def fcn(
    input_shape: Sequence[int] = (96, 96, 1),
    num_classes: int = 11,
    variant: str = "8s",
    filters: Sequence[int] = (16, 32, 64, 128),
    rescale: float | None = 1 / 255,
) -> keras.Model:
    """A fully convolutional network (Long, Shelhamer and Darrell, 2015) on a small backbone.

    The backbone is three ``ConvBlock`` pairs with 2x2 max pooling (``filters[0:3]``, strides
    2, 4 and 8) and a last pair of ``filters[3]`` channels at stride 8. A 1x1 convolution turns
    features into class scores, and the scores are upsampled to the image:

    - ``"32s"`` style: the last scores, upsampled 8x in one step (bilinear). The paper's FCN-32s
      upsamples VGG's stride-32 scores this way; our backbone's coarsest stride is 8, and the
      name keeps the paper's idea, one step from the coarsest scores.
    - ``"8s"`` style: the coarse scores are upsampled 2x by a learned transposed convolution and
      added to scores computed from the stride-4 features, again to the stride-2 features, and
      the sum upsampled 2x to the image: the paper's skip fusion (pool4, then pool3), moved two
      scales finer to fit 96x96 scenes. As in the paper, the transposed
      convolutions start as bilinear interpolation (:class:`~tfcourse.initializers.BilinearUpsampling`)
      and the skips' score layers at zero, so the network starts as the one-step upsampling and
      the skips learn corrections; from a random start the coarse scores reach the output only
      through two random layers, and a short run learns far less (notebook 09 measures it).

    Args:
        input_shape: ``(height, width, channels)``, height and width divisible by 8.
        num_classes: classes per pixel.
        variant: ``"32s"`` or ``"8s"``.
        filters: the four backbone widths.
        rescale: a factor applied to the pixels first, or ``None``.

    Returns:
        A model from images to per-pixel logits ``(batch, height, width, num_classes)``.

    Example:
    >>> fcn((32, 32, 1), num_classes=3, variant="32s").output_shape
    (None, 32, 32, 3)
    """
    checks.one_of("variant", variant, FCN_VARIANTS)
    checks.positive_int("num_classes", num_classes)
    if len(filters) != 4:
        raise ValueError(f"`filters` must give the four backbone widths. Received: filters={tuple(filters)}")
    height, width = tuple(input_shape)[:2]
    if any(side is not None and side % 8 for side in (height, width)):
        raise ValueError(
            f"The FCN backbone downsamples 8x: height and width must be multiples of 8. Received "
            f"input_shape={tuple(input_shape)}"
        )
    inputs, x = _segmentation_input(input_shape, rescale)
    stages = []
    for i, channels in enumerate(filters[:3]):
        x = ConvBlock(channels, repeats=2, pooling="max", name=f"stage{i + 1}")(x)  # /2, /4, /8
        stages.append(x)
    x = ConvBlock(filters[3], repeats=2, name="stage4")(x)  # /8
    scores = keras.layers.Conv2D(num_classes, 1, name="score8")(x)
    if variant == "32s":
        scores = keras.layers.UpSampling2D(8, interpolation="bilinear", name="upsample8")(scores)
    else:
        for stride, features in ((4, stages[1]), (2, stages[0])):
            up = keras.layers.Conv2DTranspose(
                num_classes,
                4,
                strides=2,
                padding="same",
                kernel_initializer=BilinearUpsampling(),
                name=f"up_to_{stride}",
            )
            skip = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name=f"score{stride}")(
                features
            )
            scores = keras.layers.Add(name=f"fuse{stride}")([up(scores), skip])
        scores = keras.layers.UpSampling2D(2, interpolation="bilinear", name="upsample2")(scores)
    return keras.Model(inputs, scores, name=f"fcn_{variant}")


def yolo_v1_small(
    spec: yolo.YoloSpec,
    input_shape: Sequence[int] = (96, 96, 1),
    widths: Sequence[int] = (16, 32, 64, 128),
    head_width: int = 256,
) -> keras.Model:
    """Notebook 07's YOLO v1 detector: four ``ConvBlock`` + max-pooling stages (96 -> 6), two
    ``ConvBlock`` of ``head_width`` channels, a 1x1 convolution to ``B * 5 + C`` numbers per cell
    and :class:`~tfcourse.yolo.YoloOutput` (sigmoids on the boxes and confidences).

    Notebook 09 trains the same network to compare its boxes with a segmentation's regions.

    Args:
        spec: a :class:`tfcourse.yolo.YoloSpec`: grid size ``S``, boxes per cell ``B``, classes ``C``.
        input_shape: ``(height, width, channels)`` of uint8 images; height and width must be
            ``S * 2 ** len(widths)`` (each stage halves them, down to the grid).
        widths: channels of the pooling stages.
        head_width: channels of the two last convolution blocks.

    Returns:
        A model from images to ``(batch, S, S, B * 5 + C)``.

    Example:
    >>> from tfcourse.yolo import YoloSpec
    >>> yolo_v1_small(YoloSpec(grid_size=6, boxes_per_cell=2, num_classes=10)).output_shape
    (None, 6, 6, 20)
    """
    height, width = tuple(input_shape)[:2]
    side = spec.grid_size * 2 ** len(widths)
    if (height, width) != (side, side):
        raise ValueError(
            f"{len(widths)} pooling stages turn a {side}x{side} image into the {spec.grid_size}x"
            f"{spec.grid_size} grid of the spec; input_shape {tuple(input_shape)} does not fit. Give "
            "images of that size, or change grid_size or the number of widths."
        )
    inputs = keras.Input(tuple(input_shape))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    for channels in widths:  # 96 -> 48 -> 24 -> 12 -> 6
        x = ConvBlock(channels, pooling="max")(x)
    x = ConvBlock(head_width)(x)
    x = ConvBlock(head_width)(x)
    x = keras.layers.Conv2D(spec.prediction_shape[-1], 1, name="head")(x)  # (batch, S, S, B*5 + C)
    outputs = yolo.YoloOutput(spec.grid_size, spec.boxes_per_cell, spec.num_classes)(x)
    return keras.Model(inputs, outputs, name="yolo_v1_small")
