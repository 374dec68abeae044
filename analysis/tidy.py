"""Tidy rating data: validation, reading a CSV, and the arrays the statistics work on.

The input convention of the whole package is a long-format ("tidy") table with one row
per rater x item x dimension (x round):

========== ==============================================================================
column     meaning
========== ==============================================================================
rater      who rated (any hashable label)
item       what was rated
dimension  which rubric scale
value      the rating, a float; NaN when the rater gave no value
round      optional Delphi round number; by default only the last round is analysed
confidence optional numeric confidence
status     optional: "value", "cant_judge" or "outside_expertise"; rows that are not
           "value" have a NaN value but count as abstentions in the consensus
(others)   rater attributes such as ``organisation`` or ``group``, passed through
========== ==============================================================================

Without a ``status`` column, a row with a NaN value is taken as "cant_judge".
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis._types import BoolArray, FloatArray, IntArray, LabelArray
from analysis.options import Columns

__all__ = [
    "ABSTENTIONS",
    "REQUIRED_COLUMNS",
    "STATUSES",
    "DimensionData",
    "PanelCodes",
    "code_text_values",
    "compact_codes",
    "dimension_data",
    "grouped_order",
    "read_ratings_csv",
    "select_round",
    "sorted_codes",
    "validate_ratings",
]

REQUIRED_COLUMNS = ("rater", "item", "dimension", "value")
STATUSES = ("value", "cant_judge", "outside_expertise")
ABSTENTIONS = ("cant_judge", "outside_expertise")


def validate_ratings(ratings: pd.DataFrame, *, name: str = "ratings") -> pd.DataFrame:
    """Check a tidy rating table and return a normalised copy.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Long-format ratings with at least the columns ``rater``, ``item``, ``dimension``
        and ``value`` (see the module docstring for the optional columns).
    name : str
        Parameter name used in error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with ``value`` (and ``confidence``, ``round`` when present) as float and a
        ``status`` column filled in. The input is not modified.

    Raises
    ------
    ValueError
        When a required column is missing, a label is missing, a value is not numeric or
        not finite, a status is unknown or contradicts the value, or the same rater rated
        the same item on the same dimension twice in one round.

    Notes
    -----
    A row whose status is "value" must carry a value; a row with another status must not.
    Without a ``status`` column, rows with a value get "value" and rows without one get
    "cant_judge". Duplicates are checked on (rater, item, dimension, round).

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": ["a", "b"], "item": ["x", "x"],
    ...                       "dimension": ["d", "d"], "value": [1, None]})
    >>> validate_ratings(frame)["status"].tolist()
    ['value', 'cant_judge']
    """
    if not isinstance(ratings, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, not {type(ratings).__name__}")
    missing = [column for column in REQUIRED_COLUMNS if column not in ratings.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {', '.join(missing)}")
    frame = ratings.copy()
    for column in ("rater", "item", "dimension"):
        if frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise ValueError(f"{name}: column {column!r} is empty in row {row}")
    for column in ("value", "confidence", "round"):
        if column in frame.columns:
            frame[column] = _numeric_column(frame[column], column=column, name=name)
    if "status" in frame.columns:
        status = frame["status"].astype(object)
        unknown = ~status.isin(STATUSES)
        if unknown.any():
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            raise ValueError(
                f"{name}: column 'status' has {status.iloc[row]!r} in row {row}; "
                f"expected one of {', '.join(STATUSES)}"
            )
        has_value = frame["value"].notna().to_numpy()
        is_value = (status == "value").to_numpy()
        wrong = has_value != is_value
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise ValueError(
                f"{name}: row {row} has status {status.iloc[row]!r} but value "
                f"{frame['value'].iloc[row]!r}; only status 'value' carries a value"
            )
        frame["status"] = pd.Categorical(status, categories=STATUSES)
    else:
        # Codes, not a text per row: 0 "value", 1 "cant_judge".
        code = np.where(frame["value"].notna().to_numpy(), 0, 1).astype(np.int8)
        frame["status"] = pd.Categorical.from_codes(
            code,  # type: ignore[arg-type]  # the stubs want a list; numpy codes are faster
            dtype=pd.CategoricalDtype(list(STATUSES)),
        )
    keys = ["rater", "item", "dimension"] + (["round"] if "round" in frame.columns else [])
    duplicated = _repeated_rows(frame, keys)
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        label = ", ".join(f"{key}={frame[key].iloc[row]!r}" for key in keys)
        raise ValueError(f"{name}: row {row} repeats an earlier rating ({label})")
    return frame


def _repeated_rows(frame: pd.DataFrame, keys: Sequence[str]) -> BoolArray:
    """``frame.duplicated(keys)`` through one integer key per row (each column's codes
    in mixed radix), which is several times faster on millions of rows."""
    key = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for column in keys:
        codes, uniques = pd.factorize(frame[column])
        size = len(uniques) + 1  # NaN (a missing round) is code -1
        if span * size >= 2**62:
            general: BoolArray = frame.duplicated(list(keys)).to_numpy()
            return general
        key += (codes.astype(np.int64) + 1) * span
        span *= size
    repeated: BoolArray = pd.Series(key).duplicated().to_numpy()
    return repeated


def _numeric_column(series: pd.Series, *, column: str, name: str) -> pd.Series:
    numbers = pd.to_numeric(series, errors="coerce").astype(float)
    bad = numbers.isna() & series.notna()
    if column == "value" or column == "confidence":
        bad |= ~np.isfinite(numbers.fillna(0.0))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{name}: column {column!r} has {series.iloc[row]!r} in row {row}; "
            "expected a finite number or an empty cell"
        )
    return numbers


def select_round(ratings: pd.DataFrame, round: float | None = None) -> pd.DataFrame:
    """Keep one Delphi round: the given one, or by default the last round present.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Validated ratings (see :func:`validate_ratings`).
    round : number, optional
        The round to keep. ``None`` keeps the highest round number. Ignored (and the
        table returned unchanged) when there is no ``round`` column.

    Returns
    -------
    pandas.DataFrame

    Notes
    -----
    Reliability and consensus are properties of one pass of the panel over the survey,
    so rounds are never pooled.

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": [1, 1], "item": [1, 1], "dimension": ["d", "d"],
    ...                       "value": [2.0, 3.0], "round": [1, 2]})
    >>> select_round(frame)["value"].tolist()
    [3.0]
    """
    if "round" not in ratings.columns:
        return ratings
    if round is None:
        if ratings["round"].isna().all():
            return ratings
        round = float(ratings["round"].max())
    kept = ratings[ratings["round"] == round]
    if kept.empty:
        raise ValueError(f"round {round!r} does not occur in the ratings")
    return kept


def csv_rows(file_name: str, *, required: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of a CSV file's header (line 1, cells stripped) and then of each
    non-blank row, read lazily (a file of millions of rows is never held as text).

    Raises ValueError naming the file and the line: an empty file, a ``required`` column
    missing from the header, a row whose number of cells differs from the header's.
    """
    with open(file_name, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{file_name}: the file is empty")
        header = [cell.strip() for cell in header]
        for column in required:
            if column not in header:
                raise ValueError(f"{file_name}, line 1: no column {column!r} in the header")
        yield 1, header
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{file_name}, line {reader.line_num}: {len(row)} cells, "
                    f"the header has {len(header)}"
                )
            yield reader.line_num, row


