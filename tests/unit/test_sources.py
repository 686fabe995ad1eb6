import gzip
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.config import DataConfig
from aeops.data.sources import SourceError, load_source


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_digits_are_embedded_scaled_and_shaped():
    frame, meta = load_source(DataConfig(), seed=0)
    assert frame.shape == (1797, 65)
    assert meta.image_shape == [1, 8, 8]
    assert meta.labels == list(range(10))
    features = frame[meta.features].to_numpy()
    assert features.min() == 0.0 and features.max() == 1.0


def test_max_rows_subsamples_deterministically():
    a, meta = load_source(DataConfig(max_rows=100), seed=1)
    b, _ = load_source(DataConfig(max_rows=100), seed=1)
    assert len(a) == 100 and meta.n_rows == 100
    pd.testing.assert_frame_equal(a, b)


def test_mnist_idx_files_gzipped(tmp_path: Path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28))
    labels = np.arange(12) % 10
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:4])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:4])
    frame, meta = load_source(DataConfig(source="mnist", path=str(tmp_path)), seed=0)
    assert frame.shape == (16, 785)
    assert meta.image_shape == [1, 28, 28]
    assert frame["label"].tolist()[:4] == [0, 1, 2, 3]
    assert frame[meta.features].to_numpy().max() <= 1.0


def test_mnist_truncated_file_names_it(tmp_path: Path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 4, 4)))
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-5])
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2))
    with pytest.raises(SourceError, match="train-images-idx3-ubyte: truncated"):
        load_source(DataConfig(source="mnist", path=str(tmp_path)), seed=0)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_sources(tmp_path: Path, suffix: str):
    frame = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [1, 2, 3], "target": [0, 1, 0]})
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    out, meta = load_source(DataConfig(source="table", path=str(path), label_column="target"),
                            seed=0)
    assert meta.features == ["a", "b"]
    assert out["b"].dtype == np.float64
    assert meta.labels == [0, 1]
    assert meta.image_shape is None


def test_table_errors_name_file_and_column(tmp_path: Path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [0.1], "kind": ["x"], "label": [0]}).to_csv(path, index=False)
    with pytest.raises(SourceError, match=r"t.csv: column 'kind' is not numeric"):
        load_source(DataConfig(source="table", path=str(path)), seed=0)
    with pytest.raises(SourceError, match="missing feature column.*'zzz'"):
        load_source(DataConfig(source="table", path=str(path), features=["a", "zzz"]), seed=0)
    with pytest.raises(SourceError, match="no label column 'y'"):
        load_source(DataConfig(source="table", path=str(path), label_column="y"), seed=0)
    with pytest.raises(SourceError, match="file not found"):
        load_source(DataConfig(source="table", path=str(tmp_path / "none.csv")), seed=0)


def test_table_image_shape_must_fit_columns(tmp_path: Path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({f"p{i}": [0.0] for i in range(4)} | {"label": [0]}).to_parquet(path)
    _, meta = load_source(DataConfig(source="table", path=str(path), image_shape=[2, 2]), 0)
    assert meta.image_shape == [1, 2, 2]
    with pytest.raises(SourceError, match="image_shape"):
        load_source(DataConfig(source="table", path=str(path), image_shape=[3, 3]), 0)


def test_npz_images_and_tables(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (5, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", x=images, y=np.arange(5))
    frame, meta = load_source(DataConfig(source="npz", path=str(tmp_path / "img.npz")), 0)
    assert meta.image_shape == [1, 6, 6] and frame.shape == (5, 37)
    np.savez(tmp_path / "tab.npz", x=np.ones((4, 3)), y=np.zeros(4))
    frame, meta = load_source(DataConfig(source="npz", path=str(tmp_path / "tab.npz")), 0)
    assert meta.features == ["f0", "f1", "f2"] and meta.image_shape is None
    np.savez(tmp_path / "bad.npz", a=np.ones(3))
    with pytest.raises(SourceError, match="expected arrays 'x' and 'y'"):
        load_source(DataConfig(source="npz", path=str(tmp_path / "bad.npz")), 0)
