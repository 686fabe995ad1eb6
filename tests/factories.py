"""Small datasets the tests (and the quality benchmark) write themselves: nothing downloaded.

- :func:`sensor_table`: a machine table with text labels (``ok``/``defect``), categorical
  columns (``line``, ``shift``), an id and a timestamp column to exclude;
- :func:`wine_table`: scikit-learn's embedded wine data with its class names as labels;
- :func:`write_part_images`: a folder of PNG "part photos" in ``good/`` and ``defect/``;
- :func:`sensor_stream` / :func:`write_streams`: sensor streams sampled once a second, one
  fault each (SKAB's layout: ``;``-separated, ``datetime``, ``anomaly``, ``changepoint``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SENSORS = [f"sensor_{i}" for i in range(8)]


def sensor_table(n: int = 1200, anomaly_share: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Eight sensors driven by three hidden factors, shifted by production line and shift.

    Defects break that structure in three ways: one sensor far off, three sensors decoupled
    from the factors, or readings of one line recorded under another line's name."""
    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(1234).normal(size=(3, len(SENSORS)))
    line_offset = {"A": 0.0, "B": 1.5, "C": -1.5}
    line = rng.choice(list(line_offset), size=n, p=[0.5, 0.3, 0.2])
    shift = rng.choice(["day", "night"], size=n)
    factors = rng.normal(size=(n, 3))
    values = factors @ weights + np.array([line_offset[v] for v in line])[:, None]
    values += 0.4 * (shift == "night")[:, None] + 0.2 * rng.normal(size=values.shape)
    label = np.full(n, "ok", dtype=object)
    defects = rng.choice(n, size=int(anomaly_share * n), replace=False)
    for k, i in enumerate(defects):
        kind = k % 3
        if kind == 0:
            values[i, rng.integers(len(SENSORS))] += rng.choice([-1, 1]) * rng.uniform(3, 5)
        elif kind == 1:
            cols = rng.choice(len(SENSORS), size=3, replace=False)
            values[i, cols] = rng.normal(size=3) * values[:, cols].std(axis=0)
        else:
            line[i] = "C" if line[i] != "C" else "B"
        label[i] = "defect"
    frame = pd.DataFrame(values.round(4), columns=SENSORS)
    frame.insert(0, "unit_id", [f"U{100000 + i}" for i in range(n)])
    frame.insert(1, "timestamp", pd.date_range("2026-01-01", periods=n, freq="min"))
    frame["line"] = line
    frame["shift"] = shift
    frame["status"] = label
    return frame


def wine_table() -> pd.DataFrame:
    """scikit-learn's embedded wine table (178 rows, 13 numeric columns), label = class name."""
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame = bunch.frame.drop(columns=["target"])
    frame["cultivar"] = [str(bunch.target_names[t]) for t in bunch.target]
    return frame


def part_image(rng: np.random.Generator, size: int, defect: bool) -> np.ndarray:
    """A bright disk on a dark background, slightly moved and noisy; a defect has a dark
    scratch across the disk or a bite out of its rim."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size / 2 + rng.uniform(-1, 1, 2)
    radius = size * 0.32 + rng.uniform(-0.5, 0.5)
    image = np.where((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2, 0.8, 0.1)
    if defect:
        if rng.random() < 0.5:
            row = int(cy + rng.uniform(-radius / 2, radius / 2))
            image[row : row + 2, int(cx - radius) : int(cx + radius)] = 0.1
        else:
            by, bx = cy + radius * 0.8 * rng.choice([-1, 1]), cx + radius * 0.3
            image[(yy - by) ** 2 + (xx - bx) ** 2 <= (radius * 0.4) ** 2] = 0.1
    image += rng.normal(0, 0.03, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def write_part_images(
    root: Path,
    n_good: int = 120,
    n_defect: int = 30,
    size: int = 16,
    seed: int = 0,
    labeled: bool = True,
    rgb: bool = False,
) -> Path:
    """PNGs in ``root/good`` and ``root/defect`` (or all in ``root`` when not labeled)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for kind, count in (("good", n_good), ("defect", n_defect)):
        folder = root / kind if labeled else root
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = part_image(rng, size, defect=kind == "defect")
            image = Image.fromarray(pixels, mode="L")
            if rgb:
                image = image.convert("RGB")
            image.save(folder / f"{kind}_{i:04d}.png")
    return root


def sensor_stream(rows: int = 300, fault: tuple[int, int] | None = None, seed: int = 0):
    """One series: four sensors following one hidden rhythm, sampled once a second, with a
    fault (a sensor drifting off the others) over the rows ``fault`` = (start, stop), by
    default the fifth sixth of the series."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=np.float64)
    rhythm = np.sin(2 * np.pi * t / 30.0 + rng.uniform(0, 2 * np.pi))
    weights = np.array([1.0, -0.5, 0.8, 0.3])
    values = rhythm[:, None] * weights + 0.05 * rng.normal(size=(rows, 4)) + 10.0
    start, stop = fault or (rows * 4 // 6, rows * 5 // 6)
    values[start:stop, 2] += np.linspace(0.5, 2.0, stop - start)
    anomaly = np.zeros(rows)
    anomaly[start:stop] = 1.0
    changepoint = np.zeros(rows)
    changepoint[[start, stop - 1]] = 1.0
    frame = pd.DataFrame(values.round(5), columns=[f"s{i}" for i in range(4)])
    frame.insert(0, "datetime", pd.date_range("2026-03-09 10:00:00", periods=rows, freq="s"))
    frame["datetime"] = frame["datetime"] + pd.Timedelta(hours=seed)
    frame["anomaly"] = anomaly
    frame["changepoint"] = changepoint
    return frame


def write_streams(folder: Path, n: int = 3, rows: int = 300) -> list[Path]:
    """``n`` series files ``0.csv`` .. in ``folder``, written as SKAB writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i}.csv"
        frame = sensor_stream(rows, seed=i)
        frame.to_csv(path, sep=";", index=False, date_format="%Y-%m-%d %H:%M:%S")
        paths.append(path)
    return paths
