"""Coverage of the two-way intervals under other rules for the interaction's cap.

The two-way variance is V = V_I + V_R - E (analysis/README.md, "The raters' pair
part"): V_I and V_R from the item and the rater bootstrap, E from the two-way jackknife,
G the raters' pair part from the delete-two-raters jackknife. This script draws the
panels of ``bench/coverage.py`` once, keeps for every panel and coefficient the estimate,
the bootstrap's bias, V_I, V_R, E and G (computed by analysis.reliability itself), and
then forms the bias-corrected t interval under each rule on the same panels and
replicates:

- ``before``: E capped at min(V_I, V_R);
- ``uncapped``: E as estimated;
- ``cap-VR``: E capped at V_R;
- ``parts``: every part solved for (F = min(G, E/2), each part at least 0);
- ``pairs-as-given``: E capped at min(V_I + G, V_R), negative parts squared in the df;
- ``pairs`` (the interval in analysis.reliability): the same cap, negative parts 0.

For each rule and coefficient it prints the coverage of the population value, the
shares with the population above and below the interval, the mean of V over the
variance of the estimates, the median df and the share of panels with df below 4.

Run: ``nice .venv/bin/python bench/coverage_rules.py --panels 1000 --seed 2``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import numpy as np  # noqa: E402
import scipy.special  # noqa: E402

from analysis import reliability  # noqa: E402
from analysis.tidy import dimension_data  # noqa: E402
from bench.coverage import ALPHAS, COEFFICIENTS, DOMAIN, designs, panel, population  # noqa: E402

RULES = ("before", "uncapped", "cap-VR", "parts", "pairs-as-given", "pairs")
#: Columns of a record: estimate, population, bias, V_I, V_R, E, G, items, raters.
FIELDS = 9


def _named(batch: reliability._Batch) -> reliability._Batch:
    """The merged batch with alpha's levels named alpha_<level>."""

    def sums(weights: np.ndarray, units: object) -> dict[str, np.ndarray]:
        found = batch.sums(weights, units)
        return {(f"alpha_{k}" if k in ALPHAS else k): v for k, v in found.items()}

    return reliability._Batch(batch.units, sums)


def records(frame, truth: dict[str, float], n_bootstrap: int, rng) -> dict[str, list[float]]:
    """One panel's record per coefficient (NaN where the estimate is undefined)."""
    data = dimension_data(frame, scales={"d": list(DOMAIN)})["d"]
    draws = reliability._draws(data, n_bootstrap, rng, "sampled")
    table = reliability._rated_values(data)
    _, alpha_point = reliability._alpha_points(data, reliability.LEVELS)
    agreement = reliability._agreement_batch(table, data.domain)
    _, agreement_point = reliability._agreement_points(data, table, agreement)
    alphas = reliability._alpha_batch(table, data.domain, list(ALPHAS))
    batch = _named(reliability._merged(alphas, agreement))
    point = {f"alpha_{k}": v for k, v in alpha_point.items()} | agreement_point
    n_items, n_raters = table.n_units, table.n_raters
    given = reliability._given
    by_items = reliability._chunked(
        batch, n_bootstrap, given(draws.items, n_raters, raters=False), table.cells
    )
    assert draws.raters is not None
    by_raters = reliability._chunked(
        batch, n_bootstrap, given(draws.raters, n_items, raters=True), table.cells
    )
    interaction, pairs = reliability._second_order_parts(batch, table, draws)
    c_items = np.sqrt(n_items / (n_items - 1.0))
    c_raters = np.sqrt(n_raters / (n_raters - 1.0))
    found = {}
    for name in COEFFICIENTS:
        value = point.get(name)
        if value is None or not np.isfinite(value):
            found[name] = [np.nan] * FIELDS
            continue
        item_part = c_items * (by_items[name] - value)
        rater_part = c_raters * (by_raters[name] - value)
        used = np.isfinite(item_part + rater_part)
        found[name] = [
            value,
            truth[name],
            float((item_part + rater_part)[used].mean()),
            float(np.var(item_part[used])),
            float(np.var(rater_part[used])),
            interaction.get(name, 0.0),
            pairs.get(name, 0.0),
            n_items,
            n_raters,
        ]
    return found


