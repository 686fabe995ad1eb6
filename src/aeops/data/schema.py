"""What ingest records about a dataset, read by every later stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from aeops.io import read_json, write_json


@dataclass(frozen=True)
class DatasetMeta:
    source: str
    origin: str
    features: list[str]
    label_column: str
    labels: list[int]
    n_rows: int
    image_shape: list[int] | None = None  # [channels, height, width] for image data
    value_range: list[float] | None = None

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def is_image(self) -> bool:
        return self.image_shape is not None

    def save(self, path: str | Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> DatasetMeta:
        return cls(**read_json(path))


def pixel_columns(n: int) -> list[str]:
    return [f"pixel_{i}" for i in range(n)]
