"""What splitting a round's report by language costs (issue #14).

A panel of ``--experts`` experts (cycled through ``--languages`` languages) rates
``--items`` items on three 1-5 dimensions (latent item score + expert severity + noise,
an abstention now and then). Printed, in one run: the time of the panel's analysis
(``analysis.summary.analyze``, the report's baseline), of the split by language
(``analysis.languages.split_by_language``: every language analysed as its own panel, and
a permutation test per item and dimension), and their ratio, each the best of
``--repeat`` runs.

Run: ``nice .venv/bin/python bench/languages.py --experts 12 --items 13 --bootstrap 1000``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.languages import split_by_language  # noqa: E402
from analysis.summary import analyze  # noqa: E402


def panel(experts: int, items: int, languages: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    location = rng.uniform(1, 5, size=(items, 3))
    for expert in range(experts):
        severity = rng.normal(0, 0.4)
        language = languages[expert % len(languages)]
        for item in range(items):
            for dim in range(3):
                value = float(
                    np.clip(np.rint(location[item, dim] + severity + rng.normal(0, 0.7)), 1, 5)
                )
                if rng.random() < 0.04:
                    value = np.nan
                rows.append((f"E{expert}", f"i{item}", f"d{dim}", value, language))
    return pd.DataFrame(rows, columns=["rater", "item", "dimension", "value", "language"])


def best_of(repeat: int, run) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=12)
    parser.add_argument("--items", type=int, default=13)
    parser.add_argument("--languages", default="en,fr,ar")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frame = panel(args.experts, args.items, args.languages.split(","), args.seed)
    options = {"n_bootstrap": args.bootstrap, "seed": args.seed}
    baseline = best_of(args.repeat, lambda: analyze(frame, **options))
    split = best_of(
        args.repeat,
        lambda: split_by_language(
            frame,
            analyze=lambda part: analyze(part, **options),
            n_permutations=args.permutations,
            seed=args.seed,
        ),
    )
    tests_only = best_of(
        args.repeat,
        lambda: split_by_language(
            frame,
            analyze=lambda part: analyze(part, n_bootstrap=0, seed=args.seed),
            n_permutations=args.permutations,
            seed=args.seed,
        ),
    )
    print(
        f"{args.experts} experts x {args.items} items x 3 dimensions, "
        f"languages {args.languages}, {args.bootstrap} bootstrap, "
        f"{args.permutations} permutations"
    )
    print(f"panel analysis (baseline)        {baseline:7.3f} s")
    print(f"split by language                {split:7.3f} s  ({split / baseline:.2f} x baseline)")
    print(
        f"  of which without bootstrap     {tests_only:7.3f} s  "
        f"({tests_only / baseline:.2f} x baseline)"
    )
    print(
        f"report with the split            {baseline + split:7.3f} s  "
        f"({(baseline + split) / baseline:.2f} x baseline)"
    )


if __name__ == "__main__":
    main()
