"""The pieces of a fast-training recipe: one-cycle learning rate, AdamW with EMA, label smoothing.

A short run (a few epochs, a few hundred steps) trains best when every setting is chosen for
its length: the learning rate rises quickly to a high peak and anneals to almost nothing
(:class:`OneCycle`), the weights that are evaluated are an average of the last ones
(:func:`recipe_optimizer`'s EMA), the targets are softened (:class:`SmoothedSparseCrossentropy`),
and batch norm's moving statistics forget fast enough to catch up with the weights
(:func:`set_batch_norm_momentum`). Each piece is a plain Keras object, so ``model.fit`` and the
hand-written loop of :mod:`tfcourse.training` both use it.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfcourse import _keras_private as private
from tfcourse import checks


def _unit_interval(name: str, value) -> float:
    """Return ``value`` as a float if it lies in [0, 1], else raise a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a float in [0, 1]. Received: {name}={value!r}"
        )
    return float(value)


@keras.saving.register_keras_serializable(package="tfcourse")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle learning rate: a linear warm-up to ``peak``, then a cosine anneal to almost zero.

    Smith & Topin (2017), "Super-convergence: very fast training of neural networks using large
    learning rates", found that one cycle -- up to a large rate and down again -- trains in a
    fraction of the usual steps: the high middle acts as a regulariser and crosses flat regions
    fast, the long anneal settles into a minimum. PyTorch's ``torch.optim.lr_scheduler.OneCycleLR``
    is the usual implementation; this schedule follows its ``anneal_strategy="cos"`` shape with a
    linear warm-up (``three_phase=False``), with three differences:

    * the factors are relative to ``peak``: ``start_factor=0.04`` is PyTorch's ``div_factor=25``,
      but ``end_factor`` is ``final_lr / peak`` where PyTorch's ``final_div_factor`` divides the
      *initial* rate (its default, 1e4, gives ``peak / 2.5e5``);
    * the ends are placed as in Keras's ``CosineDecay``: the rate is ``peak`` at step
      ``warmup_fraction * total_steps`` and reaches the end value at step ``total_steps``, the
      optimizer's iteration count after ``total_steps`` updates; later steps stay at the end value;
    * the optimizer's momentum is not cycled (PyTorch cycles it by default).

    With ``s = min(step, total_steps)`` and ``w = warmup_fraction * total_steps``::

        lr(s) = start + (peak - start) * s / w                               for s < w
        lr(s) = end + (peak - end) * (1 + cos(pi * (s - w) / (total - w))) / 2  for s >= w

    where ``start = peak * start_factor`` and ``end = peak * end_factor``. It equals Keras's
    ``CosineDecay(start, total - w, alpha=end_factor, warmup_target=peak, warmup_steps=w)``,
    spelled with the recipe's arguments.

    Args:
        peak: the largest learning rate, reached at the end of the warm-up.
        total_steps: number of optimizer updates in the run (``epochs * steps_per_epoch``).
        warmup_fraction: share of ``total_steps`` spent rising, in [0, 1). 0.25 is shorter than
            PyTorch's ``pct_start=0.3``: in a short run the anneal is where the accuracy comes
            from. 0 starts at ``peak``.
        start_factor: initial rate as a fraction of ``peak``, in [0, 1].
        end_factor: final rate as a fraction of ``peak``, in [0, 1].
        name: name of the schedule's operations.

    Example:
    >>> schedule = OneCycle(peak=0.1, total_steps=100)  # warm-up over the first 25 steps
    >>> [round(float(schedule(step)), 6) for step in (0, 25, 100, 500)]
    [0.004, 0.1, 1e-05, 1e-05]
    """

    def __init__(
        self,
        peak: float,
        total_steps: int,
        warmup_fraction: float = 0.25,
        start_factor: float = 0.04,
        end_factor: float = 1e-4,
        name: str = "OneCycle",
    ):
        super().__init__()
        self.peak = checks.positive_float("peak", peak)
        self.total_steps = checks.positive_int("total_steps", total_steps)
        self.warmup_fraction = checks.rate("warmup_fraction", warmup_fraction)
        self.start_factor = _unit_interval("start_factor", start_factor)
        self.end_factor = _unit_interval("end_factor", end_factor)
        self.name = name

    @property
    def warmup_steps(self) -> float:
        """The step at which the rate is ``peak`` (a float: it need not be a whole step)."""
        return self.warmup_fraction * self.total_steps

    def __call__(self, step):
        start, peak, end = self.peak * self.start_factor, self.peak, self.peak * self.end_factor
        total, warmup = float(self.total_steps), self.warmup_steps
        s = ops.minimum(ops.cast(step, "float32"), total)  # past the end: stay at the end value
        progress = ops.clip((s - warmup) / (total - warmup), 0.0, 1.0)  # total > warmup: fraction < 1
        annealed = end + (peak - end) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        if warmup == 0:  # no warm-up: the cycle starts at the peak
            return annealed
        rising = start + (peak - start) * s / warmup
        return ops.where(s < warmup, rising, annealed)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
            "start_factor": self.start_factor,
            "end_factor": self.end_factor,
            "name": self.name,
        }


def recipe_optimizer(
    peak_lr: float,
    total_steps: int,
    *,
    weight_decay: float = 0.01,
    ema: bool = True,
    ema_momentum: float = 0.99,
    warmup_fraction: float = 0.25,
    start_factor: float = 0.04,
    end_factor: float = 1e-4,
    **adamw_kwargs,
) -> keras.optimizers.AdamW:
    """AdamW on a :class:`OneCycle` schedule, averaging the weights (EMA) as it trains.

    Weight decay is decoupled (Loshchilov & Hutter, "Decoupled weight decay regularization"):
    each step Keras shrinks every trainable variable by ``variable * weight_decay * lr`` apart
    from the Adam update, so the decay follows the one-cycle schedule. 0.01 is PyTorch's AdamW
    default (Keras's is 0.004). It applies to every trainable variable, biases and batch-norm
    scales included, as Keras does by default.

    What ``use_ema`` does in Keras 3 (``keras/src/optimizers/base_optimizer.py``): the optimizer
    keeps a copy ``average`` of every trainable variable. After each update, with ``w`` the
    updated variable and ``n`` the number of updates before this one::

        average = w                                          if n == 0
        average = ema_momentum * average + (1 - ema_momentum) * w   otherwise

    The first update copies the weights, so there is no start-up bias and no bias correction.
    The model's own weights keep training undisturbed; ``model.fit`` then ends by calling
    ``optimizer.finalize_variable_values(model.trainable_weights)``, which *overwrites the
    model's trainable weights with the averages*. So after ``fit`` the model holds the EMA
    weights. Things to know:

    * validation during ``fit`` sees the raw weights, not the averages, unless the callback
      ``keras.callbacks.SwapEMAWeights`` swaps them in for each evaluation;
    * batch norm's moving statistics are not averaged: they were collected with the raw weights;
    * a hand-written loop (:func:`tfcourse.training.train_by_hand`) must call
      ``optimizer.finalize_variable_values(model.trainable_variables)`` itself;
    * each ``fit`` call ends with the overwrite, so a second ``fit`` continues from the averages.

    With momentum ``m`` the average weighs the last ~``1 / (1 - m)`` steps (0.99: ~100), so a run
    should be several times longer than that for the average to forget the early weights.

    Args:
        peak_lr: the schedule's peak learning rate.
        total_steps: number of optimizer updates in the run.
        weight_decay: decoupled weight-decay coefficient (multiplied by the current rate).
        ema: keep an exponential moving average of the weights (Keras's ``use_ema``).
        ema_momentum: momentum of that average, in [0, 1).
        warmup_fraction, start_factor, end_factor: the :class:`OneCycle` shape.
        **adamw_kwargs: passed on to ``keras.optimizers.AdamW`` (``beta_1``, ``clipnorm``, ...).

    Example:
    >>> opt = recipe_optimizer(3e-3, total_steps=1000)
    >>> round(float(opt.learning_rate), 8)  # the schedule at step 0: 3e-3 * 0.04
    0.00012
    >>> opt.use_ema, opt.ema_momentum, opt.weight_decay
    (True, 0.99, 0.01)
    """
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise ValueError(
            "Received an invalid value for `weight_decay`, expected a non-negative float. "
            f"Received: weight_decay={weight_decay!r}"
        )
    ema_momentum = checks.rate("ema_momentum", ema_momentum)
    schedule = OneCycle(
        peak_lr,
        total_steps,
        warmup_fraction=warmup_fraction,
        start_factor=start_factor,
        end_factor=end_factor,
    )
    return keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=float(weight_decay),
        use_ema=bool(ema),
        ema_momentum=ema_momentum,
        **adamw_kwargs,
    )


def smoothed_sparse_crossentropy(y_true, y_pred, label_smoothing: float = 0.1, from_logits: bool = True):
    """Per-example cross-entropy of integer labels against smoothed targets.

    The target of an example with label ``c`` among ``K`` classes is
    ``(1 - label_smoothing) * one_hot(c) + label_smoothing / K``: the true class keeps most of
    the mass and every class gets a little. Szegedy et al. (2016, Inception-v3) introduced it to
    stop the logits growing without bound to fit one-hot targets exactly; the model ends up
    less over-confident and often a little more accurate.

    Keras's ``SparseCategoricalCrossentropy`` has no ``label_smoothing`` (Keras 3.15); this
    one-hot encodes the labels and calls ``keras.losses.categorical_crossentropy``, which has.

    Args:
        y_true: integer labels, shape ``(batch,)`` or ``(batch, 1)``.
        y_pred: logits (or probabilities if ``from_logits=False``), shape ``(batch, K)``.
        label_smoothing: share of the target spread uniformly over the classes, in [0, 1).
        from_logits: whether ``y_pred`` holds logits.

    Returns:
        The loss of each example, shape ``(batch,)``.

    Example:
    >>> loss = smoothed_sparse_crossentropy([0], [[0.0, 0.0]], label_smoothing=0.2)
    >>> round(float(loss[0]), 4)  # uniform prediction over 2 classes: log 2 whatever the target
    0.6931
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)  # (B, 1) -> (B,)
    targets = ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[-1], dtype=y_pred.dtype)  # (B, K)
    return keras.losses.categorical_crossentropy(
        targets, y_pred, from_logits=from_logits, label_smoothing=label_smoothing
    )


