"""Coverage of the reliability intervals in seeded simulation (issue #9).

Panels come from a latent model: item i has a location mu_i ~ N(0, 1), rater r a
severity b_r ~ N(0, rater_sd), and each rating is mu_i + b_r + N(0, noise_sd) cut at
-1.5, -0.5, 0.5, 1.5 into a 0-4 scale; with ``--missing`` each cell is dropped with that
probability. The population coefficient (raters and items both drawn from the model) is
computed by quadrature: P_o(c, k) = E_mu[pbar_c(mu) pbar_k(mu)] with pbar the category
probabilities averaged over the severity distribution, p_c = E_mu[pbar_c(mu)], and
alpha = 1 - sum P_o d / sum p p d (Fleiss' kappa and Gwet's AC1 from P_o and p alike).
``--check-population`` also prints the estimates of one very large panel.

For each design (raters x items) and coefficient it prints the population value, the
mean bias of the estimate and, for the old interval (items resampled, raters fixed,
percentile) and the new one (:func:`analysis.reliability.dimension_reliability`: raters
and items sampled, bias-corrected interval with the two-way variance and Student's t on
Satterthwaite's degrees of freedom), the share
of panels whose interval covers the population value, the shares with the population
above and below the interval, and the mean width.

Run: ``nice .venv/bin/python bench/coverage.py --panels 500 --missing 0.2`` (designs
10x9, 10x13, 15x40 and 30x60 unless ``--designs`` names others).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

# Run as a script, this file's folder comes first on sys.path and its name would shadow
# the analysis package: put the repository root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.stats  # noqa: E402

from analysis._coincidence import fixed_distances  # noqa: E402
from analysis.reliability import (  # noqa: E402
    Bootstrap,
    _agreement_batch,
    _alpha_batch,
    _draw_counts,
    _rated_values,
    dimension_reliability,
)
from analysis.tidy import dimension_data  # noqa: E402

CUTS = np.array([-1.5, -0.5, 0.5, 1.5])
DOMAIN = np.arange(CUTS.size + 1, dtype=float)
ALPHAS = ("nominal", "ordinal", "interval")
KAPPAS = ("fleiss_kappa", "gwet_ac1")
COEFFICIENTS = tuple(f"alpha_{level}" for level in ALPHAS) + KAPPAS


def population(rater_sd: float, noise_sd: float) -> dict[str, float]:
    """Population coefficients of the latent model, by Gauss-Hermite quadrature."""
    mu, mu_weight = np.polynomial.hermite_e.hermegauss(160)
    b, b_weight = np.polynomial.hermite_e.hermegauss(80)
    mu_weight, b_weight = mu_weight / mu_weight.sum(), b_weight / b_weight.sum()
    edges = np.concatenate([[-np.inf], CUTS, [np.inf]])
    latent = mu[:, None] + rater_sd * b[None, :]
    cumulative = scipy.stats.norm.cdf((edges[None, None, :] - latent[:, :, None]) / noise_sd)
    pbar = np.einsum("ibc,b->ic", np.diff(cumulative, axis=2), b_weight)
    observed = np.einsum("i,ic,ik->ck", mu_weight, pbar, pbar)
    p = observed.sum(axis=1)
    values = {}
    for level in ALPHAS:
        d = fixed_distances(DOMAIN, level)
        if d is None:
            midrank = np.cumsum(p) - p / 2.0
            d = (midrank[:, None] - midrank[None, :]) ** 2
        values[f"alpha_{level}"] = float(1.0 - (observed * d).sum() / (np.outer(p, p) * d).sum())
    pa = float(np.trace(observed))
    pe_fleiss = float((p**2).sum())
    pe_gwet = float((p * (1.0 - p)).sum() / (p.size - 1.0))
    values["fleiss_kappa"] = (pa - pe_fleiss) / (1.0 - pe_fleiss)
    values["gwet_ac1"] = (pa - pe_gwet) / (1.0 - pe_gwet)
    return values


def panel(
    rng: np.random.Generator,
    n_raters: int,
    n_items: int,
    *,
    rater_sd: float,
    noise_sd: float,
    missing: float,
) -> pd.DataFrame:
    """Tidy ratings of one simulated panel."""
    mu = rng.normal(0.0, 1.0, n_items)
    severity = rng.normal(0.0, rater_sd, n_raters)
    latent = mu[None, :] + severity[:, None] + rng.normal(0.0, noise_sd, (n_raters, n_items))
    values = np.searchsorted(CUTS, latent).astype(float)
    values[rng.random(values.shape) < missing] = np.nan
    frame = pd.DataFrame(
        {
            "rater": np.repeat(np.arange(n_raters), n_items),
            "item": np.tile(np.arange(n_items), n_raters),
            "dimension": "d",
            "value": values.ravel(),
        }
    )
    return frame.dropna(subset=["value"])


def new_intervals(frame: pd.DataFrame, n_bootstrap: int, rng: np.random.Generator) -> dict:
    result = dimension_reliability(
        frame, level="ordinal", scale=list(DOMAIN), bootstrap=Bootstrap(n_bootstrap, rng=rng)
    )
    found = {f"alpha_{level}": result.alpha[level] for level in ALPHAS}
    found.update({name: getattr(result, name) for name in KAPPAS})
    return {name: (c.value, c.ci) for name, c in found.items()}


def old_intervals(frame: pd.DataFrame, n_bootstrap: int, rng: np.random.Generator) -> dict:
    """The interval before issue #9: items resampled, raters fixed, 2.5/97.5 percentiles."""
    data = dimension_data(frame, scales={"d": list(DOMAIN)})["d"]
    table = _rated_values(data)
    items = _draw_counts(table.n_units, n_bootstrap, rng)
    raters = np.ones((n_bootstrap, table.n_raters))
    replicates = {
        f"alpha_{level}": values
        for level, values in _alpha_batch(table, data.domain, ALPHAS)(items, raters).items()
    }
    kappas = _agreement_batch(table, data.domain)(items, raters)
    replicates.update({name: kappas[name] for name in KAPPAS})
    intervals = {}
    for name, values in replicates.items():
        defined = values[np.isfinite(values)]
        ci = tuple(np.quantile(defined, [0.025, 0.975])) if defined.size else None
        intervals[name] = (None, ci)
    return intervals


