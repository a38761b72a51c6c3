"""tfcourse.explain against independent references: NumPy by hand, finite differences, brute force."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcourse import explain
from tfcourse.layers import ConvBlock


def cam_model(conv_w: np.ndarray, dense_w: np.ndarray, size: int = 4) -> keras.Model:
    """(size, size, 1) -> 1x1 conv with known weights (no bias, ReLU) -> global mean -> dense, known weights."""
    inputs = keras.Input((size, size, 1))
    k = conv_w.shape[-1]
    x = keras.layers.Conv2D(
        k,
        1,
        use_bias=False,
        activation="relu",
        name="conv",
        kernel_initializer=keras.initializers.Constant(conv_w.reshape(1, 1, 1, k)),
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(
        dense_w.shape[1],
        use_bias=False,
        name="dense",
        kernel_initializer=keras.initializers.Constant(dense_w),
    )(x)
    return keras.Model(inputs, out)


def small_cnn(seed: int = 0, size: int = 12) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


# ---- Grad-CAM -----------------------------------------------------------------------------------


def test_grad_cam_equals_a_hand_computation():
    conv_w = np.array([1.0, -1.0, 0.5])  # channel k: A_k = relu(w_k * x)
    dense_w = np.array([[2.0, -1.0], [1.0, 3.0], [-4.0, 1.0]])  # (K, classes)
    model = cam_model(conv_w, dense_w)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 4, 1)).astype("float32")
    for c in (0, 1):
        # by hand: score_c = sum_k W[k, c] mean(A_k), so d score / d A_k(i, j) = W[k, c] / 16
        A = np.maximum(x[..., 0:1] * conv_w, 0)  # (N, 4, 4, K)
        alpha = dense_w[:, c] / 16.0
        expected = np.maximum((A * alpha).sum(-1), 0)
        got = explain.grad_cam(model, x, "conv", class_index=c, upsample=False, normalize=False)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    normalised = explain.grad_cam(model, x, "conv", class_index=0, upsample=False)
    np.testing.assert_allclose(normalised.max(axis=(1, 2)), 1.0, rtol=1e-6)


def test_grad_cam_upsamples_to_the_image_and_defaults_to_the_predicted_class():
    model = small_cnn()
    x = np.random.default_rng(1).random((3, 12, 12, 1)).astype("float32")
    cams = explain.grad_cam(model, x, "conv2")
    assert cams.shape == (3, 12, 12) and cams.min() >= 0 and cams.max() <= 1
    predicted = model(x).numpy().argmax(axis=1)
    np.testing.assert_allclose(cams, explain.grad_cam(model, x, "conv2", class_index=predicted))


def test_unknown_layer_names_the_valid_ones():
    model = small_cnn()
    with pytest.raises(
        ValueError, match=r"one of \['input_layer.*'conv1', 'pool1', 'conv2'\].*Received: layer_name='conv9'"
    ):
        explain.grad_cam(model, np.zeros((1, 12, 12, 1)), "conv9")


@pytest.mark.parametrize("name", ["gap", "logits"])
def test_a_layer_without_spatial_axes_is_refused(name):
    model = small_cnn()
    for call in (
        lambda: explain.grad_cam(model, np.zeros((1, 12, 12, 1)), name),
        lambda: explain.top_patches(model, np.zeros((1, 12, 12, 1)), name, channel=0),
        lambda: explain.receptive_field(model, name),
    ):
        with pytest.raises(ValueError, match=f"no spatial axes.*Received: layer_name='{name}'"):
            call()


def test_bad_images_and_class_index_are_refused():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"Received: images.shape=\(12, 12, 1\)"):
        explain.saliency_map(model, np.zeros((12, 12, 1)))
    with pytest.raises(ValueError, match="Received: class_index=3"):
        explain.saliency_map(model, np.zeros((1, 12, 12, 1)), class_index=3)


# ---- saliency and guided backpropagation --------------------------------------------------------


def test_saliency_of_a_linear_model_is_the_weights():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(5 * 5 * 2, 3)).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((5, 5, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(w)),
        ]
    )
    x = rng.normal(size=(2, 5, 5, 2)).astype("float32")
    got = explain.saliency_map(model, x, class_index=[1, 2])
    for i, c in enumerate([1, 2]):
        np.testing.assert_allclose(got[i], np.abs(w[:, c].reshape(5, 5, 2)).max(-1), rtol=1e-6)


def test_saliency_matches_finite_differences():
    model = small_cnn(size=8)
    x = np.random.default_rng(3).random((1, 8, 8, 1))
    eps = 1e-3
    got = explain.saliency_map(model, x, class_index=0)
    score = lambda im: float(model(im.astype("float32"))[0, 0])  # noqa: E731
    numeric = np.zeros((8, 8))
    for i in range(8):
        for j in range(8):
            up, down = x.copy(), x.copy()
            up[0, i, j, 0] += eps
            down[0, i, j, 0] -= eps
            numeric[i, j] = abs(score(up) - score(down)) / (2 * eps)
    np.testing.assert_allclose(got[0], numeric, atol=2e-3, rtol=2e-2)


def test_guided_backprop_keeps_only_positive_paths_and_restores_the_relus():
    # one hidden ReLU unit h = relu(x . a); score = v * h. Plain gradient v * a * [h > 0];
    # guided: the gradient reaching the ReLU (v) must be positive, so it is 0 for v < 0.
    a = np.array([1.0, -2.0, 0.5, 1.0], "float32")
    for v, expected_sign in ((2.0, 1), (-2.0, 0)):
        model = keras.Sequential(
            [
                keras.Input((2, 2, 1)),
                keras.layers.Flatten(),
                keras.layers.Dense(
                    1, use_bias=False, kernel_initializer=keras.initializers.Constant(a[:, None])
                ),
                keras.layers.Activation("relu"),
                keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant([[v]])),
            ]
        )
        x = np.ones((1, 2, 2, 1), "float32")  # x . a = 0.5 > 0
        got = explain.guided_backprop(model, x, class_index=0).reshape(4)
        np.testing.assert_allclose(got, expected_sign * v * a, rtol=1e-6)
        assert model.layers[2].activation is keras.activations.relu
    # with ReLUs inside a ConvBlock, the guided gradient differs from the plain one
    block_model = keras.Sequential(
        [keras.Input((8, 8, 1)), ConvBlock(4, pooling="max"), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    x = np.random.default_rng(0).random((1, 8, 8, 1)).astype("float32")
    with explain.guided_relus(block_model) as count:
        assert count == 1
    assert not np.allclose(
        explain.guided_backprop(block_model, x, 0)[..., 0], explain.saliency_map(block_model, x, 0)
    )


# ---- occlusion ----------------------------------------------------------------------------------


@pytest.mark.parametrize("patch,stride", [(3, 2), (4, 4), (2, 1)])
def test_occlusion_equals_a_brute_force_loop(patch, stride):
    model = small_cnn(size=8)
    x = np.random.default_rng(4).random((2, 8, 8, 1)).astype("float32")
    got = explain.occlusion_map(model, x, class_index=[0, 2], patch=patch, stride=stride, fill=0.5)
    probs = lambda im: tf.nn.softmax(model(im[None])).numpy()[0]  # noqa: E731
    for n, c in enumerate([0, 2]):
        base = probs(x[n])[c]
        expected = []
        for y in range(0, 8 - patch + 1, stride):
            row = []
            for xx in range(0, 8 - patch + 1, stride):
                im = x[n].copy()
                im[y : y + patch, xx : xx + patch] = 0.5
                row.append(base - probs(im)[c])
            expected.append(row)
        np.testing.assert_allclose(got[n], np.array(expected), atol=1e-6)


def test_occlusion_per_pixel_averages_the_covering_squares():
    model = small_cnn(size=8)
    x = np.random.default_rng(5).random((1, 8, 8, 1)).astype("float32")
    coarse = explain.occlusion_map(model, x, class_index=1, patch=4, stride=2)
    pixel = explain.occlusion_map(model, x, class_index=1, patch=4, stride=2, per_pixel=True)
    assert pixel.shape == (1, 8, 8)
    np.testing.assert_allclose(pixel[0, 0, 0], coarse[0, 0, 0], atol=1e-7)  # one square covers a corner
    # four squares cover (2, 2)
    np.testing.assert_allclose(pixel[0, 2, 2], coarse[0, :2, :2].mean(), atol=1e-7)
    with pytest.raises(ValueError, match="Received: patch=9"):
        explain.occlusion_map(model, x, patch=9)
    with pytest.raises(ValueError, match="Received: stride=0"):
        explain.occlusion_map(model, x, stride=0)


# ---- receptive fields and top patches -----------------------------------------------------------


def test_receptive_field_by_rule_and_by_gradient():
    model = small_cnn(size=12)
    # conv3 s1: 3, jump 1; pool2 s2: 4, jump 2; conv3 s1: 4 + 2*2 = 8, jump 2
    assert explain.receptive_field(model, "conv1") == explain.ReceptiveField(3, 1, 0.0)
    assert explain.receptive_field(model, "pool1") == explain.ReceptiveField(4, 2, 0.5)
    field = explain.receptive_field(model, "conv2")
    assert field == explain.ReceptiveField(8, 2, 0.5)
    # the gradient of one unit reaches exactly the input pixels of its field
    features = keras.Model(model.input, model.get_layer("conv2").output)
    weights = model.get_layer("conv1").get_weights()
    model.get_layer("conv1").set_weights([np.abs(weights[0]), np.abs(weights[1]) + 1])  # every path alive
    x = tf.constant(np.random.default_rng(0).random((1, 12, 12, 1)), tf.float32)
    for row, col in ((2, 3), (0, 0)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            unit = tf.reduce_sum(tf.abs(features(x)[0, row, col]))
        touched = np.argwhere(tape.gradient(unit, x).numpy()[0, ..., 0] != 0)
        y0, x0, y1, x1 = field.box(row, col, (12, 12))
        assert (
            touched[:, 0].min() >= y0
            and touched[:, 0].max() < y1
            and touched[:, 1].min() >= x0
            and touched[:, 1].max() < x1
        )
        # an inner unit: the pixels it reaches span its field (max pooling picks one of 4 per window)
        if row:
            assert (touched[:, 0].max() - touched[:, 0].min() + 1) >= field.size - 1


def test_receptive_field_walks_conv_blocks():
    inputs = keras.Input((16, 16, 1))
    x = ConvBlock(4, pooling="max", name="block1")(inputs)
    x = ConvBlock(4, repeats=2, pooling="max", name="block2")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    # block1: conv3 -> 3, pool2 -> 4, jump 2; block2: two conv3 -> 4 + 4 + 4 = 12, pool2 -> 14, jump 4
    assert explain.receptive_field(model, "block1") == explain.ReceptiveField(4, 2, 0.5)
    assert explain.receptive_field(model, "block2") == explain.ReceptiveField(14, 4, 1.5)


def test_top_patches_are_the_argmax_units_receptive_fields():
    model = small_cnn(size=12)
    images = np.random.default_rng(6).random((20, 12, 12, 1)).astype("float32")
    patches = explain.top_patches(model, images, "conv2", channel=3, k=5)
    maps = keras.Model(model.input, model.get_layer("conv2").output)(images).numpy()[..., 3]  # (N, 6, 6)
    best = maps.reshape(20, -1).max(axis=1)
    assert [p.image_index for p in patches] == list(np.argsort(-best)[:5])
    for p in patches:
        assert np.isclose(maps[p.image_index, p.row, p.col], best[p.image_index])
        assert np.isclose(p.activation, best[p.image_index])
        # rows 2r - 3 .. 2r + 4 by the rule (size 8, centre 0.5 + 2r), clipped to the image
        y0, x0 = 2 * p.row + 0.5 - 3.5, 2 * p.col + 0.5 - 3.5
        assert p.box == (
            max(int(round(y0)), 0),
            max(int(round(x0)), 0),
            min(int(round(y0)) + 8, 12),
            min(int(round(x0)) + 8, 12),
        )
        assert explain.crop(images, p, size=8).shape == (8, 8, 1)
    assert [p.activation for p in patches] == sorted((p.activation for p in patches), reverse=True)
    with pytest.raises(ValueError, match="Received: channel=6"):
        explain.top_patches(model, images, "conv2", channel=6)


def test_crop_pads_on_the_side_the_border_cut():
    image = np.arange(36, dtype="float32").reshape(1, 6, 6, 1)
    cut_top_left = explain.Patch(0, 0, 0, 1.0, (0, 0, 3, 2))
    out = explain.crop(image, cut_top_left, size=4, fill=-1)
    assert out.shape == (4, 4, 1) and (out[0] == -1).all() and (out[:, :2] == -1).all()
    np.testing.assert_array_equal(out[1:, 2:, 0], image[0, :3, :2, 0])


# ---- pointing game ------------------------------------------------------------------------------


def test_pointing_game_and_random_pointing():
    maps = np.zeros((3, 10, 10))
    maps[0, 5, 5] = maps[1, 0, 9] = maps[2, 9, 0] = 1
    boxes = np.array([[4, 4, 7, 7], [0, 0, 5, 5], [0, 5, 5, 10]], float)  # x1, y1, x2, y2
    assert explain.pointing_game(maps, boxes, box_format="xyxy").tolist() == [True, False, True]
    np.testing.assert_allclose(
        explain.random_pointing(boxes, (10, 10), box_format="xyxy"), [0.09, 0.25, 0.25]
    )
    # a random point's hit rate converges to the area share
    rng = np.random.default_rng(0)
    noise = rng.random((4000, 10, 10))
    hits = explain.pointing_game(noise, np.tile(boxes[1], (4000, 1)), box_format="xyxy")
    assert abs(hits.mean() - 0.25) < 0.03


def test_pointing_takes_the_boxes_in_any_format():
    maps = np.zeros((3, 10, 10))
    maps[0, 5, 5] = maps[1, 0, 9] = maps[2, 9, 0] = 1
    xyxy = np.array([[4, 4, 7, 7], [0, 0, 5, 5], [0, 5, 5, 10]], float)
    # the same boxes by hand: x, y, width, height; y1, x1, y2, x2; and divided by the 10-pixel side
    xywh = np.array([[4, 4, 3, 3], [0, 0, 5, 5], [0, 5, 5, 5]], float)
    yxyx = xyxy[:, [1, 0, 3, 2]]
    for boxes, box_format in [(xywh, "xywh"), (yxyx, "yxyx"), (xyxy / 10, "rel_xyxy")]:
        assert explain.pointing_game(maps, boxes, box_format=box_format).tolist() == [True, False, True]
        np.testing.assert_allclose(
            explain.random_pointing(boxes, (10, 10), box_format=box_format), [0.09, 0.25, 0.25]
        )


@pytest.mark.parametrize("name", ["pointing_game", "random_pointing"])
def test_box_format_is_a_required_keyword(name, box_format_required):
    boxes = np.array([[4, 4, 7, 7]], float)
    args = (np.zeros((1, 10, 10)), boxes) if name == "pointing_game" else (boxes, (10, 10))
    box_format_required(getattr(explain, name), args)


def test_feature_model_and_spatial_layers():
    model = small_cnn()
    assert explain.spatial_layers(model)[1:] == ["conv1", "pool1", "conv2"]
    x = np.random.default_rng(7).random((2, 12, 12, 1)).astype("float32")
    features, scores = explain.feature_model(model, "pool1")(x)
    assert features.shape == (2, 6, 6, 4)
    np.testing.assert_allclose(scores, model(x), rtol=1e-6)


def test_receptive_field_refuses_a_model_that_is_not_a_chain():
    inputs = keras.Input((8, 8, 1))
    a = keras.layers.Conv2D(2, 3, padding="same", name="a")(inputs)
    b = keras.layers.Conv2D(2, 1, name="b")(inputs)
    added = keras.layers.Add(name="add")([a, b])
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="after")(added))
    assert explain.receptive_field(model, "a") == explain.ReceptiveField(3, 1, 0.0)
    with pytest.raises(ValueError, match="'add' has several inputs"):
        explain.receptive_field(model, "after")


def _spearman_by_definition(a, b):
    """Spearman's rho in plain Python: rank = 1 + number below + (number equal - 1) / 2, then Pearson."""
    def ranks(v):
        return [1 + sum(u < x for u in v) + (sum(u == x for u in v) - 1) / 2 for x in v]

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def test_rank_correlation_is_spearman_with_average_ranks_for_ties():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(3, 30))
        a = rng.integers(0, 4, n).astype(float)  # many ties, as in Grad-CAM's zeros
        b = np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n))
        if len(set(a)) < 2 or len(set(b)) < 2:
            continue
        assert explain.rank_correlation(a, b) == pytest.approx(_spearman_by_definition(list(a), list(b)), abs=1e-12)
    assert explain.rank_correlation(np.arange(6.0).reshape(2, 3), np.exp(np.arange(6.0)).reshape(3, 2)) == 1.0
    assert explain.rank_correlation([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == -1.0
    assert np.isnan(explain.rank_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="same number of values"):
        explain.rank_correlation([1.0, 2.0], [1.0, 2.0, 3.0])
