import gzip
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.data.sources import SourceError, label_strings, load_source
from tests.factories import sensor_table, write_part_images
from tests.helpers import data_config


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_digits_are_embedded_scaled_and_shaped():
    frame, meta = load_source(data_config(), seed=0)
    assert frame.shape == (1797, 65)
    assert meta.image_shape == [1, 8, 8]
    assert meta.labels == [str(i) for i in range(10)]
    assert frame["label"].iloc[0] == "0"
    features = frame[meta.features].to_numpy()
    assert features.min() == 0.0 and features.max() == 1.0


def test_digits_without_labels():
    frame, meta = load_source(data_config(label_column=None), seed=0)
    assert frame.shape == (1797, 64) and meta.label_column is None and meta.labels == []


def test_max_rows_subsamples_deterministically():
    a, meta = load_source(data_config(max_rows=100), seed=1)
    b, _ = load_source(data_config(max_rows=100), seed=1)
    assert len(a) == 100 and meta.n_rows == 100
    pd.testing.assert_frame_equal(a, b)


def test_labels_are_kept_as_written():
    assert label_strings(pd.Series([1.0, 2.0, np.nan])).tolist() == ["1", "2", None]
    assert label_strings(pd.Series([True, False])).tolist() == ["True", "False"]
    assert label_strings(pd.Series(["ok", "defect"])).tolist() == ["ok", "defect"]
    assert label_strings(pd.Series([0.5, 1.0])).tolist() == ["0.5", "1.0"]


def test_mnist_idx_files_gzipped(tmp_path: Path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28))
    labels = np.arange(12) % 10
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:4])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:4])
    frame, meta = load_source(data_config(source="mnist", path=str(tmp_path)), seed=0)
    assert frame.shape == (16, 785)
    assert meta.image_shape == [1, 28, 28]
    assert frame["label"].tolist()[:4] == ["0", "1", "2", "3"]
    assert frame[meta.features].to_numpy().max() <= 1.0


def test_mnist_truncated_file_names_it(tmp_path: Path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 4, 4)))
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-5])
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2))
    with pytest.raises(SourceError, match="train-images-idx3-ubyte: truncated"):
        load_source(data_config(source="mnist", path=str(tmp_path)), seed=0)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_sources(tmp_path: Path, suffix: str):
    frame = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [1, 2, 3], "target": [0, 1, 0]})
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    out, meta = load_source(
        data_config(source="table", path=str(path), label_column="target"), seed=0
    )
    assert meta.features == ["a", "b"] and meta.categorical == []
    assert out["b"].dtype == np.float64
    assert meta.labels == ["0", "1"]
    assert meta.image_shape is None


def test_table_with_text_labels_categoricals_and_excluded_columns(tmp_path: Path):
    path = tmp_path / "sensors.csv"
    sensor_table(n=200).to_csv(path, index=False)
    cfg = data_config(
        source="table", path=str(path), label_column="status", exclude=["unit_id", "timestamp"]
    )
    frame, meta = load_source(cfg, seed=0)
    assert meta.labels == ["defect", "ok"]
    assert meta.categorical == ["line", "shift"]
    assert "unit_id" not in frame.columns and "timestamp" not in frame.columns
    assert set(frame["line"]) <= {"A", "B", "C"}
    assert meta.schema()["features"][-1] == {"name": "shift", "dtype": "string"}


def test_numeric_columns_can_be_declared_categorical(tmp_path: Path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"zone": [1, 2, 1, 3], "x": [0.1, 0.2, 0.3, 0.4]}).to_csv(path, index=False)
    frame, meta = load_source(
        data_config(source="table", path=str(path), label_column=None, categorical=["zone"]), seed=0
    )
    assert meta.categorical == ["zone"] and frame["zone"].tolist() == ["1", "2", "1", "3"]


def test_table_errors_name_file_column_and_fix(tmp_path: Path):
    path = tmp_path / "t.csv"
    sensor_table(n=200).to_csv(path, index=False)
    table = {"source": "table", "path": str(path)}
    with pytest.raises(
        SourceError,
        match=r"t.parquet: column 'timestamp' holds timestamps.*"
        "data.exclude",
    ):
        pd.read_csv(path, parse_dates=["timestamp"]).to_parquet(tmp_path / "t.parquet")
        load_source(
            data_config(
                **{**table, "path": str(tmp_path / "t.parquet")},
                label_column="status",
                exclude=["unit_id"],
            ),
            seed=0,
        )
    with pytest.raises(
        SourceError,
        match=r"text column 'unit_id' has 200 distinct.*"
        "identifier.*data.exclude",
    ):
        load_source(data_config(**table, label_column="status", exclude=["timestamp"]), 0)
    with pytest.raises(SourceError, match=r"no label column 'label'.*label_column.*null"):
        load_source(data_config(**table), seed=0)
    with pytest.raises(SourceError, match=r"data.exclude names column\(s\) \['idd'\]"):
        load_source(data_config(**table, label_column="status", exclude=["idd"]), seed=0)
    with pytest.raises(SourceError, match="file not found"):
        load_source(data_config(source="table", path=str(tmp_path / "none.csv")), seed=0)