def read_ratings_csv(
    path: str | os.PathLike[str],
    *,
    columns: Columns = Columns(),
) -> pd.DataFrame:
    """Read a tidy rating CSV file into a validated DataFrame.

    Parameters
    ----------
    path : path-like
        A UTF-8 CSV file with a header line.
    columns : Columns
        What the file calls the columns (default: the package's standard names); they
        are renamed to the standard names. The optional ones (status, round,
        confidence) are used when present in the file. With ``columns.text_values``
        the values may be text labels (nominal data): see :func:`code_text_values`.

    Returns
    -------
    pandas.DataFrame
        Validated ratings (see :func:`validate_ratings`). Other columns (rater
        attributes) are kept as text.

    Raises
    ------
    ValueError
        With the file name, line number and column when a required column is missing, a
        label is empty or a value is not a number.

    Notes
    -----
    An empty ``value`` cell is a missing rating (NaN). Labels are read as text, so the
    rater ``007`` stays ``"007"``. Line numbers count physical lines, the header being
    line 1.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "r.csv").write_text("expert,item,dim,score\\na,x,d,3\\nb,x,d,\\n")
    >>> names = Columns(rater="expert", dimension="dim", value="score")
    >>> frame = read_ratings_csv(folder / "r.csv", columns=names)
    >>> frame[["rater", "value", "status"]].values.tolist()
    [['a', 3.0, 'value'], ['b', nan, 'cant_judge']]
    """
    file_name = os.fspath(path)
    renames = columns.required()
    standard = columns.renames()
    parsed = _read_fast(file_name, standard)
    if parsed is None:  # something the fast reader does not vouch for: read line by line
        parsed = _read_careful(file_name, renames, standard, text_values=columns.text_values)
    frame = parsed.rename(columns=standard)
    value_labels: dict[Hashable, dict[float, str]] = {}
    if columns.text_values:
        frame, value_labels = code_text_values(frame)
    if "status" in frame.columns:
        frame["status"] = frame["status"].replace("", np.nan)
        # An empty status cell means "decide from the value", as without the column.
        frame["status"] = frame["status"].fillna(
            pd.Series(np.where(frame["value"].notna(), "value", "cant_judge"), index=frame.index)
        )
    validated = validate_ratings(frame, name=file_name)
    if value_labels:
        validated.attrs["value_labels"] = value_labels
    return validated


