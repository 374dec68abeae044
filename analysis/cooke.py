"""Cooke's classical model: performance-weighted pooling of experts' quantile assessments.

Each expert gives the 5%, 50% and 95% quantiles of every quantity question; for the seed
questions among them the true value (the realisation) is known to the analyst. The
experts are scored on the seeds (calibration and information), weighted by those scores,
and their distributions pooled into the decision maker (DM), whose quantiles answer the
target questions. The input is a tidy table, one row per expert x question:

=========== =======================================================================
column      meaning
=========== =======================================================================
expert      who answered (any hashable label)
question    which quantity
q05         the expert's 5% quantile
q50         the expert's median
q95         the expert's 95% quantile
realisation the true value of a seed question (the same on each of its rows); NaN
            (an empty cell) for a target question
=========== =======================================================================

Every expert must answer every question, with q05 < q50 < q95 (all finite).

Conventions (those of Excalibur and ANDURYL; Cooke 1991, ch. 12; Cooke & Goossens 2008):

* **Intrinsic range** of a question: from the smallest to the largest value among all
  experts' quantiles and its realisation, widened on both sides by ``overshoot`` times
  its width. Each expert's distribution is uniform between consecutive quantiles inside
  it (probabilities 0.05, 0.45, 0.45, 0.05).
* **Information** of an expert on a question: the relative entropy of that piecewise
  uniform density with respect to the uniform density on the intrinsic range; the
  expert's information is its mean over all questions (``information``) or over the
  seeds (``information_seeds``, the one used in the weights).
* **Calibration**: with N seeds and s the shares of realisations that fall at or below
  q05, in (q05, q50], in (q50, q95] and above q95, the p-value ``1 - F(2 N I(s, p))``
  of the chi-square distribution with 3 degrees of freedom, I(s, p) being the relative
  entropy of s to p = (0.05, 0.45, 0.45, 0.05). A realisation equal to a quantile
  counts in the bin below it.
* **Global weights**: ``calibration x information_seeds x 1[calibration >= alpha]``,
  normalised over the experts.
* **Decision maker**: per question, the weighted mixture of the experts' cumulative
  distribution functions evaluated on all the experts' quantiles and the ends of the
  intrinsic range, its 5/50/95% quantiles read by linear interpolation.
* **Optimised cutoff**: when ``alpha`` is not given, every distinct expert calibration
  score is tried as alpha and the one whose DM, scored on the seeds like one more
  expert, has the largest ``calibration x information_seeds x 1[calibration >= alpha]``
  is kept (the smallest on ties).
* **Robustness**: the whole model recomputed without each seed question in turn (item
  robustness), and without each expert in turn (expert robustness, the intrinsic
  ranges then coming from the remaining experts), the cutoff optimised again in each
  unless it is fixed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats

from analysis._types import BoolArray, FloatArray, IntArray
from analysis.results import Record, label
from analysis.tidy import csv_rows

__all__ = [
    "COLUMNS",
    "QUANTILES",
    "CookeResult",
    "DecisionMaker",
    "ExpertScore",
    "PooledQuantiles",
    "RobustnessRow",
    "combine_experts",
    "format_text",
    "read_quantiles_csv",
    "validate_quantiles",
]

#: The quantiles every expert gives, as probabilities.
QUANTILES: Final = (0.05, 0.50, 0.95)
#: The columns of the tidy input table.
COLUMNS: Final = ("expert", "question", "q05", "q50", "q95", "realisation")
_QUANTILE_COLUMNS: Final = ("q05", "q50", "q95")
#: Probability of each interquantile bin: below q05, q05-q50, q50-q95, above q95 (written
#: out, not differenced, so that the symmetric bins are exactly equal).
_P: Final = np.array([0.05, 0.45, 0.45, 0.05])
_CDF_KNOTS: Final = np.array([0.0, *QUANTILES, 1.0])


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpertScore(Record):
    """One expert's scores and weight.

    ``information`` is the mean over all questions, ``information_seeds`` over the seed
    questions; ``combined_score`` is ``calibration x information_seeds`` when the
    calibration reaches the cutoff, else 0; ``weight`` is that score normalised over the
    panel (the expert's share in the decision maker). ``bin_counts`` counts the
    realisations at or below q05, in (q05, q50], in (q50, q95] and above q95.
    """

    expert: Hashable
    calibration: float
    information: float
    information_seeds: float
    combined_score: float
    weight: float
    bin_counts: tuple[int, int, int, int]


@dataclass(frozen=True)
class PooledQuantiles(Record):
    """The decision maker's 5/50/95% quantiles of one question (and its realisation)."""

    question: Hashable
    q05: float
    q50: float
    q95: float
    realisation: float | None


@dataclass(frozen=True)
class DecisionMaker(Record):
    """The global-weight decision maker, scored on the seeds like an expert.

    ``alpha`` is the calibration cutoff used (the optimised one unless it was fixed);
    ``combined_score`` is ``calibration x information_seeds x 1[calibration >= alpha]``,
    the quantity the optimisation maximises.
    """

    alpha: float
    calibration: float
    information: float
    information_seeds: float
    combined_score: float
    quantiles: tuple[PooledQuantiles, ...]


@dataclass(frozen=True)
class RobustnessRow(Record):
    """The decision maker recomputed without one seed question or one expert.

    The scores are ``None`` with a ``reason`` when no decision maker exists without it
    (with a fixed cutoff that no remaining expert reaches).
    """

    excluded: Hashable
    alpha: float | None
    calibration: float | None
    information: float | None
    information_seeds: float | None
    reason: str | None = None


@dataclass(frozen=True)
class CookeResult:
    """Everything the classical model gives for one panel.

    ``experts`` and the decision maker's ``quantiles`` keep the order of first
    appearance in the input; ``intrinsic_ranges`` maps each question to the (lower,
    upper) ends of its intrinsic range. Robustness tables are empty when there are fewer
    than two seed questions (items) or two experts, or when not asked for.
    """

    experts: tuple[ExpertScore, ...]
    decision_maker: DecisionMaker
    seed_questions: tuple[Hashable, ...]
    target_questions: tuple[Hashable, ...]
    intrinsic_ranges: dict[Hashable, tuple[float, float]]
    alpha_optimised: bool
    overshoot: float
    item_robustness: tuple[RobustnessRow, ...]
    expert_robustness: tuple[RobustnessRow, ...]

    @property
    def weights(self) -> dict[Hashable, float]:
        """Each expert's normalised weight in the decision maker."""
        return {score.expert: score.weight for score in self.experts}

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "Cooke's classical model, global weights",
            "quantiles": list(QUANTILES),
            "overshoot": self.overshoot,
            "alpha_optimised": self.alpha_optimised,
            "seed_questions": [label(q) for q in self.seed_questions],
            "target_questions": [label(q) for q in self.target_questions],
            "intrinsic_ranges": {
                str(label(question)): list(bounds)
                for question, bounds in self.intrinsic_ranges.items()
            },
            "experts": [score.to_dict() for score in self.experts],
            "decision_maker": self.decision_maker.to_dict(),
            "item_robustness": [row.to_dict() for row in self.item_robustness],
            "expert_robustness": [row.to_dict() for row in self.expert_robustness],
        }


