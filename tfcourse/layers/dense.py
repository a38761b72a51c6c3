"""DenseNet's dense block (every layer sees all earlier feature maps) and its transition layer."""

from __future__ import annotations

import keras

from tfcourse import checks
from tfcourse.layers import _kernel
from tfcourse.layers._chain import attach, attached, build_chain, call_chain, image_spec


@keras.saving.register_keras_serializable(package="tfcourse")
class DenseBlock(keras.layers.Layer):
    """``num_layers`` composite layers, each fed the concatenation of the block input and all earlier outputs.

    Layer ``i`` computes ``growth_rate`` new feature maps from everything before it, with
    DenseNet's pre-activation order: BN -> ReLU -> 1x1 conv (``bottleneck * growth_rate``
    channels; DenseNet-B) -> BN -> ReLU -> 3x3 conv (``growth_rate`` channels). The new maps
    are concatenated to the running stack, so the block's depth grows linearly:
    ``channels + num_layers * growth_rate``. Features are reused instead of recomputed, which
    is why DenseNets need few parameters.

    Args:
        num_layers: composite layers in the block.
        growth_rate: new channels per layer (``k`` in the paper; 32 in DenseNet-121).
        bottleneck: the 1x1 convolution has ``bottleneck * growth_rate`` channels; ``None``
            for no 1x1 convolution (plain DenseNet).
        dropout: dropout rate after each 3x3 convolution, in [0, 1).
        batch_norm_momentum: momentum of the norms' moving statistics.
        batch_norm_epsilon: the norms' epsilon (Keras's DenseNet uses 1.001e-5).
        kernel_initializer: initializer of the convolution kernels, a name or an object (as in
            :class:`~tfcourse.layers.ConvBlock`).
        kernel_regularizer: regularizer of the convolution kernels; ``None`` for none.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, height, width, channels + num_layers * growth_rate)``.

    Example:
    >>> block = DenseBlock(2, growth_rate=12, bottleneck=None)
    >>> tuple(block(keras.ops.zeros((1, 8, 8, 16))).shape)  # 16 + 2*12 channels
    (1, 8, 8, 40)
    >>> block.count_params()  # 4*16 + 9*16*12, then 4*28 + 9*28*12 (norms hold 4 values per channel)
    4928
    """

    def __init__(
        self,
        num_layers: int,
        growth_rate: int,
        bottleneck: int | None = 4,
        dropout: float = 0.0,
        batch_norm_momentum: float = 0.9,
        batch_norm_epsilon: float = 1e-3,
        kernel_initializer: str | keras.initializers.Initializer = "he_normal",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_layers = checks.positive_int("num_layers", num_layers)
        self.growth_rate = checks.positive_int("growth_rate", growth_rate)
        self.bottleneck = None if bottleneck is None else checks.positive_int("bottleneck", bottleneck)
        self.dropout = checks.rate("dropout", dropout)
        self.batch_norm_momentum = checks.rate("batch_norm_momentum", batch_norm_momentum)
        self.batch_norm_epsilon = checks.positive_float("batch_norm_epsilon", batch_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = image_spec()
        next_initializer = _kernel.handout(self.kernel_initializer)

        def norm(name):
            return keras.layers.BatchNormalization(
                momentum=batch_norm_momentum, epsilon=self.batch_norm_epsilon, name=name
            )

        def conv(filters, kernel_size, name):
            return keras.layers.Conv2D(
                filters,
                kernel_size,
                padding="same",
                use_bias=False,
                kernel_initializer=next_initializer(),
                kernel_regularizer=self.kernel_regularizer,
                name=name,
            )

        composite = []
        for i in range(1, self.num_layers + 1):
            stages = []
            if self.bottleneck is not None:
                stages += [
                    norm(f"layer{i}_bn0"),
                    keras.layers.Activation("relu", name=f"layer{i}_act0"),
                    conv(self.bottleneck * growth_rate, 1, f"layer{i}_conv1x1"),
                ]
            stages += [
                norm(f"layer{i}_bn1"),
                keras.layers.Activation("relu", name=f"layer{i}_act1"),
                conv(growth_rate, 3, f"layer{i}_conv3x3"),
            ]
            if self.dropout > 0:
                stages.append(keras.layers.Dropout(self.dropout, name=f"layer{i}_dropout"))
            stages.append(keras.layers.Concatenate(axis=-1, name=f"layer{i}_concat"))
            composite.append(attach(self, stages))  # attributes layer1_bn0, layer1_act0, ...
        self._composite_names = tuple(composite)

    @property
    def composite(self) -> list[list[keras.layers.Layer]]:
        """Each composite layer's sub-layers in the order they run, its concatenation last.

        ``.keras`` files store the weights under this property's path (``composite/container/
        conv2d``, ...), which Keras's saving walks before the attributes: its structure, a list
        of lists in this order, is part of the file format.
        """
        return [attached(self, names) for names in self._composite_names]

    def build(self, input_shape):
        self.input_spec = image_spec(input_shape[-1])  # later calls must keep the channel count
        stack = tuple(input_shape)
        for *stages, concat in self.composite:
            new = build_chain(stages, stack)
            concat.build([stack, new])
            stack = concat.compute_output_shape([stack, new])

    def call(self, inputs, training=None):
        stack = inputs
        for *stages, concat in self.composite:
            new = call_chain(stages, stack, training)  # (B, H, W, growth_rate)
            stack = concat([stack, new])  # (B, H, W, channels + i * growth_rate)
        return stack

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        out = None if channels is None else channels + self.num_layers * self.growth_rate
        return (*tuple(input_shape)[:3], out)

    def get_config(self):
        return {
            **super().get_config(),
            "num_layers": self.num_layers,
            "growth_rate": self.growth_rate,
            "bottleneck": self.bottleneck,
            "dropout": self.dropout,
            "batch_norm_momentum": self.batch_norm_momentum,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


@keras.saving.register_keras_serializable(package="tfcourse")
class TransitionLayer(keras.layers.Layer):
    """Between dense blocks: BN -> ReLU -> 1x1 conv (compress the depth) -> 2x2 average pooling.

    The dense blocks only add channels; the transition multiplies them by ``compression``
    (``theta`` in the paper, 0.5 in DenseNet-121) and halves height and width.

    Args:
        compression: fraction of channels kept, in (0, 1]; the convolution has
            ``int(channels * compression)`` filters.
        batch_norm_momentum: momentum of the norm's moving statistics.
        batch_norm_epsilon: the norm's epsilon (Keras's DenseNet uses 1.001e-5).
        kernel_initializer: initializer of the convolution kernel, a name or an object (as in
            :class:`~tfcourse.layers.ConvBlock`).
        kernel_regularizer: regularizer of the convolution kernel; ``None`` for none.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, height // 2, width // 2, int(channels * compression))``.

    Example:
    >>> transition = TransitionLayer(0.5)
    >>> tuple(transition(keras.ops.zeros((1, 56, 56, 256))).shape)
    (1, 28, 28, 128)
    >>> transition.count_params()  # batch norm 4*256 + 1x1 conv 256*128
    33792
    """

    def __init__(
        self,
        compression: float = 0.5,
        batch_norm_momentum: float = 0.9,
        batch_norm_epsilon: float = 1e-3,
        kernel_initializer: str | keras.initializers.Initializer = "he_normal",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            isinstance(compression, bool)
            or not isinstance(compression, (int, float))
            or not (0.0 < compression <= 1.0)
        ):
            raise ValueError(
                "Received an invalid value for `compression`, expected a float in (0, 1]. "
                f"Received: compression={compression!r}"
            )
        self.compression = float(compression)
        self.batch_norm_momentum = checks.rate("batch_norm_momentum", batch_norm_momentum)
        self.batch_norm_epsilon = checks.positive_float("batch_norm_epsilon", batch_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = image_spec()
        self.norm = keras.layers.BatchNormalization(
            momentum=batch_norm_momentum, epsilon=self.batch_norm_epsilon, name="bn"
        )
        self.act = keras.layers.Activation("relu", name="act")
        self.pool = keras.layers.AveragePooling2D(2, strides=2, name="pool")

    def _filters(self, channels: int) -> int:
        return max(1, int(channels * self.compression))

    def _chain(self) -> list[keras.layers.Layer]:
        """The sub-layers in the order they run (the convolution exists once the layer is built).

        A method, not a property: Keras's saving walks a layer's properties too, and one named
        ``chain`` would come before ``conv`` and ``norm`` and move their weights in ``.keras`` files.
        """
        return [self.norm, self.act, self.conv, self.pool]

    def build(self, input_shape):
        # A check that InputSpec cannot express: the channel count must be known, not only equal.
        if input_shape[-1] is None:
            raise ValueError(f"{self.name} needs a known channel count. Received: input_shape={input_shape}")
        self.input_spec = image_spec(input_shape[-1])  # later calls must keep the channel count
        # The convolution's filter count depends on the input's channels, so it is made here.
        self.conv = keras.layers.Conv2D(
            self._filters(input_shape[-1]),
            1,
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            name="conv",
        )
        build_chain(self._chain(), input_shape)

    def call(self, inputs, training=None):
        return call_chain(self._chain(), inputs, training)

    def compute_output_shape(self, input_shape):
        height, width = (None if d is None else d // 2 for d in tuple(input_shape)[1:3])
        channels = None if input_shape[-1] is None else self._filters(input_shape[-1])
        return (input_shape[0], height, width, channels)

    def get_config(self):
        return {
            **super().get_config(),
            "compression": self.compression,
            "batch_norm_momentum": self.batch_norm_momentum,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
