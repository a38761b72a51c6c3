"""Checkpointed custom training: save everything that training changes, resume exactly.

A training run can be resumed *exactly* (the same weights, bit for bit, as a run that was
never interrupted) only if the checkpoint holds every piece of state that training changes:

* the model's variables: weights, batch-norm statistics and the dropout layers' random
  seed states;
* the optimizer's state: its step count and slot variables (Adam's two moving averages);
* the step counter;
* the input iterator's position (for a shuffled dataset: its shuffle buffer and random state).

:class:`ModelVariables` and :class:`CheckpointedTrainer` put all of these into one
``tf.train.Checkpoint`` managed by a ``tf.train.CheckpointManager``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import tensorflow as tf

from tfcourse import checks
from tfcourse.training import make_train_step


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read or does not fit the objects; the message names the file and the fix."""


class ModelVariables(tf.Module):
    """Every variable of a Keras model, as one object that ``tf.train.Checkpoint`` saves whole.

    With Keras 3 on TensorFlow, ``tf.train.Checkpoint(model=model)`` follows the model's
    attributes and silently skips the dropout layers' seed generators (and any sub-layer a
    custom layer keeps in a plain Python list). This wrapper
    tracks ``model.variables`` instead: weights, batch-norm statistics and seed states, in
    the model's own order (checkpoint keys ``by_index/0``, ``by_index/1``, ...). A model
    built by the same code has the same order, so it restores into it.

    Args:
        model: a built Keras model.

    Example:
    >>> import tempfile
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
    >>> path = tf.train.Checkpoint(model=ModelVariables(model)).write(tempfile.mkdtemp() + "/ckpt")
    >>> sorted(name for name, _ in tf.train.list_variables(path) if name.startswith("model/"))[:2]
    ['model/by_index/0/.ATTRIBUTES/VARIABLE_VALUE', 'model/by_index/1/.ATTRIBUTES/VARIABLE_VALUE']
    >>> len(ModelVariables(model).by_index)  # gamma, beta, moving mean, moving variance
    4
    """

    def __init__(self, model: keras.Model):
        if not isinstance(model, keras.Model) or not model.built:
            raise ValueError(f"`model` must be a built keras.Model. Received: model={model!r}")
        super().__init__(name=None)
        self.by_index = list(model.variables)  # tracked as a list: by_index/0, by_index/1, ...


