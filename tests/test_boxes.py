import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import boxes

# The same two boxes in every format, by hand, on an image 100 pixels high and 200 wide.
# Box A: columns 20 to 59, rows 10 to 49 (corners 20, 10, 60, 50). Box B: a 1x1 pixel at (0, 99).
IMAGE_SHAPE = (100, 200)
SAME_BOXES = {
    "xyxy": [[20, 10, 60, 50], [0, 99, 1, 100]],
    "xywh": [[20, 10, 40, 40], [0, 99, 1, 1]],
    "cxcywh": [[40, 30, 40, 40], [0.5, 99.5, 1, 1]],
    "yxyx": [[10, 20, 50, 60], [99, 0, 100, 1]],
    "rel_xyxy": [[0.1, 0.1, 0.3, 0.5], [0.0, 0.99, 0.005, 1.0]],
    "rel_xywh": [[0.1, 0.1, 0.2, 0.4], [0.0, 0.99, 0.005, 0.01]],
    "rel_cxcywh": [[0.2, 0.3, 0.2, 0.4], [0.0025, 0.995, 0.005, 0.01]],
    "rel_yxyx": [[0.1, 0.1, 0.5, 0.3], [0.99, 0.0, 1.0, 0.005]],
}


def test_every_format_is_written_down():
    assert set(SAME_BOXES) == set(boxes.FORMATS)