@dataclass
class Tally:
    """Per coefficient and interval: covered, population above, below, width."""

    rows: dict[tuple[str, str], list[tuple[bool, bool, bool, float]]] = field(default_factory=dict)
    errors: dict[str, list[float]] = field(default_factory=dict)
    undefined: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, name: str, scheme: str, truth: float, ci: tuple[float, float] | None) -> None:
        if ci is None:
            self.undefined[name, scheme] = self.undefined.get((name, scheme), 0) + 1
            return
        low, high = ci
        row = (low <= truth <= high, truth > high, truth < low, high - low)
        self.rows.setdefault((name, scheme), []).append(row)

    def summary(self, name: str, scheme: str) -> str:
        rows = np.asarray(self.rows.get((name, scheme), []), dtype=float).reshape(-1, 4)
        if rows.size == 0:
            return f"{'-':>6} {'-':>6} {'-':>6} {'-':>6}"
        cover, above, below, width = rows.mean(axis=0)
        return f"{cover:6.3f} {above:6.3f} {below:6.3f} {width:6.3f}"


def run_design(
    n_raters: int, n_items: int, truth: dict[str, float], arguments: argparse.Namespace
) -> None:
    rng = np.random.default_rng([arguments.seed, n_raters, n_items])
    tally = Tally()
    started = time.perf_counter()
    for _ in range(arguments.panels):
        frame = panel(
            rng,
            n_raters,
            n_items,
            rater_sd=arguments.rater_sd,
            noise_sd=arguments.noise_sd,
            missing=arguments.missing,
        )
        new = new_intervals(frame, arguments.bootstrap, rng)
        old = old_intervals(frame, arguments.bootstrap, rng)
        for name in COEFFICIENTS:
            value, ci = new[name]
            if value is None:
                tally.undefined[name, "estimate"] = tally.undefined.get((name, "estimate"), 0) + 1
                continue
            tally.errors.setdefault(name, []).append(value - truth[name])
            tally.add(name, "new", truth[name], ci)
            tally.add(name, "old", truth[name], old[name][1])
    seconds = time.perf_counter() - started
    print(
        f"\n{n_raters} raters x {n_items} items: {arguments.panels} panels, missing "
        f"{arguments.missing:.2f}, {arguments.bootstrap} replicates, seed {arguments.seed} "
        f"({seconds:.0f} s)"
    )
    print(
        f"{'coefficient':16} {'popul.':>7} {'bias':>7} | {'old: cover':>10} {'above':>6} "
        f"{'below':>6} {'width':>6} | {'new: cover':>10} {'above':>6} {'below':>6} {'width':>6}"
    )
    for name in COEFFICIENTS:
        errors = tally.errors.get(name, [])
        bias = f"{np.mean(errors):+7.3f}" if errors else f"{'-':>7}"
        print(
            f"{name:16} {truth[name]:7.3f} {bias} |     {tally.summary(name, 'old')} |"
            f"     {tally.summary(name, 'new')}"
        )
    for (name, scheme), count in sorted(tally.undefined.items()):
        print(f"  {name}: {scheme} undefined in {count} panel(s)")


def check_population(truth: dict[str, float], arguments: argparse.Namespace) -> None:
    rng = np.random.default_rng(arguments.seed)
    frame = panel(
        rng,
        400,
        4000,
        rater_sd=arguments.rater_sd,
        noise_sd=arguments.noise_sd,
        missing=0.0,
    )
    large = new_intervals(frame, 0, rng)
    print("population by quadrature vs one panel of 400 raters x 4,000 items:")
    for name in COEFFICIENTS:
        print(f"  {name:16} {truth[name]:.4f}  {large[name][0]:.4f}")


def designs(text: str) -> list[tuple[int, int]]:
    found = []
    for part in text.split(","):
        raters, _, items = part.strip().partition("x")
        found.append((int(raters), int(items)))
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", type=int, default=500, help="panels per design")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--designs", type=designs, default=designs("10x9,10x13,15x40,30x60"))
    parser.add_argument("--bootstrap", type=int, default=1000, help="replicates per panel")
    parser.add_argument("--missing", type=float, default=0.0, help="share of cells left empty")
    parser.add_argument("--rater-sd", type=float, default=0.3, help="sd of rater severity")
    parser.add_argument("--noise-sd", type=float, default=0.5, help="sd of the rating noise")
    parser.add_argument("--check-population", action="store_true")
    arguments = parser.parse_args(argv)
    truth = population(arguments.rater_sd, arguments.noise_sd)
    print(
        f"latent model: items N(0, 1), rater severity N(0, {arguments.rater_sd}), noise "
        f"N(0, {arguments.noise_sd}), cut into 0-4 at {', '.join(f'{c:g}' for c in CUTS)}"
    )
    if arguments.check_population:
        check_population(truth, arguments)
    for n_raters, n_items in arguments.designs:
        run_design(n_raters, n_items, truth, arguments)


if __name__ == "__main__":
    main()
