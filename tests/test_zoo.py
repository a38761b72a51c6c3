"""The model zoo: file names as keras.applications asks for them, cache-first loading, no network."""

import h5py
import keras
import numpy as np
import pytest

from tfcourse import zoo


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache in a temporary KERAS_HOME."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras" / "models"


def write_weights(model, path):
    """Write ``model``'s weights as a legacy HDF5 weights file, the format of Keras's published files."""
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        save_weights_to_hdf5_group(f, model)


def small_mobilenet(**kwargs):
    return keras.applications.MobileNetV2(include_top=False, input_shape=(32, 32, 3), alpha=0.35, **kwargs)


def test_loads_exactly_the_weights_in_the_keras_cache_without_network(keras_home, monkeypatch):
    keras.utils.set_random_seed(1)
    reference = small_mobilenet(weights=None)
    for v in reference.weights:  # values no fresh initialisation could give (BN statistics included)
        v.assign(np.random.default_rng(len(v.path)).normal(size=v.shape).astype(v.dtype))
    path = keras_home / zoo.weights_file_name("MobileNetV2", alpha=0.35, input_size=32)
    write_weights(reference, path)

    def no_network(*args, **kwargs):
        raise AssertionError("load_base tried to download")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    for weights in ("auto", "imagenet"):
        base = zoo.load_base("MobileNetV2", 32, weights=weights, alpha=0.35)
        assert (base.source, base.path, base.pretrained) == ("cache", path, True)
        assert "read from the Keras cache" in base.describe()
        assert len(base.model.weights) == len(reference.weights)
        for a, b in zip(base.model.weights, reference.weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_keras_applications_reads_the_same_file(keras_home):
    """The file name is the one keras.applications looks for: Keras itself loads our file offline."""
    import importlib

    reference = small_mobilenet(weights=None)
    path = keras_home / zoo.weights_file_name("MobileNetV2", alpha=0.35, input_size=32)
    write_weights(reference, path)
    config = importlib.import_module("keras.src.backend.config")
    old = config._KERAS_DIR
    config._KERAS_DIR = str(keras_home.parent)  # Keras reads $KERAS_HOME only at import
    try:
        loaded = small_mobilenet(weights="imagenet")
    finally:
        config._KERAS_DIR = old
    for a, b in zip(loaded.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_auto_without_cache_builds_random_and_never_downloads(keras_home, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("load_base tried to download")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    base = zoo.load_base("MobileNetV2", 32, weights="auto", alpha=0.35)
    assert (base.source, base.path, base.pretrained) == ("random", None, False)
    assert "NOT pretrained" in base.describe() and str(keras_home) in base.describe()
    assert zoo.load_base("MobileNetV2", 32, weights=None, alpha=0.35).source == "random"


def test_imagenet_without_cache_downloads_and_says_so(keras_home, monkeypatch):
    reference = small_mobilenet(weights=None)
    calls = []

    def fake_get_file(fname, origin, cache_subdir, cache_dir, file_hash):
        calls.append((fname, origin, cache_subdir, cache_dir))
        path = keras_home / fname
        write_weights(reference, path)
        return str(path)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    base = zoo.load_base("MobileNetV2", 32, weights="imagenet", alpha=0.35)
    fname = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
    assert calls == [(fname, zoo.ZOO["MobileNetV2"].origin + fname, "models", str(keras_home.parent))]
    assert base.source == "download" and "downloaded" in base.describe()


def test_failed_download_names_the_fix(keras_home, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(zoo.ZooError, match="Without network, copy the file into"):
        zoo.load_base("MobileNetV2", 32, weights="imagenet", alpha=0.35)


def test_a_cached_file_with_the_wrong_checksum_is_refused(keras_home):
    path = keras_home / zoo.weights_file_name("ResNet50")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the weights")
    with pytest.raises(zoo.ZooError, match="Delete it"):
        zoo.load_base("ResNet50", 32, weights="auto")


def test_file_names_and_checksums_match_keras_applications():
    from keras.src.applications import efficientnet, mobilenet_v2, resnet

    assert zoo.ZOO["ResNet50"].file_hash == resnet.WEIGHTS_HASHES["resnet50"][1]
    assert zoo.ZOO["EfficientNetB0"].file_hash == efficientnet.WEIGHTS_HASHES["b0"][1]
    assert zoo.ZOO["ResNet50"].origin == resnet.BASE_WEIGHTS_PATH
    assert zoo.ZOO["EfficientNetB0"].origin == efficientnet.BASE_WEIGHTS_PATH
    assert zoo.ZOO["MobileNetV2"].origin == mobilenet_v2.BASE_WEIGHT_PATH
    assert zoo.weights_file_name("EfficientNetB0") == "efficientnetb0_notop.h5"
    assert zoo.weights_file_name("MobileNetV2", 1.0, 160).endswith("_1.0_160_no_top.h5")


def test_file_checksum_by_hand(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert zoo.file_checksum(path) == "900150983cd24fb0d6963f7d28e17f72"  # MD5 of "abc" (RFC 1321)


def test_transfer_model_preprocesses_and_freezes_batch_norm_statistics():
    base = zoo.load_base("MobileNetV2", 32, weights=None, alpha=0.35)
    model = zoo.transfer_model(base, 5)
    assert model.output_shape == (None, 5)
    names = [layer.name for layer in model.layers]
    assert names[:5] == ["image", "resize", "gray_to_rgb", "to_0_255", "to_minus1_1"]
    bn = next(layer for layer in base.model.layers if isinstance(layer, keras.layers.BatchNormalization))
    before = bn.moving_mean.numpy().copy()
    model(np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32), training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)  # the base runs with training=False
    pre = keras.Model(model.input, model.get_layer("to_minus1_1").output)
    out = pre(np.ones((1, 28, 28, 1), np.float32) * np.array([0.0, 1.0]).repeat(14)[None, :, None])
    assert float(np.min(out)) == -1.0 and float(np.max(out)) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "VGG16"}, "Received: name='VGG16'"),
        ({"name": "MobileNetV2", "weights": "places365"}, "Received: weights='places365'"),
        ({"name": "MobileNetV2", "input_size": 28}, "Received: input_size=28"),
        ({"name": "MobileNetV2", "input_size": 0}, "Received: input_size=0"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.load_base(**kwargs)


def test_preprocessing_of_each_network():
    assert zoo.preprocessing_layers("EfficientNetB0") == []  # it rescales inside the model
    (norm,) = zoo.preprocessing_layers("ResNet50")
    out = norm(np.full((1, 1, 1, 3), 128.0, np.float32))
    np.testing.assert_allclose(np.ravel(out), 128.0 - np.array(zoo.IMAGENET_BGR_MEAN), rtol=1e-6)
