"""``aeops export``: a registered detector as one ONNX graph that takes the raw feature columns.

The graph holds everything between a raw row and its score: the fitted preprocessing (numeric
columns imputed with the training median where the model imputes, then scaled as in training,
in float64; categorical columns mapped to their one-hot columns by an ONNX-ML ``LabelEncoder``
whose keys are the training categories, rare and unseen values to the rare group where there
is one), the detector (the same torch code that scores in Python, traced: autoencoders, the
ensemble; the baselines' scikit-learn / NumPy scoring rewritten in
:mod:`aeops.models.baselines.graphs`), and the threshold. Inputs:

- ``numeric``: float64 ``(rows, n_numeric)``, the numeric features in schema order (NaN for a
  missing value when the model imputes);
- ``categorical``: string ``(rows, n_categorical)``, when the model has categorical features
  (``""`` for a missing value).

Outputs: ``anomaly_score`` (float64), ``is_anomaly`` (bool, at the stored threshold),
``errors`` (float32, each raw feature's share of the score, what ``explain`` shows) and, where
the model has one, ``code`` (float32).

The folder also holds ``detector.json`` (schema, threshold), ``export.json`` (the inputs, the
categories, the SHA-256 of ``model.onnx`` and of the files it was made from), so a machine with
only ONNX Runtime can score, and :mod:`aeops.serving.onnx_scoring` scores it with the same
input checks and sentences as the Python detector.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import aeops
from aeops.core.errors import AeopsError
from aeops.core.io import atomic_dir, file_sha256
from aeops.data.preprocess import COUNTS_TOTAL
from aeops.serving.pipeline import DetectorPipeline

ONNX_FILE = "model.onnx"
EXPORT_FILE = "export.json"
DETECTOR_FILE = "detector.json"
REFERENCE_FILE = "reference.parquet"
OPSET = 17
UNSEEN = "\x00aeops-unseen\x00"  # a value no training column holds: how unseen ones encode


@dataclass(frozen=True)
class CategoricalMap:
    """One categorical column: its training categories, the one-hot column each maps to
    (within the column's block), where a missing value and an unseen one go (-1: all zeros),
    and the block's width."""

    name: str
    categories: list[str]
    index: list[int]
    missing: int
    unseen: int
    width: int


def categorical_maps(pipeline: DetectorPipeline) -> list[CategoricalMap]:
    """What the fitted one-hot encoder does with each category, read off the encoder itself."""
    pre = pipeline.preprocessor
    if not pre.categorical:
        return []
    steps = pre.transformer.named_transformers_["categorical"]
    encoder = steps[-1]
    imputed = steps[0].statistics_ if pre.impute else None
    maps = []
    for j, name in enumerate(pre.categorical):
        categories = [str(c) for c in encoder.categories_[j]]
        probe = np.array(
            [[encoder.categories_[k][0] for k in range(len(pre.categorical))]]
            * (len(categories) + 1),
            dtype=object,
        )
        probe[: len(categories), j] = categories
        probe[-1, j] = UNSEEN
        with warnings.catch_warnings():  # the unseen probe is meant to be unknown
            warnings.simplefilter("ignore")
            onehot = encoder.transform(probe)
        start = sum(_width(encoder, k) for k in range(j))
        block = onehot[:, start : start + _width(encoder, j)]
        index = [int(np.argmax(row)) if row.any() else -1 for row in block]
        missing = -1
        if imputed is not None:
            missing = index[categories.index(str(imputed[j]))]
        maps.append(
            CategoricalMap(name, categories, index[:-1], missing, index[-1], block.shape[1])
        )
    return maps


def _width(encoder: Any, j: int) -> int:
    infrequent = encoder.infrequent_categories_[j]
    extra = len(infrequent) - 1 if infrequent is not None else 0
    return len(encoder.categories_[j]) - extra


class TailKnots(nn.Module):
    """``data.scaler: quantile`` (:class:`aeops.data.tails.TailGaussScaler`) in the graph:
    each column's line, plus ReLU knots on the skewed columns only."""

    start: torch.Tensor
    base: torch.Tensor
    left: torch.Tensor
    at: torch.Tensor
    delta: torch.Tensor
    place: torch.Tensor
    idx: torch.Tensor

    def __init__(self, start, base, left, at, delta, gaussed) -> None:
        super().__init__()
        idx = np.flatnonzero(gaussed)
        place = np.zeros((len(idx), len(start)))
        place[np.arange(len(idx)), idx] = 1.0
        buffers = {"start": start, "base": base, "left": left, "at": at[idx]}
        buffers.update(delta=delta[idx], place=place)
        for name, value in buffers.items():
            self.register_buffer(name, torch.as_tensor(np.asarray(value, np.float64)))
        self.register_buffer("idx", torch.as_tensor(idx, dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x - self.start) * self.left + self.base
        if self.idx.numel():
            bent = torch.relu(x.index_select(1, self.idx)[:, :, None] - self.at) * self.delta
            y = y + bent.sum(-1) @ self.place
        return y


def rows_per_run(module: RawToScore, budget: int = 256 * 2**20) -> int:
    """Rows per ONNX Runtime run: :data:`~aeops.serving.onnx_scoring.ONNX_BATCH_ROWS`, fewer
    where the quantile knots' (rows, skewed columns, knots) float64 block would pass
    ``budget`` bytes."""
    from aeops.serving.onnx_scoring import ONNX_BATCH_ROWS

    if module.knots is None or not module.knots.idx.numel():
        return ONNX_BATCH_ROWS
    per_row = module.knots.at.numel() * 8 * 2  # the ReLU block and its product
    return max(1, min(ONNX_BATCH_ROWS, budget // per_row))


class RawToScore(nn.Module):
    """Raw numeric values and category indices in; score, flag, errors and code out."""

    def __init__(self, pipeline: DetectorPipeline, maps: list[CategoricalMap]) -> None:
        super().__init__()
        pre = pipeline.preprocessor
        n_num = len(pre.numeric)
        fill = np.zeros(n_num)
        shift, scale = np.zeros(n_num), np.ones(n_num)
        self.impute = bool(pre.impute and n_num)
        self.knots: TailKnots | None = None
        self.minmax = pre.scaler == "minmax"
        self.log_counts = pre.scaler == "log_counts"
        if n_num:
            fitted = pre.transformer.named_transformers_["numeric"]
            steps = list(fitted) if hasattr(fitted, "steps") else []  # else passthrough
            if pre.impute:
                fill = steps.pop(0).statistics_
            if pre.scaler == "standard":
                shift, scale = steps[0].mean_, steps[0].scale_
            elif pre.scaler == "minmax":
                shift, scale = steps[0].min_, steps[0].scale_
            elif pre.scaler == "quantile":  # aeops.data.tails: a line plus ReLU knots
                tails = steps[0]
                start, base, left, at, delta = tails.relu_form()
                shift, scale = start - base / left, 1.0 / left  # the left line, for the spec
                self.knots = TailKnots(start, base, left, at, delta, tails.gaussed_)
        self.fill: torch.Tensor
        self.shift: torch.Tensor
        self.scale: torch.Tensor
        self.grouping: torch.Tensor
        self.threshold: torch.Tensor
        self.register_buffer("fill", torch.as_tensor(np.asarray(fill, np.float64)))
        self.register_buffer("shift", torch.as_tensor(np.asarray(shift, np.float64)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, np.float64)))
        self.widths = [m.width for m in maps]
        stream = pre.stream
        self.warmup = None if stream is None else stream.warmup
        self.window = 1 if stream is None else stream.window
        self.detector = pipeline.detector.torch_module()
        groups = np.asarray(pipeline._groups)
        grouping = np.zeros((len(groups), len(pipeline.info.features)), np.float32)
        grouping[np.arange(len(groups)), groups] = 1.0
        self.register_buffer("grouping", torch.as_tensor(grouping))
        self.register_buffer(
            "threshold", torch.tensor(float(pipeline.info.threshold), dtype=torch.float64)
        )

    def model_input(self, numeric: torch.Tensor, categories: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if numeric.shape[1]:
            x = numeric
            if self.log_counts:  # aeops.data.preprocess.log_counts, in the graph
                total = torch.where(torch.isnan(x), torch.zeros_like(x), x).sum(1, keepdim=True)
                total = torch.where(total > 0, total, torch.ones_like(total))
                x = torch.log1p(x / total * COUNTS_TOTAL)
            x = torch.where(torch.isnan(x), self.fill, x) if self.impute else x
            if self.knots is not None:
                x = self.knots(x)
            elif self.minmax:
                x = x * self.scale + self.shift
            else:
                x = (x - self.shift) / self.scale
            if self.warmup is not None:  # the series standardised by its own first rows
                first = x[: self.warmup]
                mean, spread = first.mean(dim=0), first.std(dim=0, unbiased=False)
                x = (x - mean) / torch.where(spread > 1e-12, spread, torch.ones_like(spread))
            parts.append(x.float())
        if categories is not None:
            for j, width in enumerate(self.widths):
                column = categories[:, j : j + 1]
                parts.append((column == torch.arange(width)[None, :]).float())
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return self.windows(x) if self.window > 1 else x

    def windows(self, x: torch.Tensor) -> torch.Tensor:
        """Each row with the ``window - 1`` rows before it (the first row repeated before a
        series' start), flattened time-major: :func:`aeops.data.windows.row_windows` for
        the rows of one series."""
        back = torch.arange(1 - self.window, 1)
        rows = torch.clamp(torch.arange(x.shape[0])[:, None] + back[None, :], min=0)
        return x[rows].reshape(x.shape[0], self.window * x.shape[1])

    def forward(self, numeric: torch.Tensor, categories: torch.Tensor | None = None):
        x = self.model_input(numeric, categories)
        score, per_feature, code = self.detector(x)
        score = score.double()
        errors = per_feature.float() @ self.grouping
        return score, score > self.threshold, errors, code.float()


def categorical_prefix(maps: list[CategoricalMap]) -> Any:
    """The ONNX graph from the ``categorical`` strings to the one-hot column indices."""
    from onnx import TensorProto, helper

    nodes, outputs = [], []
    for j, column in enumerate(maps):
        keys = [*column.categories, ""]
        values = [*column.index, column.missing if column.missing >= 0 else column.unseen]
        nodes += [
            helper.make_node("Constant", [], [f"col{j}"], value_ints=[j]),
            helper.make_node("Gather", ["categorical", f"col{j}"], [f"raw{j}"], axis=1),
            helper.make_node(
                "LabelEncoder",
                [f"raw{j}"],
                [f"idx{j}"],
                domain="ai.onnx.ml",
                keys_strings=keys,
                values_int64s=values,
                default_int64=column.unseen,
            ),
        ]
        outputs.append(f"idx{j}")
    nodes.append(helper.make_node("Concat", outputs, ["categories"], axis=1))
    graph = helper.make_graph(
        nodes,
        "categories",
        [helper.make_tensor_value_info("categorical", TensorProto.STRING, ["rows", len(maps)])],
        [helper.make_tensor_value_info("categories", TensorProto.INT64, ["rows", len(maps)])],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", 3)],
    )


def traced(module: RawToScore, n_numeric: int, n_categorical: int, path: Path) -> Any:
    """``module`` exported by torch's ONNX exporter (rows a dynamic axis)."""
    import onnx

    args: tuple[torch.Tensor, ...] = (torch.zeros(2, n_numeric, dtype=torch.float64),)
    names = ["numeric"]
    if n_categorical:
        args += (torch.zeros(2, n_categorical, dtype=torch.long),)
        names.append("categories")
    outputs = ["anomaly_score", "is_anomaly", "errors", "code"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=names,
            output_names=outputs,
            dynamic_axes={name: {0: "rows"} for name in [*names, *outputs]},
            opset_version=OPSET,
            dynamo=False,
        )
    return onnx.load(str(path))


@dataclass(frozen=True)
class Exported:
    """An export folder: its files and what it was made from."""

    folder: Path
    model: Path
    spec: dict[str, Any]


def export_onnx(
    pipeline: DetectorPipeline,
    folder: str | Path,
    made_from: dict[str, str],
    reference: Any = None,
) -> Exported:
    """Write ``pipeline`` as ``model.onnx`` + ``detector.json`` + ``export.json`` into
    ``folder`` (replaced whole, only when complete). ``made_from``: what it was made from (a
    model URI, the key of its files); ``reference``: raw rows of the data it was chosen on
    (validation's normal rows), kept as ``reference.parquet`` for ``aeops monitor``."""
    detector = pipeline.detector
    if not hasattr(detector, "torch_module"):
        raise AeopsError(
            f"a {detector.name} detector cannot be exported to ONNX: it has no graph "
            "(only aeops' own detectors export)"
        )
    maps = categorical_maps(pipeline)
    with atomic_dir(folder) as tmp:
        module = RawToScore(pipeline, maps)
        write_graph(module, len(pipeline.preprocessor.numeric), maps, tmp / ONNX_FILE)
        pipeline.info.save(tmp / DETECTOR_FILE)
        hashed = [ONNX_FILE, DETECTOR_FILE]
        if reference is not None:
            reference[pipeline.info.features].to_parquet(tmp / REFERENCE_FILE, index=False)
            hashed.append(REFERENCE_FILE)
        sha256 = {name: file_sha256(tmp / name) for name in hashed}
        spec = export_spec(pipeline, module, maps, sha256, made_from)
        (tmp / EXPORT_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    folder = Path(folder)
    return Exported(folder, folder / ONNX_FILE, spec)


def write_graph(module: RawToScore, n_numeric: int, maps: list[CategoricalMap], path: Path) -> None:
    """``module`` traced, after the categorical strings' prefix where there are categorical
    columns, checked and saved as ``path``."""
    import onnx
    from onnx import compose

    model = traced(module, n_numeric, len(maps), path)
    if maps:
        prefix = categorical_prefix(maps)
        prefix.ir_version = model.ir_version
        model = compose.merge_models(prefix, model, io_map=[("categories", "categories")])
    model.producer_name = f"aeops {aeops.__version__}"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_spec(
    pipeline: DetectorPipeline,
    module: RawToScore,
    maps: list[CategoricalMap],
    sha256: dict[str, str],
    made_from: dict[str, str],
) -> dict[str, Any]:
    """What ``export.json`` holds: the inputs and how they are scaled, the outputs, the
    threshold, the files' SHA-256 and what they were made from."""
    detector, pre = pipeline.detector, pipeline.preprocessor
    code_dims = pipeline.code_dims if detector.has_code else 0
    return {
        "format": 1,
        "aeops_version": aeops.__version__,
        "opset": OPSET,
        "kind": detector.kind,
        "family": detector.name,
        "numeric": list(pre.numeric),
        "categorical": [{"name": m.name, "categories": m.categories} for m in maps],
        "impute": bool(pre.impute),
        "numeric_scaling": {
            "kind": pre.scaler,
            "fill": module.fill.tolist(),
            "shift": module.shift.tolist(),
            "scale": module.scale.tolist(),
        },
        "threshold": float(pipeline.info.threshold),
        # a stream's rows are one series, scored in one run: windows and warm-up span them
        "rows_per_run": rows_per_run(module) if pre.stream is None else 0,
        "stream": None if pre.stream is None else vars(pre.stream),
        "code_dims": int(code_dims),
        "inputs": {
            "numeric": f"float64 (rows, {len(pre.numeric)})",
            **({"categorical": f"string (rows, {len(maps)})"} if maps else {}),
        },
        "outputs": {
            "anomaly_score": "float64 (rows,)",
            "is_anomaly": "bool (rows,)",
            "errors": f"float32 (rows, {len(pipeline.info.features)})",
            "code": f"float32 (rows, {code_dims})",
        },
        "sha256": sha256,
        "made_from": made_from,
    }