# --- input --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Panel:
    """A validated panel as arrays: ``values[e, q]`` holds expert e's three quantiles."""

    experts: tuple[Hashable, ...]
    questions: tuple[Hashable, ...]
    values: FloatArray  # (experts, questions, 3)
    realisations: FloatArray  # (questions,), NaN for targets


def validate_quantiles(answers: pd.DataFrame, *, name: str = "answers") -> pd.DataFrame:
    """Check a tidy table of quantile assessments and return a normalised copy.

    Parameters
    ----------
    answers : pandas.DataFrame
        One row per expert x question with the columns of :data:`COLUMNS` (others are
        ignored); ``realisation`` is NaN for a target question.
    name : str
        What to call the table in error messages.

    Returns
    -------
    pandas.DataFrame
        The six columns, quantiles and realisations as floats, in the input's order.

    Raises
    ------
    ValueError
        Naming the row, the expert and the question: a missing column, a quantile that
        is not a finite number, quantiles not increasing (q05 < q50 < q95), two rows
        for the same expert and question, two realisations for one question, an expert
        without an answer to a question; or no seed question at all.
    """
    _check_frame(answers, name=name)
    return _validated(answers, where=lambda position: f"{name}, row {position}", name=name)


def read_quantiles_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a tidy CSV of quantile assessments into a validated DataFrame.

    Parameters
    ----------
    path : path-like
        A UTF-8 CSV file whose header holds the columns ``expert, question, q05, q50,
        q95, realisation`` (in any order; other columns are ignored).

    Returns
    -------
    pandas.DataFrame
        As :func:`validate_quantiles` returns it.

    Raises
    ------
    ValueError
        With the file name, the line and the column: a missing column, an empty label,
        a quantile that is empty or not a finite number, a realisation that is not a
        finite number, and every mistake :func:`validate_quantiles` finds.

    Notes
    -----
    Line numbers count physical lines, the header being line 1; blank lines are
    skipped. Labels are read as text (the expert ``007`` stays ``"007"``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "q.csv").write_text(
    ...     "expert,question,q05,q50,q95,realisation\\n"
    ...     "a,seed1,1,2,3,2.5\\n"
    ...     "a,target1,10,20,40,\\n")
    >>> read_quantiles_csv(folder / "q.csv")["realisation"].tolist()
    [2.5, nan]
    """
    file_name = os.fspath(path)
    rows = csv_rows(file_name, required=COLUMNS)
    _, header = next(rows)
    positions = {column: header.index(column) for column in COLUMNS}
    columns: dict[str, list[object]] = {column: [] for column in COLUMNS}
    lines: list[int] = []
    for line, row in rows:
        where = f"{file_name}, line {line}"
        for column, position in positions.items():
            columns[column].append(_parse_cell(row[position].strip(), column, where))
        lines.append(line)
    if not lines:
        raise ValueError(f"{file_name}: no rows under the header")
    frame = pd.DataFrame(columns)
    return _validated(
        frame, where=lambda index: f"{file_name}, line {lines[int(index)]}", name=file_name
    )


def _parse_cell(cell: str, column: str, where: str) -> object:
    if column in ("expert", "question"):
        if not cell:
            raise ValueError(f"{where}, column {column!r}: empty {column} label")
        return cell
    if not cell:
        if column == "realisation":
            return math.nan
        raise ValueError(f"{where}, column {column!r}: empty quantile")
    try:
        number = float(cell)
    except ValueError:
        raise ValueError(f"{where}, column {column!r}: {cell!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{where}, column {column!r}: {cell!r} is not a finite number")
    return number


def _check_frame(answers: pd.DataFrame, *, name: str) -> None:
    if not isinstance(answers, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, not {type(answers).__name__}")
    missing = [column for column in COLUMNS if column not in answers.columns]
    if missing:
        raise ValueError(f"{name}: no column {missing[0]!r} (expected {', '.join(COLUMNS)})")
    if answers.empty:
        raise ValueError(f"{name}: no rows")


def _validated(answers: pd.DataFrame, *, where: Any, name: str) -> pd.DataFrame:
    """The checks shared by the CSV reader and DataFrame callers; ``where(position)``
    names a row (a line of the file, or the 0-based row position in the frame)."""
    frame = answers.loc[:, list(COLUMNS)].reset_index(drop=True)
    _check_labels(frame, where)
    for column in (*_QUANTILE_COLUMNS, "realisation"):
        frame[column] = _finite_numbers(frame, column, where)
    _check_increasing(frame, where)
    _check_one_answer_each(frame, where, name)
    realisations = _realisations(frame, where)
    if not realisations:
        raise ValueError(
            f"{name}, column 'realisation': no seed question (a question with a "
            "realisation) to score the experts on"
        )
    frame["realisation"] = frame["question"].map(realisations).astype(float)
    return frame


def _check_labels(frame: pd.DataFrame, where: Any) -> None:
    for column in ("expert", "question"):
        for index, value in frame[column].items():
            if pd.isna(value) or (isinstance(value, str) and not value.strip()):
                raise ValueError(f"{where(index)}, column {column!r}: empty {column} label")


def _finite_numbers(frame: pd.DataFrame, column: str, where: Any) -> pd.Series:
    """The column as floats; anything but a finite number refused (an empty realisation
    is allowed: the question is a target)."""
    numbers = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for index, value in numbers.items():
        original = frame.at[index, column]
        empty_allowed = column == "realisation" and pd.isna(original)
        if not empty_allowed and not math.isfinite(value):
            raise ValueError(
                f"{where(index)}, column {column!r}: {original!r} is not a finite number "
                f"(expert {frame.at[index, 'expert']!r}, question "
                f"{frame.at[index, 'question']!r})"
            )
    return numbers


def _check_increasing(frame: pd.DataFrame, where: Any) -> None:
    quantiles = frame.loc[:, list(_QUANTILE_COLUMNS)].to_numpy(dtype=float)
    increasing = (quantiles[:, 0] < quantiles[:, 1]) & (quantiles[:, 1] < quantiles[:, 2])
    for position in np.flatnonzero(~increasing):
        index = frame.index[position]
        q05, q50, q95 = quantiles[position]
        raise ValueError(
            f"{where(index)}, columns 'q05', 'q50', 'q95': expert {frame.at[index, 'expert']!r}, "
            f"question {frame.at[index, 'question']!r}: the quantiles must increase "
            f"(q05 < q50 < q95), not {q05:g}, {q50:g}, {q95:g}"
        )


def _check_one_answer_each(frame: pd.DataFrame, where: Any, name: str) -> None:
    """Every expert answers every question, once."""
    seen: dict[tuple[Hashable, Hashable], Hashable] = {}
    for index, expert, question in zip(
        frame.index, frame["expert"], frame["question"], strict=True
    ):
        key = (expert, question)
        if key in seen:
            raise ValueError(
                f"{where(index)}: a second answer of expert {expert!r} to question "
                f"{question!r} (the first: {where(seen[key])})"
            )
        seen[key] = index
    questions = pd.unique(frame["question"])
    for expert in pd.unique(frame["expert"]):
        answered = set(frame.loc[frame["expert"] == expert, "question"])
        for question in questions:
            if question not in answered:
                raise ValueError(
                    f"{name}: expert {expert!r} gave no answer to question {question!r} "
                    "(every expert must answer every question)"
                )


def _realisations(frame: pd.DataFrame, where: Any) -> dict[Hashable, float]:
    """Each seed question's realisation; two different ones for a question refused."""
    realisations: dict[Hashable, tuple[float, Hashable]] = {}
    for index, question, value in zip(
        frame.index, frame["question"], frame["realisation"], strict=True
    ):
        if math.isnan(value):
            continue
        if question in realisations and realisations[question][0] != value:
            first, first_index = realisations[question]
            raise ValueError(
                f"{where(index)}, column 'realisation': question {question!r} has the "
                f"realisation {value:g} here and {first:g} at {where(first_index)}"
            )
        realisations.setdefault(question, (value, index))
    return {question: value for question, (value, _) in realisations.items()}