@pytest.mark.parametrize("source,target", list(itertools.product(boxes.FORMATS, repeat=2)))
def test_every_pair_of_conversions(source, target):
    converted = boxes.convert_format(np.array(SAME_BOXES[source]), source, target, image_shape=IMAGE_SHAPE)
    np.testing.assert_allclose(converted, SAME_BOXES[target], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("box_format", boxes.FORMATS)
def test_round_trip_through_every_format_keeps_batch_shapes(box_format):
    rng = np.random.default_rng(0)
    # (2, 3, [x, y] of corner 1 then corner 2) sorted over the two corners: x1 <= x2, y1 <= y2
    corners = np.sort(rng.uniform(0, 1, (2, 3, 2, 2)), axis=-2).reshape(2, 3, 4)
    assert (corners[..., 2:] >= corners[..., :2]).all()
    there = boxes.convert_format(corners, "rel_xyxy", box_format, image_shape=(50, 80, 1))
    back = boxes.convert_format(there, box_format, "rel_xyxy", image_shape=(50, 80, 1))
    assert tuple(there.shape) == (2, 3, 4)
    np.testing.assert_allclose(back, corners, rtol=1e-5, atol=1e-6)


def test_same_units_need_no_image_shape():
    out = boxes.convert_format([[0.1, 0.2, 0.5, 0.6]], "rel_xyxy", "rel_cxcywh")
    np.testing.assert_allclose(out, [[0.3, 0.4, 0.4, 0.4]], atol=1e-7)


def test_integer_boxes_become_floats():
    out = boxes.convert_format(np.array([[1, 2, 4, 6]]), "xyxy", "cxcywh")
    assert "float" in str(out.dtype)
    np.testing.assert_allclose(out, [[2.5, 4.0, 3.0, 4.0]])


def test_tensors_and_tf_function():
    @tf.function
    def to_centre(b):
        return boxes.convert_format(b, "yxyx", "cxcywh")

    out = to_centre(tf.constant([[10.0, 20.0, 50.0, 60.0]]))
    assert isinstance(out, tf.Tensor)
    np.testing.assert_allclose(out, [[40, 30, 40, 40]])


@pytest.mark.parametrize("bad", ["xyhw", "XYXY", "rel-xyxy", "", None])
def test_unknown_formats_are_refused_with_the_list(bad):
    for kwargs in (dict(source=bad, target="xyxy"), dict(source="xyxy", target=bad)):
        with pytest.raises(
            ValueError, match=r"expected one of \('xyxy', 'xywh', 'cxcywh', 'yxyx', 'rel_xyxy'"
        ):
            boxes.convert_format([[0, 0, 1, 1]], **kwargs)
    with pytest.raises(ValueError, match=f"Received: box_format={bad!r}"):
        boxes.iou([0, 0, 1, 1], [0, 0, 1, 1], box_format=bad)


ONE_BOX = np.array([[0.1, 0.2, 0.5, 0.6]])  # ordered in every format, so each call is valid with its format
FORMAT_CALLS = {
    "to_corners": (boxes.to_corners, (ONE_BOX,)),
    "check_ordered": (boxes.check_ordered, (ONE_BOX, tuple(ONE_BOX.T))),
    "box_area": (boxes.box_area, (ONE_BOX,)),
    "intersection": (boxes.intersection, (ONE_BOX, ONE_BOX)),
    "iou": (boxes.iou, (ONE_BOX, ONE_BOX)),
    "iou_matrix": (boxes.iou_matrix, (ONE_BOX, ONE_BOX)),
    "giou": (boxes.giou, (ONE_BOX, ONE_BOX)),
}


@pytest.mark.parametrize("name", list(FORMAT_CALLS))
def test_box_format_is_a_required_keyword_of_every_box_function(name, box_format_required):
    fn, args = FORMAT_CALLS[name]
    box_format_required(fn, args)


def test_the_box_format_list_covers_every_box_function_of_the_module():
    import inspect

    taking_boxes = {
        name
        for name, fn in inspect.getmembers(boxes, inspect.isfunction)
        if fn.__module__ == boxes.__name__
        and not name.startswith("_")
        and "box_format" in inspect.signature(fn).parameters
    }
    assert taking_boxes - {"check_format", "is_relative"} == set(FORMAT_CALLS)  # those two take only a format


def test_no_function_of_the_package_has_a_default_box_format():
    import importlib
    import inspect
    import pkgutil

    import tfcourse

    found = []
    for module in pkgutil.iter_modules(tfcourse.__path__):
        if module.name == "build" or module.name.startswith("__"):
            continue
        mod = importlib.import_module(f"tfcourse.{module.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            parameter = inspect.signature(fn).parameters.get("box_format")
            if fn.__module__ != mod.__name__ or name.startswith("_") or parameter is None:
                continue
            found.append(f"{module.name}.{name}")
            if name in ("check_format", "is_relative"):  # they check a format, not boxes
                continue
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, f"{module.name}.{name}"
            assert parameter.default is inspect.Parameter.empty, f"{module.name}.{name}"
    # what this issue made keyword-only, module by module (a function that drops the argument fails)
    for expected in (
        "boxes.iou",
        "detection.mean_average_precision",
        "yolo.encode_targets",
        "yolo.detect",
        "viz.draw_boxes",
        "explain.pointing_game",
    ):
        assert expected in found


def test_pixels_to_normalised_needs_the_image_shape():
    with pytest.raises(ValueError, match="Received: image_shape=None"):
        boxes.convert_format([[0, 0, 1, 1]], "xyxy", "rel_xyxy")
    with pytest.raises(ValueError, match=r"Received: image_shape=\(5,\)"):
        boxes.convert_format([[0, 0, 1, 1]], "rel_xyxy", "xyxy", image_shape=(5,))


def test_boxes_need_four_numbers():
    with pytest.raises(ValueError, match=r"Received: boxes.shape=\(2, 3\)"):
        boxes.convert_format(np.zeros((2, 3)), "xyxy", "xywh")


@pytest.mark.parametrize("box_format", boxes.FORMATS)
def test_to_corners_keeps_numpy_and_matches_the_conversion(box_format):
    same = np.array(SAME_BOXES[box_format], np.float64)
    corners = boxes.to_corners(same, box_format=box_format)
    assert all(isinstance(c, np.ndarray) and c.dtype == np.float64 for c in corners)
    target = "rel_xyxy" if boxes.is_relative(box_format) else "xyxy"
    np.testing.assert_allclose(np.stack(corners, axis=-1), SAME_BOXES[target], rtol=1e-12, atol=1e-12)


def test_to_corners_takes_tensors_and_lists_and_checks_its_input():
    x1, y1, x2, y2 = boxes.to_corners(tf.constant([[40.0, 30.0, 40.0, 40.0]]), box_format="cxcywh")
    assert isinstance(x1, tf.Tensor)
    np.testing.assert_allclose(np.stack([x1, y1, x2, y2], axis=-1), [[20, 10, 60, 50]])
    np.testing.assert_allclose(
        boxes.to_corners([[10, 20, 50, 60]], box_format="yxyx"), [[20], [10], [60], [50]]
    )
    with pytest.raises(ValueError, match=r"Received: boxes.shape=\(2, 3\)"):
        boxes.to_corners(np.zeros((2, 3)), box_format="xyxy")
    with pytest.raises(ValueError, match="Received: box_format='xyhw'"):
        boxes.to_corners(np.zeros((2, 4)), box_format="xyhw")


# ---------- areas and IoU, by hand ----------


def test_box_area_by_hand():
    # 4x3, a vertical line, a point: degenerate boxes are allowed and have area 0
    area = boxes.box_area([[0, 0, 4, 3], [2, 0, 2, 5], [1, 1, 1, 1]], box_format="xyxy")
    np.testing.assert_array_equal(area, [12, 0, 0])
    # an inverted box (x2 < x1) is refused, or has area 0 when asked not to check
    with pytest.raises(ValueError, match=r"Received: boxes\[1\]=\[5.0, 0.0, 3.0, 2.0\]"):
        boxes.box_area([[0, 0, 4, 3], [5, 0, 3, 2]], box_format="xyxy")
    np.testing.assert_array_equal(
        boxes.box_area([[0, 0, 4, 3], [5, 0, 3, 2]], box_format="xyxy", validate=False), [12, 0]
    )
    np.testing.assert_allclose(boxes.box_area([[0.5, 0.5, 0.2, 0.4]], box_format="rel_cxcywh"), [0.08])


A = [0.0, 0.0, 4.0, 4.0]  # 16 square pixels
IOU_CASES = [
    ("partial overlap", [2, 2, 6, 6], 4 / (16 + 16 - 4)),
    ("half", [0, 0, 4, 2], 8 / 16),
    ("identical", A, 1.0),
    ("contained", [1, 1, 3, 3], 4 / 16),
    ("containing", [-2, -2, 6, 6], 16 / 64),
    ("disjoint", [10, 10, 12, 12], 0.0),
    ("touching edge", [4, 0, 8, 4], 0.0),
    ("touching corner", [4, 4, 5, 5], 0.0),
    ("zero-width box inside", [2, 0, 2, 4], 0.0),
    ("point inside", [1, 1, 1, 1], 0.0),
]


@pytest.mark.parametrize("name,other,expected", IOU_CASES, ids=[c[0] for c in IOU_CASES])
def test_iou_by_hand(name, other, expected):
    np.testing.assert_allclose(boxes.iou(A, other, box_format="xyxy"), expected, rtol=1e-6)
    np.testing.assert_allclose(boxes.iou(other, A, box_format="xyxy"), expected, rtol=1e-6)  # symmetric


def test_iou_does_not_depend_on_format_or_units():
    a, b = np.array([[20.0, 10, 60, 50]]), np.array([[40.0, 30, 100, 90]])
    expected = (20 * 20) / (40 * 40 + 60 * 60 - 20 * 20)
    for fmt in boxes.FORMATS:
        a_f = boxes.convert_format(a, "xyxy", fmt, image_shape=IMAGE_SHAPE)
        b_f = boxes.convert_format(b, "xyxy", fmt, image_shape=IMAGE_SHAPE)
        np.testing.assert_allclose(boxes.iou(a_f, b_f, box_format=fmt), [expected], rtol=1e-5)


def test_two_degenerate_boxes_give_zero_not_nan():
    points = np.array([[1.0, 1, 1, 1], [0, 0, 0, 3]])
    out = np.asarray(boxes.iou(points, points, box_format="xyxy"))
    np.testing.assert_array_equal(out, [0.0, 0.0])
    np.testing.assert_array_equal(boxes.giou(points, points, box_format="xyxy"), [0.0, 0.0])
    assert np.isfinite(np.asarray(boxes.iou_matrix(points, points, box_format="xyxy"))).all()


def _iou_numpy(a, b):
    """Reference IoU of two xyxy boxes, plain Python."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _random_boxes(rng, n):
    xy = rng.uniform(0, 50, (n, 2))
    wh = rng.uniform(0, 20, (n, 2)) * (rng.random((n, 1)) > 0.1)  # a tenth are points
    return np.concatenate([xy, xy + wh], axis=1)


def test_iou_matrix_against_pairwise_iou_and_a_reference():
    rng = np.random.default_rng(1)
    a, b = _random_boxes(rng, 7), _random_boxes(rng, 5)
    matrix = np.asarray(boxes.iou_matrix(a, b, box_format="xyxy"))
    assert matrix.shape == (7, 5)
    for i, j in itertools.product(range(7), range(5)):
        np.testing.assert_allclose(matrix[i, j], boxes.iou(a[i], b[j], box_format="xyxy"), rtol=1e-6)
        np.testing.assert_allclose(matrix[i, j], _iou_numpy(a[i], b[j]), rtol=1e-5, atol=1e-7)
    assert ((matrix >= 0) & (matrix <= 1)).all()


def test_iou_matrix_in_other_formats():
    a, b = np.array([[0.0, 0, 4, 4]]), np.array([[2.0, 2, 6, 6], [0, 0, 4, 4]])
    as_centres = [boxes.convert_format(x, "xyxy", "cxcywh") for x in (a, b)]
    np.testing.assert_allclose(boxes.iou_matrix(*as_centres, box_format="cxcywh"), [[4 / 28, 1.0]], rtol=1e-6)


def test_iou_matrix_needs_two_sets():
    with pytest.raises(ValueError, match=r"Received: boxes1.shape=\(4,\), boxes2.shape=\(2, 4\)"):
        boxes.iou_matrix(np.zeros(4), np.zeros((2, 4)), box_format="xyxy")


# ---------- GIoU ----------

GIOU_CASES = [
    # enclosing box C and union U by hand: GIoU = IoU - (C - U) / C
    ("identical", [0, 0, 2, 2], 1.0),
    ("touching", [2, 0, 4, 2], 0.0 - (8 - 8) / 8),
    ("apart", [6, 0, 8, 2], 0.0 - (16 - 8) / 16),
    ("diagonal", [1, 1, 3, 3], 1 / 7 - (9 - 7) / 9),
    ("contained", [0.5, 0.5, 1.5, 1.5], 1 / 4),
]


@pytest.mark.parametrize("name,other,expected", GIOU_CASES, ids=[c[0] for c in GIOU_CASES])
def test_giou_by_hand(name, other, expected):
    np.testing.assert_allclose(
        boxes.giou([0, 0, 2, 2], other, box_format="xyxy"), expected, rtol=1e-6, atol=1e-7
    )


def test_giou_has_a_gradient_where_iou_has_none():
    truth = tf.constant([[0.0, 0.0, 2.0, 2.0]])
    prediction = tf.Variable([[5.0, 0.0, 7.0, 2.0]])  # disjoint
    with tf.GradientTape(persistent=True) as tape:
        iou_loss = 1 - boxes.iou(truth, prediction, box_format="xyxy")
        giou_loss = 1 - boxes.giou(truth, prediction, box_format="xyxy")
    np.testing.assert_array_equal(tape.gradient(iou_loss, prediction), [[0, 0, 0, 0]])
    gradient = tape.gradient(giou_loss, prediction).numpy()
    assert gradient[0, 0] + gradient[0, 2] > 0  # shifting the box left, towards the truth, lowers the loss


def test_gradients_are_finite_for_degenerate_boxes():
    prediction = tf.Variable([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(1 - boxes.giou(prediction, prediction, box_format="rel_xyxy"))
    assert np.isfinite(tape.gradient(loss, prediction).numpy()).all()


# ---------- dtypes: every function keeps the caller's floating dtype ----------

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
# Corners on a grid of halves below 32: exact in every float dtype, bfloat16 included, so the
# reference in float64 sees the same boxes as the function under test.
GRID_A = np.array(
    [[0.0, 0.0, 4.0, 3.0], [2.5, 1.0, 9.0, 7.5], [3.0, 3.0, 3.0, 8.0], [10.0, 12.0, 20.0, 30.0]]
)
GRID_B = np.array([[1.0, 1.0, 5.0, 5.0], [2.5, 1.0, 9.0, 7.5], [0.0, 4.0, 6.0, 9.0], [21.0, 0.5, 24.0, 2.0]])


def _corner_area(b):
    return (b[2] - b[0]) * (b[3] - b[1])


def _overlap(a, b):
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _giou_numpy(a, b):
    """Reference GIoU of two xyxy boxes from the paper's definition, plain Python."""
    inter = _overlap(a, b)
    union = _corner_area(a) + _corner_area(b) - inter
    enclosing = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    iou_value = inter / union if union > 0 else 0.0
    return iou_value - ((enclosing - union) / enclosing if enclosing > 0 else 0.0)


def _xyxy_to(b, target, height=64.0, width=128.0):
    """Reference conversion of xyxy pixel boxes (N, 4) to any format, float64 NumPy by hand."""
    x1, y1, x2, y2 = b.T
    if target.startswith("rel_"):
        x1, x2, y1, y2 = x1 / width, x2 / width, y1 / height, y2 / height
    base = target.removeprefix("rel_")
    parts = {
        "xyxy": (x1, y1, x2, y2),
        "xywh": (x1, y1, x2 - x1, y2 - y1),
        "cxcywh": ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1),
        "yxyx": (y1, x1, y2, x2),
    }[base]
    return np.stack(parts, axis=1)


def _pairs(fn):
    return np.array([fn(a, b) for a, b in zip(GRID_A, GRID_B)])


BOX_FUNCTIONS = {
    "box_area": (
        lambda a, b: boxes.box_area(a, box_format="xyxy"),
        lambda: np.array([_corner_area(a) for a in GRID_A]),
    ),
    "intersection": (lambda a, b: boxes.intersection(a, b, box_format="xyxy"), lambda: _pairs(_overlap)),
    "iou": (lambda a, b: boxes.iou(a, b, box_format="xyxy"), lambda: _pairs(_iou_numpy)),
    "iou_matrix": (
        lambda a, b: boxes.iou_matrix(a, b, box_format="xyxy"),
        lambda: np.array([[_iou_numpy(a, b) for b in GRID_B] for a in GRID_A]),
    ),
    "giou": (lambda a, b: boxes.giou(a, b, box_format="xyxy"), lambda: _pairs(_giou_numpy)),
    **{
        f"convert_format_to_{target}": (
            lambda a, b, target=target: boxes.convert_format(a, "xyxy", target, image_shape=(64, 128)),
            lambda target=target: _xyxy_to(GRID_A, target),
        )
        for target in boxes.FORMATS
    },
    **{
        f"convert_format_from_{source}": (
            lambda a, b, source=source: boxes.convert_format(a, source, "xyxy", image_shape=(64, 128)),
            lambda: GRID_A,
        )
        for source in ("xywh", "cxcywh", "yxyx")
    },
}


def _input_in(source: str) -> np.ndarray:
    """GRID_A written in ``source`` (for the conversions from that format), else GRID_A itself."""
    return _xyxy_to(GRID_A, source) if source in ("xywh", "cxcywh", "yxyx") else GRID_A


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", list(BOX_FUNCTIONS))
def test_every_box_function_keeps_the_float_dtype(name, dtype):
    fn, reference = BOX_FUNCTIONS[name]
    source = name.removeprefix("convert_format_from_") if name.startswith("convert_format_from_") else "xyxy"
    a = tf.constant(_input_in(source), dtype)
    b = tf.constant(GRID_B, dtype)
    out = fn(a, b)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    # Each value is a few roundings away from the exact one: a few units of the dtype's epsilon.
    eps = float(tf.experimental.numpy.finfo(dtype).eps)
    expected = reference()
    np.testing.assert_allclose(
        np.asarray(tf.cast(out, tf.float64)), expected, rtol=4 * eps, atol=4 * eps * np.abs(expected).max()
    )


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_numpy_inputs_keep_their_float_dtype(dtype):
    a, b = GRID_A.astype(dtype), GRID_B.astype(dtype)
    for name, (fn, _) in BOX_FUNCTIONS.items():
        assert keras.backend.standardize_dtype(fn(a, b).dtype) == dtype, name
    assert all(c.dtype == dtype for c in boxes.to_corners(a, box_format="cxcywh"))


def test_float64_boxes_keep_their_precision():
    box = np.array([[100.1234567, 200.7654321, 300.5, 400.25]])
    out = boxes.convert_format(box, "xyxy", "xyxy")
    np.testing.assert_array_equal(out, box)
    np.testing.assert_allclose(
        boxes.convert_format(box, "xyxy", "cxcywh"), _xyxy_to(box, "cxcywh"), rtol=1e-15
    )
    overlap = boxes.iou(box, box + 0.5, box_format="xyxy") + tf.constant(1.0, tf.float64)  # no dtype clash
    assert overlap.dtype == tf.float64


def test_integer_boxes_become_floatx():
    for values in (np.array([[1, 2, 4, 6]]), tf.constant([[1, 2, 4, 6]]), [[1, 2, 4, 6]]):
        assert (
            keras.backend.standardize_dtype(boxes.iou(values, values, box_format="xyxy").dtype)
            == keras.config.floatx()
        )


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_degenerate_boxes_give_zero_not_nan_in_every_dtype(dtype):
    points = tf.constant([[1.0, 1, 1, 1], [0, 0, 0, 3]], dtype)
    for fn in (boxes.iou, boxes.giou):
        out = np.asarray(tf.cast(fn(points, points, box_format="xyxy"), tf.float64))
        np.testing.assert_array_equal(out, [0.0, 0.0])


# ---------- inverted boxes ----------

INVERTED = np.array([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 3.0, 3.0], [6.0, 2.0, 5.0, 8.0]])  # box 2: x2 < x1
ORDERED = np.array([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 3.0, 3.0], [5.0, 2.0, 6.0, 8.0]])