def variance(rule: str, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """V and Satterthwaite's df of every panel under one rule."""
    v_i, v_r, e, g, n_items, n_raters = parts
    e, g = np.maximum(e, 0.0), np.maximum(g, 0.0)
    dfs = (n_items - 1.0, n_raters - 1.0, (n_items - 1.0) * (n_raters - 1.0))
    if rule == "parts":
        f = np.minimum(g, e / 2.0)
        e_c = np.minimum(
            np.maximum(e - 2.0 * f, 0.0), np.maximum(np.minimum(v_i - f, v_r - 2 * g), 0.0)
        )
        pieces = [(v_i - e_c - f, dfs[0]), (v_r - e_c - 2 * g, dfs[1]), (e_c, dfs[2])]
        pieces.append((g, n_raters * (n_raters - 3.0) / 2.0))
        total = sum(piece for piece, _ in pieces)
    else:
        limit = {
            "before": np.minimum(v_i, v_r),
            "uncapped": np.full_like(e, np.inf),
            "cap-VR": v_r,
        }.get(rule, np.minimum(v_i + g, v_r))
        e = np.minimum(e, limit)
        total = v_i + v_r - e
        a, b = v_i - e, v_r - e
        if rule == "pairs":
            a, b = np.maximum(a, 0.0), np.maximum(b, 0.0)
        pieces = [(a, dfs[0]), (b, dfs[1]), (e, dfs[2])]
    spread = sum(piece**2 / df for piece, df in pieces)
    return total, total**2 / np.maximum(spread, 1e-300)


def summary(rule: str, rows: np.ndarray) -> str:
    rows = rows[np.isfinite(rows[:, 0])]
    estimate, truth, bias = rows[:, 0], rows[:, 1], rows[:, 2]
    v, df = variance(rule, rows[:, 3:].T)
    # V <= 0: a zero-width interval, as analysis.reliability gives for a variance of 0.
    positive = v > 0
    df = np.where(positive, df, np.inf)
    half = np.where(positive, scipy.special.stdtrit(df, 0.975) * np.sqrt(np.abs(v)), 0.0)
    centre = estimate - bias
    low, high = centre - half, np.minimum(centre + half, 1.0)
    covered = ((low <= truth) & (truth <= high)).mean()
    above, below = (truth > high).mean(), (truth < low).mean()
    ratio = np.maximum(v, 0.0).mean() / np.var(estimate)
    return (
        f"{covered:6.3f} {above:6.3f} {below:6.3f} {ratio:6.2f} {np.median(df):6.1f} "
        f"{(df < 4).mean():6.3f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--designs", type=designs, default=designs("10x9,10x13"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--missing", type=float, default=0.2)
    arguments = parser.parse_args(argv)
    truth = population(0.3, 0.5)
    for n_raters, n_items in arguments.designs:
        rng = np.random.default_rng([arguments.seed, n_raters, n_items])
        found: dict[str, list[list[float]]] = {name: [] for name in COEFFICIENTS}
        for _ in range(arguments.panels):
            frame = panel(
                rng, n_raters, n_items, rater_sd=0.3, noise_sd=0.5, missing=arguments.missing
            )
            for name, row in records(frame, truth, arguments.bootstrap, rng).items():
                found[name].append(row)
        print(
            f"\n{n_raters} raters x {n_items} items: {arguments.panels} panels, missing "
            f"{arguments.missing:.2f}, {arguments.bootstrap} replicates, seed {arguments.seed}"
        )
        print(f"{'rule':15} {'coefficient':15}  cover  above  below  V/var     df  df<4")
        for rule in RULES:
            for name in COEFFICIENTS:
                rows = np.asarray(found[name], dtype=float)
                print(f"{rule:15} {name:15} {summary(rule, rows)}")


if __name__ == "__main__":
    main()