def _panel_of(frame: pd.DataFrame) -> _Panel:
    experts = tuple(pd.unique(frame["expert"]))
    questions = tuple(pd.unique(frame["question"]))
    expert_code = {expert: code for code, expert in enumerate(experts)}
    question_code = {question: code for code, question in enumerate(questions)}
    values = np.empty((len(experts), len(questions), len(QUANTILES)), dtype=float)
    rows = frame["expert"].map(expert_code).to_numpy(dtype=np.int64)
    cols = frame["question"].map(question_code).to_numpy(dtype=np.int64)
    values[rows, cols] = frame.loc[:, list(_QUANTILE_COLUMNS)].to_numpy(dtype=float)
    realisations = np.full(len(questions), np.nan)
    realisations[cols] = frame["realisation"].to_numpy(dtype=float)
    return _Panel(experts, questions, values, realisations)


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fit:
    """The model on one panel: per expert scores, then the chosen decision maker."""

    lower: FloatArray  # (questions,)
    upper: FloatArray
    calibration: FloatArray  # (experts,)
    information: FloatArray  # (experts,), mean over all questions
    information_seeds: FloatArray  # (experts,)
    bin_counts: IntArray  # (experts, 4)
    alpha: float
    weights: FloatArray  # (experts,), normalised
    dm_quantiles: FloatArray  # (questions, 3)
    dm_calibration: float
    dm_information: float
    dm_information_seeds: float
    dm_score: float


