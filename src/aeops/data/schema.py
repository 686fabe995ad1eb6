"""What ingest records about a dataset, read by every later stage and stored with every model.

The *input schema* (feature names and kinds, image shape, label values) identifies what a
detector can score: the registry keeps one champion per schema, and scoring refuses rows whose
feature columns do not match it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aeops.core.io import read_json, write_json

NUMERIC = "double"
CATEGORICAL = "string"
# columns every later stage adds to the table; a source column of the same name is refused
SPLIT_COLUMN = "split"  # train / val / test
ANOMALY_COLUMN = "is_anomaly"  # the ground truth (labelled or synthetic)
SYNTHETIC_COLUMN = "synthetic"  # how a synthetic anomaly was made ("" for a real row)
RESERVED_COLUMNS = (SPLIT_COLUMN, ANOMALY_COLUMN, SYNTHETIC_COLUMN)


@dataclass(frozen=True)
class DatasetMeta:
    source: str
    origin: str
    features: list[str]
    label_column: str | None
    labels: list[str]  # label values as strings, as the user wrote them
    n_rows: int
    categorical: list[str] = field(default_factory=list)
    image_shape: list[int] | None = None  # [channels, height, width] for image data
    value_range: list[float] | None = None
    extra_columns: list[str] = field(default_factory=list)  # carried along, never features
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (skip policy)
    time_column: str | None = None  # a stream: each row's time (carried, never a feature)
    series_column: str | None = None  # a stream: each row's series (carried, never a feature)

    @property
    def is_stream(self) -> bool:
        return self.time_column is not None

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def numeric(self) -> list[str]:
        kept = set(self.categorical)
        return [c for c in self.features if c not in kept]

    @property
    def is_image(self) -> bool:
        return self.image_shape is not None

    def schema(self) -> dict[str, Any]:
        return input_schema(self.features, self.categorical, self.image_shape, self.labels)

    def save(self, path: str | Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> DatasetMeta:
        return cls(**read_json(path))


def input_schema(
    features: list[str], categorical: list[str], image_shape: list[int] | None, labels: list[str]
) -> dict[str, Any]:
    """Feature names with their kinds, image shape and label values, in a stable form."""
    kinds = set(categorical)
    return {
        "features": [
            {"name": c, "dtype": CATEGORICAL if c in kinds else NUMERIC} for c in features
        ],
        "image_shape": list(image_shape) if image_shape else None,
        "labels": [str(v) for v in labels],
    }


def schema_hash(schema: dict[str, Any]) -> str:
    """Eight hex digits naming a schema (same schema, same hash, on every machine)."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def describe_schema(schema: dict[str, Any]) -> str:
    """A one-line human summary: ``64 numeric features pixel_0..pixel_63, image 1x8x8, ...``."""
    features = schema["features"]
    names = [f["name"] for f in features]
    shown = f"{names[0]}..{names[-1]}" if len(names) > 4 else ", ".join(names)
    n_cat = sum(f["dtype"] == CATEGORICAL for f in features)
    kinds = f"{len(names) - n_cat} numeric" + (f" + {n_cat} categorical" if n_cat else "")
    image = schema.get("image_shape")
    parts = [f"{kinds} features ({shown})"]
    if image:
        parts.append("image " + "x".join(map(str, image)))
    labels = schema.get("labels") or []
    parts.append(f"labels {labels}" if labels else "unlabeled")
    return f"[{schema_hash(schema)}] " + ", ".join(parts)


def pixel_columns(n: int) -> list[str]:
    return [f"pixel_{i}" for i in range(n)]


def feature_families(features: list[str]) -> list[re.Pattern[str]]:
    """Name patterns shared by several features (``pixel_0``, ``pixel_1`` -> ``pixel_<n>``).

    An input column that fits such a pattern but is not a feature (``pixel_64`` for a
    64-pixel model) means the input has another schema, not an id column to carry along."""
    prefixes: dict[str, int] = {}
    for name in features:
        match = re.fullmatch(r"(.*?)(\d+)", name)
        if match:
            prefixes[match.group(1)] = prefixes.get(match.group(1), 0) + 1
    return [re.compile(re.escape(p) + r"\d+") for p, n in sorted(prefixes.items()) if n >= 2]
