"""The Great Expectations suite built from the dataset's schema, and its verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeops.core.errors import AeopsError
from aeops.core.logs import verbose
from aeops.data.schema import DatasetMeta

SUITE_NAME = "aeops_dataset"
FLOAT_TYPES = ["float64", "float32", "float16", "Float64", "Float32"]
# Text columns are handed to GX as `object`, so its type check looks at every value's type (with
# pandas 3 they load as dtype `str`, which GX's dtype-level check does not recognise).
TEXT_TYPES = ["str"]
FINITE = float(np.finfo(np.float64).max)  # a between-check up to here rejects +-inf
# Beyond this many numeric features (a gene-expression matrix), they are checked as one block:
# the same contracts per column, measured in one vectorised pass, and handed to GX as a
# profile with one row per column, so the suite and its Data Docs stay a few expectations
# long (GX builds and renders one block per expectation: 1,000 columns took 20 minutes).
WIDE_NUMERIC = 200


@dataclass
class Failure:
    expectation: str
    column: str | None
    detail: str
    sentence: str | None = None  # what to tell the user, when a check has its own words

    def __str__(self) -> str:
        if self.sentence:
            return self.sentence
        where = f"column '{self.column}'" if self.column else "table"
        return f"{where}: {self.expectation} failed ({self.detail})"


@dataclass(frozen=True)
class StreamRules:
    """What a stream's series must keep: time steps forward and no longer than ``max_gap``
    seconds (None: any), at least ``min_series_rows`` rows in each series."""

    max_gap: float | None
    min_series_rows: int


@dataclass
class ValidationReport:
    success: bool
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    data_docs: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "evaluated_expectations": self.evaluated,
            "failed_expectations": len(self.failures),
            "failures": [f.__dict__ for f in self.failures],
            "data_docs": self.data_docs,
        }


class DataValidationError(AeopsError, ValueError):
    """The data broke the expectation suite."""

    def __init__(self, source: str, report: ValidationReport) -> None:
        self.report = report
        lines = [f"{source}: {len(report.failures)} of {report.evaluated} expectations failed:"]
        lines += [f"  - {failure}" for failure in report.failures[:20]]
        if len(report.failures) > 20:
            lines.append(f"  ... and {len(report.failures) - 20} more (see the data docs)")
        if any("rows [" in f.detail for f in report.failures):
            lines.append(
                "Rows count from 0 in the order the source was read: in a CSV, row r is "
                "line r + 2 (the header is line 1), unless data.max_rows subsampled it."
            )
        if any(f.expectation == "expect_column_values_to_not_be_null" for f in report.failures):
            lines.append(
                "Missing values: fill them in the source, or set data.missing: impute in "
                "params.yaml (median / most frequent value of the normal training rows)."
            )
        lines.append("Fix the source data (or data.* in params.yaml) and run `dvc repro` again.")
        super().__init__("\n".join(lines))


def is_wide(meta: DatasetMeta) -> bool:
    return len(meta.numeric) > WIDE_NUMERIC


def column_profile(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per expected numeric column, indexed by its name: present, a float dtype,
    its null count, its smallest and largest value (NaN where it has none)."""
    have = set(frame.columns)
    present = [c for c in columns if c in have]
    floats = [c for c in present if pd.api.types.is_float_dtype(frame[c].dtype)]
    is_float = set(floats)
    nulls = frame[present].isna().sum()
    block = frame[floats].to_numpy(dtype=np.float64) if floats else np.empty((len(frame), 0))
    seen = ~np.isnan(block)  # min and max over the values there are (NaN: none at all)
    low = np.where(
        seen.any(axis=0), np.where(seen, block, np.inf).min(axis=0, initial=np.inf), np.nan
    )
    high = np.where(
        seen.any(axis=0), np.where(seen, block, -np.inf).max(axis=0, initial=-np.inf), np.nan
    )
    profile = pd.DataFrame(
        {
            "present": [c in have for c in columns],
            "float_dtype": [c in is_float for c in columns],
            "null_count": nulls.reindex(columns, fill_value=0).astype(int).to_numpy(),
        },
        index=pd.Index(columns, name="column"),
    )
    profile["min"] = pd.Series(low, index=floats, dtype=np.float64).reindex(columns)
    profile["max"] = pd.Series(high, index=floats, dtype=np.float64).reindex(columns)
    return profile


def profile_expectations(allow_missing: bool, value_range: Any) -> list[Any]:
    """The numeric contracts, on the profile: every column present, float, not null (unless
    imputing), its values within ``value_range`` (or finite)."""
    import great_expectations.expectations as gxe

    low, high = value_range or (-FINITE, FINITE)
    expectations: list[Any] = [
        gxe.ExpectColumnValuesToBeInSet(column="present", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="float_dtype", value_set=[True]),
        gxe.ExpectColumnValuesToBeBetween(column="min", min_value=low, max_value=high),
        gxe.ExpectColumnValuesToBeBetween(column="max", min_value=low, max_value=high),
    ]
    if not allow_missing:
        expectations.append(gxe.ExpectColumnValuesToBeBetween(column="null_count", max_value=0))
    return expectations


