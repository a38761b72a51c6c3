import hashlib
import socket

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from tfcourse import boxes, data, scenes  # noqa: E402

TINY = dict(train_examples=24, test_examples=12)


@pytest.fixture(scope="module")
def fashion(fashion_dir):
    return data.load_fashion_mnist(fashion_dir, allow_download=False)


@pytest.fixture(scope="module")
def no_network():
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        yield


@pytest.fixture(scope="module")
def built(tmp_path_factory, fashion_dir, no_network):
    """A tiny single- and multi-object dataset built with tfds into a temporary data_dir, offline."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(data.DATA_DIR_ENV_VAR, str(fashion_dir))
        data_dir = tmp_path_factory.mktemp("tfds")
        single = scenes.ScenesConfig("tiny_single", **TINY)
        multi = scenes.ScenesConfig("tiny_multi", canvas_size=96, max_objects=4, **TINY)
        for config in (single, multi):
            scenes.builder(config, data_dir).download_and_prepare()
        yield data_dir, single, multi


def _as_numpy(ds):
    return list(tfds.as_numpy(ds))


# ---------- generation ----------


def test_same_seed_same_bytes_other_seed_other_scenes(fashion):
    (x, y), _, _ = fashion
    config = scenes.ScenesConfig("multi", canvas_size=96, max_objects=4)
    first = scenes.generate_scenes(x, y, 40, config, seed=(7, 0))
    again = scenes.generate_scenes(x, y, 40, config, seed=(7, 0))
    other = scenes.generate_scenes(x, y, 40, config, seed=(8, 0))
    for key in first:
        assert first[key].tobytes() == again[key].tobytes(), key
    assert first["image"].tobytes() != other["image"].tobytes()


def test_boxes_are_tight_around_the_items_pixels(fashion):
    (x, y), _, _ = fashion
    config = scenes.ScenesConfig("single")
    out = scenes.generate_scenes(x, y, 64, config, seed=1)
    patch = int(np.ceil(28 * config.max_scale))
    for i in range(64):
        item = scenes.scale_items(x[out["items"][i]], out["scales"][i], patch)[0]
        (px1, py1, px2, py2) = scenes.tight_boxes(item[None])[0]
        x1, y1, x2, y2 = out["boxes"][i, 0]
        crop = item[py1:py2, px1:px2]
        assert (x2 - x1, y2 - y1) == (px2 - px1, py2 - py1)
        # tight: the item has pixels on each of the box's four edges
        assert crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, -1].any()
        region = out["image"][i, y1:y2, x1:x2]
        assert (region >= crop).all(), "max-compositing keeps every item pixel"
        bright = crop > 130  # brighter than any background
        np.testing.assert_array_equal(region[bright], crop[bright])
        assert 0 <= x1 < x2 <= config.canvas_size and 0 <= y1 < y2 <= config.canvas_size


def test_items_are_scaled_within_the_configured_range(fashion):
    (x, y), _, _ = fashion
    out = scenes.generate_scenes(x, y, 200, scenes.ScenesConfig("single"), seed=2)
    assert 0.8 <= out["scales"].min() and out["scales"].max() <= 2.0
    sides = (out["boxes"][:, 0, 2:] - out["boxes"][:, 0, :2]).max(axis=1)
    assert sides.min() < 28 < sides.max() <= 56


def test_labels_are_the_items_classes(fashion):
    (x, y), _, _ = fashion
    out = scenes.generate_scenes(x, y, 50, scenes.ScenesConfig("m", canvas_size=96, max_objects=3), seed=3)
    present = out["present"]
    np.testing.assert_array_equal(out["labels"][present], y[out["items"][present]])
    assert len(np.unique(out["items"][present])) == present.sum(), "each item used once"


def test_multi_object_scenes_limit_overlaps(fashion):
    (x, y), _, _ = fashion
    config = scenes.ScenesConfig("m", canvas_size=96, max_objects=4, max_iou=0.3, max_cover=0.5)
    out = scenes.generate_scenes(x, y, 300, config, seed=4)
    counts = out["present"].sum(axis=1)
    assert counts.min() >= 1 and counts.max() == 4 and len(np.unique(counts)) == 4
    b = out["boxes"].astype(float)  # (300, 4, 4)
    pair = out["present"][:, :, None] & out["present"][:, None, :] & ~np.eye(4, dtype=bool)  # (300, 4, 4)
    iou = np.asarray(boxes.iou(b[:, :, None], b[:, None, :], box_format="xyxy"))  # every pair in every scene
    assert iou[pair].max() <= 0.3 + 1e-6
    inter = np.asarray(boxes.intersection(b[:, :, None], b[:, None, :], box_format="xyxy"))
    area = np.asarray(boxes.box_area(b, box_format="xyxy"))  # (300, 4)
    cover = inter / np.maximum(np.minimum(area[:, :, None], area[:, None, :]), 1)
    assert cover[pair].max() <= 0.5 + 1e-6
    np.testing.assert_array_equal(out["boxes"][~out["present"]], 0)


def test_resampling_and_tight_boxes_by_hand():
    # a 2-pixel signal doubled: output centres read the input at -0.25, 0.25, 0.75, 1.25
    w = scenes.resampling_weights(4, np.array([2.0]), 2)[0]
    np.testing.assert_allclose(w, [[0.75, 0], [0.75, 0.25], [0.25, 0.75], [0, 0.75]])
    images = np.zeros((2, 4, 5), np.uint8)
    images[0, 3, 4] = 1
    np.testing.assert_array_equal(scenes.tight_boxes(images), [[4, 3, 5, 4], [0, 0, 0, 0]])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(canvas_size=0), "Received: canvas_size=0"),
        (dict(max_objects=0), "Received: max_objects=0"),
        (dict(min_objects=3, max_objects=2), "Received: min_objects=3, max_objects=2"),
        (dict(min_scale=0.0), "Received: min_scale=0.0"),
        (dict(canvas_size=48, max_scale=2.0), "Received: canvas_size=48, max_scale=2.0"),
        (dict(max_iou=0.0), "Received: max_iou=0.0"),
        (dict(train_examples=2.5), "Received: train_examples=2.5"),
    ],
)
def test_bad_configs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        scenes.ScenesConfig("bad", **kwargs)


# ---------- the TFDS builder ----------


def test_tfds_load_reads_the_built_dataset(built):
    data_dir, single, _ = built
    ds, info = tfds.load(
        "clothing_scenes", split="train", data_dir=data_dir, builder_kwargs={"config": single}, with_info=True
    )
    examples = _as_numpy(ds)
    assert len(examples) == TINY["train_examples"] == info.splits["train"].num_examples
    ex = examples[0]
    assert ex["image"].shape == (64, 64, 1) and ex["image"].dtype == np.uint8
    assert ex["objects"]["bbox"].shape == (1, 4) and ex["objects"]["label"].shape == (1,)
    assert info.features["objects"]["label"].names == list(scenes.CLASS_NAMES)


def test_builder_writes_what_generate_scenes_makes(built, fashion):
    """The train split comes from Fashion-MNIST's training images, the test split from its test images."""
    data_dir, _, multi = built
    (x_train, y_train), (x_test, y_test), _ = fashion
    for split, (x, y), seed in (("train", (x_train, y_train), (0, 0)), ("test", (x_test, y_test), (0, 1))):
        expected = scenes.generate_scenes(x, y, TINY[f"{split}_examples"], multi, seed)
        ds, _ = scenes.load_scenes(multi, split, data_dir)
        for i, ex in enumerate(_as_numpy(ds)):
            keep = expected["present"][i]
            np.testing.assert_array_equal(ex["image"][:, :, 0], expected["image"][i])
            np.testing.assert_array_equal(ex["objects"]["label"], expected["labels"][i][keep])
            np.testing.assert_array_equal(ex["objects"]["item"], expected["items"][i][keep])
            pixels = boxes.convert_format(ex["objects"]["bbox"], "rel_yxyx", "xyxy", image_shape=(96, 96))
            np.testing.assert_allclose(pixels, expected["boxes"][i][keep], atol=1e-4)


