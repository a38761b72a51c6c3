"""GoogLeNet's Inception module: parallel 1x1, 3x3, 5x5 and pooling branches, concatenated."""

from __future__ import annotations

import keras

from tfcourse import checks
from tfcourse.layers import _kernel
from tfcourse.layers._chain import build_chain, call_chain, image_spec
from tfcourse.layers.blocks import ConvBlock


def _optional_positive_int(name: str, value) -> int | None:
    return None if value is None else checks.positive_int(name, value)


@keras.saving.register_keras_serializable(package="tfcourse")
class InceptionModule(keras.layers.Layer):
    """Four branches side by side, their outputs stacked along the channel axis.

    ::

        input -> 1x1 conv (filters_1x1) ---------------------------\\
        input -> [1x1 conv (reduce_3x3) ->] 3x3 conv (filters_3x3) --\\
        input -> [1x1 conv (reduce_5x5) ->] 5x5 conv (filters_5x5) ---> concatenate
        input -> 3x3 max pool, stride 1 [-> 1x1 conv (pool_proj)] ---/

    With ``reduce_3x3``, ``reduce_5x5`` and ``pool_proj`` left at ``None`` this is the naive
    module, whose pooling branch passes all input channels through so that the output only
    grows. GoogLeNet's module sets all three: the 1x1 "bottleneck" convolutions shrink the depth
    before the expensive 3x3 and 5x5 convolutions and after the pooling. Each convolution is a
    :class:`~tfcourse.layers.ConvBlock` (convolution, optional batch norm, activation) with
    ``"same"`` padding, so height and width are kept.

    Args:
        filters_1x1: output channels of the 1x1 branch.
        filters_3x3: output channels of the 3x3 branch.
        filters_5x5: output channels of the 5x5 branch.
        reduce_3x3: channels of the 1x1 convolution before the 3x3 one; ``None`` for none.
        reduce_5x5: channels of the 1x1 convolution before the 5x5 one; ``None`` for none.
        pool_proj: channels of the 1x1 convolution after the pooling; ``None`` to pass the
            pooled input channels through unchanged (the naive module).
        batch_norm: batch normalization after every convolution (GoogLeNet had none; the
            convolutions then have biases).
        batch_norm_momentum: momentum of the norms' moving statistics.
        activation: activation after every convolution.
        kernel_initializer: initializer of the convolution kernels, a name or an object (as in
            :class:`~tfcourse.layers.ConvBlock`).
        kernel_regularizer: regularizer of the convolution kernels; ``None`` for none.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, height, width, filters_1x1 + filters_3x3 + filters_5x5 + pool channels)``,
        where the pool branch gives ``pool_proj`` channels, or ``channels`` without it.

    Example:
    >>> module = InceptionModule(64, 128, 32, reduce_3x3=96, reduce_5x5=16, pool_proj=32)  # GoogLeNet 3a
    >>> tuple(module(keras.ops.zeros((1, 28, 28, 192))).shape)  # 64 + 128 + 32 + 32 channels
    (1, 28, 28, 256)
    >>> module.count_params()  # (192*64+64) + (192*96+96 + 9*96*128+128) + (192*16+16 + 25*16*32+32) + (192*32+32)
    163696
    """

    def __init__(
        self,
        filters_1x1: int,
        filters_3x3: int,
        filters_5x5: int,
        reduce_3x3: int | None = None,
        reduce_5x5: int | None = None,
        pool_proj: int | None = None,
        batch_norm: bool = False,
        batch_norm_momentum: float = 0.9,
        activation: str | None = "relu",
        kernel_initializer: str | keras.initializers.Initializer = "he_normal",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters_1x1 = checks.positive_int("filters_1x1", filters_1x1)
        self.filters_3x3 = checks.positive_int("filters_3x3", filters_3x3)
        self.filters_5x5 = checks.positive_int("filters_5x5", filters_5x5)
        self.reduce_3x3 = _optional_positive_int("reduce_3x3", reduce_3x3)
        self.reduce_5x5 = _optional_positive_int("reduce_5x5", reduce_5x5)
        self.pool_proj = _optional_positive_int("pool_proj", pool_proj)
        self.batch_norm = bool(batch_norm)
        self.batch_norm_momentum = checks.rate("batch_norm_momentum", batch_norm_momentum)
        self.activation = activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = image_spec()
        next_initializer = _kernel.handout(self.kernel_initializer)

        def conv(filters, kernel_size, name):
            return ConvBlock(
                filters,
                kernel_size,
                batch_norm=batch_norm,
                batch_norm_momentum=batch_norm_momentum,
                activation=activation,
                kernel_initializer=next_initializer(),
                kernel_regularizer=self.kernel_regularizer,
                name=name,
            )

        # One attribute per sub-layer, named as the layer: the weights' paths in saved files.
        self.b1_1x1 = conv(filters_1x1, 1, "b1_1x1")
        self.b2_reduce = None if reduce_3x3 is None else conv(reduce_3x3, 1, "b2_reduce")
        self.b2_3x3 = conv(filters_3x3, 3, "b2_3x3")
        self.b3_reduce = None if reduce_5x5 is None else conv(reduce_5x5, 1, "b3_reduce")
        self.b3_5x5 = conv(filters_5x5, 5, "b3_5x5")
        self.b4_pool = keras.layers.MaxPooling2D(3, strides=1, padding="same", name="b4_pool")
        self.b4_proj = None if pool_proj is None else conv(pool_proj, 1, "b4_proj")
        self.concat = keras.layers.Concatenate(axis=-1, name="concat")

    @property
    def branches(self) -> list[list[keras.layers.Layer]]:
        """The four branches (1x1, 3x3, 5x5, pooling), each a list of layers applied in order."""
        return [
            [self.b1_1x1],
            [layer for layer in (self.b2_reduce, self.b2_3x3) if layer is not None],
            [layer for layer in (self.b3_reduce, self.b3_5x5) if layer is not None],
            [layer for layer in (self.b4_pool, self.b4_proj) if layer is not None],
        ]

    def build(self, input_shape):
        self.input_spec = image_spec(input_shape[-1])  # later calls must keep the channel count
        self.concat.build([build_chain(branch, input_shape) for branch in self.branches])

    def call(self, inputs, training=None):
        outputs = [call_chain(branch, inputs, training) for branch in self.branches]
        return self.concat(outputs)  # (B, H, W, f1 + f3 + f5 + pool channels)

    def compute_output_shape(self, input_shape):
        pool_channels = self.pool_proj if self.pool_proj is not None else input_shape[-1]
        channels = (
            None
            if pool_channels is None
            else (self.filters_1x1 + self.filters_3x3 + self.filters_5x5 + pool_channels)
        )
        return (*tuple(input_shape)[:3], channels)

    def get_config(self):
        return {
            **super().get_config(),
            "filters_1x1": self.filters_1x1,
            "filters_3x3": self.filters_3x3,
            "filters_5x5": self.filters_5x5,
            "reduce_3x3": self.reduce_3x3,
            "reduce_5x5": self.reduce_5x5,
            "pool_proj": self.pool_proj,
            "batch_norm": self.batch_norm,
            "batch_norm_momentum": self.batch_norm_momentum,
            "activation": self.activation,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
