"""Benchmark of :func:`analysis.severity.fit_severity`: are planted severities recovered?

Two generators, each at 30 experts x 40 items (the acceptance size) and at 10 experts x
13 items (the panels the shipped surveys get), two rule dimensions rated 1-5, 5% of the
ratings "can't judge":

* ``rasch``: the model itself (:func:`analysis.severity.simulate_ratings`): item
  locations N(0, 1.5^2), severities N(0, 0.5^2) logits, thresholds -2, -0.7, 0.7, 2;
* ``latent``: not the model: each expert perceives a latent item score (uniform on
  [1, 5]) + their severity (N(0, 0.4^2) scale points) + noise (N(0, 0.7^2)) and rates
  the rounded perception, clipped to 1-5 (as ``elicit demo --simulated`` does).

Per size and generator it prints, over the panels the model could fit:

* ``r``: mean Pearson correlation of estimated and planted severities, its 5th
  percentile and the share of panels with r >= 0.9;
* ``msd r``: the same mean correlation for the simple leave-one-out mean signed
  deviation of :func:`analysis.raters.rater_diagnostics`, for comparison;
* for ``rasch`` only (the scale is the model's), with and without the JMLE correction:
  ``bias`` (mean of estimate - planted: 0 by construction, since both sum to zero),
  ``slope`` of estimated on planted severities (1 = no inflation), ``rmse`` and the
  ``coverage`` of severity +- 1.96 SE;
* ``unfitted``: panels where the model gave a reason instead of estimates, and the
  seconds per fit.

Run: ``nice .venv/bin/python bench/severity.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# Run as a script, this file's folder comes first on sys.path and bench/analysis.py would
# shadow the analysis package: put the repository root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.raters import rater_diagnostics  # noqa: E402
from analysis.severity import fit_severity, simulate_ratings  # noqa: E402

DIMENSIONS = ("proprietary", "misuse")


def latent_panel(rng, *, n_raters, n_items, severity_sd=0.4, noise=0.7, missing=0.05):
    """(tidy ratings, planted severities centred) from the latent-score generator."""
    shift = rng.normal(0.0, severity_sd, n_raters)
    shift -= shift.mean()
    raters = [f"E{j + 1:02d}" for j in range(n_raters)]
    rows = []
    for dimension in DIMENSIONS:
        latent = rng.uniform(1, 5, n_items)
        perceived = latent[:, None] + shift[None, :] + rng.normal(0, noise, (n_items, n_raters))
        values = np.clip(np.rint(perceived), 1, 5)
        for i in range(n_items):
            for j, rater in enumerate(raters):
                rows.append((rater, f"item{i + 1:02d}", dimension, float(values[i, j])))
    frame = pd.DataFrame(rows, columns=["rater", "item", "dimension", "value"])
    gone = rng.random(len(frame)) < missing
    frame.loc[gone, "value"] = np.nan
    return frame, dict(zip(raters, shift.tolist(), strict=True))


def rasch_panel(rng, *, n_raters, n_items):
    return simulate_ratings(
        rng, n_raters=n_raters, n_items=n_items, dimensions=DIMENSIONS, missing=0.05
    )


def scores(frame, planted, *, correction):
    """(estimated, planted, SE) of the raters with a severity; None if unfitted."""
    result = fit_severity(frame, bias_correction=correction)
    if not result.fitted:
        return None
    raters = [r for r in result.raters if r.severity is not None]
    estimated = np.array([r.severity for r in raters])
    truth = np.array([planted[r.rater] for r in raters])
    truth -= truth.mean()  # raters left out (extreme) shift the zero point
    se = np.array([r.se for r in raters])
    return estimated, truth, se


def deviation_r(frame, planted):
    diagnostics = rater_diagnostics(frame)
    pairs = [
        (d.mean_signed_deviation, planted[d.rater])
        for d in diagnostics
        if d.mean_signed_deviation is not None
    ]
    a, b = np.array(pairs).T
    return float(np.corrcoef(a, b)[0, 1])


def run(generator, *, n_raters, n_items, reps, seed):
    make = {"rasch": rasch_panel, "latent": latent_panel}[generator]
    rows = {True: [], False: []}
    correlations, deviation = [], []
    unfitted = 0
    seconds = 0.0
    for rep in range(reps):
        rng = np.random.default_rng([seed, n_raters, n_items, rep])
        frame, planted = make(rng, n_raters=n_raters, n_items=n_items)
        for correction in (True, False):
            started = time.perf_counter()
            found = scores(frame, planted, correction=correction)
            seconds += time.perf_counter() - started
            if found is None:
                unfitted += correction
                continue
            estimated, truth, se = found
            rows[correction].append(
                (
                    float(np.mean(estimated - truth)),
                    float(np.polyfit(truth, estimated, 1)[0]),
                    float(np.sqrt(np.mean((estimated - truth) ** 2))),
                    float(np.mean(np.abs(estimated - truth) <= 1.96 * se)),
                )
            )
            if correction:
                correlations.append(float(np.corrcoef(estimated, truth)[0, 1]))
        deviation.append(deviation_r(frame, planted))
    r = np.array(correlations)
    print(
        f"{generator:<7} {n_raters:>2} x {n_items:<3} panels {reps}, unfitted {unfitted}; "
        f"r mean {r.mean():.3f}, 5th percentile {np.percentile(r, 5):.3f}, "
        f"share >= 0.9 {np.mean(r >= 0.9):.2f}; msd r {np.mean(deviation):.3f}; "
        f"{seconds / (2 * reps):.3f} s per fit"
    )
    if generator == "rasch":
        for correction in (True, False):
            bias, slope, rmse, coverage = np.mean(rows[correction], axis=0)
            label = "corrected  " if correction else "uncorrected"
            print(
                f"    {label} bias {bias:+.3f}  slope {slope:.3f}  rmse {rmse:.3f}  "
                f"coverage {coverage:.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=200, help="panels per size and generator")
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    for generator in ("rasch", "latent"):
        for n_raters, n_items in ((30, 40), (10, 13)):
            run(generator, n_raters=n_raters, n_items=n_items, reps=args.reps, seed=args.seed)


if __name__ == "__main__":
    main()
