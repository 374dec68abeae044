"""Benchmark of :func:`analysis.summary.analyze` against the ``krippendorff`` package alone.

In process: for two synthetic panels, the wall time (best of 3 runs) and peak traced memory
of a full ``analyze`` (every coefficient, 1,000 bootstrap replicates, rater diagnostics)
and of computing the four alphas with ``krippendorff.alpha`` on the same data, and their
ratio.

(a) = D1: 200 experts x 500 items x 3 dimensions, complete;
(b) = D2: 5,000 raters x 2,000 items x 1 dimension, each rater rating 50 items.

As whole processes: the same panels written as long CSV files (and a third of 10 M rows:
1,000 experts x 2,000 items x 5 dimensions, complete), each analysed by ``elicit analyze
FILE`` and by a bare Python process that reads the file with pandas and computes the four
alphas per dimension with the ``krippendorff`` package (both with a bytecode cache in the
temporary folder, see :func:`child_environment`). Printed: wall time (best of 5 for D1,
whose runs take about a second and vary with the machine by a tenth of that; best of 3
for D2; one run for 10 M rows; the commands take turns, so that a slow spell of the
machine falls on both), peak resident set size of the process (``os.wait4``)
and the ratios elicit / bare; the bare process runs twice, with numpy's defaults and
with numpy set as elicit's processes set it (no transparent huge-page advice, see
app/__init__.py). Targets (issue #9): D1 <= 2x, D2 <= 3x, 10 M rows < 30 s and < 4 GiB.
The files go to a temporary folder that is removed afterwards.

Run: ``.venv/bin/python bench/analysis.py`` (``--quick`` runs (a) in process and D1, D2
as processes; ``--processes-only`` skips the in-process figures).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
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


#: The bare process: pandas reads the CSV, the krippendorff package computes the four
#: alphas of each dimension from its raters x items matrix.
BARE = """
import sys
import krippendorff
import pandas as pd
ratings = pd.read_csv(sys.argv[1])
for _, part in ratings.groupby("dimension"):
    matrix = part.pivot(index="rater", columns="item", values="value").to_numpy()
    for level in ("nominal", "ordinal", "interval", "ratio"):
        krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