CHECKED_FUNCTIONS = {
    "box_area": lambda b, **kw: boxes.box_area(b, box_format="xyxy", **kw),
    "intersection": lambda b, **kw: boxes.intersection(b, ORDERED, box_format="xyxy", **kw),
    "iou": lambda b, **kw: boxes.iou(b, ORDERED, box_format="xyxy", **kw),
    "iou_matrix": lambda b, **kw: boxes.iou_matrix(b, ORDERED, box_format="xyxy", **kw),
    "giou": lambda b, **kw: boxes.giou(b, ORDERED, box_format="xyxy", **kw),
    "convert_format": lambda b, **kw: boxes.convert_format(b, "xyxy", "cxcywh", **kw),
    "convert_format_same": lambda b, **kw: boxes.convert_format(b, "xyxy", "xyxy", **kw),
}


@pytest.mark.parametrize("name", list(CHECKED_FUNCTIONS))
@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "eager_tensor"])
def test_inverted_boxes_are_refused_with_the_box_and_the_format(name, as_tensor):
    fn = CHECKED_FUNCTIONS[name]
    bad = tf.constant(INVERTED) if as_tensor else INVERTED
    with pytest.raises(
        ValueError, match=r"format 'xyxy' needs x1 <= x2 and y1 <= y2.*\[2\]=\[6.0, 2.0, 5.0, 8.0\]"
    ):
        fn(bad)
    fn(ORDERED)  # the same boxes in order pass
    assert np.isfinite(np.asarray(fn(bad, validate=False))).all()


