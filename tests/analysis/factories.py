"""Small builders of tidy rating tables for the analysis tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def frame_from_matrix(
    matrix, *, dimension: str = "d", raters=None, items=None, **columns
) -> pd.DataFrame:
    """Tidy ratings from a raters x items matrix (NaN or None = no value)."""
    values = np.asarray(
        [[np.nan if v is None else float(v) for v in row] for row in matrix], dtype=float
    )
    n_raters, n_items = values.shape
    raters = list(range(n_raters)) if raters is None else list(raters)
    items = list(range(n_items)) if items is None else list(items)
    frame = pd.DataFrame(
        {
            "rater": np.repeat(np.asarray(raters, dtype=object), n_items),
            "item": np.tile(np.asarray(items, dtype=object), n_raters),
            "dimension": dimension,
            "value": values.ravel(),
        }
    )
    for name, value in columns.items():
        frame[name] = value
    return frame


def matrix_from_frame(frame: pd.DataFrame) -> np.ndarray:
    """Raters x items matrix (sorted labels) of one dimension."""
    return frame.pivot_table(
        index="rater", columns="item", values="value", aggfunc="first", dropna=False
    ).to_numpy()


def random_panel(
    rng: np.random.Generator,
    *,
    n_raters: int = 8,
    n_items: int = 30,
    categories: int = 5,
    missing: float = 0.2,
    noise: float = 0.8,
    dimensions: tuple[str, ...] = ("d",),
) -> pd.DataFrame:
    """Ratings 1..categories: item quality + rater severity + noise, some cells missing."""
    frames = []
    for dimension in dimensions:
        quality = rng.uniform(1, categories, size=n_items)
        severity = rng.normal(0, 0.4, size=n_raters)
        raw = quality[None, :] + severity[:, None] + rng.normal(0, noise, (n_raters, n_items))
        values = np.clip(np.rint(raw), 1, categories)
        values[rng.random(values.shape) < missing] = np.nan
        frames.append(
            frame_from_matrix(
                values,
                dimension=dimension,
                raters=[f"r{i:02d}" for i in range(n_raters)],
                items=[f"i{j:03d}" for j in range(n_items)],
            )
        )
    return pd.concat(frames, ignore_index=True)
