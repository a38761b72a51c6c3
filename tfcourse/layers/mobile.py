"""The blocks that came after ResNet: MobileNet's depthwise-separable convolution, MobileNetV2's
inverted residual and the squeeze-and-excitation block.

- :class:`SeparableConvBlock` (Howard et al., "MobileNets", 2017): a 3x3 *depthwise*
  convolution (one 3x3 filter per input channel, no mixing of channels), then a 1x1
  *pointwise* convolution that mixes them. For ``C`` channels in and ``N`` out it costs
  ``9 C + C N`` weights instead of ``9 C N``: 8 to 9 times fewer for wide layers.
- :class:`InvertedResidualBlock` (Sandler et al., "MobileNetV2", 2018): expand the channels
  by a factor ``t`` with a 1x1 convolution, filter them depthwise, and project back to a narrow
  *linear* bottleneck (no activation after the projection: a ReLU would destroy information in
  so few channels); the shortcut joins the narrow ends, the opposite of ResNet's bottleneck.
- :class:`SqueezeExcitation` (Hu et al., "Squeeze-and-excitation networks", 2018): average
  each channel over the image (squeeze), pass the vector through a small two-layer network
  ending in a sigmoid (excitation), and scale every channel by its output: the block learns
  which channels matter for this image.

All follow the package's conventions: serializable (``get_config``, registered), shape-checked
through ``input_spec``, built in ``build`` so that saved weights load, one kernel initializer and
regularizer for every convolution.
"""

from __future__ import annotations

import keras

from tfcourse import checks
from tfcourse.layers import _kernel
from tfcourse.layers._chain import attach, attached, build_chain, call_chain, image_spec, output_shape


