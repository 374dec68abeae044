"""Coverage of the calibration-item intervals (:mod:`analysis.reference`).

Simulates one expert rating ``n`` calibration items on three 1-5 dimensions with a bias and
noise (ratings rounded and clipped), computes the weighted kappa and the bias with their 95%
jackknife intervals, and counts how often the intervals hold the population values (from
200,000 items of the same population). Prints coverage per design; seeded.

Run: ``.venv/bin/python bench/reference.py`` (``--reps N``, default 1000).
"""

from __future__ import annotations

import argparse
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.reference import reference_agreement  # noqa: E402

DIMENSIONS = 3


def draw(n: int, bias: float, noise: float, rng: np.random.Generator):
    ref = rng.integers(1, 6, size=(n, DIMENSIONS))
    ratings = np.clip(np.rint(ref + bias + rng.normal(0, noise, size=ref.shape)), 1, 5)
    return ref, ratings


def truth(bias: float, noise: float) -> tuple[float, float]:
    ref, x = draw(200_000, bias, noise, np.random.default_rng(99))
    px, pr = ((x - 1) / 4).ravel(), ((ref - 1) / 4).ravel()
    kappa = (
        2
        * np.mean((px - px.mean()) * (pr - pr.mean()))
        / (px.var() + pr.var() + (px.mean() - pr.mean()) ** 2)
    )
    return float(kappa), float((x - ref).mean())


def coverage(n: int, bias: float, noise: float, reps: int, seed: int) -> tuple[float, float, int]:
    true_kappa, true_bias = truth(bias, noise)
    rng = np.random.default_rng(seed)
    scales = {f"d{d}": (1, 5) for d in range(DIMENSIONS)}
    kappa_hits, bias_hits = [], []
    for _ in range(reps):
        ref, x = draw(n, bias, noise, rng)
        cells = [(i, d) for i in range(n) for d in range(DIMENSIONS)]
        frame = pd.DataFrame(
            [("e", f"i{i}", f"d{d}", x[i, d]) for i, d in cells],
            columns=["rater", "item", "dimension", "value"],
        )
        refs = {(f"i{i}", f"d{d}"): float(ref[i, d]) for i, d in cells}
        (expert,) = reference_agreement(frame, refs, scales).experts
        if expert.kappa_ci is not None:
            kappa_hits.append(expert.kappa_ci[0] <= true_kappa <= expert.kappa_ci[1])
        if expert.bias_ci is not None:
            bias_hits.append(expert.bias_ci[0] <= true_bias <= expert.bias_ci[1])
    return float(np.mean(kappa_hits)), float(np.mean(bias_hits)), len(kappa_hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    args = parser.parse_args()
    print("items  bias  noise  kappa coverage (with an interval)  bias coverage")
    for n in (3, 5, 8, 15):
        for bias, noise in ((0.0, 0.7), (0.5, 1.0)):
            kappa, bias_cov, with_ci = coverage(n, bias, noise, args.reps, seed=n)
            print(
                f"{n:5d}  {bias:4.1f}  {noise:5.1f}  {kappa:6.3f} ({with_ci}/{args.reps})"
                f"{'':17s}{bias_cov:6.3f}"
            )


if __name__ == "__main__":
    main()
