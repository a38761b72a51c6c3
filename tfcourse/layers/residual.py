"""ResNet's residual blocks: the basic block (two 3x3 convolutions) and the bottleneck block (1x1, 3x3, 1x1)."""

from __future__ import annotations

import keras

from tfcourse import checks
from tfcourse.layers import _kernel
from tfcourse.layers._chain import attach, attached, build_chain, call_chain, image_spec

SHORTCUTS = ("auto", "projection", "identity", "none")
STRIDE_ON = ("1x1", "3x3")


class _ResidualBlock(keras.layers.Layer):
    """What both residual blocks share: ``relu(main(x) + shortcut(x))`` and the shortcut rule.

    Subclasses set ``self.out_channels`` and create the layers of the main path (ending in a
    batch norm) in ``__init__`` with :meth:`_set_main`, which keeps each as the attribute of
    its name (``conv1``, ``bn1``, ...), the weights' paths in saved files.
    """

    def __init__(
        self,
        filters: int,
        strides: int = 1,
        shortcut: str = "auto",
        use_bias: bool = False,
        batch_norm_momentum: float = 0.9,
        batch_norm_epsilon: float = 1e-3,
        activation: str = "relu",
        kernel_initializer: str | keras.initializers.Initializer = "he_normal",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = checks.positive_int("filters", filters)
        self.strides = checks.positive_int("strides", strides)
        self.shortcut = checks.one_of("shortcut", shortcut, SHORTCUTS)
        self.use_bias = bool(use_bias)
        self.batch_norm_momentum = checks.rate("batch_norm_momentum", batch_norm_momentum)
        self.batch_norm_epsilon = checks.positive_float("batch_norm_epsilon", batch_norm_epsilon)
        self.activation = activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self._next_initializer = _kernel.handout(self.kernel_initializer)  # one per convolution, in order
        self.input_spec = image_spec()
        self.add = keras.layers.Add(name="add")
        self.out_act = keras.layers.Activation(activation, name="out_act")
        self.proj_conv = self.proj_bn = None  # the projection shortcut, made in build() if needed

    def _set_main(self, layers: list[keras.layers.Layer]) -> None:
        self._main_names = attach(self, layers)

    @property
    def main(self) -> list[keras.layers.Layer]:
        """The main path's layers, in the order they run."""
        return attached(self, self._main_names)

    @property
    def projection(self) -> list[keras.layers.Layer]:
        """The shortcut's layers: ``[]`` for the identity, else the 1x1 convolution and its norm."""
        return [layer for layer in (self.proj_conv, self.proj_bn) if layer is not None]

    def _conv(self, filters, kernel_size, strides, name):
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=self.use_bias,
            kernel_initializer=self._next_initializer(),
            kernel_regularizer=self.kernel_regularizer,
            name=name,
        )

    def _norm(self, name):
        return keras.layers.BatchNormalization(
            momentum=self.batch_norm_momentum, epsilon=self.batch_norm_epsilon, name=name
        )

    def build(self, input_shape):
        self.input_spec = image_spec(input_shape[-1])  # later calls must keep the channel count
        # A check that InputSpec cannot express: the identity needs the output's shape.
        shape_changes = self.strides != 1 or input_shape[-1] != self.out_channels
        if self.shortcut == "identity" and shape_changes:
            raise ValueError(
                f"{self.name}: an identity shortcut needs strides=1 and as many input channels as "
                f"output channels ({self.out_channels}); use shortcut='auto' or 'projection'. "
                f"Received: input_shape={tuple(input_shape)}, strides={self.strides}"
            )
        if self.shortcut == "projection" or (self.shortcut == "auto" and shape_changes):
            # Whether the shortcut needs a projection depends on the input's shape: made here.
            self.proj_conv = self._conv(self.out_channels, 1, self.strides, "proj_conv")
            self.proj_bn = self._norm("proj_bn")
        main_shape = build_chain(self.main, input_shape)
        if self.shortcut != "none":
            self.add.build([build_chain(self.projection, input_shape), main_shape])

    def call(self, inputs, training=None):
        x = call_chain(self.main, inputs, training)
        if self.shortcut != "none":
            shortcut = call_chain(self.projection, inputs, training)
            x = self.add([shortcut, x])  # (B, H/strides, W/strides, out_channels)
        return self.out_act(x)

    def compute_output_shape(self, input_shape):
        height, width = (None if d is None else -(-d // self.strides) for d in tuple(input_shape)[1:3])
        return (input_shape[0], height, width, self.out_channels)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "shortcut": self.shortcut,
            "use_bias": self.use_bias,
            "batch_norm_momentum": self.batch_norm_momentum,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "activation": self.activation,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


@keras.saving.register_keras_serializable(package="tfcourse")
class ResidualBlock(_ResidualBlock):
    """ResNet's basic block: ``relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x))``.

    The block learns a residual ``F(x)`` that is added to its input; if the best thing to do
    is nothing, the weights only have to go to zero. The shortcut is the identity when the
    output has the input's shape; when the block downsamples (``strides=2``) or changes the
    number of channels it is a projection, a strided 1x1 convolution with batch norm
    (ResNet's option B). ResNet-18 and ResNet-34 are stacks of this block.

    Args:
        filters: output channels of both 3x3 convolutions (and of the block).
        strides: stride of the first convolution (and of the projection).
        shortcut: ``"auto"`` (projection only when the shape changes), ``"projection"``
            (always), ``"identity"`` (never; the shapes must match) or ``"none"``: no
            shortcut at all, the plain block that the degradation experiment compares with.
        use_bias: biases in the convolutions (redundant before batch norm).
        batch_norm_momentum: momentum of the norms' moving statistics.
        batch_norm_epsilon: the norms' epsilon (Keras's ResNet50 uses 1.001e-5).
        activation: activation inside the block and after the addition.
        kernel_initializer: initializer of the convolution kernels, a name or an object (as in
            :class:`~tfcourse.layers.ConvBlock`).
        kernel_regularizer: regularizer of the convolution kernels (and of the projection's);
            ``None`` for none.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, ceil(height / strides), ceil(width / strides), filters)``.

    Example:
    >>> block = ResidualBlock(64)
    >>> tuple(block(keras.ops.zeros((1, 56, 56, 64))).shape)
    (1, 56, 56, 64)
    >>> block.count_params()  # 2 x (3*3*64*64 conv + 4*64 batch norm), identity shortcut
    74240
    >>> down = ResidualBlock(128, strides=2)
    >>> tuple(down(keras.ops.zeros((1, 56, 56, 64))).shape)
    (1, 28, 28, 128)
    >>> down.count_params()  # 3*3*64*128 + 3*3*128*128 + projection 64*128, each with 4*128 batch norm
    230912
    """

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(filters, strides, **kwargs)
        self.out_channels = self.filters
        self._set_main(
            [
                self._conv(self.filters, 3, self.strides, "conv1"),
                self._norm("bn1"),
                keras.layers.Activation(self.activation, name="act1"),
                self._conv(self.filters, 3, 1, "conv2"),
                self._norm("bn2"),
            ]
        )


@keras.saving.register_keras_serializable(package="tfcourse")
class BottleneckBlock(_ResidualBlock):
    """ResNet's bottleneck block: 1x1 (reduce) -> 3x3 -> 1x1 (expand), plus the shortcut.

    The 1x1 convolutions shrink the depth to ``filters`` around the 3x3 convolution and expand
    it back to ``expansion * filters``: a block with 256 channels in and out costs about as
    much as a basic block with 64. ResNet-50, -101 and -152 are stacks of this block.

    Args:
        filters: channels of the bottleneck (the 1x1 reduction and the 3x3 convolution).
        strides: stride of the block (on the convolution named by ``stride_on``, and on the
            projection).
        expansion: the block outputs ``expansion * filters`` channels (4 in ResNet).
        stride_on: ``"1x1"`` puts the stride on the first 1x1 convolution, as the original
            ResNet and Keras's ``ResNet50`` do; ``"3x3"`` on the 3x3 convolution ("ResNet
            v1.5", as in torchvision), which loses less information. Same parameter count.
        shortcut, use_bias, batch_norm_momentum, batch_norm_epsilon, activation,
        kernel_initializer, kernel_regularizer: as in :class:`ResidualBlock`.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, ceil(height / strides), ceil(width / strides), expansion * filters)``.

    Example:
    >>> block = BottleneckBlock(64)  # the first block of ResNet-50: 64 -> 256 channels, projection
    >>> tuple(block(keras.ops.zeros((1, 56, 56, 64))).shape)
    (1, 56, 56, 256)
    >>> block.count_params()  # 64*64 + 9*64*64 + 64*256 + projection 64*256, and 4 values per norm channel
    76288
    """

    def __init__(self, filters: int, strides: int = 1, expansion: int = 4, stride_on: str = "3x3", **kwargs):
        super().__init__(filters, strides, **kwargs)
        self.expansion = checks.positive_int("expansion", expansion)
        self.stride_on = checks.one_of("stride_on", stride_on, STRIDE_ON)
        self.out_channels = self.expansion * self.filters
        first_strides, middle_strides = (self.strides, 1) if stride_on == "1x1" else (1, self.strides)
        self._set_main(
            [
                self._conv(self.filters, 1, first_strides, "conv1"),
                self._norm("bn1"),
                keras.layers.Activation(self.activation, name="act1"),
                self._conv(self.filters, 3, middle_strides, "conv2"),
                self._norm("bn2"),
                keras.layers.Activation(self.activation, name="act2"),
                self._conv(self.out_channels, 1, 1, "conv3"),
                self._norm("bn3"),
            ]
        )

    def get_config(self):
        return {**super().get_config(), "expansion": self.expansion, "stride_on": self.stride_on}
