"""Benchmark of :func:`analysis.summary.analyze` against the ``krippendorff`` package alone.

Prints, for two synthetic panels, the wall time (best of 3 runs) and peak traced memory of a full
``analyze`` (every coefficient, 1,000 bootstrap replicates, rater diagnostics) and of
computing the four alphas with ``krippendorff.alpha`` on the same data, and their ratio.

(a) 200 experts x 500 items x 3 dimensions, complete;
(b) 5,000 raters x 2,000 items x 1 dimension, each rater rating 50 items.

Run: ``.venv/bin/python bench/analysis.py`` (``--quick`` runs (a) only).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc

# Run as a script, this file's folder comes first on sys.path and its name would shadow
# the analysis package: put the repository root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import krippendorff  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.summary import analyze  # noqa: E402

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def complete_panel(rng: np.random.Generator, raters: int, items: int, dimensions: int):
    """Ratings 1-5: item quality plus rater severity plus noise, rounded and clipped."""
    frames = []
    for dimension in range(dimensions):
        quality = rng.normal(3.0, 1.0, size=items)
        severity = rng.normal(0.0, 0.3, size=raters)
        noise = rng.normal(0.0, 0.7, size=(raters, items))
        value = np.clip(np.rint(quality[None, :] + severity[:, None] + noise), 1, 5)
        frames.append(
            pd.DataFrame(
                {
                    "rater": np.repeat(np.arange(raters), items),
                    "item": np.tile(np.arange(items), raters),
                    "dimension": f"d{dimension}",
                    "value": value.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def sparse_panel(rng: np.random.Generator, raters: int, items: int, per_rater: int):
    quality = rng.normal(3.0, 1.0, size=items)
    chosen = np.argsort(rng.random((raters, items)), axis=1)[:, :per_rater]
    rater = np.repeat(np.arange(raters), per_rater)
    item = chosen.ravel()
    value = np.clip(np.rint(quality[item] + rng.normal(0.0, 0.7, size=item.size)), 1, 5)
    return pd.DataFrame({"rater": rater, "item": item, "dimension": "d0", "value": value})


def reliability_matrices(ratings: pd.DataFrame) -> list[np.ndarray]:
    """Raters x items matrices per dimension, the krippendorff package's input."""
    return [
        part.pivot(index="rater", columns="item", values="value").to_numpy()
        for _, part in ratings.groupby("dimension")
    ]


def baseline(matrices: list[np.ndarray]) -> None:
    """The four alphas per dimension with the krippendorff package alone (no bootstrap)."""
    for matrix in matrices:
        for level in LEVELS:
            krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)


def measure(function, *args, **kwargs):
    tracemalloc.start()
    start = time.perf_counter()
    result = function(*args, **kwargs)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak


def timed(function, *args, repeat: int = 3, **kwargs):
    """(result, best wall time of ``repeat`` runs): the minimum is least disturbed by load."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return result, best


def run(name: str, ratings: pd.DataFrame) -> None:
    # The baseline gets its reliability matrices for free (built before timing), so the
    # ratio is conservative; analyze starts from the tidy table and validates it.
    matrices = reliability_matrices(ratings)
    _, base_seconds = timed(baseline, matrices)
    result, seconds = timed(analyze, ratings, n_bootstrap=1000, seed=0)
    _, json_seconds = timed(result.to_dict, repeat=1)
    _, _, peak = measure(analyze, ratings, n_bootstrap=1000, seed=0)
    _, _, base_peak = measure(baseline, matrices)
    alpha = {
        d: round(r.primary_alpha.value or float("nan"), 3) for d, r in result.dimensions.items()
    }
    print(f"{name}: {len(ratings):,} ratings; ordinal alpha {alpha}")
    print(
        f"  analyze (1,000 bootstrap, all coefficients, raters): {seconds:7.2f} s, "
        f"peak traced memory {peak / 2**20:8.1f} MiB"
    )
    print(
        f"  krippendorff package, four alphas:                   {base_seconds:7.2f} s, "
        f"peak traced memory {base_peak / 2**20:8.1f} MiB"
    )
    print(
        f"  ratio analyze / baseline: {seconds / base_seconds:5.1f}x"
        f"   (result.to_dict: {json_seconds:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run panel (a) only")
    arguments = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs; numpy {np.__version__}, pandas {pd.__version__}, "
        f"krippendorff {getattr(krippendorff, '__version__', '?')}"
    )
    rng = np.random.default_rng(20240601)
    run("(a) 200 experts x 500 items x 3 dimensions, complete", complete_panel(rng, 200, 500, 3))
    if not arguments.quick:
        run(
            "(b) 5,000 raters x 2,000 items x 1 dimension, 50 items each",
            sparse_panel(rng, 5000, 2000, 50),
        )
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"process max resident set size: {maxrss:.0f} MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