def _intrinsic_range(
    values: FloatArray, realisations: FloatArray, overshoot: float
) -> tuple[FloatArray, FloatArray]:
    """Per question, the range of all quantiles and the realisation, widened by
    ``overshoot`` times its width on each side."""
    low = values.min(axis=(0, 2))
    high = values.max(axis=(0, 2))
    seed = ~np.isnan(realisations)
    low[seed] = np.minimum(low[seed], realisations[seed])
    high[seed] = np.maximum(high[seed], realisations[seed])
    width = high - low
    return low - overshoot * width, high + overshoot * width


def _information(quantiles: FloatArray, lower: FloatArray, upper: FloatArray) -> FloatArray:
    """Relative entropy of each piecewise-uniform density to the uniform one on the
    intrinsic range; ``quantiles`` is (..., questions, 3), the result (..., questions)."""
    shape = quantiles.shape[:-1]
    edges = np.concatenate(
        [
            np.broadcast_to(lower[:, None], (*shape, 1)),
            quantiles,
            np.broadcast_to(upper[:, None], (*shape, 1)),
        ],
        axis=-1,
    )
    widths = np.diff(edges, axis=-1)
    information: FloatArray = np.log(upper - lower) + np.sum(_P * np.log(_P / widths), axis=-1)
    return information


