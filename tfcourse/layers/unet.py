"""U-Net's encoder and decoder blocks: downsample while keeping the features, upsample and join them.

A U-Net (Ronneberger et al., 2015) is an encoder that halves the image several times and a
decoder that doubles it back, joined at every scale by a *skip connection*: the encoder's
features before each downsampling are concatenated to the decoder's at the same size, so that
the fine detail lost by pooling is available again where the output is drawn.
:class:`EncoderBlock` returns both its features (for the skip) and their pooled version (for the
next block); :class:`DecoderBlock` takes the coarse input and the skip, ``[x, skip]``.
"""

from __future__ import annotations

import keras

from tfcourse import checks
from tfcourse.layers._chain import image_spec
from tfcourse.layers.blocks import ConvBlock

UPSAMPLING = ("transpose", "bilinear")


def _conv_pair(filters, batch_norm_momentum, kernel_initializer, kernel_regularizer, name):
    return ConvBlock(
        filters,
        repeats=2,
        batch_norm_momentum=batch_norm_momentum,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )


@keras.saving.register_keras_serializable(package="tfcourse")
class EncoderBlock(keras.layers.Layer):
    """Two (3x3 conv -> batch norm -> ReLU), then 2x2 max pooling; returns ``(features, pooled)``.

    Args:
        filters: channels of both convolutions.
        batch_norm_momentum: momentum of the batch norms' moving statistics (see ``ConvBlock``).
        kernel_initializer: initializer of the convolution kernels (name or object).
        kernel_regularizer: regularizer of the convolution kernels, or ``None``.

    Input shape:
        ``(batch, height, width, channels)``, height and width even (pooling halves them, and
        the decoder must double them back to the same size).

    Output shape:
        ``features`` ``(batch, height, width, filters)`` and ``pooled``
        ``(batch, height / 2, width / 2, filters)``.

    Example:
    >>> features, pooled = EncoderBlock(8)(keras.ops.zeros((2, 32, 32, 1)))
    >>> tuple(features.shape), tuple(pooled.shape)
    ((2, 32, 32, 8), (2, 16, 16, 8))
    """

    def __init__(
        self,
        filters: int,
        batch_norm_momentum: float = 0.9,
        kernel_initializer: str | keras.initializers.Initializer = "he_normal",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = checks.positive_int("filters", filters)
        self.batch_norm_momentum = checks.rate("batch_norm_momentum", batch_norm_momentum)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = image_spec()
        self.conv = _conv_pair(
            filters, batch_norm_momentum, self.kernel_initializer, self.kernel_regularizer, "conv"
        )
        self.pool = keras.layers.MaxPooling2D(2, name="pool")

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if any(side is not None and side % 2 for side in (height, width)):
            raise ValueError(
                f"{self.name}: pooling halves height and width, so both must be even. Received input "
                f"shape {tuple(input_shape)}; pad or crop the images to a multiple of 2 ** (number "
                "of encoder blocks)."
            )
        self.input_spec = image_spec(input_shape[-1])
        self.conv.build(input_shape)
        self.pool.build(self.conv.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        features = self.conv(inputs, training=training)
        return features, self.pool(features)

    def compute_output_shape(self, input_shape):
        features = tuple(self.conv.compute_output_shape(input_shape))
        return features, tuple(self.pool.compute_output_shape(features))

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "batch_norm_momentum": self.batch_norm_momentum,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


@keras.saving.register_keras_serializable(package="tfcourse")
class DecoderBlock(keras.layers.Layer):
    """Upsample ``x`` by 2, concatenate the encoder's ``skip``, then two (3x3 conv -> BN -> ReLU).

    Two ways to upsample, the comparison notebook 09 makes:

    - ``"transpose"``: a learned 2x2 transposed convolution with stride 2 (each input value
      paints a 2x2 patch of the output through the kernel; notebook 01's exercise does one by
      hand). With a kernel of 2 and stride 2 the patches tile without overlap, so it makes no
      checkerboard; a 3x3 kernel at stride 2 would overlap unevenly and can.
    - ``"bilinear"``: ``UpSampling2D`` with bilinear interpolation (fixed, no weights), then a
      learned 3x3 convolution.

    Args:
        filters: channels of the upsampled tensor and of both convolutions.
        upsampling: ``"transpose"`` or ``"bilinear"``.
        batch_norm_momentum: momentum of the batch norms' moving statistics.
        kernel_initializer: initializer of every kernel (name or object).
        kernel_regularizer: regularizer of every kernel, or ``None``.

    Input shape:
        ``[x, skip]``: ``x`` ``(batch, h, w, c)`` and ``skip`` ``(batch, 2h, 2w, c_skip)``.

    Output shape:
        ``(batch, 2h, 2w, filters)``.

    Example:
    >>> block = DecoderBlock(8)
    >>> tuple(block([keras.ops.zeros((2, 16, 16, 16)), keras.ops.zeros((2, 32, 32, 8))]).shape)
    (2, 32, 32, 8)
    """

    def __init__(
        self,
        filters: int,
        upsampling: str = "transpose",
        batch_norm_momentum: float = 0.9,
        kernel_initializer: str | keras.initializers.Initializer = "he_normal",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = checks.positive_int("filters", filters)
        self.upsampling = checks.one_of("upsampling", upsampling, UPSAMPLING)
        self.batch_norm_momentum = checks.rate("batch_norm_momentum", batch_norm_momentum)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = [image_spec(), image_spec()]
        common = dict(
            kernel_initializer=keras.initializers.get(keras.initializers.serialize(self.kernel_initializer)),
            kernel_regularizer=self.kernel_regularizer,
        )
        if upsampling == "transpose":
            self.upsample = keras.layers.Conv2DTranspose(filters, 2, strides=2, name="upsample", **common)
        else:
            self.upsample = keras.layers.UpSampling2D(2, interpolation="bilinear", name="upsample")
            self.upsample_conv = keras.layers.Conv2D(
                filters, 3, padding="same", name="upsample_conv", **common
            )
        self.concat = keras.layers.Concatenate(name="concat")
        self.conv = _conv_pair(
            filters, batch_norm_momentum, self.kernel_initializer, self.kernel_regularizer, "conv"
        )

    def _upsampling_layers(self):
        return [self.upsample] if self.upsampling == "transpose" else [self.upsample, self.upsample_conv]

    def _check(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != 2
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                f"{self.name}: expected two inputs, [x, skip]. Received input shape {input_shape}"
            )
        x, skip = (tuple(s) for s in input_shape)
        for axis, side in ((1, "height"), (2, "width")):
            if x[axis] is not None and skip[axis] is not None and skip[axis] != 2 * x[axis]:
                raise ValueError(
                    f"{self.name}: the skip input's {side} must be twice the input's, since the block "
                    f"upsamples by 2. Received x {x} and skip {skip}; connect each decoder block to the "
                    "encoder block of the same scale."
                )
        return x, skip

    def build(self, input_shape):
        x, skip = self._check(input_shape)
        self.input_spec = [image_spec(x[-1]), image_spec(skip[-1])]
        shape = x
        for layer in self._upsampling_layers():
            layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        self.concat.build([shape, skip])
        self.conv.build(tuple(self.concat.compute_output_shape([shape, skip])))

    def call(self, inputs, training=None):
        x, skip = inputs
        for layer in self._upsampling_layers():
            x = layer(x)
        return self.conv(self.concat([x, skip]), training=training)

    def compute_output_shape(self, input_shape):
        x, skip = self._check(input_shape)
        return (x[0], skip[1], skip[2], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "upsampling": self.upsampling,
            "batch_norm_momentum": self.batch_norm_momentum,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
