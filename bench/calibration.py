"""Benchmarks of :func:`analysis.calibration.fit_thresholds` on panels from a known rule.

Two studies: how often the thresholds are recovered (the default), and, with
``--reliability``, whether the tier probabilities are calibrated against fresh panels.

**Recovery.** Each synthetic panel has 30 experts x 20 items x 2 rule dimensions (1-5) and 3 tiers.
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

**Reliability** (``--reliability``): a reliability diagram of the tier probabilities.
For each design (experts x items; by default the shipped sizes 10 x 9, 10 x 13, 15 x 40,
30 x 60) and each of its worlds (as many as give about ``--total-items`` items in all, 2,400 by
default): item latent scores on two dimensions are drawn
uniform on [1, 5]; an expert has a severity ~ N(0, 0.3) and perceives latent + severity +
N(0, noise) on each dimension, rates the rounded perception clipped to 1-5, and judges the
holistic tier by the true rule (max, thresholds 2.5 and 4.0) on the perceived maximum plus
N(0, holistic noise). One panel is drawn and its tier probabilities computed, by the
predictive bootstrap (the default) and by the plug-in bootstrap (the estimator before,
the baseline), both from the same panel. Then ``--fresh`` fresh panels of the same size
rate the same items; each is analysed as the app does (consensus scores, panel tiers,
thresholds refitted; declared thresholds where a panel places none). An item's predicted
tier is its modal tier, its prediction the modal probability, its observed value the
share of fresh panels that put it in that tier. Items are binned by prediction; per bin
the table gives the number of items, the mean prediction, the mean observed share, their
difference and its Monte-Carlo standard error (items of one world are correlated, so the
error is that of the world means); per design the mean |predicted - observed| over the
bins (weighted by items) and the largest.

Run: ``.venv/bin/python bench/calibration.py`` (``--help`` for options);
``nice .venv/bin/python bench/calibration.py --reliability`` (about 6 minutes).
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
    tier_probabilities,
)
from analysis.calibration.panel import _prepare  # noqa: E402
from analysis.calibration.rule import _assign  # noqa: E402
from analysis.calibration.search import _fit  # noqa: E402

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
                    *(
                        np.nan if check.kappa is None else check.kappa
                        for check in (
                            result.initial_agreement,
                            result.fitted_agreement,
                            result.loo_agreement,
                        )
                    ),
                    result.loo_agreement.accuracy,
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


# ------------------------------------------------------------------- reliability diagram

DESIGNS = ("10x9", "10x13", "15x40", "30x60")
TRUTH = (2.5, 4.0)
EDGES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
ESTIMATORS = {"plug-in": False, "predictive": True}


def perceive(rng, latent, n_raters, *, noise, holistic_noise, severity=0.3):
    """(2, raters, items) ratings 1-5 and (raters, items) holistic tiers of new experts."""
    shift = rng.normal(0, severity, size=n_raters)
    perceived = latent[:, None, :] + shift[None, :, None]
    perceived = perceived + rng.normal(0, noise, size=(2, n_raters, latent.shape[1]))
    values = np.clip(np.rint(perceived), 1, 5)
    judged = perceived.max(axis=0) + rng.normal(0, holistic_noise, size=perceived.shape[1:])
    return values, (judged[..., None] >= np.asarray(TRUTH)).sum(axis=-1)


def tidy(values, tiers) -> pd.DataFrame:
    _, n_raters, n_items = values.shape
    raters = np.repeat([f"r{i:05d}" for i in range(n_raters)], n_items)
    items = np.tile([f"i{j:03d}" for j in range(n_items)], n_raters)
    frames = [
        pd.DataFrame({"rater": raters, "item": items, "dimension": name, "value": v.ravel()})
        for name, v in zip(DIMENSIONS, values, strict=True)
    ]
    tier = pd.DataFrame(
        {"rater": raters, "item": items, "dimension": "tier", "value": tiers.ravel() * 1.0}
    )
    return pd.concat([*frames, tier], ignore_index=True)


def declared_rule() -> TierRule:
    return TierRule(
        dimensions=DIMENSIONS, aggregate="max", n_tiers=3, initial_thresholds=TRUTH, scale=(1, 5)
    )


def fresh_tiers(rng, latent, n_raters, n_fresh, **model) -> np.ndarray:
    """(fresh panels, items) tier of each item by each fresh panel, thresholds refitted.

    The fresh panels are blocks of one large draw of experts; a block's consensus scores
    and panel tiers come from the same weighted medians the bootstrap uses, and it is
    fitted as fit_thresholds fits a panel (declared thresholds if none is identified)."""
    values, tiers = perceive(rng, latent, n_raters * n_fresh, **model)
    panel, rule = _prepare(tidy(values, tiers), declared_rule())
    weights = np.kron(np.eye(n_fresh), np.ones(n_raters))
    _, scores = rule.scores(panel, weights)
    panel_tiers = panel.panel_tiers(weights)
    out = np.empty_like(scores)
    for f in range(n_fresh):
        fitted = _fit(scores[f], panel_tiers[f], rule)
        out[f] = _assign(scores[f], rule.initial if fitted is None else fitted)
    return out


def world(rng, n_raters, n_items, args) -> dict[str, np.ndarray]:
    """Per estimator, (items, 2): each item's prediction and observed share."""
    model = {"noise": args.noise, "holistic_noise": args.holistic_noise}
    latent = rng.uniform(1, 5, size=(2, n_items))
    frame = tidy(*perceive(rng, latent, n_raters, **model))
    fresh = fresh_tiers(rng, latent, n_raters, args.fresh, **model)
    seed = int(rng.integers(2**32))
    out = {}
    for name, predictive in ESTIMATORS.items():
        result = tier_probabilities(
            frame,
            declared_rule(),
            Resampling(n_bootstrap=args.bootstrap, seed=seed, predictive=predictive),
        )
        rows = []
        for index, row in enumerate(result.probabilities):
            if row is None:
                continue
            tier = int(np.argmax(row))
            rows.append((row[tier], np.mean(fresh[:, index] == tier)))
        out[name] = np.asarray(rows, dtype=float).reshape(-1, 2)
    return out