class _MobileBlock(keras.layers.Layer):
    """What the two MobileNet blocks share: a chain of convolutions, batch norms and ReLU6."""

    def __init__(
        self,
        filters: int,
        strides: int = 1,
        batch_norm_momentum: float = 0.99,
        batch_norm_epsilon: float = 1e-3,
        activation: str | float = 6.0,
        kernel_initializer: str | keras.initializers.Initializer = "he_normal",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = checks.positive_int("filters", filters)
        self.strides = checks.positive_int("strides", strides)
        self.batch_norm_momentum = checks.rate("batch_norm_momentum", batch_norm_momentum)
        self.batch_norm_epsilon = checks.positive_float("batch_norm_epsilon", batch_norm_epsilon)
        if not (isinstance(activation, str) or (isinstance(activation, (int, float)) and activation > 0)):
            raise ValueError(
                "`activation` must be an activation name or a positive cap for a capped ReLU "
                f"(6.0 is MobileNet's ReLU6). Received: activation={activation!r}"
            )
        self.activation = activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self._next_initializer = _kernel.handout(self.kernel_initializer)
        self.input_spec = image_spec()
        self._names: tuple = ()

    def _act(self, name):
        if isinstance(self.activation, str):
            return keras.layers.Activation(self.activation, name=name)
        return keras.layers.ReLU(max_value=float(self.activation), name=name)

    def _norm(self, name):
        return keras.layers.BatchNormalization(
            momentum=self.batch_norm_momentum, epsilon=self.batch_norm_epsilon, name=name
        )

    def _pointwise(self, filters, name):
        return keras.layers.Conv2D(
            filters,
            1,
            use_bias=False,
            kernel_initializer=self._next_initializer(),
            kernel_regularizer=self.kernel_regularizer,
            name=name,
        )

    def _depthwise(self, name):
        return keras.layers.DepthwiseConv2D(
            3,
            strides=self.strides,
            padding="same",
            use_bias=False,
            depthwise_initializer=self._next_initializer(),
            depthwise_regularizer=self.kernel_regularizer,
            name=name,
        )

    def ordered_sublayers(self) -> list[keras.layers.Layer]:
        """The block's sub-layers, in the order they run.

        A method, not a property: Keras's saving walks properties too, and would then store the
        weights under the property's list instead of under each sub-layer's attribute.
        """
        return attached(self, self._names)

    def build(self, input_shape):
        self.input_spec = image_spec(input_shape[-1])  # later calls must keep the channel count
        self._names = attach(self, self._layers_for(int(input_shape[-1])))
        build_chain(self.ordered_sublayers(), input_shape)

    def call(self, inputs, training=None):
        return call_chain(self.ordered_sublayers(), inputs, training)

    def compute_output_shape(self, input_shape):
        if not self._names:  # not built: the shape by rule
            height, width = (None if d is None else -(-d // self.strides) for d in tuple(input_shape)[1:3])
            return (input_shape[0], height, width, self.filters)
        return output_shape(self.ordered_sublayers(), input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "batch_norm_momentum": self.batch_norm_momentum,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "activation": self.activation,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


@keras.saving.register_keras_serializable(package="tfcourse")
class SeparableConvBlock(_MobileBlock):
    """MobileNet's block: depthwise 3x3 conv -> BN -> ReLU6 -> pointwise 1x1 conv -> BN -> ReLU6.

    Args:
        filters: output channels of the pointwise convolution (and of the block).
        strides: stride of the depthwise convolution (2 halves the size).
        batch_norm_momentum, batch_norm_epsilon: the norms' settings (Keras's MobileNet: 0.99,
            1e-3).
        activation: a cap for a capped ReLU (``6.0``: ReLU6, as MobileNet) or an activation name.
        kernel_initializer: initializer of both kernels (name or object).
        kernel_regularizer: regularizer of both kernels, or ``None``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, ceil(height / strides), ceil(width / strides), filters)``.

    Example:
    >>> block = SeparableConvBlock(64)
    >>> tuple(block(keras.ops.zeros((1, 112, 112, 32))).shape)
    (1, 112, 112, 64)
    >>> block.count_params()  # 9*32 depthwise + 4*32 norm + 32*64 pointwise + 4*64 norm
    2720
    """

    def _layers_for(self, channels):
        return [
            self._depthwise("depthwise"),
            self._norm("depthwise_bn"),
            self._act("depthwise_act"),
            self._pointwise(self.filters, "pointwise"),
            self._norm("pointwise_bn"),
            self._act("pointwise_act"),
        ]


@keras.saving.register_keras_serializable(package="tfcourse")
class InvertedResidualBlock(_MobileBlock):
    """MobileNetV2's block: 1x1 expand (x ``expansion``) -> depthwise 3x3 -> 1x1 linear projection, plus the shortcut.

    ``x + project(depthwise(expand(x)))`` when the block keeps the shape (``strides=1`` and as
    many output as input channels), else without the addition, as in the paper. The projection
    has a batch norm but no activation: the *linear bottleneck*.

    Args:
        filters: output channels (the narrow bottleneck).
        strides: stride of the depthwise convolution.
        expansion: the expansion factor ``t``: the inner width is ``t * input channels``
            (6 in MobileNetV2; 1 in its first block, which then has no expansion convolution).
        batch_norm_momentum, batch_norm_epsilon, activation, kernel_initializer,
            kernel_regularizer: as in :class:`SeparableConvBlock` (Keras's MobileNetV2 uses
            momentum 0.999).

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, ceil(height / strides), ceil(width / strides), filters)``.

    Example:
    >>> block = InvertedResidualBlock(24, expansion=6)
    >>> tuple(block(keras.ops.zeros((1, 56, 56, 24))).shape)
    (1, 56, 56, 24)
    >>> block.count_params()  # 24*144 + 4*144, 9*144 + 4*144, 144*24 + 4*24
    9456
    """

    def __init__(self, filters: int, strides: int = 1, expansion: int = 6, **kwargs):
        super().__init__(filters, strides, **kwargs)
        self.expansion = checks.positive_int("expansion", expansion)
        self.add = keras.layers.Add(name="add")
        self.residual = False

    def _layers_for(self, channels):
        expand = []
        if self.expansion != 1:
            expand = [
                self._pointwise(self.expansion * channels, "expand"),
                self._norm("expand_bn"),
                self._act("expand_act"),
            ]
        return [
            *expand,
            self._depthwise("depthwise"),
            self._norm("depthwise_bn"),
            self._act("depthwise_act"),
            self._pointwise(self.filters, "project"),
            self._norm("project_bn"),
        ]

    def build(self, input_shape):
        super().build(input_shape)
        self.residual = self.strides == 1 and int(input_shape[-1]) == self.filters
        if self.residual:
            self.add.build([tuple(input_shape), tuple(input_shape)])

    def call(self, inputs, training=None):
        x = call_chain(self.ordered_sublayers(), inputs, training)
        return self.add([inputs, x]) if self.residual else x

    def get_config(self):
        return {**super().get_config(), "expansion": self.expansion}


@keras.saving.register_keras_serializable(package="tfcourse")
class SqueezeExcitation(keras.layers.Layer):
    """Squeeze-and-excitation: ``x * sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2)``, channel by channel.

    Args:
        ratio: the reduction ``r`` of the hidden layer: ``max(1, channels // ratio)`` units (16
            in the paper).
        kernel_initializer: initializer of both dense kernels (name or object).
        kernel_regularizer: regularizer of both kernels, or ``None``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        the input's shape: every channel is scaled by a factor in (0, 1) computed from the whole
        image.

    Example:
    >>> block = SqueezeExcitation(16)
    >>> tuple(block(keras.ops.zeros((2, 7, 7, 64))).shape)
    (2, 7, 7, 64)
    >>> block.count_params()  # 64*4 + 4 (squeeze to 64 / 16 units) + 4*64 + 64
    580
    """

    def __init__(
        self,
        ratio: int = 16,
        kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.ratio = checks.positive_int("ratio", ratio)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self._next_initializer = _kernel.handout(self.kernel_initializer)
        self.input_spec = image_spec()
        self.pool = keras.layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")
        self.reduce = self.excite = None
        self.scale = keras.layers.Multiply(name="scale")

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.input_spec = image_spec(channels)
        common = dict(kernel_regularizer=self.kernel_regularizer)
        self.reduce = keras.layers.Dense(
            max(1, channels // self.ratio),
            "relu",
            kernel_initializer=self._next_initializer(),
            name="reduce",
            **common,
        )
        self.excite = keras.layers.Dense(
            channels, "sigmoid", kernel_initializer=self._next_initializer(), name="excite", **common
        )
        squeezed = build_chain([self.pool, self.reduce, self.excite], input_shape)
        self.scale.build([tuple(input_shape), squeezed])

    def call(self, inputs, training=None):
        weights = call_chain([self.pool, self.reduce, self.excite], inputs, training)  # (B, 1, 1, C)
        return self.scale([inputs, weights])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "ratio": self.ratio,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