def test_no_item_is_in_both_splits(built, fashion):
    data_dir, single, _ = built
    (x_train, _), (x_test, _), _ = fashion
    used = {}
    for split, pool in (("train", x_train), ("test", x_test)):
        ds, _ = scenes.load_scenes(single, split, data_dir)
        items = np.concatenate([ex["objects"]["item"] for ex in _as_numpy(ds)])
        used[split] = {hashlib.sha256(pool[i].tobytes()).hexdigest() for i in items}
    assert used["train"] and used["test"] and not used["train"] & used["test"]


def test_building_twice_gives_identical_files(built, tmp_path, fashion_dir, monkeypatch, no_network):
    data_dir, single, _ = built
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(fashion_dir))
    scenes.builder(single, tmp_path).download_and_prepare()
    for split in ("train", "test"):
        name = f"clothing_scenes-{split}.tfrecord-00000-of-00001"
        first = (data_dir / "clothing_scenes" / "tiny_single" / "1.0.0" / name).read_bytes()
        second = (tmp_path / "clothing_scenes" / "tiny_single" / "1.0.0" / name).read_bytes()
        assert first == second


def test_download_manager_is_never_used():
    with pytest.raises(RuntimeError, match="downloads nothing"):
        scenes._NoDownloads().download_and_extract("http://example.com/data.zip")
    assert scenes._NoDownloads().downloaded_size == 0


def test_show_examples_and_tf_data(built):
    data_dir, _, multi = built
    ds, info = scenes.load_scenes(multi, "test", data_dir)
    fig = tfds.visualization.show_examples(ds, info, rows=1, cols=3)
    assert len(fig.axes) == 3
    plt.close("all")
    batch = next(iter(ds.map(lambda ex: ex["image"]).batch(4)))
    assert tuple(batch.shape) == (4, 96, 96, 1)
    counts = [len(ex["objects"]["label"]) for ex in _as_numpy(ds)]
    assert min(counts) >= 1 and max(counts) <= 4


def test_predefined_configs():
    names = [c.name for c in scenes.ClothingScenes.BUILDER_CONFIGS]
    assert names == ["single", "single_small", "multi", "multi_small", "segment", "segment_small"]
    multi = scenes.ClothingScenes.builder_configs["multi"]
    assert multi.canvas_size == 96 and multi.max_objects == 4 and multi.max_iou == 0.3
    assert str(scenes.default_data_dir()).endswith("data/tfds")