"""


def elicit_command() -> list[str]:
    """``elicit`` next to this Python (the virtualenv's), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "elicit")
    found = beside if os.path.exists(beside) else shutil.which("elicit")
    if found is None:
        raise SystemExit("elicit is not installed (pip install -e .)")
    return [found]


def child_environment(folder: str) -> dict[str, str]:
    """The environment of the timed processes: bytecode cached in ``folder``.

    An installed package carries its compiled bytecode; where the environment forbids
    writing it (PYTHONDONTWRITEBYTECODE), every run of ``elicit`` from a source checkout
    would compile its own modules again (about 0.1 s), which the bare process, made of
    installed packages only, never does. The first of the repeated runs fills the cache.
    """
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = os.path.join(folder, "pycache")
    return environment


#: Set by :func:`processes` for the timed child processes.
ENVIRONMENT: dict[str, str] | None = None


def run_process(command: list[str], environment: dict[str, str] | None) -> tuple[float, float]:
    """(wall seconds, peak resident set size in MiB) of one process run to its end."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{error}")
    # ru_maxrss is in KiB on Linux.
    return seconds, usage.ru_maxrss / 2**10


def best_interleaved(
    runs: list[tuple[list[str], dict[str, str] | None]], repeat: int
) -> list[tuple[float, float]]:
    """(best wall seconds, largest peak RSS) of each command, the commands taking turns
    ``repeat`` times, so that a slow spell of a shared machine falls on all of them alike
    rather than on whichever ran through it."""
    times: list[list[float]] = [[] for _ in runs]
    peaks: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for index, (command, environment) in enumerate(runs):
            seconds, peak = run_process(command, environment)
            times[index].append(seconds)
            peaks[index].append(peak)
    return [(min(t), max(p)) for t, p in zip(times, peaks, strict=True)]


def compare_processes(name: str, path: str, target: str, repeat: int) -> None:
    """Print elicit's figures against the bare process's, both as it comes and with numpy
    set as elicit's processes set it (no huge-page advice, see app/__init__.py)."""
    size = os.path.getsize(path)
    plain = ENVIRONMENT
    same = {**(plain or os.environ), "NUMPY_MADVISE_HUGEPAGE": "0"}
    (elicit_seconds, elicit_peak), (bare_seconds, bare_peak), (same_seconds, same_peak) = (
        best_interleaved(
            [
                ([*elicit_command(), "analyze", path], plain),
                ([sys.executable, "-c", BARE, path], plain),
                ([sys.executable, "-c", BARE, path], same),
            ],
            repeat,
        )
    )
    print(f"{name} ({size / 2**20:.0f} MiB of CSV; best of {repeat}, the three taking turns):")
    print(
        f"  elicit analyze FILE:           {elicit_seconds:7.2f} s, peak RSS {elicit_peak:7.0f} MiB"
    )
    print(f"  bare pandas + krippendorff:    {bare_seconds:7.2f} s, peak RSS {bare_peak:7.0f} MiB")
    print(f"  the same, numpy as in elicit:  {same_seconds:7.2f} s, peak RSS {same_peak:7.0f} MiB")
    bare = (("bare", bare_seconds, bare_peak), ("same", same_seconds, same_peak))
    for label, seconds, peak in bare:
        print(
            f"  ratio elicit / {label}: time {elicit_seconds / seconds:4.1f}x, "
            f"memory {elicit_peak / peak:4.1f}x   (target {target})"
        )


#: The panels written as files: name -> (generator, description, target).
FILES = {
    "d1": ("D1: 200 experts x 500 items x 3 dimensions", "<= 2x"),
    "d2": ("D2: 5,000 raters x 2,000 items, 50 items each", "<= 3x"),
    "10m": ("10 M rows: 1,000 experts x 2,000 items x 5 dimensions", "< 30 s and < 4 GiB"),
}


#: Runs of each process per panel (the best counts).
REPEATS = {"d1": 5, "d2": 3, "10m": 1}


def write_csv(kind: str, path: str) -> None:
    """One panel as a long CSV file (run in a child process, see :func:`processes`)."""
    rng = np.random.default_rng(20240602)
    if kind == "d1":
        ratings = complete_panel(rng, 200, 500, 3)
    elif kind == "d2":
        ratings = sparse_panel(rng, 5000, 2000, 50)
    else:
        ratings = complete_panel(rng, 1000, 2000, 5)
    ratings.assign(
        rater="r" + ratings["rater"].astype(str), item="i" + ratings["item"].astype(str)
    ).to_csv(path, index=False, float_format="%g")


def processes(*, large: bool) -> None:
    # Each file is written by a child process: a child's peak RSS counts the memory of
    # the process it was forked from, so this one must stay small.
    global ENVIRONMENT
    folder = tempfile.mkdtemp(prefix="elicit-bench-")
    ENVIRONMENT = child_environment(folder)
    try:
        for kind in ("d1", "d2", "10m") if large else ("d1", "d2"):
            path = os.path.join(folder, f"{kind}.csv")
            subprocess.run([sys.executable, __file__, "--write", kind, path], check=True)
            name, target = FILES[kind]
            compare_processes(name, path, target, REPEATS[kind])
            os.remove(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="panel (a) in process; no 10 M-row file"
    )
    parser.add_argument("--processes-only", action="store_true", help="skip the in-process figures")
    parser.add_argument("--write", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.write:
        write_csv(*arguments.write)
        return
    print(
        f"{os.cpu_count()} CPUs; numpy {np.__version__}, pandas {pd.__version__}, "
        f"krippendorff {getattr(krippendorff, '__version__', '?')}"
    )
    print("whole processes:")
    processes(large=not arguments.quick)
    if not arguments.processes_only:
        print("\nin process:")
        rng = np.random.default_rng(20240601)
        run(
            "(a) 200 experts x 500 items x 3 dimensions, complete",
            complete_panel(rng, 200, 500, 3),
        )
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
