import gzip
import hashlib

import numpy as np
import pytest

from tfcourse import data
from tfcourse.build.cli import main


def test_loads_the_real_dataset(fashion_dir):
    (x_train, y_train), (x_test, y_test), names = data.load_fashion_mnist(fashion_dir, allow_download=False)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    # Known facts about the published files (shared/data/README.md).
    np.testing.assert_array_equal(y_train[:10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
    np.testing.assert_array_equal(y_test[:10], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
    assert abs(x_train.mean() / 255 - 0.2860) < 5e-4 and abs(x_train.std() / 255 - 0.3530) < 5e-4
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert names == data.CLASS_NAMES and len(names) == 10 and names[9] == "Ankle boot"


def test_environment_variable_comes_first(monkeypatch, fashion_copy):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(fashion_copy))
    assert data.find_file("t10k-labels-idx1-ubyte") == fashion_copy / "t10k-labels-idx1-ubyte.gz"


def test_project_cache_is_second(monkeypatch, tmp_path, fashion_copy):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(tmp_path / "empty"))
    monkeypatch.setattr(data, "cache_dir", lambda: fashion_copy)
    assert data.find_file("t10k-labels-idx1-ubyte") == fashion_copy / "t10k-labels-idx1-ubyte.gz"


def test_decompressed_files_are_accepted(fashion_copy):
    gz = fashion_copy / "t10k-labels-idx1-ubyte.gz"
    (fashion_copy / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    labels = data._load_file("t10k-labels-idx1-ubyte", fashion_copy, allow_download=False)
    assert labels.shape == (10000,)


def test_one_corrupted_byte_is_named_with_the_fix(fashion_copy):
    # Flip one byte of the decompressed content and re-compress: the gzip is valid, the content is not.
    gz = fashion_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(gz.read_bytes()))
    raw[100] ^= 0xFF
    gz.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(
        data.DataError,
        match=r"t10k-labels-idx1-ubyte\.gz does not hold the expected.*python -m tfcourse fetch",
    ):
        data.load_fashion_mnist(fashion_copy, allow_download=False)


def test_one_corrupted_byte_in_the_gzip_stream(fashion_copy):
    gz = fashion_copy / "t10k-images-idx3-ubyte.gz"
    blob = bytearray(gz.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    gz.write_bytes(bytes(blob))
    with pytest.raises(
        data.DataError, match=r"t10k-images-idx3-ubyte\.gz .*(truncated or corrupted|expected).*fetch"
    ):
        data._load_file("t10k-images-idx3-ubyte", fashion_copy, allow_download=False)


def test_truncated_file(fashion_copy):
    gz = fashion_copy / "train-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:1000])
    with pytest.raises(data.DataError, match=r"train-labels-idx1-ubyte\.gz is truncated or corrupted.*fetch"):
        data._load_file("train-labels-idx1-ubyte", fashion_copy, allow_download=False)


def test_missing_file_without_download(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "cache_dir", lambda: tmp_path / "cache")
    with pytest.raises(
        data.DataError, match=r"train-images-idx3-ubyte\(\.gz\) not found.*python -m tfcourse fetch"
    ):
        data.load_fashion_mnist(tmp_path / "nowhere", allow_download=False)


def test_bad_idx_header(tmp_path):
    with pytest.raises(data.DataError, match="bad magic number"):
        data._parse_idx(b"\x00\x00\x09\x01" + b"\x00" * 8, tmp_path / "x")
    with pytest.raises(data.DataError, match="header promises"):
        data._parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x05" + b"\x01\x02", tmp_path / "x")


def test_unknown_file_name():
    with pytest.raises(ValueError, match="Received: name='train.csv'"):
        data.find_file("train.csv")


def test_download_from_a_mirror_and_verify(monkeypatch, tmp_path, fashion_dir):
    """The download path, exercised offline through a file:// mirror and a bad first mirror."""
    monkeypatch.setattr(data, "cache_dir", lambda: tmp_path / "cache")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not the dataset"))
    mirrors = (bad.as_uri() + "/", fashion_dir.resolve().as_uri() + "/")
    (path,) = data.download(["t10k-labels-idx1-ubyte"], mirrors=mirrors)
    assert path == tmp_path / "cache" / "t10k-labels-idx1-ubyte.gz"
    assert (
        hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == data.FILES["t10k-labels-idx1-ubyte"]
    )
    assert not list((tmp_path / "cache").glob("*.part")), "a temporary file was left behind"


def test_failed_download_says_what_to_do(tmp_path):
    with pytest.raises(
        data.DataError, match=r"(?s)Could not download t10k-labels-idx1-ubyte\.gz.*TFCOURSE_DATA_DIR"
    ):
        data.download(
            ["t10k-labels-idx1-ubyte"], dest=tmp_path, mirrors=((tmp_path / "none").as_uri() + "/",)
        )
    assert not list(tmp_path.iterdir())


def test_load_downloads_when_missing(monkeypatch, tmp_path, fashion_dir):
    monkeypatch.setattr(data, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(data, "MIRRORS", (fashion_dir.resolve().as_uri() + "/",))
    monkeypatch.setattr(data.download, "__defaults__", (tuple(data.FILES), None, data.MIRRORS, 60.0))
    monkeypatch.delenv(data.DATA_DIR_ENV_VAR, raising=False)
    labels = data._load_file("t10k-labels-idx1-ubyte", None, allow_download=True)
    assert labels[:3].tolist() == [9, 2, 1]
    assert (tmp_path / "cache" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_fetch_command_fills_the_cache(monkeypatch, tmp_path, fashion_dir, capsys):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(fashion_dir))
    monkeypatch.setattr(data, "cache_dir", lambda: tmp_path / "cache")
    assert main(["fetch"]) == 0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(f"{n}.gz" for n in data.FILES)
    assert "offline" in capsys.readouterr().out
    # Offline from now on: the cache alone is enough.
    monkeypatch.delenv(data.DATA_DIR_ENV_VAR)
    (_, y), _, _ = data.load_fashion_mnist(allow_download=False)
    assert len(y) == 60000


def test_fetch_command_reports_errors(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(tmp_path / "none"))
    monkeypatch.setattr(data, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(data, "MIRRORS", ((tmp_path / "none").as_uri() + "/",))
    monkeypatch.setattr(data.download, "__defaults__", (tuple(data.FILES), None, data.MIRRORS, 60.0))
    assert main(["fetch"]) == 1
    assert "Could not download" in capsys.readouterr().err


def test_make_dataset_normalises_shuffles_and_batches():
    images = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4)
    labels = np.arange(10)
    ds = data.make_dataset(images, labels, batch_size=4, shuffle=True, seed=1)
    batches = list(ds)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 4, 4, 1), (4, 4, 4, 1), (2, 4, 4, 1)]
    xs = np.concatenate([x.numpy() for x, _ in batches])
    ys = np.concatenate([y.numpy() for _, y in batches])
    assert sorted(ys.tolist()) == list(range(10)) and ys.tolist() != list(range(10))
    np.testing.assert_allclose(xs[:, :, :, 0], images[ys] / 255.0, rtol=1e-6)
    assert xs.dtype == np.float32 and xs.max() <= 1.0


def test_make_dataset_reshuffles_each_epoch_and_augments():
    images = np.zeros((64, 4, 4), np.uint8)
    ds = data.make_dataset(images, np.arange(64), batch_size=64, shuffle=True, seed=0)
    first, second = (next(iter(ds))[1].numpy().tolist() for _ in range(2))
    assert first != second
    ds = data.make_dataset(images, batch_size=8, augment=lambda x, training: x + 1.0, drop_remainder=True)
    assert float(next(iter(ds)).numpy().min()) == 1.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(images=np.zeros((4, 4), np.uint8)), r"Received: images.shape=\(4, 4\)"),
        (dict(images=np.zeros((4, 2, 2), np.uint8), labels=np.zeros(3)), "len\\(labels\\)=3"),
        (dict(images=np.zeros((4, 2, 2), np.uint8), batch_size=0), "Received: batch_size=0"),
    ],
)
def test_make_dataset_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.make_dataset(**kwargs)