def code_text_values(
    ratings: pd.DataFrame,
) -> tuple[pd.DataFrame, dict[Hashable, dict[float, str]]]:
    """Replace the text labels of nominal dimensions by the codes 1, 2, ... (sorted labels).

    Parameters
    ----------
    ratings : pandas.DataFrame
        Tidy ratings whose ``value`` column may hold text (missing: NaN or None).

    Returns
    -------
    (pandas.DataFrame, dict)
        A copy with numeric values, and per dimension that held text, its labels by code.

    Notes
    -----
    Every nominal coefficient is invariant to a one-to-one recoding of the categories,
    so the codes change no alpha or kappa. A dimension with any text value has all its
    values read as labels (the number 3 becomes the label "3"); a dimension with
    numbers only is left as it is. Codes have no order and no distance: use them at the
    nominal level only (:func:`analysis.summary.analyze` refuses another level).

    Examples
    --------
    >>> frame = pd.DataFrame({"rater": ["a", "b", "c"], "item": ["x", "x", "x"],
    ...                       "dimension": ["d", "d", "d"], "value": ["yes", "no", None]})
    >>> coded, labels = code_text_values(frame)
    >>> coded["value"].tolist(), labels
    ([2.0, 1.0, None], {'d': {1.0: 'no', 2.0: 'yes'}})
    """
    frame = ratings.copy()
    values = frame["value"].to_numpy(dtype=object)
    missing = np.asarray(pd.isna(values), dtype=bool)
    dimensions = frame["dimension"].to_numpy(dtype=object)
    coded = values.copy()
    labels: dict[Hashable, dict[float, str]] = {}
    for dimension in pd.unique(dimensions):
        present = np.flatnonzero((dimensions == dimension) & ~missing)
        cells = values[present]
        if not any(isinstance(cell, str) for cell in cells):
            continue  # numbers only: validate_ratings reads them
        text = [cell if isinstance(cell, str) else f"{cell:g}" for cell in cells]
        names = sorted(set(text))
        code = {name: float(index + 1) for index, name in enumerate(names)}
        coded[present] = [code[name] for name in text]
        labels[dimension] = {number: name for name, number in code.items()}
    frame["value"] = coded
    return frame, labels


#: Confidence words as the platform exports them, read as the numbers 1 (low) to 3 (high).
CONFIDENCE_WORDS = {"low": 1.0, "medium": 2.0, "high": 3.0}


def _read_careful(
    file_name: str, renames: Mapping[str, str], standard: Mapping[str, str], *, text_values: bool
) -> pd.DataFrame:
    """The file read row by row with the csv module, every cell judged by ``_parse_cell``:
    its errors name the file, the line and the column."""
    rows = csv_rows(file_name, required=renames)
    _, header = next(rows)
    positions = {column: header.index(column) for column in header}
    columns: dict[str, list[object]] = {column: [] for column in header}
    for line, row in rows:
        for column, position in positions.items():
            columns[column].append(
                _parse_cell(
                    row[position].strip(),
                    column=column,
                    standard=standard.get(column),
                    where=f"{file_name}, line {line}",
                    text_values=text_values,
                )
            )
    return pd.DataFrame(
        {
            column: _text_array(cells) if standard.get(column) not in _NUMBERS else cells
            for column, cells in columns.items()
        }
    )