def test_reserved_column_names_are_refused(tmp_path: Path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"split": [0.1, 0.2], "label": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(SourceError, match=r"\['split'\].*rename"):
        load_source(data_config(source="table", path=str(path)), seed=0)


def test_table_image_shape_must_fit_columns(tmp_path: Path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({f"p{i}": [0.0] for i in range(4)} | {"label": [0]}).to_parquet(path)
    _, meta = load_source(data_config(source="table", path=str(path), image_shape=[2, 2]), 0)
    assert meta.image_shape == [1, 2, 2]
    with pytest.raises(SourceError, match="image_shape"):
        load_source(data_config(source="table", path=str(path), image_shape=[3, 3]), 0)


def test_npz_images_tables_and_unlabeled(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (5, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", x=images, y=np.arange(5))
    frame, meta = load_source(data_config(source="npz", path=str(tmp_path / "img.npz")), 0)
    assert meta.image_shape == [1, 6, 6] and frame.shape == (5, 37)
    np.savez(tmp_path / "tab.npz", x=np.ones((4, 3)), y=np.array(["a", "b", "a", "a"]))
    frame, meta = load_source(data_config(source="npz", path=str(tmp_path / "tab.npz")), 0)
    assert meta.features == ["f0", "f1", "f2"] and meta.labels == ["a", "b"]
    np.savez(tmp_path / "x_only.npz", x=np.ones((4, 3)))
    frame, meta = load_source(
        data_config(source="npz", path=str(tmp_path / "x_only.npz"), label_column=None), 0
    )
    assert meta.label_column is None and list(frame.columns) == ["f0", "f1", "f2"]
    with pytest.raises(SourceError, match="no label array 'y'.*label_column: null"):
        load_source(data_config(source="npz", path=str(tmp_path / "x_only.npz")), 0)


def test_image_folder_with_class_subfolders(tmp_path: Path):
    root = write_part_images(tmp_path / "parts", n_good=6, n_defect=3, size=12)
    frame, meta = load_source(data_config(source="image_folder", path=str(root)), 0)
    assert meta.image_shape == [1, 12, 12] and meta.labels == ["defect", "good"]
    assert frame["label"].value_counts().to_dict() == {"good": 6, "defect": 3}
    assert frame["path"].iloc[0].startswith("defect/")
    pixels = frame[meta.features].to_numpy()
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0


def test_image_folder_flat_unlabeled_resized_rgb(tmp_path: Path):
    root = write_part_images(
        tmp_path / "flat", n_good=4, n_defect=0, size=12, labeled=False, rgb=True
    )
    cfg = data_config(source="image_folder", path=str(root), label_column=None, image_size=[8, 10])
    frame, meta = load_source(cfg, 0)
    assert meta.image_shape == [3, 8, 10] and len(frame) == 4 and meta.label_column is None
    gray = load_source(
        data_config(source="image_folder", path=str(root), label_column=None, channels=1), 0
    )[1]
    assert gray.image_shape == [1, 12, 12]


def test_image_folder_bad_images_fail_or_are_skipped(tmp_path: Path):
    root = write_part_images(tmp_path / "parts", n_good=5, n_defect=2, size=8)
    (root / "good" / "broken.png").write_bytes(b"\x89PNG not really")
    cfg = {"source": "image_folder", "path": str(root)}
    with pytest.raises(
        SourceError,
        match=r"(?s)1 image\(s\) cannot be read:.*broken.png.*"
        "on_bad_image: skip",
    ):
        load_source(data_config(**cfg), 0)
    frame, meta = load_source(data_config(**cfg, on_bad_image="skip"), 0)
    assert len(frame) == 7 and meta.skipped == [str(root / "good" / "broken.png")]


def test_image_folder_layout_and_size_errors(tmp_path: Path):
    flat = write_part_images(tmp_path / "flat", n_good=3, n_defect=0, size=8, labeled=False)
    with pytest.raises(SourceError, match="not in class subfolders.*label_column: null"):
        load_source(data_config(source="image_folder", path=str(flat)), 0)
    write_part_images(tmp_path / "flat", n_good=2, n_defect=0, size=10, labeled=False, seed=1)
    (tmp_path / "flat" / "good_0000.png").unlink()
    from PIL import Image

    Image.new("L", (10, 6)).save(tmp_path / "flat" / "odd.png")
    with pytest.raises(SourceError, match="different sizes.*data.image_size"):
        load_source(data_config(source="image_folder", path=str(flat), label_column=None), 0)


def test_a_feature_named_like_an_identifier_is_used_but_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    path = tmp_path / "sensors.csv"
    frame = sensor_table(n=200)
    frame["unit_id"] = [f"U{i % 30:02d}" for i in range(200)]  # 30 machines: not unique
    frame.to_csv(path, index=False)
    cfg = data_config(source="table", path=str(path), label_column="status", exclude=["timestamp"])
    with caplog.at_level("WARNING", logger="aeops"):
        frame, _ = load_source(cfg, seed=0)
    assert "unit_id" in frame.columns  # used as the data says ...
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "column 'unit_id' looks like an identifier" in warned  # ... but said
    assert "add it to data.exclude" in warned
    caplog.clear()
    excluded = data_config(
        source="table", path=str(path), label_column="status", exclude=["unit_id", "timestamp"]
    )
    with caplog.at_level("WARNING", logger="aeops"):
        load_source(excluded, seed=0)
    assert "identifier" not in " ".join(r.getMessage() for r in caplog.records)


def test_a_wide_table_is_built_at_once(tmp_path: Path):
    """A gene-expression shape (few rows, thousands of columns): the frame is built whole,
    so pandas never warns about a fragmented frame, and the values arrive unchanged."""
    import warnings

    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(60, 3000)), columns=[f"g{i}" for i in range(3000)])
    wide["label"] = ["normal"] * 55 + ["tumour"] * 5
    wide.to_parquet(tmp_path / "genes.parquet")
    cfg = data_config(
        source="table", path=str(tmp_path / "genes.parquet"), normal_labels=["normal"], min_rows=10
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        frame, meta = load_source(cfg, seed=0)
    assert len(meta.features) == 3000 and meta.categorical == []
    np.testing.assert_array_equal(frame[meta.features].to_numpy(), wide.iloc[:, :3000].to_numpy())
    assert list(frame["label"][-5:]) == ["tumour"] * 5