@keras.saving.register_keras_serializable(package="tfcourse")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing, as a Keras loss for ``compile``.

    The loss object of :func:`smoothed_sparse_crossentropy`; see there for the targets.

    Args:
        label_smoothing: share of the target spread uniformly over the classes, in [0, 1).
        from_logits: whether the model outputs logits (the course's models do).
        reduction: how the per-example losses are combined (Keras's reductions).
        name: the loss's name.
        dtype: the dtype of the loss's computations (Keras's default: ``floatx``).

    Example:
    >>> loss = SmoothedSparseCrossentropy(label_smoothing=0.1)
    >>> # targets (0.05, 0.95) and (0.95, 0.05): mean of 0.1986 and 0.2269
    >>> round(float(loss([1, 0], [[0.0, 3.0], [2.0, 0.0]])), 4)
    0.2128
    """

    def __init__(
        self,
        label_smoothing: float = 0.1,
        from_logits: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str = "smoothed_sparse_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = checks.rate("label_smoothing", label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return smoothed_sparse_crossentropy(
            y_true, y_pred, label_smoothing=self.label_smoothing, from_logits=self.from_logits
        )

    def get_config(self):
        return {
            **super().get_config(),
            "label_smoothing": self.label_smoothing,
            "from_logits": self.from_logits,
        }


def set_batch_norm_momentum(model: keras.layers.Layer, momentum: float) -> int:
    """Set the momentum of every ``BatchNormalization`` in ``model``; return how many there were.

    Batch norm keeps moving averages of each channel's mean and variance for inference:
    ``moving = momentum * moving + (1 - momentum) * batch_statistic`` at every training step.
    With momentum ``m`` they average roughly the last ``1 / (1 - m)`` batches, so Keras's
    default 0.99 needs some hundred steps to forget its initial values (mean 0, variance 1) and
    the early weights' statistics. In a run of a few hundred steps that lag shows as a validation
    accuracy far below the training accuracy; 0.9 (~10 batches) keeps up.

    Walks nested layers and models, including the norms inside the course's blocks
    (:class:`~tfcourse.layers.ConvBlock` and the others), and updates those blocks'
    ``batch_norm_momentum`` too, so that their config -- and a saved model -- says what runs.

    The momentum is read when the training step is traced, as a constant. The function therefore
    drops the model's cached ``fit`` step, so the next ``fit`` traces a new one; without that, a
    model that has already been fit would silently keep the old momentum. A hand-written
    ``tf.function`` step (:func:`tfcourse.training.make_train_step`) must be made again.

    Args:
        model: a model or layer.
        momentum: the new momentum, in [0, 1).

    Returns:
        The number of ``BatchNormalization`` layers changed.

    Example:
    >>> from tfcourse.layers import ConvBlock
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), ConvBlock(4, repeats=2), keras.layers.BatchNormalization()])
    >>> set_batch_norm_momentum(model, 0.9)
    3
    """
    momentum = checks.rate("momentum", momentum)
    changed = 0
    for layer in [model, *private.sublayers(model, recursive=True)]:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
            changed += 1
        elif hasattr(layer, "batch_norm_momentum"):  # a tfcourse block: keep its config in step
            layer.batch_norm_momentum = momentum
    private.forget_train_function(model)
    return changed