class CheckpointedTrainer:
    """Notebook 02's training step in a loop that checkpoints model, optimizer, step and data position.

    The checkpoint is ``tf.train.Checkpoint(model=ModelVariables(model), optimizer=optimizer,
    step=step, iterator=iterator)``; a ``tf.train.CheckpointManager`` writes it every
    ``save_every`` steps and at the end of :meth:`train`, keeping the ``max_to_keep`` newest.

    Args:
        model: a built Keras model whose outputs ``loss_fn`` accepts.
        optimizer: a Keras optimizer; it is built on the model's trainable variables so that its
            slots exist before a restore.
        loss_fn: ``loss_fn(y_true, y_pred) -> scalar``, e.g.
            ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``.
        directory: where the checkpoints go (``ckpt-<step>.index`` and ``.data-*`` files).
        iterator: optional ``iter(dataset)`` of ``(x, y)`` batches; when given, the checkpoint
            holds its position and :meth:`train` draws from it. Build the dataset the same way
            (same seeds) when you resume: the iterator's state holds the position and the shuffle
            buffer, the dataset code holds the seeds. For an exact resume, ``repeat()`` before
            ``shuffle()`` (a per-epoch reshuffle draws its seeds from the dataset, not the
            iterator) and ``prefetch()`` last.
        max_to_keep: number of newest checkpoints kept on disk.
        save_every: save when the step count is a multiple of this.

    Example:
    >>> import tempfile
    >>> def build():
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    ...     data = tf.data.Dataset.from_tensor_slices((tf.ones((8, 4)), tf.zeros(8, "int64")))
    ...     loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    ...     return model, keras.optimizers.Adam(0.1), loss, iter(data.batch(2).repeat())
    >>> directory = tempfile.mkdtemp()
    >>> model, optimizer, loss, iterator = build()
    >>> trainer = CheckpointedTrainer(model, optimizer, loss, directory, iterator=iterator, save_every=5)
    >>> trainer.restore()  # nothing saved yet: a fresh start
    0
    >>> losses = trainer.train(12, verbose=0)
    >>> [os.path.basename(path) for path in trainer.manager.checkpoints]
    ['ckpt-5', 'ckpt-10', 'ckpt-12']
    >>> model2, optimizer2, loss, iterator2 = build()  # a new process would start like this
    >>> CheckpointedTrainer(model2, optimizer2, loss, directory, iterator=iterator2).restore()
    12
    >>> all(bool(tf.reduce_all(a == b)) for a, b in zip(model.variables, model2.variables))
    True
    """

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        loss_fn: Callable,
        directory: str | os.PathLike,
        *,
        iterator: Iterator | None = None,
        max_to_keep: int = 3,
        save_every: int = 100,
    ):
        if not str(directory):
            raise ValueError(f"`directory` must name a directory. Received: directory={directory!r}")
        if iterator is not None and not isinstance(iterator, tf.data.Iterator):
            raise ValueError(
                "`iterator` must be a tf.data iterator, e.g. `iter(dataset)`, so that its position "
                f"can be checkpointed. Received: iterator={iterator!r}"
            )
        self.max_to_keep = checks.positive_int("max_to_keep", max_to_keep)
        self.save_every = checks.positive_int("save_every", save_every)
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.directory = Path(directory)
        self.iterator = iterator
        if not optimizer.built:
            optimizer.build(model.trainable_variables)  # create the slots now, so restore fills them
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        parts = {"model": ModelVariables(model), "optimizer": optimizer, "step": self.step}
        if iterator is not None:
            parts["iterator"] = iterator
        self.checkpoint = tf.train.Checkpoint(**parts)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory), max_to_keep=max_to_keep)
        self._train_step = make_train_step(model, optimizer, loss_fn, metrics=[])  # notebook 02's step

    def restore(self, checkpoint: str | os.PathLike | None = None) -> int:
        """Restore ``checkpoint`` (default: the newest in ``directory``) and return its step.

        Returns 0, changing nothing, when the directory holds no checkpoint yet, so that
        ``trainer.train(total_steps - trainer.restore())`` starts or resumes a run alike.

        Raises:
            CheckpointError: the checkpoint is missing, truncated or corrupted, or does not
                hold everything this trainer tracks (another model, or no iterator position).
        """
        path = str(checkpoint) if checkpoint is not None else self.manager.latest_checkpoint
        if path is None:
            return 0
        others = [p for p in self.manager.checkpoints if p != path]
        fix = f"Restore another one ({', '.join(others)})" if others else "Start again"
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(
                f"Could not restore {path}: {type(err).__name__}: {reason}. The files may be missing, "
                "truncated or corrupted (an interrupted save or copy, a full disk), or written for "
                f"a different model, optimizer or data pipeline. {fix}, or delete {path}.* files."
            ) from err
        return int(self.step.numpy())

    def save(self) -> str:
        """Write a checkpoint numbered by the current step now; return its path prefix."""
        step = int(self.step.numpy())
        latest = self.manager.latest_checkpoint
        if latest is not None and latest.endswith(f"-{step}"):
            return latest  # this step is already on disk
        return self.manager.save(checkpoint_number=step)

    def train(self, steps: int, data=None, verbose: int = 1) -> list[float]:
        """Run ``steps`` more training steps, saving every ``save_every`` steps and at the end.

        Args:
            steps: how many steps to run (0 does nothing).
            data: a ``tf.data.Dataset`` or iterator of ``(x, y)`` batches, for a trainer made
                without ``iterator``. Its position is not checkpointed; a Dataset starts from
                its beginning on every call.
            verbose: 1 shows a progress bar, 0 is silent.

        Returns:
            The loss of each step.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"`steps` must be a non-negative integer. Received: steps={steps!r}")
        if (data is None) == (self.iterator is None):
            raise ValueError(
                "Pass `data` to train() exactly when the trainer was built without `iterator`. "
                f"Received: data={data!r}, iterator={self.iterator!r}"
            )
        source = self.iterator if data is None else iter(data)
        progress = keras.utils.Progbar(steps, verbose=verbose, unit_name="step")
        losses: list[float] = []
        for i in range(steps):
            try:
                x, y = next(source)
            except (StopIteration, tf.errors.OutOfRangeError):
                warnings.warn(
                    f"The data ran out after {i} of {steps} steps; use dataset.repeat().", stacklevel=2
                )
                break
            losses.append(float(self._train_step(x, y)))
            self.step.assign_add(1)
            if int(self.step.numpy()) % self.save_every == 0:
                self.save()
            progress.update(i + 1, [("loss", losses[-1])])
        self.save()
        return losses
