"""Benchmark of :func:`analysis.calibration.fit_thresholds` on panels from a known rule.

Each synthetic panel has 30 experts x 20 items x 2 rule dimensions (1-5) and 3 tiers.
Latent item scores are uniform on [1, 5]; each expert perceives latent + own severity
(sd 0.3) + noise, rates the rounded, clipped perception, and gives as holistic tier the
true rule (max of the two dimensions, thresholds 2.5 and 4.0 by default) applied to the
unrounded perception. The fit starts from deliberately wrong initial thresholds.

Per noise level (50 panels each) it prints:

* ``same_tiers``: share of panels where the fitted rule on the panel's consensus scores
  puts every item in its true tier (true rule on the latent scores);
* ``same_split``: share where the fitted thresholds split the latent scores exactly as
  the true ones;
* ``within_0.5``: share where every fitted threshold is within 0.5 of the true one;
* ``recovered``: ``same_tiers`` and ``within_0.5`` together;
* ``attainable``: share of panels where *some* thresholds on the consensus scores give
  every item its true tier (the ceiling of ``same_tiers``: rounding to integer ratings
  makes e.g. latent 3.8 and 4.2 both a consensus 4);
* mean kappa of the initial and fitted thresholds, mean leave-one-item-out kappa and
  accuracy, mean share of borderline items, and seconds per calibration (fit, LOO and a
  200-resample bootstrap with refitting).

Run: ``.venv/bin/python bench/calibration.py`` (``--help`` for options).
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

from analysis.calibration import (  # noqa: E402
    Resampling,
    TierRule,
    consensus_scores,
    fit_thresholds,
)

DIMENSIONS = ["proprietary", "misuse"]


def panel(rng, *, noise, truth, n_raters, n_items, severity=0.3):
    """(tidy ratings with holistic tiers, latent max score per item)."""
    latent = rng.uniform(1, 5, size=(2, n_items))
    shift = rng.normal(0, severity, size=n_raters)
    perceived = latent[:, None, :] + shift[None, :, None]
    perceived = perceived + rng.normal(0, noise, size=(2, n_raters, n_items))
    values = np.clip(np.rint(perceived), 1, 5)
    tiers = (perceived.max(axis=0)[..., None] >= np.asarray(truth)).sum(axis=-1)
    raters = np.repeat([f"r{i:02d}" for i in range(n_raters)], n_items)
    items = np.tile([f"i{j:02d}" for j in range(n_items)], n_raters)
    frames = [
        pd.DataFrame({"rater": raters, "item": items, "dimension": name, "value": v.ravel()})
        for name, v in zip(DIMENSIONS, values, strict=True)
    ]
    frames.append(
        pd.DataFrame(
            {"rater": raters, "item": items, "dimension": "tier", "value": tiers.ravel() * 1.0}
        )
    )
    return pd.concat(frames, ignore_index=True), latent.max(axis=0)


def split(scores: np.ndarray, thresholds) -> np.ndarray:
    return (scores[:, None] >= np.asarray(thresholds) - 1e-9).sum(axis=1)


def run(args) -> None:
    truth = np.asarray(args.truth, dtype=float)
    print(
        f"{args.raters} experts x {args.items} items x 2 dimensions, 3 tiers, aggregate max, "
        f"true thresholds {tuple(truth)}, initial {tuple(args.initial)}, "
        f"{args.replicates} panels per noise level, {args.bootstrap} resamples, seed {args.seed}"
    )
    header = (
        f"{'noise':>5} {'same_tiers':>10} {'same_split':>10} {'within_0.5':>10} "
        f"{'recovered':>9} {'attainable':>10} {'kappa_init':>10} {'kappa_fit':>9} {'loo_kappa':>9} "
        f"{'loo_acc':>7} {'borderline':>10} {'s/calib':>7}"
    )
    print(header)
    rng = np.random.default_rng(args.seed)
    for noise in args.noise:
        rows = []
        for _ in range(args.replicates):
            frame, latent = panel(
                rng, noise=noise, truth=truth, n_raters=args.raters, n_items=args.items
            )
            start = time.perf_counter()
            result = fit_thresholds(
                frame,
                TierRule(
                    dimensions=DIMENSIONS,
                    aggregate="max",
                    n_tiers=3,
                    initial_thresholds=args.initial,
                    scale=(1, 5),
                ),
                Resampling(n_bootstrap=args.bootstrap, seed=rng),
            )
            elapsed = time.perf_counter() - start
            fitted = np.asarray(result.fitted_thresholds)
            scores = consensus_scores(frame, dimensions=DIMENSIONS).max(axis=1).to_numpy()
            true_tiers = split(latent, truth)
            same_tiers = np.array_equal(split(scores, fitted), true_tiers)
            same_split = np.array_equal(split(latent, fitted), true_tiers)
            within = bool(np.abs(fitted - truth).max() <= 0.5 + 1e-9)
            attainable = all(
                scores[true_tiers == k].max(initial=-np.inf)
                < scores[true_tiers > k].min(initial=np.inf)
                for k in range(len(truth))
            )
            borderline = np.mean([bool(item.borderline) for item in result.items])
            rows.append(
                (
                    same_tiers,
                    same_split,
                    within,
                    same_tiers and within,
                    attainable,
                    np.nan if result.kappa_initial is None else result.kappa_initial,
                    np.nan if result.kappa_fitted is None else result.kappa_fitted,
                    np.nan if result.loo_kappa is None else result.loo_kappa,
                    result.loo_accuracy,
                    borderline,
                    elapsed,
                )
            )
        means = np.nanmean(np.asarray(rows, dtype=float), axis=0)
        print(
            f"{noise:>5.1f} {means[0]:>10.2f} {means[1]:>10.2f} {means[2]:>10.2f} "
            f"{means[3]:>9.2f} {means[4]:>10.2f} {means[5]:>10.3f} {means[6]:>9.3f} "
            f"{means[7]:>9.3f} {means[8]:>7.3f} {means[9]:>10.3f} {means[10]:>7.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.3, 0.6, 0.9, 1.2])
    parser.add_argument("--replicates", type=int, default=50)
    parser.add_argument("--raters", type=int, default=30)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--truth", type=float, nargs=2, default=[2.5, 4.0])
    parser.add_argument("--initial", type=float, nargs=2, default=[2.0, 3.0])
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2025)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