def test_the_second_argument_is_checked_too_and_named():
    for fn in (boxes.intersection, boxes.iou, boxes.iou_matrix, boxes.giou):
        with pytest.raises(ValueError, match=r"`boxes2` holds 1 inverted box.*Received: boxes2\[2\]="):
            fn(ORDERED, INVERTED, box_format="xyxy")


@pytest.mark.parametrize(
    "box_format,bad,rule",
    [
        ("xywh", [[1.0, 1.0, -2.0, 3.0]], "width >= 0 and height >= 0"),
        ("cxcywh", [[1.0, 1.0, 2.0, -0.5]], "width >= 0 and height >= 0"),
        ("yxyx", [[5.0, 0.0, 1.0, 2.0]], "y1 <= y2 and x1 <= x2"),
        ("rel_xyxy", [[0.5, 0.1, 0.4, 0.2]], "x1 <= x2 and y1 <= y2"),
    ],
)
def test_every_format_states_its_rule(box_format, bad, rule):
    with pytest.raises(ValueError, match=f"format '{box_format}' needs {rule}"):
        boxes.convert_format(bad, box_format, "xyxy", image_shape=(10, 10))
    with pytest.raises(ValueError, match=r"Received: boxes1\[0\]="):
        boxes.iou(bad, bad, box_format=box_format)