#: Columns read as numbers; labels and other text columns are read as text.
_NUMBERS = ("value", "round", "confidence")


def _text_array(cells: Sequence[object]) -> pd.api.extensions.ExtensionArray:
    """Text cells as pandas' Arrow-backed strings (what the fast reader gives): one
    buffer instead of a Python object per cell, factorised and compared in Arrow."""
    text: pd.api.extensions.ExtensionArray = pd.array(
        np.asarray(cells, dtype=object), dtype=pd.StringDtype("pyarrow")
    )
    return text


def _read_fast(file_name: str, standard: Mapping[str, str]) -> pd.DataFrame | None:
    """The same table through pyarrow's CSV reader and column-wise checks (many times
    faster on large files), or None as soon as the file holds anything the careful reader
    would judge differently or refuse: a row with another number of cells than the header,
    a repeated or missing column, an empty label, a value that is not a finite number,
    text that is not UTF-8. The careful reader then reads the file and names the line. A
    test holds both readers to the same tables."""
    header = _header(file_name, standard)
    if header is None:
        return None
    table = _arrow_table(file_name, len(header))
    if table is None:
        return None
    columns: dict[str, object] = {}
    for position, column in enumerate(header):
        converted = _arrow_column(table.column(position), standard.get(column))
        if converted is None:
            return None
        columns[column] = converted
    return pd.DataFrame(columns)


def _header(file_name: str, standard: Mapping[str, str]) -> list[str] | None:
    """The stripped header, or None when it is for the careful reader to judge (no
    header, a repeated column, a required one missing)."""
    try:
        with open(file_name, encoding="utf-8-sig", newline="") as handle:
            cells = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not cells:
        return None
    header = [cell.strip() for cell in cells]
    required = [c for c, s in standard.items() if s in ("rater", "item", "dimension", "value")]
    if len(set(header)) != len(header) or any(column not in header for column in required):
        return None
    return header


def _arrow_table(file_name: str, width: int) -> Any:
    """Every cell after the header as text (a pyarrow Table), or None when pyarrow refuses
    the file (a row of another width, text that is not UTF-8) or it has no rows."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = [f"c{position}" for position in range(width)]
    try:
        table = pa_csv.read_csv(
            file_name,
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, OSError):
        return None
    return table if table.num_rows else None


def _arrow_column(cells: Any, kind: str | None) -> object:
    """One column as the careful reader would hold it (cells stripped: labels and other
    text as Arrow-backed strings, numbers as floats), or None if a cell needs its
    judgement (an empty label, a value that is not a finite number)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stripped = pc.utf8_trim_whitespace(cells.combine_chunks())
    if kind in ("value", "round"):
        empty = pc.equal(stripped, "")
        try:
            numbers = pc.cast(
                pc.if_else(empty, pa.scalar(None, pa.string()), stripped), pa.float64()
            )
        except pa.ArrowException:
            return None
        values: FloatArray = numbers.to_numpy(zero_copy_only=False)
        if not np.isfinite(values[~empty.to_numpy(zero_copy_only=False)]).all():
            return None
        return values
    if kind == "confidence":
        return _finite_numbers(
            pd.Series(stripped.to_pylist(), dtype=object), words=CONFIDENCE_WORDS
        )
    if kind in ("rater", "item", "dimension") and pc.any(pc.equal(stripped, "")).as_py():
        return None
    return pd.arrays.ArrowStringArray(pa.chunked_array([stripped]))