def _bin_counts(quantiles: FloatArray, realisations: FloatArray) -> IntArray:
    """How many realisations fall in each interquantile bin; ``quantiles`` is
    (..., seeds, 3), the result (..., 4). A realisation equal to a quantile counts below."""
    bins = np.sum(realisations[:, None] > quantiles, axis=-1)
    counts: IntArray = np.stack([np.sum(bins == k, axis=-1) for k in range(4)], axis=-1).astype(
        np.int64
    )
    return counts


def _calibration(counts: IntArray) -> FloatArray:
    """The chi-square(3) p-value of ``2 N I(s, p)`` for each row of bin counts."""
    n = counts.sum(axis=-1, keepdims=True)
    shares = counts / n
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(shares > 0, shares * np.log(shares / _P), 0.0)
    # Summed in sorted order: equal bin counts in another order (the same score in
    # theory) must give the very same float, or the cutoff search would split the tie.
    statistic = 2 * n[..., 0] * np.sum(np.sort(terms, axis=-1), axis=-1)
    calibration: FloatArray = np.asarray(stats.chi2.sf(statistic, df=3), dtype=float)
    return calibration


def _pooled_quantiles(
    values: FloatArray, weights: FloatArray, lower: FloatArray, upper: FloatArray
) -> FloatArray:
    """The quantiles of the weighted mixture of the experts' piecewise-linear CDFs.

    ``weights`` is (candidates, experts), each row summing to one; the result is
    (candidates, questions, 3). The mixture CDF is evaluated on the ends of the intrinsic
    range and every expert's quantiles, and inverted by linear interpolation between
    them (as Excalibur and ANDURYL do).
    """
    n_candidates = weights.shape[0]
    n_experts, n_questions, _ = values.shape
    pooled = np.empty((n_candidates, n_questions, len(QUANTILES)))
    for question in range(n_questions):
        grid = np.concatenate(
            [[lower[question]], np.unique(values[:, question]), [upper[question]]]
        )
        cdfs = np.empty((grid.size, n_experts))
        for expert in range(n_experts):
            knots = np.concatenate([[lower[question]], values[expert, question], [upper[question]]])
            cdfs[:, expert] = np.interp(grid, knots, _CDF_KNOTS)
        mixture = cdfs @ weights.T
        for candidate in range(n_candidates):
            pooled[candidate, question] = np.interp(QUANTILES, mixture[:, candidate], grid)
    return pooled