def profile_failures(
    frame: pd.DataFrame, profile: pd.DataFrame, allow_missing: bool, value_range: Any
) -> list[Failure]:
    """The block's failures per column, as the narrow suite names them (with rows)."""
    low, high = value_range or (-FINITE, FINITE)
    failures = []
    for column, row in profile.iterrows():
        name = str(column)
        if not row["present"]:
            failures.append(Failure("expect_column_to_exist", name, "column is missing"))
            continue
        values = frame[name]
        if not row["float_dtype"]:
            failures.append(
                Failure(
                    "expect_column_values_to_be_in_type_list",
                    name,
                    f"dtype {values.dtype}; type_list={FLOAT_TYPES}",
                )
            )
            continue
        if row["null_count"] and not allow_missing:
            rows = [int(r) for r in np.flatnonzero(values.isna().to_numpy())[:5]]
            failures.append(
                Failure(
                    "expect_column_values_to_not_be_null",
                    name,
                    f"{int(row['null_count'])} bad value(s); rows {rows}",
                )
            )
        outside = ~values.between(low, high) & values.notna()
        if outside.any():
            rows = [int(r) for r in np.flatnonzero(outside.to_numpy())[:5]]
            failures.append(
                Failure(
                    "expect_column_values_to_be_between",
                    name,
                    f"{int(outside.sum())} bad value(s); rows {rows}; values "
                    f"{[float(v) for v in values[outside].head(5)]}; min_value={low}; "
                    f"max_value={high}",
                )
            )
    return failures


def build_expectations(meta: DatasetMeta, min_rows: int, allow_missing: bool = False) -> list[Any]:
    """One expectation per contract the dataset must keep, derived from its schema.

    Numeric features: float dtype, finite (inf is refused in every source), within
    ``value_range`` when one is known, and not null unless ``data.missing: impute``.
    Categorical features: text, not null unless imputing. The label: text, never null, and
    one of the known labels."""
    import great_expectations.expectations as gxe

    expectations: list[Any] = [gxe.ExpectTableRowCountToBeBetween(min_value=min_rows)]
    label = [meta.label_column] if meta.label_column else []
    numeric = [] if is_wide(meta) else list(meta.numeric)  # wide: the profile checks them
    for column in [*numeric, *meta.categorical, *label]:
        expectations.append(gxe.ExpectColumnToExist(column=column))
        if column in label or not allow_missing:
            expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=column))
    low, high = meta.value_range or (-FINITE, FINITE)
    for column in numeric:
        expectations.append(
            gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=FLOAT_TYPES)
        )
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)
        )
    for column in [*meta.categorical, *label]:
        expectations.append(
            gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=TEXT_TYPES)
        )
    if label:
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(column=label[0], value_set=list(meta.labels))
        )
    return expectations


def stream_suites(frame: pd.DataFrame, meta: DatasetMeta, rules: StreamRules) -> list[Any]:
    """A stream's own suites, each ``(name, table, expectations, explain)``: every step
    between rows of a series forward and within ``max_gap``; every series long enough; no
    sensor constant over the whole stream. ``explain()`` gives the failures in sentences."""
    import great_expectations.expectations as gxe

    from aeops.data import streams

    time, series = meta.time_column or "", meta.series_column or ""
    step_table = streams.steps(frame, time, series)
    lengths = streams.series_lengths(frame, series).rename_axis("series").reset_index(name="rows")
    spread = frame[meta.numeric].std().fillna(0.0).rename_axis("sensor").reset_index(name="std")
    return [
        (
            "time_steps",
            step_table,
            [
                gxe.ExpectColumnValuesToBeBetween(
                    column="step_seconds", min_value=0, strict_min=True, max_value=rules.max_gap
                )
            ],
            lambda: [
                Failure("time_steps", time, p.what, p.sentence(time, rules.max_gap))
                for p in streams.step_problems(step_table, rules.max_gap)
            ],
        ),
        (
            "series_lengths",
            lengths,
            [gxe.ExpectColumnValuesToBeBetween(column="rows", min_value=rules.min_series_rows)],
            lambda: [_short_series(lengths, rules.min_series_rows)],
        ),
        (
            "sensors",
            spread,
            [gxe.ExpectColumnValuesToBeBetween(column="std", min_value=0, strict_min=True)],
            lambda: [_constant_sensors(spread)],
        ),
    ]


def _short_series(lengths: pd.DataFrame, min_rows: int) -> Failure:
    short = lengths[lengths["rows"] < min_rows]
    shown = ", ".join(f"'{s}' ({n} rows)" for s, n in short.head(5).itertuples(index=False))
    more = f" and {len(short) - 5} more" if len(short) > 5 else ""
    return Failure(
        "series_lengths",
        None,
        f"{len(short)} short series",
        f"series {shown}{more} are shorter than the {min_rows} rows a series needs (its "
        "training rows, then at least one to validate and one to test, and one whole window "
        "of data.window.size rows); remove them, join them to a longer series, or lower "
        "data.split.train_rows or data.window.size",
    )