def test_the_error_counts_and_indexes_batched_boxes():
    batch = np.tile(ORDERED, (2, 1, 1))  # (2, 3, 4)
    batch[1, 0] = [3.0, 0.0, 4.0, -1.0]
    batch[1, 2] = [9.0, 0.0, 4.0, 1.0]
    with pytest.raises(
        ValueError, match=r"holds 2 inverted boxes.*Received: boxes\[1\]\[0\]=\[3.0, 0.0, 4.0, -1.0\]"
    ):
        boxes.box_area(batch, box_format="xyxy")


def test_zero_width_boxes_are_ordered_and_allowed():
    line = np.array([[2.0, 0.0, 2.0, 5.0], [0.0, 3.0, 4.0, 3.0]])
    np.testing.assert_array_equal(boxes.box_area(line, box_format="xyxy"), [0.0, 0.0])
    np.testing.assert_array_equal(boxes.iou(line, ORDERED[:2], box_format="xyxy"), [0.0, 0.0])


def test_symbolic_tensors_are_never_checked():
    """Inside a traced graph (a loss in ``fit``) a predicted box may be inverted: it counts as empty."""

    @tf.function
    def losses(truth, prediction):
        return 1 - boxes.iou(truth, prediction, box_format="xyxy"), 1 - boxes.giou(
            truth, prediction, box_format="xyxy"
        )

    iou_loss, giou_loss = losses(tf.constant(ORDERED), tf.constant(INVERTED))
    np.testing.assert_allclose(iou_loss, [0.0, 0.0, 1.0])
    # GIoU of the empty box 2 with box [5, 2, 6, 8]: IoU 0, enclosing [5, 2, 6, 8] (6), union 6: 0
    np.testing.assert_allclose(giou_loss, [0.0, 0.0, 1.0])
    assert np.asarray(
        tf.function(lambda b: boxes.convert_format(b, "xyxy", "xywh"))(tf.constant(INVERTED))
    ).shape == (3, 4)