def diagram(predicted, observed, world_of):
    """Rows (lower edge, upper edge, n, mean predicted, mean observed, MC standard error)."""
    rows = []
    upper = np.searchsorted(EDGES, predicted, side="right") - 1
    upper = np.minimum(upper, len(EDGES) - 2)
    for b in range(len(EDGES) - 1):
        use = upper == b
        if not use.any():
            continue
        difference = observed[use] - predicted[use]
        centred = np.bincount(world_of[use], weights=difference - difference.mean())
        error = np.sqrt((centred**2).sum()) / use.sum()
        rows.append(
            (
                EDGES[b],
                EDGES[b + 1],
                int(use.sum()),
                predicted[use].mean(),
                observed[use].mean(),
                error,
            )
        )
    return rows


def reliability(args) -> None:
    print(
        f"Reliability of the tier probabilities: worlds of each design to about {args.total_items} "
        f"items in all, "
        f"{args.fresh} fresh panels per world, {args.bootstrap} replicates, noise {args.noise}, "
        f"holistic noise {args.holistic_noise}, true and declared thresholds {TRUTH}, "
        f"seed {args.seed}"
    )
    rng = np.random.default_rng(args.seed)
    for design in args.designs:
        n_raters, n_items = (int(part) for part in design.split("x"))
        n_worlds = -(-args.total_items // n_items)
        start = time.perf_counter()
        found: dict[str, list[np.ndarray]] = {name: [] for name in ESTIMATORS}
        worlds: dict[str, list[np.ndarray]] = {name: [] for name in ESTIMATORS}
        for w in range(n_worlds):
            for name, rows in world(rng, n_raters, n_items, args).items():
                found[name].append(rows)
                worlds[name].append(np.full(len(rows), w))
        elapsed = time.perf_counter() - start
        print(f"\n{n_raters} experts x {n_items} items, {n_worlds} worlds ({elapsed:.0f} s)")
        print(
            f"{'estimator':>10} {'bin':>11} {'items':>6} {'predicted':>9} {'observed':>8} "
            f"{'obs-pred':>8} {'MC se':>6}"
        )
        for name in ESTIMATORS:
            rows = np.concatenate(found[name])
            table = diagram(rows[:, 0], rows[:, 1], np.concatenate(worlds[name]))
            for low, high, n, predicted, observed, error in table:
                print(
                    f"{name:>10} {f'[{low:.2f},{high:.2f}' + (']' if high == 1 else ')'):>11} "
                    f"{n:>6} {predicted:>9.3f} "
                    f"{observed:>8.3f} {observed - predicted:>+8.3f} {error:>6.3f}"
                )
            gaps = np.array([abs(row[4] - row[3]) for row in table])
            counts = np.array([row[2] for row in table])
            print(
                f"{name:>10} mean |predicted - observed| {np.average(gaps, weights=counts):.3f}, "
                f"largest {gaps.max():.3f}; all items: predicted {rows[:, 0].mean():.3f}, "
                f"observed {rows[:, 1].mean():.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reliability", action="store_true", help="reliability diagram of tier probabilities"
    )
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS))
    parser.add_argument(
        "--total-items", type=int, default=2400, help="reliability: items in all, per design"
    )
    parser.add_argument("--fresh", type=int, default=50)
    parser.add_argument("--holistic-noise", type=float, default=0.5)
    parser.add_argument(
        "--noise", type=float, nargs="+", help="default 0.3 0.6 0.9 1.2; reliability: 0.8"
    )
    parser.add_argument("--replicates", type=int, default=50)
    parser.add_argument("--raters", type=int, default=30)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--truth", type=float, nargs=2, default=[2.5, 4.0])
    parser.add_argument("--initial", type=float, nargs=2, default=[2.0, 3.0])
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    if args.reliability:
        args.noise = 0.8 if args.noise is None else args.noise[0]
        reliability(args)
    else:
        args.noise = [0.3, 0.6, 0.9, 1.2] if args.noise is None else args.noise
        run(args)


if __name__ == "__main__":
    main()
