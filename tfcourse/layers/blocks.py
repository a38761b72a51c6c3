"""Convolution block and classifier head: the generic pieces every CNN in the course is made of."""

from __future__ import annotations

import keras

from tfcourse import checks
from tfcourse.layers import _kernel
from tfcourse.layers._chain import attach, attached, build_chain, call_chain, image_spec, output_shape

POOLING = (None, "max", "avg")
HEAD_POOLING = ("flatten", "avg", "max")


@keras.saving.register_keras_serializable(package="tfcourse")
class ConvBlock(keras.layers.Layer):
    """``repeats`` x (Conv2D -> [BatchNorm] -> activation), then [pooling] and [dropout].

    The block that VGG-style networks repeat, with every part a constructor argument so that
    experiments change one argument instead of rewriting a model. With batch norm the
    convolution has no bias (the norm's offset replaces it).

    Args:
        filters: output channels of each convolution.
        kernel_size: side of the square kernel.
        strides: stride of the first convolution (the others use 1).
        padding: ``"same"`` or ``"valid"``.
        repeats: number of conv/norm/activation stacks before pooling.
        batch_norm: insert ``BatchNormalization`` after each convolution.
        batch_norm_momentum: momentum of the norm's moving mean and variance. 0.9 (Keras's
            default is 0.99) lets the inference statistics catch up within a hundred steps,
            which matters for short runs.
        activation: any Keras activation name, e.g. ``"relu"``.
        pooling: ``None``, ``"max"`` or ``"avg"``.
        pool_size: pooling window and stride.
        dropout: dropout rate after pooling, in [0, 1).
        input_channels: if given, inputs must have this many channels (Keras checks it at
            every call, through the layer's ``input_spec``).
        kernel_initializer: initializer of the convolution kernels: a name such as
            ``"he_normal"``, or an object such as ``keras.initializers.HeUniform(seed=3)``
            (kept, with its seed, by ``get_config`` and ``.keras`` files).
        kernel_regularizer: regularizer of the convolution kernels, e.g.
            ``keras.regularizers.L2(1e-4)``; ``None`` for none.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, height', width', filters)``, with height and width divided by ``strides``
        and by ``pool_size`` when pooling (``"same"`` padding).

    Example:
    >>> block = ConvBlock(32, pooling="max", dropout=0.25)
    >>> tuple(block(keras.ops.zeros((2, 28, 28, 1))).shape)
    (2, 14, 14, 32)
    >>> block.count_params()  # 3*3*1*32 conv weights + 4*32 batch-norm values
    416
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        strides: int = 1,
        padding: str = "same",
        repeats: int = 1,
        batch_norm: bool = True,
        batch_norm_momentum: float = 0.9,
        activation: str | None = "relu",
        pooling: str | None = None,
        pool_size: int = 2,
        dropout: float = 0.0,
        input_channels: int | None = None,
        kernel_initializer: str | keras.initializers.Initializer = "he_normal",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = checks.positive_int("filters", filters)
        self.kernel_size = checks.positive_int("kernel_size", kernel_size)
        self.strides = checks.positive_int("strides", strides)
        self.padding = checks.one_of("padding", padding, ("same", "valid"))
        self.repeats = checks.positive_int("repeats", repeats)
        self.batch_norm = bool(batch_norm)
        self.batch_norm_momentum = checks.rate("batch_norm_momentum", batch_norm_momentum)
        self.activation = activation
        self.pooling = checks.one_of("pooling", pooling, POOLING)
        self.pool_size = checks.positive_int("pool_size", pool_size)
        self.dropout = checks.rate("dropout", dropout)
        self.input_channels = (
            None if input_channels is None else checks.positive_int("input_channels", input_channels)
        )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = image_spec(self.input_channels)

        next_initializer = _kernel.handout(self.kernel_initializer)
        stages: list[keras.layers.Layer] = []
        for i in range(self.repeats):
            stages.append(
                keras.layers.Conv2D(
                    filters,
                    kernel_size,
                    strides=strides if i == 0 else 1,
                    padding=padding,
                    use_bias=not batch_norm,
                    kernel_initializer=next_initializer(),
                    kernel_regularizer=self.kernel_regularizer,
                    name=f"conv{i + 1}",
                )
            )
            if batch_norm:
                stages.append(
                    keras.layers.BatchNormalization(momentum=batch_norm_momentum, name=f"bn{i + 1}")
                )
            if activation is not None:
                stages.append(keras.layers.Activation(activation, name=f"act{i + 1}"))
        if pooling == "max":
            stages.append(keras.layers.MaxPooling2D(pool_size, padding="same", name="pool"))
        elif pooling == "avg":
            stages.append(keras.layers.AveragePooling2D(pool_size, padding="same", name="pool"))
        if self.dropout > 0:
            stages.append(keras.layers.Dropout(self.dropout, name="dropout"))
        self._stage_names = attach(self, stages, prefix="stage_")  # attributes stage_conv1, ...

    @property
    def stages(self) -> list[keras.layers.Layer]:
        """The sub-layers in the order they run."""
        return attached(self, self._stage_names)

    def build(self, input_shape):
        self.input_spec = image_spec(input_shape[-1])  # later calls must keep the channel count
        build_chain(self.stages, input_shape)

    def call(self, inputs, training=None):
        return call_chain(self.stages, inputs, training)

    def compute_output_shape(self, input_shape):
        return output_shape(self.stages, input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "repeats": self.repeats,
            "batch_norm": self.batch_norm,
            "batch_norm_momentum": self.batch_norm_momentum,
            "activation": self.activation,
            "pooling": self.pooling,
            "pool_size": self.pool_size,
            "dropout": self.dropout,
            "input_channels": self.input_channels,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


@keras.saving.register_keras_serializable(package="tfcourse")
class ClassifierHead(keras.layers.Layer):
    """Feature maps to class scores: pool or flatten -> [Dense -> activation -> dropout]* -> Dense.

    Dropout (when ``dropout > 0``) follows every hidden layer, or, with no hidden layers,
    precedes the output layer.

    Args:
        num_classes: number of output classes.
        hidden_units: sizes of hidden dense layers, e.g. ``(128,)``; empty for none.
        pooling: how 4-D feature maps become a vector: ``"flatten"``, ``"avg"`` (global
            average pooling) or ``"max"``. Rank-2 inputs pass through unchanged.
        activation: activation of the hidden layers.
        dropout: dropout rate after each hidden layer (or before the output layer), in [0, 1).
        output_activation: ``"softmax"`` for probabilities, ``None`` for logits.

    Input shape:
        ``(batch, height, width, channels)`` or ``(batch, features)``.

    Output shape:
        ``(batch, num_classes)``.

    Example:
    >>> head = ClassifierHead(10, hidden_units=(64,), pooling="avg")
    >>> tuple(head(keras.ops.zeros((2, 7, 7, 32))).shape)
    (2, 10)
    >>> head.count_params()  # (32*64 + 64) + (64*10 + 10)
    2762
    """

    def __init__(
        self,
        num_classes: int,
        hidden_units: tuple[int, ...] | list[int] = (),
        pooling: str = "flatten",
        activation: str = "relu",
        dropout: float = 0.0,
        output_activation: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = checks.positive_int("num_classes", num_classes)
        self.hidden_units = tuple(checks.positive_int("hidden_units", u) for u in hidden_units)
        self.pooling = checks.one_of("pooling", pooling, HEAD_POOLING)
        self.activation = activation
        self.dropout = checks.rate("dropout", dropout)
        self.output_activation = output_activation

        self.pool = {
            "flatten": keras.layers.Flatten(name="flatten"),
            "avg": keras.layers.GlobalAveragePooling2D(name="gap"),
            "max": keras.layers.GlobalMaxPooling2D(name="gmp"),
        }[pooling]
        stages: list[keras.layers.Layer] = []
        for i, units in enumerate(self.hidden_units):
            if self.dropout > 0 and i > 0:
                stages.append(keras.layers.Dropout(self.dropout, name=f"dropout{i}"))
            stages.append(keras.layers.Dense(units, activation=activation, name=f"dense{i + 1}"))
        if self.dropout > 0:
            stages.append(keras.layers.Dropout(self.dropout, name="dropout_out"))
        stages.append(keras.layers.Dense(num_classes, activation=output_activation, name="logits"))
        self._stage_names = attach(self, stages, prefix="stage_")  # attributes stage_dense1, ...
        self.input_spec = keras.layers.InputSpec(min_ndim=2, max_ndim=4)  # rank 3: refused in build

    @property
    def stages(self) -> list[keras.layers.Layer]:
        """The dense and dropout sub-layers in the order they run (after pooling)."""
        return attached(self, self._stage_names)

    def _chain(self, rank: int) -> list[keras.layers.Layer]:
        """The sub-layers an input of ``rank`` goes through: 4-D feature maps are pooled first."""
        return [self.pool, *self.stages] if rank == 4 else self.stages

    def build(self, input_shape):
        # InputSpec cannot say "rank 2 or 4": rank 3 gets past it and is refused here.
        checks.input_shape(self.name, input_shape, ranks=(2, 4))
        self.input_spec = keras.layers.InputSpec(ndim=len(input_shape), axes={-1: input_shape[-1]})
        build_chain(self._chain(len(input_shape)), input_shape)

    def call(self, inputs, training=None):
        return call_chain(self._chain(len(inputs.shape)), inputs, training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "hidden_units": list(self.hidden_units),
            "pooling": self.pooling,
            "activation": self.activation,
            "dropout": self.dropout,
            "output_activation": self.output_activation,
        }