def _constant_sensors(spread: pd.DataFrame) -> Failure:
    flat = spread.loc[spread["std"] <= 0, "sensor"].astype(str).tolist()
    return Failure(
        "sensors",
        flat[0] if flat else None,
        "constant",
        f"sensor column(s) {flat[:5]} hold one value in every row of every series, so they "
        "cannot show a fault; add them to data.exclude",
    )


def _for_gx(frame: pd.DataFrame, meta: DatasetMeta) -> pd.DataFrame:
    """Text columns as `object` dtype, whose values GX's type check inspects one by one."""
    text = [*meta.categorical, *([meta.label_column] if meta.label_column else [])]
    present = [c for c in text if c in frame.columns]
    if not present:
        return frame
    return frame.assign(**{c: frame[c].astype(object) for c in present})


def _describe(result: Any) -> Failure:
    config = result.expectation_config
    kwargs = config.kwargs
    detail_bits = []
    res = result.result or {}
    if "unexpected_count" in res:
        rows = res.get("partial_unexpected_index_list") or []
        values = res.get("partial_unexpected_list") or []
        detail_bits.append(f"{res['unexpected_count']} bad value(s)")
        if rows:
            detail_bits.append(f"rows {list(rows)[:5]}")
        if values:
            detail_bits.append(f"values {list(values)[:5]}")
    if "observed_value" in res:
        detail_bits.append(f"observed {res['observed_value']}")
    for key in ("min_value", "max_value", "value_set", "type_list"):
        if kwargs.get(key) is not None:
            detail_bits.append(f"{key}={kwargs[key]}")
    if config.type == "expect_column_to_exist":
        detail_bits.append("column is missing")
    exc = (result.exception_info or {}).get("exception_message")
    if exc:
        detail_bits.append(str(exc).splitlines()[0][:200])
    return Failure(config.type, kwargs.get("column"), "; ".join(detail_bits) or "no detail")


def validate_frame(
    frame: pd.DataFrame,
    meta: DatasetMeta,
    min_rows: int,
    docs_dir: str | Path | None = None,
    allow_missing: bool = False,
    stream: StreamRules | None = None,
) -> ValidationReport:
    """Run the suite on ``frame`` with an ephemeral GX context; write Data Docs to ``docs_dir``.
    A stream's time steps and series lengths are checked as suites of their own."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    if not verbose():  # GX's "Calculating Metrics" bars: one per expectation batch, no news
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="aeops",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(Path(docs_dir).resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    source = context.data_sources.add_pandas("aeops")
    success, evaluated, failures = _run_suite(
        context,
        source,
        "dataset",
        _for_gx(frame, meta),
        build_expectations(meta, min_rows, allow_missing),
        docs_dir is not None,
    )
    if is_wide(meta):
        profile = column_profile(frame, list(meta.numeric))
        block_ok, block_evaluated, _ = _run_suite(
            context,
            source,
            "numeric_features",
            profile,
            profile_expectations(allow_missing, meta.value_range),
            docs_dir is not None,
        )
        evaluated += block_evaluated
        if not block_ok:
            success = False
            failures += profile_failures(frame, profile, allow_missing, meta.value_range)
    if meta.is_stream and stream is not None:
        for name, table, checks, explain in stream_suites(frame, meta, stream):
            ok, n, _ = _run_suite(context, source, name, table, checks, docs_dir is not None)
            evaluated += n
            if not ok:
                success = False
                failures += explain()
    docs = str(Path(docs_dir) / "index.html") if docs_dir else None
    return ValidationReport(success, evaluated, _root_causes(failures), docs)


def _run_suite(
    context: Any,
    source: Any,
    name: str,
    frame: pd.DataFrame,
    expectations: list[Any],
    with_docs: bool,
) -> tuple[bool, int, list[Failure]]:
    """One GX suite over ``frame`` through a checkpoint (its Data Docs page when asked)."""
    import great_expectations as gx

    batch_definition = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(
        "all_rows"
    )
    suite_name = SUITE_NAME if name == "dataset" else f"{SUITE_NAME}_{name}"
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
    )
    actions: list[Any] = [gx.checkpoint.UpdateDataDocsAction(name="data_docs")] if with_docs else []
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"aeops_{name}",
            validation_definitions=[definition],
            actions=actions,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    evaluated, failures = 0, []
    for run_result in result.run_results.values():
        evaluated += run_result.statistics["evaluated_expectations"]
        failures += [_describe(r) for r in run_result.results if not r.success]
    return bool(result.success), evaluated, failures


def _root_causes(failures: list[Failure]) -> list[Failure]:
    """A missing column fails every check on it; report only that it is missing."""
    missing = {f.column for f in failures if f.expectation == "expect_column_to_exist"}
    kept = [
        f for f in failures if f.column not in missing or f.expectation == "expect_column_to_exist"
    ]
    return sorted(kept, key=lambda f: (f.column or "", f.expectation))