def _finite_numbers(cells: pd.Series, *, words: Mapping[str, float]) -> FloatArray | None:
    """Empty cells as NaN, numbers as floats; None if any other cell is not a finite number."""
    empty = (cells == "").to_numpy()
    if words:
        cells = cells.str.lower().map(lambda cell: words.get(cell, cell))
    numbers = pd.to_numeric(cells.where(~empty), errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(numbers[~empty]).all():
        return None
    return numbers


def _parse_cell(
    cell: str, *, column: str, standard: str | None, where: str, text_values: bool = False
) -> object:
    if standard in ("rater", "item", "dimension"):
        if not cell:
            raise ValueError(f"{where}, column {column!r}: empty {standard} label")
        return cell
    if standard in ("value", "round", "confidence"):
        if not cell:
            return math.nan
        if standard == "confidence" and cell.lower() in CONFIDENCE_WORDS:
            return CONFIDENCE_WORDS[cell.lower()]
        try:
            number = float(cell)
        except ValueError:
            if standard == "value" and text_values:
                return cell
            hint = "; text labels are read at the nominal level" if standard == "value" else ""
            raise ValueError(
                f"{where}, column {column!r}: {cell!r} is not a number "
                f"(leave the cell empty for a missing rating{hint})"
            ) from None
        if not math.isfinite(number):
            raise ValueError(f"{where}, column {column!r}: {cell!r} is not a finite number")
        return number
    return cell


@dataclass(frozen=True)
class DimensionData:
    """The rated values of one dimension as integer-coded arrays (valued rows only).

    ``raters`` and ``items`` hold the labels of the whole panel (sorted), so codes agree
    across dimensions; ``rater_code``/``item_code`` index them. ``domain`` is the sorted
    set of values used (or the given scale) and ``value_code`` indexes it;
    ``declared_scale`` says whether a scale was given (it then lists the categories).
    """

    dimension: Hashable
    raters: LabelArray
    items: LabelArray
    rater_code: IntArray
    item_code: IntArray
    value: FloatArray
    domain: FloatArray
    value_code: IntArray
    declared_scale: bool = False

    @property
    def n_values(self) -> int:
        return int(self.value.size)

    @cached_property
    def n_raters(self) -> int:
        return int(np.count_nonzero(np.bincount(self.rater_code, minlength=1)))

    @property
    def n_items(self) -> int:
        return int(self._counts[0].size)

    @cached_property
    def rater_index(self) -> tuple[IntArray, IntArray]:
        """(codes of the raters with a value, sorted; each row's position among them)."""
        return compact_codes(self.rater_code)

    @cached_property
    def item_index(self) -> tuple[IntArray, IntArray]:
        """(codes of the items with a value, sorted; each row's position among them)."""
        return compact_codes(self.item_code)

    def value_counts(self) -> tuple[IntArray, FloatArray]:
        """(units, counts): item codes having a value and their (units x V) value counts."""
        return self._counts

    @cached_property
    def _counts(self) -> tuple[IntArray, FloatArray]:
        units, unit = self.item_index
        width = self.domain.size
        flat = np.bincount(unit * width + self.value_code, minlength=units.size * width)
        counts = flat.reshape(units.size, width).astype(float)
        counts.flags.writeable = False
        return units, counts

    def subset(self, keep: BoolArray) -> DimensionData:
        """Rows where ``keep`` is true, with the same label arrays and domain."""
        return DimensionData(
            dimension=self.dimension,
            raters=self.raters,
            items=self.items,
            rater_code=self.rater_code[keep],
            item_code=self.item_code[keep],
            value=self.value[keep],
            domain=self.domain,
            value_code=self.value_code[keep],
            declared_scale=self.declared_scale,
        )


def compact_codes(codes: IntArray) -> tuple[IntArray, IntArray]:
    """``np.unique(codes, return_inverse=True)`` for non-negative integer codes, by
    counting instead of sorting (linear time)."""
    present = np.bincount(codes, minlength=1) > 0
    position = np.cumsum(present) - 1
    unique: IntArray = np.flatnonzero(present)
    inverse: IntArray = position[codes]
    return unique, inverse


def stable_order(codes: IntArray) -> IntArray:
    """``np.argsort(codes, kind="stable")`` for non-negative integer codes.

    Codes below 2^16 are sorted as 16-bit integers, which numpy sorts by radix in linear
    time (about five times as fast as its merge sort of 64-bit integers on 2 M codes);
    the order is the same.
    """
    if codes.size and int(codes.min()) >= 0 and int(codes.max()) < 2**16:
        codes = codes.astype(np.uint16)
    order: IntArray = np.argsort(codes, kind="stable")
    return order


def grouped_order(group: IntArray, values: FloatArray) -> IntArray:
    """``np.lexsort((values, group))`` (by group, then value, ties in row order) through
    stable sorts of integer keys: the values' ranks come from hashing, not sorting."""
    rank, uniques = pd.factorize(values, sort=True)
    if rank.size and rank.min() < 0:  # NaN among the values: the general sort
        general: IntArray = np.lexsort((values, group))
        return general
    width = max(len(uniques), 1)
    top = int(group.max(initial=0))
    if top * width + width > 2**16 and top < 2**16 and width <= 2**16:
        # The key group * width + rank would not fit in 16 bits, but each part does: two
        # stable radix sorts, by rank and then by group, give the same order as the
        # stable sort of the key (least significant part first), several times faster
        # than numpy's merge sort of 64-bit keys.
        by_rank = stable_order(rank)
        by_group: IntArray = by_rank[stable_order(group[by_rank])]
        return by_group
    key = group.astype(np.int64) * width + rank
    return stable_order(key)


def sorted_codes(labels: pd.Series) -> tuple[IntArray, LabelArray]:
    """(codes, uniques) with uniques in sorted order, so results ignore row order."""
    try:
        codes, factorized = pd.factorize(labels, sort=True)
        uniques = np.asarray(factorized, dtype=object)
    except TypeError:  # mixed label types: order them by their text
        text = labels.map(str)
        codes, text_uniques = pd.factorize(text, sort=True)
        first = pd.Series(labels.to_numpy()).groupby(codes).first()
        uniques = np.asarray(first.reindex(range(len(text_uniques))).to_numpy(), dtype=object)
    return np.asarray(codes, dtype=np.int64), uniques


@dataclass(frozen=True)
class PanelCodes:
    """Integer codes of validated ratings, computed once and shared by the analyses.

    Labels are sorted (see :func:`sorted_codes`); ``status_code`` indexes ``STATUSES``.
    """

    rater_code: IntArray
    raters: LabelArray
    item_code: IntArray
    items: LabelArray
    dimension_code: IntArray
    dimensions: LabelArray
    status_code: npt.NDArray[np.int8]

    @classmethod
    def of(cls, ratings: pd.DataFrame) -> PanelCodes:
        """Codes of ratings that :func:`validate_ratings` has checked."""
        rater_code, raters = sorted_codes(ratings["rater"])
        item_code, items = sorted_codes(ratings["item"])
        dimension_code, dimensions = sorted_codes(ratings["dimension"])
        if "status" in ratings.columns:
            status_code = pd.Categorical(ratings["status"], categories=STATUSES).codes
        else:
            status_code = np.where(ratings["value"].notna(), 0, 1)
        return cls(
            rater_code=rater_code,
            raters=raters,
            item_code=item_code,
            items=items,
            dimension_code=dimension_code,
            dimensions=dimensions,
            status_code=np.asarray(status_code, dtype=np.int8),
        )

    def status_is(self, status: str) -> BoolArray:
        same: BoolArray = self.status_code == STATUSES.index(status)
        return same


def dimension_data(
    ratings: pd.DataFrame,
    *,
    scales: dict[Hashable, Sequence[float]] | None = None,
    codes: PanelCodes | None = None,
) -> dict[Hashable, DimensionData]:
    """Split validated ratings into :class:`DimensionData`, one per dimension (sorted).

    ``scales`` optionally gives the full list of admissible values of a dimension (e.g. a
    1-5 scale whose extreme levels nobody used); a value outside it raises ValueError.
    ``codes`` are the ratings' :class:`PanelCodes` when already computed.
    """
    codes = PanelCodes.of(ratings) if codes is None else codes
    rater_code, raters = codes.rater_code, codes.raters
    item_code, items = codes.item_code, codes.items
    dimension_code, dimensions = codes.dimension_code, codes.dimensions
    values = ratings["value"].to_numpy(dtype=float)
    has_value = ~np.isnan(values)
    result: dict[Hashable, DimensionData] = {}
    for code, dimension in enumerate(dimensions):
        rows = has_value & (dimension_code == code)
        value = values[rows]
        scale = None if scales is None else scales.get(dimension)
        if scale is None:
            domain = np.unique(value)
        else:
            domain = np.unique(np.asarray(scale, dtype=float))
            outside = ~np.isin(value, domain)
            if outside.any():
                raise ValueError(
                    f"scales: dimension {dimension!r} has the value {value[outside][0]!r}, "
                    f"which is not on its scale {domain.tolist()}"
                )
        result[dimension] = DimensionData(
            dimension=dimension,
            raters=raters,
            items=items,
            rater_code=rater_code[rows],
            item_code=item_code[rows],
            value=value,
            domain=domain,
            value_code=np.searchsorted(domain, value),
            declared_scale=scale is not None,
        )
    return result
