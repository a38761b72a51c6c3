"""Data-parallel training on TensorFlow's own engine: ``tf.distribute.MirroredStrategy``.

Synchronous data parallelism keeps one copy of the model (a *replica*) on each device. Each
training step splits the **global batch** into one local batch per replica. Every replica
computes the gradients of its own local batch. The gradients are averaged across the
replicas (an all-reduce), and every replica applies the same update, so the copies stay
identical. Because the average over equal local batches is the gradient of the mean loss
over the global batch, one step on two replicas of 32 images equals one step on one device
with the same 64 images, up to float32 rounding. ``tests/test_distribute.py`` measures that.

No GPU is needed to see it: :func:`split_cpu` splits the CPU into several logical devices
and :func:`mirrored_strategy` mirrors a model across them::

    from tfcourse.distribute import compile_in_scope, global_batch_size, mirrored_strategy, split_cpu
    devices = split_cpu(2)                  # first, before TensorFlow starts its runtime
    strategy = mirrored_strategy(devices)   # 2 replicas
    model = compile_in_scope(strategy, build_model, optimizer="sgd", loss=...)
    model.fit(dataset.batch(global_batch_size(strategy, 32)), ...)  # 64 a step, 32 a replica

The two logical CPUs share the same cores, so this shows what the strategy computes, not a
speed-up. On a machine with several GPUs, ``mirrored_strategy()`` with no arguments mirrors
across all of them.

Batch normalization under a strategy
------------------------------------
``keras.layers.BatchNormalization`` normalizes each replica's local batch with that local
batch's mean and variance. Two replicas of 32 are then not one batch of 64, and training
follows another path than on one device. The moving statistics also differ between
replicas. Keras creates them with aggregation
``"none"``, so each replica's copy keeps the statistics of its own local batches, and
reading or saving the variable gives replica 0's copy. ``BatchNormalization(synchronized=True)``
(TensorFlow backend only) all-reduces the batch statistics. Every replica then normalizes
with the statistics of the global batch, and the copies of the moving statistics stay equal.
The test checks both behaviours. The course's ``ConvBlock`` uses plain
``BatchNormalization``. For the single-device equivalence, build the model without batch
norm (``ConvBlock(..., batch_norm=False)``). Or accept the per-replica statistics, as
large-batch recipes often do: Goyal et al. (2017) normalize over each GPU's 32 images.

Several machines: ``tf.distribute.MultiWorkerMirroredStrategy``
-----------------------------------------------------------------
Not run by the course (it needs several machines, or several processes on one machine).
This is the set-up, as TensorFlow's API reference and its "Multi-worker training with Keras"
tutorial describe it:

1. **The same script runs on every machine.** Collectives need every worker to take part,
   and saving a checkpoint is one of them. So every worker runs the same program, without
   branching on its index.
2. **Each worker gets a ``TF_CONFIG`` environment variable**, set before the strategy is
   created. It is JSON with two parts. ``cluster`` is the same on every worker and lists
   their addresses. ``task`` is different on each one and says which of them this process
   is. On the first of two workers::

       TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:23456"]},
                   "task": {"type": "worker", "index": 0}}'

   On the second, the same ``cluster`` with ``"index": 1``. Without ``TF_CONFIG`` the
   strategy trains on one worker.
3. **Create the strategy at the start of the program**:
   ``strategy = tf.distribute.MultiWorkerMirroredStrategy()``. That is the moment
   ``TF_CONFIG`` is read and the gRPC servers start. TensorFlow ops created before it lead to
   ``RuntimeError: Collective ops must be configured at program startup``. The strategy
   uses every local GPU of each worker (or the CPU). Its ``communication_options``
   choose the collective implementation (``RING`` over gRPC, ``NCCL``, or ``AUTO``).
4. **Build and compile the model inside** ``strategy.scope()``, as here
   (:func:`compile_in_scope` takes any strategy), then call ``model.fit``.
5. **The batch size you give the dataset is the global batch.** It is split across all
   replicas of all workers. To keep, say, 64 images per worker, batch with
   ``64 * num_workers`` (in general, per-replica batch times ``strategy.num_replicas_in_sync``,
   which :func:`global_batch_size` computes). The input is sharded across workers
   automatically (``tf.data.experimental.AutoShardPolicy``).
6. **The chief writes the checkpoints.** The chief is worker 0, or the task of type
   ``"chief"`` when the cluster has one (``strategy.cluster_resolver.task_type`` and
   ``task_id`` say which this process is). It saves checkpoints and writes TensorBoard
   summaries to the real paths. Since saving may all-reduce variables, the other workers
   must save too, at the same time: each one writes to a temporary directory of its own
   (the tutorial's ``write_filepath``), which it deletes afterwards. Only the chief's files
   are used. TensorFlow's tutorial is written for ``tf.keras`` (Keras 2), whose
   ``BackupAndRestore`` and ``ModelCheckpoint`` callbacks do this themselves. The Keras 3
   that this course uses has no such code in its callbacks (Keras 3.15), so write the
   chief/temporary-directory paths yourself, as the tutorial's "Model saving and loading"
   section does.
7. **Learning rate.** With the same global batch, synchronous training makes the same
   updates as one device, so the learning rate stays the same. If you keep the per-worker
   batch and let the global batch grow with the number of workers, each step averages more
   examples and the learning rate needs tuning again. TensorFlow's "Distributed training
   with Keras" tutorial says no more than to use the largest batch that fits in memory and
   "tune the learning rate accordingly". A common starting point is to scale it linearly
   with the global batch (k times the batch, k times the rate), with a warm-up over the
   first epochs (Goyal et al., 2017, "Accurate, Large Minibatch SGD"). That is a heuristic,
   not a rule of the library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from tfcourse import checks


def split_cpu(n: int) -> list[tf.config.LogicalDevice]:
    """Split the physical CPU into ``n`` logical devices and return them (``/device:CPU:0`` ...).

    A ``MirroredStrategy`` over these devices has ``n`` replicas, so data parallelism can be
    shown on a laptop. The logical devices share the same cores: expect no speed-up.

    TensorFlow fixes its devices when its runtime starts, at the first operation or the first
    listing of logical devices. Call this first, before anything else runs on TensorFlow (importing TensorFlow
    and Keras is fine), and after any other device settings such as
    ``tf.config.set_visible_devices``. It starts the runtime itself, to list the devices.
    Calling it again with the same ``n`` returns the same devices.

    Args:
        n: number of logical CPU devices, a positive integer.

    Returns:
        The ``n`` logical CPU devices.

    Raises:
        ValueError: ``n`` is not a positive integer.
        RuntimeError: TensorFlow has already started with another number of logical CPUs.
            Restart the kernel (or the Python process) and call ``split_cpu(n)`` before
            anything else.

    Example:
    >>> devices = tf.config.list_logical_devices("CPU")  # the runtime has started here
    >>> split_cpu(len(devices)) == devices  # already what was asked for: nothing to change
    True
    """
    checks.positive_int("n", n)
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as err:  # the runtime has started with another configuration
        current = tf.config.list_logical_devices("CPU")
        if len(current) == n:  # e.g. split_cpu(1) on an unsplit CPU
            return current
        raise RuntimeError(
            f"split_cpu({n}) came too late: TensorFlow has already initialised its devices, "
            f"with {len(current)} logical CPU device(s) ({', '.join(d.name for d in current)}), "
            "and they cannot be changed in a running process. Restart the kernel (or the Python "
            f"process) and call tfcourse.distribute.split_cpu({n}) first, before any other "
            f"TensorFlow operation. Received: n={n}"
        ) from err
    return tf.config.list_logical_devices("CPU")


def _device_name(device: tf.config.LogicalDevice | str) -> str:
    return device.name if isinstance(device, tf.config.LogicalDevice) else str(device)


def cross_device_ops_for(
    devices: Sequence[tf.config.LogicalDevice | str],
) -> tf.distribute.CrossDeviceOps | None:
    """The all-reduce that :func:`mirrored_strategy` uses on ``devices``.

    The all-reduce sums the replicas' gradients at each step. TensorFlow's fastest one on a
    single machine, ``NcclAllReduce``, uses NVIDIA's NCCL library, which runs only on GPUs.
    When any device is a CPU this returns ``tf.distribute.ReductionToOneDevice()``: the values
    are copied to one device, added there, and the sum is broadcast back. TensorFlow would
    fall back to the same thing with a warning; here the choice is written down instead. On
    GPUs only it returns ``None``, and TensorFlow chooses (NCCL when its kernel is there).

    Args:
        devices: logical devices or device names such as ``"/cpu:1"`` or ``"/gpu:0"``.

    Example:
    >>> type(cross_device_ops_for(["/cpu:0", "/cpu:1"])).__name__
    'ReductionToOneDevice'
    >>> cross_device_ops_for(["/gpu:0", "/gpu:1"]) is None
    True
    """
    names = [_device_name(d) for d in devices]
    if all(tf.DeviceSpec.from_string(name).device_type == "GPU" for name in names):
        return None
    return tf.distribute.ReductionToOneDevice()


def mirrored_strategy(
    devices: Sequence[tf.config.LogicalDevice | str] | None = None,
) -> tf.distribute.MirroredStrategy:
    """A ``tf.distribute.MirroredStrategy`` over ``devices``, with an all-reduce that works on them.

    On CPU devices the strategy gets ``cross_device_ops=tf.distribute.ReductionToOneDevice()``,
    because NCCL, TensorFlow's default all-reduce on one machine, is GPU-only (see
    :func:`cross_device_ops_for`).

    Args:
        devices: logical devices (from :func:`split_cpu` or ``tf.config.list_logical_devices``)
            or device names such as ``"/cpu:1"``. ``None`` means every logical GPU, or every
            logical CPU on a machine without one. That is also ``MirroredStrategy``'s default.

    Returns:
        The strategy. ``strategy.num_replicas_in_sync`` is the number of devices.

    Raises:
        ValueError: ``devices`` is empty.

    Example:
    >>> strategy = mirrored_strategy(["/cpu:0"])
    >>> strategy.num_replicas_in_sync
    1
    >>> strategy.extended.worker_devices
    ('/job:localhost/replica:0/task:0/device:CPU:0',)
    """
    if devices is None:
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    names = [_device_name(d) for d in devices]
    if not names:
        raise ValueError(f"`devices` needs at least one device. Received: devices={devices!r}")
    return tf.distribute.MirroredStrategy(devices=names, cross_device_ops=cross_device_ops_for(names))


def global_batch_size(strategy: tf.distribute.Strategy, per_replica: int) -> int:
    """The batch size to give the dataset so that each replica gets ``per_replica`` examples.

    Args:
        strategy: any ``tf.distribute`` strategy.
        per_replica: examples per replica and step, a positive integer.

    Example:
    >>> global_batch_size(tf.distribute.get_strategy(), 32)  # the default strategy: one replica
    32
    """
    checks.positive_int("per_replica", per_replica)
    return per_replica * strategy.num_replicas_in_sync


def compile_in_scope(strategy: tf.distribute.Strategy, build: Callable[[], keras.Model], **compile_kwargs):
    """Build a model with ``build()`` and compile it, both inside ``strategy.scope()``.

    Inside the scope, every variable is created as a mirrored variable, with one copy on each
    replica's device. That covers the model's weights and also what ``compile`` creates: the
    optimizer's slots and the metrics' totals. A model built outside the scope stays on one
    device. ``model.fit`` and ``evaluate`` then run under the strategy the model was built in,
    so they need no scope of their own.

    Args:
        strategy: any ``tf.distribute`` strategy (``MirroredStrategy``,
            ``MultiWorkerMirroredStrategy``, ...).
        build: a function that takes no arguments and returns a new Keras model, e.g.
            ``lambda: fashion_cnn(conv_dropout=0.0)``.
        **compile_kwargs: passed to ``model.compile`` (``optimizer``, ``loss``, ``metrics`` ...).

    Returns:
        The compiled model.

    Example:
    >>> strategy = mirrored_strategy(["/cpu:0"])
    >>> model = compile_in_scope(
    ...     strategy, lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), loss="mse"
    ... )
    >>> isinstance(model.trainable_variables[0].value, tf.distribute.DistributedValues)
    True
    """
    with strategy.scope():
        model = build()
        if not isinstance(model, keras.Model):
            raise ValueError(f"`build` must return a keras.Model. Received: build() returned {model!r}")
        model.compile(**compile_kwargs)
    return model
