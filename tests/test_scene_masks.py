"""Class and instance masks of the scenes (``masks=True``), against a reference built item by item."""

import dataclasses

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfcourse import data, scenes

CONFIG = scenes.ScenesConfig("mask_test", canvas_size=96, max_objects=4, masks=True)
COUNT = 40


@pytest.fixture(scope="module")
def fashion(fashion_dir):
    return data.load_fashion_mnist(fashion_dir, allow_download=False)


@pytest.fixture(scope="module")
def generated(fashion):
    (x, y), _, _ = fashion
    return scenes.generate_scenes(x, y, COUNT, CONFIG, seed=(3, 0))


def _item_layers(x, out, i, config):
    """Each slot's scaled item alone on an empty canvas, placed by plain loops: ``(K, S, S)``."""
    size, patch = config.canvas_size, int(np.ceil(28 * config.max_scale))
    layers = np.zeros((config.max_objects, size, size), np.int64)
    for k in range(config.max_objects):
        if not out["present"][i, k]:
            continue
        item = scenes.scale_items(x[out["items"][i, k]][None], out["scales"][i, k : k + 1], patch)[0]
        px1, py1, _, _ = scenes.tight_boxes(item[None])[0]
        x1, y1 = out["boxes"][i, k, :2]
        for r in range(patch):
            for c in range(patch):
                row, col = y1 - py1 + r, x1 - px1 + c
                if 0 <= row < size and 0 <= col < size and item[r, c]:
                    layers[k, row, col] = item[r, c]
    return layers


def test_masks_draw_no_random_numbers(fashion, generated):
    (x, y), _, _ = fashion
    plain = scenes.generate_scenes(x, y, COUNT, dataclasses.replace(CONFIG, masks=False), seed=(3, 0))
    assert set(generated) - set(plain) == {"class_mask", "instance_mask"}
    for key, value in plain.items():
        assert value.tobytes() == generated[key].tobytes(), key


def test_masks_follow_the_seed(fashion, generated):
    (x, y), _, _ = fashion
    again = scenes.generate_scenes(x, y, COUNT, CONFIG, seed=(3, 0))
    other = scenes.generate_scenes(x, y, COUNT, CONFIG, seed=(4, 0))
    for key in ("class_mask", "instance_mask"):
        assert generated[key].dtype == np.uint8 and generated[key].shape == (COUNT, 96, 96)
        assert generated[key].tobytes() == again[key].tobytes(), key
        assert generated[key].tobytes() != other[key].tobytes(), key


def test_masks_match_a_reference_built_item_by_item(fashion, generated):
    (x, _), _, _ = fashion
    for i in range(COUNT):
        layers = _item_layers(x, generated, i, CONFIG)  # (K, S, S)
        top = layers.max(axis=0)
        # the later slot wins a tie, as in the builder: the last index of the maximum
        owner = CONFIG.max_objects - np.argmax(layers[::-1] == top, axis=0)
        canvas = generated["image"][i].astype(np.int64)
        assert (canvas >= top).all(), "max-compositing keeps every item pixel"
        expected = np.where((top >= scenes.MASK_THRESHOLD) & (canvas == top), owner, 0)
        got = generated["instance_mask"][i]
        # The canvas alone cannot tell an item pixel from a background pixel of exactly the same
        # value (the builder calls such a pixel background); those are the only disagreements.
        disagree = got != expected
        assert (canvas[disagree] == top[disagree]).all() and (got[disagree] == 0).all()
        assert disagree.mean() < 0.005


def test_masks_lie_in_their_boxes_and_carry_the_items_classes(generated):
    for i in range(COUNT):
        instance, classes = generated["instance_mask"][i], generated["class_mask"][i]
        np.testing.assert_array_equal(classes == 0, instance == 0)
        for k in range(CONFIG.max_objects):
            pixels = instance == k + 1
            if not generated["present"][i, k]:
                assert not pixels.any()
                continue
            x1, y1, x2, y2 = generated["boxes"][i, k]
            inside = np.zeros_like(pixels)
            inside[y1:y2, x1:x2] = True
            assert pixels.any() and not (pixels & ~inside).any(), (i, k)
            assert (classes[pixels] == generated["labels"][i, k] + 1).all()
            # the mask reaches close to every edge of its box (only the faint halo is cut)
            rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
            if not _overlapped(generated, i, k):
                assert rows[0] - y1 <= 3 and y2 - 1 - rows[-1] <= 3, (i, k)
                assert cols[0] - x1 <= 3 and x2 - 1 - cols[-1] <= 3, (i, k)


def _overlapped(out, i, k):
    a = out["boxes"][i, k]
    for j in np.flatnonzero(out["present"][i]):
        b = out["boxes"][i, j]
        if j != k and a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
            return True
    return False


def test_segment_configs_are_the_multi_scenes_with_masks():
    configs = scenes.ClothingScenes.builder_configs
    for segment, multi in (("segment", "multi"), ("segment_small", "multi_small")):
        a, b = configs[segment], configs[multi]
        assert a.masks and not b.masks
        for field in (
            "canvas_size",
            "min_objects",
            "max_objects",
            "min_scale",
            "max_scale",
            "max_iou",
            "max_cover",
            "train_examples",
            "test_examples",
            "seed",
        ):
            assert getattr(a, field) == getattr(b, field), (segment, field)


def test_builder_writes_the_masks_offline(tmp_path, fashion, fashion_dir, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(fashion_dir))
    tiny = dataclasses.replace(CONFIG, name="tiny_segment", train_examples=12, test_examples=6)
    (x_train, y_train), (x_test, y_test), _ = fashion
    for split, (x, y), seed in (("train", (x_train, y_train), (0, 0)), ("test", (x_test, y_test), (0, 1))):
        ds, info = scenes.load_scenes(tiny, split, tmp_path)
        expected = scenes.generate_scenes(x, y, tiny.__getattribute__(f"{split}_examples"), tiny, seed)
        assert info.features["class_mask"].shape == (96, 96, 1)
        for i, ex in enumerate(tfds.as_numpy(ds)):
            np.testing.assert_array_equal(ex["class_mask"][:, :, 0], expected["class_mask"][i])
            np.testing.assert_array_equal(ex["instance_mask"][:, :, 0], expected["instance_mask"][i])
            # the mask's classes are those of the scene's items, from this split's images
            shown = set(np.unique(ex["class_mask"])) - {0}
            assert shown <= {int(c) + 1 for c in y[ex["objects"]["item"]]}


def test_plain_configs_keep_their_features_and_versions(tmp_path):
    info = scenes.builder("multi_small", tmp_path).info
    assert "class_mask" not in info.features and "instance_mask" not in info.features
    versions = {
        name: str(scenes.builder(name, tmp_path).version) for name in scenes.ClothingScenes.builder_configs
    }
    assert versions == {
        "single": "1.1.0",
        "single_small": "1.1.0",
        "multi": "1.1.0",
        "multi_small": "1.0.0",
        "segment": "1.0.0",
        "segment_small": "1.0.0",
    }
    segment = scenes.builder("segment_small", tmp_path)
    assert "1.0.0" in segment.builder_config.release_notes
    assert segment.info.features["instance_mask"].shape == (96, 96, 1)