def test_a_gradient_tape_on_inverted_predictions_with_validate_false():
    prediction = tf.Variable(INVERTED)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(1 - boxes.giou(ORDERED, prediction, box_format="xyxy", validate=False))
    assert np.isfinite(tape.gradient(loss, prediction).numpy()).all()


@pytest.mark.parametrize("function", [boxes.intersection, boxes.iou, boxes.giou])
def test_pairs_of_mixed_dtypes_promote_like_numpy(function):
    # float64 NumPy boxes against a list of Python floats (which becomes float32): NumPy's promotion
    # gives float64; float16 against float32 gives float32. The values match a float64 computation.
    truth = np.array([10.0, 10.0, 40.0, 40.0])
    candidate = [15.0, 15.0, 45.0, 45.0]
    result = function(truth, candidate, box_format="xyxy")
    assert keras.backend.standardize_dtype(result.dtype) == "float64"
    reference = function(truth, np.array(candidate, np.float64), box_format="xyxy")
    np.testing.assert_allclose(np.asarray(result), np.asarray(reference), rtol=1e-12)
    mixed = function(truth.astype(np.float16), np.array(candidate, np.float32), box_format="xyxy")
    assert keras.backend.standardize_dtype(mixed.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(mixed), np.asarray(reference), rtol=1e-6)


def test_iou_matrix_of_mixed_dtypes_promotes():
    result = boxes.iou_matrix(
        np.array([[0.0, 0.0, 4.0, 4.0]]), [[0, 0, 4, 2], [1, 1, 3, 3]], box_format="xyxy"
    )
    assert keras.backend.standardize_dtype(result.dtype) == "float64"
    np.testing.assert_allclose(np.asarray(result), [[0.5, 0.25]])
