"""Kernel initializers the course's models need and Keras does not ship.

:class:`BilinearUpsampling` starts a transposed convolution as bilinear interpolation, as Long,
Shelhamer and Darrell initialise FCN's upsampling layers ("Fully convolutional networks for
semantic segmentation", 2015): the network begins from a sensible upsampling and
learns to improve it, instead of from noise that the coarse scores must first get through.
"""

from __future__ import annotations

import keras
import numpy as np


def bilinear_filter(size: int) -> np.ndarray:
    """The 1-D bilinear interpolation filter of length ``size`` (FCN's ``upsample_filt``).

    The upsampling factor is ``(size + 1) // 2``; each tap weighs ``1 - |x - centre| / factor``.
    For a stride-2 transposed convolution the matching size is 4: ``[0.25, 0.75, 0.75, 0.25]``,
    so each output pixel is ``3/4`` of its nearer input pixel and ``1/4`` of the farther one,
    the half-pixel-centre bilinear resize of ``tf.image.resize``.

    >>> bilinear_filter(4).tolist()
    [0.25, 0.75, 0.75, 0.25]
    """
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"The filter size must be a positive integer. Received: size={size!r}")
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    return 1 - np.abs(np.arange(size) - centre) / factor


@keras.saving.register_keras_serializable(package="tfcourse")
class BilinearUpsampling(keras.initializers.Initializer):
    """A ``Conv2DTranspose`` kernel that performs bilinear upsampling, channel by channel.

    The kernel ``(k, k, out_channels, in_channels)`` is the outer product of
    :func:`bilinear_filter` ``(k)`` with itself on its diagonal (output channel ``c`` reads input
    channel ``c`` only) and zero elsewhere, so it needs as many output as input channels. With
    ``kernel_size=4, strides=2, padding="same"`` the layer then equals
    ``tf.image.resize(x, 2 * size, "bilinear")`` away from the border (one pixel on each side,
    where the transposed convolution sees zeros and the resize repeats the edge).

    Example:
    >>> layer = keras.layers.Conv2DTranspose(
    ...     3, 4, strides=2, padding="same", kernel_initializer=BilinearUpsampling()
    ... )
    >>> tuple(layer(keras.ops.ones((1, 4, 4, 3))).shape)
    (1, 8, 8, 3)
    """

    def __call__(self, shape, dtype=None):
        if len(shape) != 4 or shape[0] != shape[1] or shape[2] != shape[3]:
            raise ValueError(
                "BilinearUpsampling initialises a square Conv2DTranspose kernel with as many output "
                f"as input channels, shape (k, k, c, c). Received shape {tuple(shape)}; give the "
                "layer as many filters as its input has channels."
            )
        size, _, channels, _ = shape
        taps = bilinear_filter(int(size))
        kernel = np.zeros(tuple(shape), np.float32)
        kernel[:, :, np.arange(channels), np.arange(channels)] = np.outer(taps, taps)[..., None]
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or keras.config.floatx())

    def get_config(self):
        return {}