def _scores(
    quantiles: FloatArray, realisations: FloatArray, lower: FloatArray, upper: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """Calibration, mean information (all questions, seeds) and bin counts of the
    assessments ``quantiles`` (..., questions, 3)."""
    seed = ~np.isnan(realisations)
    information = _information(quantiles, lower, upper)
    counts = _bin_counts(quantiles[..., seed, :], realisations[seed])
    return (
        _calibration(counts),
        information.mean(axis=-1),
        information[..., seed].mean(axis=-1),
        counts,
    )


def _fit(
    values: FloatArray, realisations: FloatArray, *, alpha: float | None, overshoot: float
) -> _Fit | None:
    """The model on one panel; None when a fixed ``alpha`` leaves no expert with weight."""
    lower, upper = _intrinsic_range(values, realisations, overshoot)
    calibration, information, information_seeds, counts = _scores(
        values, realisations, lower, upper
    )
    candidates = np.unique(calibration) if alpha is None else np.array([alpha])
    scores = calibration * information_seeds
    raw = np.where(calibration[None, :] >= candidates[:, None], scores[None, :], 0.0)
    totals = raw.sum(axis=1)
    if not np.any(totals > 0):
        return None
    weights = raw / totals[:, None]
    pooled = _pooled_quantiles(values, weights, lower, upper)
    dm_calibration, dm_information, dm_information_seeds, _ = _scores(
        pooled, realisations, lower, upper
    )
    dm_scores = np.where(dm_calibration >= candidates, dm_calibration * dm_information_seeds, 0.0)
    best = int(np.argmax(dm_scores))
    return _Fit(
        lower=lower,
        upper=upper,
        calibration=calibration,
        information=information,
        information_seeds=information_seeds,
        bin_counts=counts,
        alpha=float(candidates[best]),
        weights=weights[best],
        dm_quantiles=pooled[best],
        dm_calibration=float(dm_calibration[best]),
        dm_information=float(dm_information[best]),
        dm_information_seeds=float(dm_information_seeds[best]),
        dm_score=float(dm_scores[best]),
    )


def _robustness_row(
    excluded: Hashable,
    values: FloatArray,
    realisations: FloatArray,
    *,
    alpha: float | None,
    overshoot: float,
) -> RobustnessRow:
    fit = _fit(values, realisations, alpha=alpha, overshoot=overshoot)
    if fit is None:
        return RobustnessRow(
            excluded, None, None, None, None, reason=f"no remaining expert reaches alpha {alpha}"
        )
    return RobustnessRow(
        excluded, fit.alpha, fit.dm_calibration, fit.dm_information, fit.dm_information_seeds
    )


def _check_settings(alpha: float | None, overshoot: float) -> None:
    if alpha is not None and (
        isinstance(alpha, bool)
        or not isinstance(alpha, int | float | np.integer | np.floating)
        or not 0 <= alpha <= 1
    ):
        raise ValueError(f"alpha must be a number from 0 to 1, or None to optimise, not {alpha!r}")
    if (
        isinstance(overshoot, bool)
        or not isinstance(overshoot, int | float | np.integer | np.floating)
        or not math.isfinite(overshoot)
        or overshoot <= 0
    ):
        raise ValueError(f"overshoot must be a positive number, not {overshoot!r}")


def combine_experts(
    answers: pd.DataFrame,
    *,
    alpha: float | None = None,
    overshoot: float = 0.1,
    robustness: bool = True,
) -> CookeResult:
    """Score the experts on the seed questions and pool them with Cooke's classical model.

    Parameters
    ----------
    answers : pandas.DataFrame
        One row per expert x question (see :func:`validate_quantiles`): ``expert,
        question, q05, q50, q95, realisation`` (NaN for target questions).
    alpha : float or None
        Fixed calibration cutoff in [0, 1]: experts whose calibration score is below it
        get no weight. ``None`` (the default) optimises it.
    overshoot : float
        How far each question's intrinsic range extends beyond the values given, as a
        share of their spread on each side (Excalibur's and ANDURYL's default 0.1).
    robustness : bool
        Also recompute the decision maker without each seed question and without each
        expert.

    Returns
    -------
    CookeResult
        The experts' calibration, information and weights, the decision maker's scores
        and quantiles, and the robustness tables.

    Raises
    ------
    ValueError
        On invalid answers (see :func:`validate_quantiles`), an ``alpha`` outside [0, 1]
        or above every expert's calibration score (nobody would have weight), or an
        ``overshoot`` that is not a positive number.

    Notes
    -----
    The conventions are those of the module docstring; they are those of Excalibur and
    of ANDURYL (Rongen et al. 2020), against which this implementation is tested to
    1e-6. Two deliberate differences from ANDURYL 1.2.2: the chi-square p-value comes
    from scipy (ANDURYL's own series gives wrong values for statistics below about 0.5,
    e.g. 0 for a perfectly calibrated expert on 20 seeds), and in expert robustness the
    decision maker that chooses the cutoff is scored on the reduced panel's intrinsic
    ranges (ANDURYL scores it on the full panel's ranges there, then reports it on the
    reduced panel's).

    A calibration score reads as a p-value: the probability, were the expert's
    quantiles true, of realisations at least as far from the expected 5/45/45/5%
    split. Information rewards narrow distributions, calibration honest ones; the
    weight is their product, so an over-confident expert (narrow but wrong) scores a
    low calibration and little weight. The cutoff alpha is a scoring-rule device, not a
    significance level to test against.

    References
    ----------
    Cooke, R. M. (1991). *Experts in Uncertainty: Opinion and Subjective Probability in
    Science*. Oxford University Press, chapter 12.

    Cooke, R. M., & Goossens, L. L. H. J. (2008). TU Delft expert judgment data base.
    *Reliability Engineering & System Safety*, 93(5), 657-674.
    https://doi.org/10.1016/j.ress.2007.03.005

    Leontaris, G., & Morales-Nápoles, O. (2018). ANDURIL - A MATLAB toolbox for
    ANalysis and Decisions with UnceRtaInty: Learning from expert judgments.
    *SoftwareX*, 7, 313-317. https://doi.org/10.1016/j.softx.2018.07.001

    Rongen, G., 't Hart, C. M. P., Leontaris, G., & Morales-Nápoles, O. (2020). Update
    (1.1) to ANDURIL: ANDURYL. *SoftwareX*, 12, 100497.
    https://doi.org/10.1016/j.softx.2020.100497

    Examples
    --------
    Two experts, four seeds and a target: "wide" is honest, "narrow" over-confident.

    >>> rows = []
    >>> for question, truth, miss in [("s1", 1, -0.2), ("s2", 2, 0.2), ("s3", 3, -0.2),
    ...                               ("s4", 4, 0.2)]:
    ...     rows.append(("wide", question, truth - 2, truth + miss, truth + 2, truth))
    ...     rows.append(("narrow", question, truth + 1, truth + 1.1, truth + 1.2, truth))
    >>> rows += [("wide", "t", 0, 5, 10, None), ("narrow", "t", 4, 5, 6, None)]
    >>> frame = pd.DataFrame(rows, columns=list(COLUMNS))
    >>> result = combine_experts(frame)
    >>> [(s.expert, f"{s.calibration:.3g}", f"{s.weight:.3g}") for s in result.experts]
    [('wide', '0.839', '0.997'), ('narrow', '2.54e-05', '0.00339')]
    >>> fixed = combine_experts(frame, alpha=0.05)
    >>> [f"{s.weight:.3g}" for s in fixed.experts], fixed.decision_maker.quantiles[-1]
    (['1', '0'], PooledQuantiles(question='t', q05=0.0, q50=5.0, q95=10.0, realisation=None))
    """
    _check_settings(alpha, overshoot)
    panel = _panel_of(validate_quantiles(answers))
    values, realisations = panel.values, panel.realisations
    fit = _fit(values, realisations, alpha=alpha, overshoot=overshoot)
    if fit is None:
        best = float(
            np.max(
                _scores(values, realisations, *_intrinsic_range(values, realisations, overshoot))[0]
            )
        )
        raise ValueError(
            f"alpha {alpha} is above every expert's calibration score (the highest is "
            f"{best:.4g}): nobody would have weight; choose a lower alpha"
        )
    seed = ~np.isnan(realisations)
    item_rows: list[RobustnessRow] = []
    expert_rows: list[RobustnessRow] = []
    if robustness and seed.sum() >= 2:
        for position in np.flatnonzero(seed):
            keep = np.arange(len(panel.questions)) != position
            item_rows.append(
                _robustness_row(
                    panel.questions[position],
                    values[:, keep],
                    realisations[keep],
                    alpha=alpha,
                    overshoot=overshoot,
                )
            )
    if robustness and len(panel.experts) >= 2:
        for position, expert in enumerate(panel.experts):
            keep = np.arange(len(panel.experts)) != position
            expert_rows.append(
                _robustness_row(
                    expert, values[keep], realisations, alpha=alpha, overshoot=overshoot
                )
            )
    return _result(
        panel,
        fit,
        alpha_optimised=alpha is None,
        overshoot=overshoot,
        item_rows=item_rows,
        expert_rows=expert_rows,
    )


def _result(
    panel: _Panel,
    fit: _Fit,
    *,
    alpha_optimised: bool,
    overshoot: float,
    item_rows: Sequence[RobustnessRow],
    expert_rows: Sequence[RobustnessRow],
) -> CookeResult:
    seed: BoolArray = ~np.isnan(panel.realisations)
    experts = tuple(
        ExpertScore(
            expert=expert,
            calibration=float(fit.calibration[e]),
            information=float(fit.information[e]),
            information_seeds=float(fit.information_seeds[e]),
            combined_score=float(
                fit.calibration[e] * fit.information_seeds[e]
                if fit.calibration[e] >= fit.alpha
                else 0.0
            ),
            weight=float(fit.weights[e]),
            bin_counts=(
                int(fit.bin_counts[e, 0]),
                int(fit.bin_counts[e, 1]),
                int(fit.bin_counts[e, 2]),
                int(fit.bin_counts[e, 3]),
            ),
        )
        for e, expert in enumerate(panel.experts)
    )
    quantiles = tuple(
        PooledQuantiles(
            question=question,
            q05=float(fit.dm_quantiles[q, 0]),
            q50=float(fit.dm_quantiles[q, 1]),
            q95=float(fit.dm_quantiles[q, 2]),
            realisation=float(panel.realisations[q]) if seed[q] else None,
        )
        for q, question in enumerate(panel.questions)
    )
    return CookeResult(
        experts=experts,
        decision_maker=DecisionMaker(
            alpha=fit.alpha,
            calibration=fit.dm_calibration,
            information=fit.dm_information,
            information_seeds=fit.dm_information_seeds,
            combined_score=fit.dm_score,
            quantiles=quantiles,
        ),
        seed_questions=tuple(q for q, s in zip(panel.questions, seed, strict=True) if s),
        target_questions=tuple(q for q, s in zip(panel.questions, seed, strict=True) if not s),
        intrinsic_ranges={
            question: (float(fit.lower[q]), float(fit.upper[q]))
            for q, question in enumerate(panel.questions)
        },
        alpha_optimised=alpha_optimised,
        overshoot=float(overshoot),
        item_robustness=tuple(item_rows),
        expert_robustness=tuple(expert_rows),
    )


# --- text ---------------------------------------------------------------------------------


def _number(value: float | None, width: int = 10) -> str:
    if value is None:
        return "-".rjust(width)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:{width}.3e}"
    return f"{value:{width}.4f}"


