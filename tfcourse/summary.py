"""Walk a model layer by layer: output shape, parameters, activation memory and multiplies, as lectures tabulate them.

``model.summary()`` stops at the layers a model was built from; the lectures' tables (VGG16's
memory and weights per layer, AlexNet's shapes) go down to every convolution, pooling and
dense layer, and add up the memory that one image's forward pass needs. :func:`layer_table`
walks into nested layers (a ``ConvBlock``, an ``InceptionModule``, a ``ResidualBlock``) and
returns one :class:`LayerRow` per innermost layer, in the order the model runs them;
:func:`format_table` prints the rows with totals.

Nothing runs on data: shapes come from Keras's symbolic tensors, so walking a full-size
ImageNet model is cheap. :func:`build_without_weights` goes one step further for counting:
it builds a model whose weights have shapes but no values.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras

from tfcourse._keras_private import inbound_nodes, outbound_nodes, producer, sublayers


@dataclass(frozen=True)
class LayerRow:
    """One layer of the walk.

    Attributes:
        name: the layer's path, e.g. ``"block1/conv2"`` (nested names joined by ``/``).
        kind: the layer's class name, e.g. ``"Conv2D"``.
        output_shape: the output's shape for one image (no batch axis), e.g. ``(224, 224, 64)``.
        params: parameters (weights, biases, batch-norm statistics), as ``count_params`` counts them.
        activations: values the layer outputs for one image; for a collapsed nested layer
            (see ``max_depth``), the sum over the layers inside it.
        multiplies: multiply-accumulate operations for one image (convolutions and dense
            layers; 0 for the others).
        depth: nesting depth (0 for the model's own layers).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    activations: int
    multiplies: int
    depth: int


def _sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    # Keras's own tracking of the layers a layer holds, in the order they were assigned.
    subs = sublayers(layer, recursive=False)
    return [s for s in subs if not isinstance(s, keras.layers.InputLayer)]


def _multiplies(layer, input_shapes: Sequence[tuple], output_shape: tuple) -> int:
    """Multiply-accumulates for one image: each output value of a conv costs one kernel-sized dot product."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return math.prod(output_shape) * kh * kw
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        return math.prod(output_shape) * kh * kw * input_shapes[0][-1] // layer.groups
    if isinstance(layer, keras.layers.Dense):
        return math.prod(output_shape) * input_shapes[0][-1]
    return 0


def _trace(layer, input_shapes: Sequence[tuple]) -> list[tuple]:
    """Run ``layer.call`` on symbolic inputs; return ``(sublayer, input shapes, output shape)`` in call order.

    Each sublayer called on a symbolic tensor records a node (its inputs and outputs); the
    nodes added here are read, ordered by their data dependencies, and removed again.
    """
    subs = _sublayers(layer)
    marks = {id(s): (len(inbound_nodes(s)), len(outbound_nodes(s))) for s in subs}
    inputs = [keras.KerasTensor((None, *shape)) for shape in input_shapes]
    params = inspect.signature(layer.call).parameters
    kwargs = {"training": False} if "training" in params else {}
    try:
        layer.call(inputs[0] if len(inputs) == 1 else inputs, **kwargs)
        calls = [(s, node) for s in subs for node in inbound_nodes(s)[marks[id(s)][0] :]]
        calls = _in_call_order(calls, inputs, {id(s) for s in subs})
    finally:
        for s in subs:
            del inbound_nodes(s)[marks[id(s)][0] :]
            del outbound_nodes(s)[marks[id(s)][1] :]
    return [
        (s, [tuple(t.shape[1:]) for t in node.input_tensors], tuple(node.output_tensors[0].shape[1:]))
        for s, node in calls
    ]


def _in_call_order(calls: list, inputs: list, tracked: set[int]) -> list:
    """Order the calls so that each comes after the calls producing its inputs (ties: assignment order)."""
    produced = {id(t) for t in inputs}

    def ready(tensor) -> bool:
        if id(tensor) in produced:
            return True
        made_by = producer(tensor)
        if made_by is None:
            return True
        operation, node_index = made_by
        if id(operation) in tracked:
            return False
        # Made by an op that is not a sublayer (a `keras.ops` call): ready when its inputs are.
        node = inbound_nodes(operation)[node_index]
        return all(ready(t) for t in node.input_tensors)

    pending, ordered = list(calls), []
    while pending:
        index = next((i for i, (_, node) in enumerate(pending) if all(map(ready, node.input_tensors))), 0)
        sub, node = pending.pop(index)
        ordered.append((sub, node))
        produced.update(id(t) for t in node.output_tensors)
    return ordered


def _walk(
    layer, input_shapes, output_shape, prefix: str, depth: int, max_depth: int | None
) -> list[LayerRow]:
    name = f"{prefix}{layer.name}"
    if not _sublayers(layer):
        return [
            LayerRow(
                name,
                type(layer).__name__,
                output_shape,
                layer.count_params(),
                math.prod(output_shape),
                _multiplies(layer, input_shapes, output_shape),
                depth,
            )
        ]
    children = []
    for sub, sub_inputs, sub_output in _trace(layer, input_shapes):
        children += _walk(sub, sub_inputs, sub_output, f"{name}/", depth + 1, max_depth)
    if max_depth is None or depth < max_depth:
        return children
    return [
        LayerRow(
            name,
            type(layer).__name__,
            output_shape,
            layer.count_params(),
            sum(c.activations for c in children),
            sum(c.multiplies for c in children),
            depth,
        )
    ]


def layer_table(
    model: keras.layers.Layer, input_shape: Sequence[int] | None = None, max_depth: int | None = None
) -> list[LayerRow]:
    """Walk ``model`` and return one row per layer: output shape, parameters, activations, multiplies.

    Nested layers are walked into, so a ``ConvBlock`` of two convolutions gives rows for each
    convolution and activation. The first row is the input. Nothing runs on data.

    Args:
        model: a built model (functional or ``Sequential``) or a single layer.
        input_shape: the shape of one input without the batch axis, e.g. ``(28, 28, 256)``;
            needed for a layer, taken from ``model.inputs`` for a model.
        max_depth: ``None`` to walk down to the innermost layers; ``0`` to stop at the model's
            own layers, ``1`` one level further, and so on. A collapsed nested layer's row
            sums the activations and multiplies of the layers inside it.

    Returns:
        A list of :class:`LayerRow`.

    Raises:
        ValueError: the input shape is unknown or not fixed.

    Example:
    >>> from tfcourse.layers import ConvBlock
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), ConvBlock(4, batch_norm=False, pooling="max", name="block")])
    >>> [(r.name, r.output_shape, r.params, r.activations, r.multiplies) for r in layer_table(model)]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('input', (8, 8, 3), 0, 192, 0), ('block/conv1', (8, 8, 4), 112, 256, 6912),
     ('block/act1', (8, 8, 4), 0, 256, 0), ('block/pool', (4, 4, 4), 0, 64, 0)]
    """
    if input_shape is not None:
        input_shapes = [tuple(input_shape)]
    elif isinstance(model, keras.Model) and model.inputs:
        input_shapes = [tuple(t.shape[1:]) for t in model.inputs]
    else:
        raise ValueError(
            "`layer_table` needs the input shape of a layer (or of a model without `keras.Input`). "
            f"Received: input_shape={input_shape}"
        )
    if any(d is None for shape in input_shapes for d in shape):
        raise ValueError(f"`layer_table` needs a fixed input shape. Received: input_shape={input_shapes}")
    if not model.built:
        model.build(
            (None, *input_shapes[0]) if len(input_shapes) == 1 else [(None, *s) for s in input_shapes]
        )
    rows = [
        LayerRow("input" if len(input_shapes) == 1 else f"input{i}", "InputLayer", s, 0, math.prod(s), 0, 0)
        for i, s in enumerate(input_shapes)
    ]
    if not _sublayers(model):  # a single leaf layer
        output = tuple(model.compute_output_shape((None, *input_shapes[0])))[1:]
        return rows + _walk(model, input_shapes, output, "", 0, max_depth)
    for sub, sub_inputs, sub_output in _trace(model, input_shapes):
        rows += _walk(sub, sub_inputs, sub_output, "", 0, max_depth)
    return rows


def totals(rows: Sequence[LayerRow]) -> dict[str, int]:
    """Sums of ``params``, ``activations`` and ``multiplies`` over ``rows``.

    Example:
    >>> totals([LayerRow("a", "Conv2D", (2, 2, 1), 10, 4, 40, 0), LayerRow("b", "ReLU", (2, 2, 1), 0, 4, 0, 0)])
    {'params': 10, 'activations': 8, 'multiplies': 40}
    """
    return {
        "params": sum(r.params for r in rows),
        "activations": sum(r.activations for r in rows),
        "multiplies": sum(r.multiplies for r in rows),
    }


def _shape(shape: tuple) -> str:
    return "x".join(str(d) for d in shape)


def format_table(rows: Sequence[LayerRow], bytes_per_value: int = 4) -> str:
    """The rows as a text table, with totals: activations in values and in MB (``bytes_per_value`` each).

    Example:
    >>> print(format_table([LayerRow("conv", "Conv2D", (224, 224, 64), 1792, 3211264, 86704128, 0)]))
    ... # doctest: +NORMALIZE_WHITESPACE
    layer  type    output shape  parameters  activations  memory (MB)  multiplies (M)
    conv   Conv2D  224x224x64         1,792    3,211,264        12.85           86.7
    total                             1,792    3,211,264        12.85           86.7
    """
    header = ("layer", "type", "output shape", "parameters", "activations", "memory (MB)", "multiplies (M)")
    lines = [
        (
            r.name,
            r.kind,
            _shape(r.output_shape),
            f"{r.params:,}",
            f"{r.activations:,}",
            f"{r.activations * bytes_per_value / 1e6:.2f}",
            f"{r.multiplies / 1e6:.1f}",
        )
        for r in rows
    ]
    total = totals(rows)
    lines.append(
        (
            "total",
            "",
            "",
            f"{total['params']:,}",
            f"{total['activations']:,}",
            f"{total['activations'] * bytes_per_value / 1e6:.2f}",
            f"{total['multiplies'] / 1e6:.1f}",
        )
    )
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    out = []
    for line in [header, *lines]:
        cells = [str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def build_without_weights(builder: Callable[..., keras.Model], *args, **kwargs) -> keras.Model:
    """Call ``builder(*args, **kwargs)`` so that the weights get shapes but no values: for counting only.

    Inside a ``keras.StatelessScope`` Keras defers initializing new variables. Building VGG16
    this way skips drawing 138 million random numbers, so it takes a fraction of the time,
    while ``count_params`` and :func:`layer_table` work as usual. The model cannot run on data.

    Example:
    >>> model = build_without_weights(keras.applications.VGG16, weights=None)
    >>> model.count_params()
    138357544
    """
    with keras.StatelessScope(initialize_variables=False):
        return builder(*args, **kwargs)