def format_text(result: CookeResult) -> str:
    """The result as plain-text tables: experts, decision maker, target quantiles and
    robustness."""
    name_width = max([6, *(len(str(s.expert)) for s in result.experts)])
    cutoff = "optimised" if result.alpha_optimised else "fixed"
    lines = [
        f"Cooke's classical model: {len(result.experts)} experts, "
        f"{len(result.seed_questions)} seed and {len(result.target_questions)} target "
        f"questions, overshoot {result.overshoot:g}, alpha {result.decision_maker.alpha:.4g} "
        f"({cutoff})",
        "",
        f"{'expert':<{name_width}} {'calibration':>11} {'info (all)':>10} {'info (seeds)':>12}"
        f" {'weight':>10}",
    ]
    for score in result.experts:
        lines.append(
            f"{score.expert!s:<{name_width}} {_number(score.calibration, 11)}"
            f" {_number(score.information)} {_number(score.information_seeds, 12)}"
            f" {_number(score.weight)}"
        )
    dm = result.decision_maker
    lines.append(
        f"{'DM':<{name_width}} {_number(dm.calibration, 11)} {_number(dm.information)}"
        f" {_number(dm.information_seeds, 12)} {_number(dm.combined_score)} (unnormalised)"
    )
    question_width = max([8, *(len(str(q.question)) for q in dm.quantiles)])
    targets = [q for q in dm.quantiles if q.realisation is None]
    if targets:
        lines += [
            "",
            "Decision maker's quantiles, target questions",
            f"{'question':<{question_width}} {'5%':>10} {'50%':>10} {'95%':>10}",
        ]
        lines += [
            f"{q.question!s:<{question_width}} {_number(q.q05)} {_number(q.q50)} {_number(q.q95)}"
            for q in targets
        ]
    for title, rows in (
        ("Robustness: without each seed question", result.item_robustness),
        ("Robustness: without each expert", result.expert_robustness),
    ):
        if not rows:
            continue
        width = max([8, *(len(str(row.excluded)) for row in rows)])
        lines += [
            "",
            title,
            f"{'without':<{width}} {'alpha':>10} {'calibration':>11} {'info (all)':>10}"
            f" {'info (seeds)':>12}",
        ]
        for row in rows:
            line = (
                f"{row.excluded!s:<{width}} {_number(row.alpha)} {_number(row.calibration, 11)}"
                f" {_number(row.information)} {_number(row.information_seeds, 12)}"
            )
            lines.append(line + (f"  ({row.reason})" if row.reason else ""))
    return "\n".join(lines)
