"""Researchers' file formats of rating tables and of results: read and write them.

One module knows every format (``FORMATS``): long CSV, wide CSV, XLSX with a codebook
sheet, SPSS ``.sav`` and Stata ``.dta`` with variable and value labels, and JSON with its
codebook. The app's exports write through :func:`write_ratings`; ``elicit analyze`` reads
through :func:`read_ratings` and writes its per-dimension table through
:func:`write_table`.

Layouts
-------
long
    One row per rater x item x dimension (the package's tidy table): ``value`` and
    ``status`` say what was answered. CSV, XLSX and JSON exports are long.
wide
    One row per rater x item, one column per dimension. A cell holds the value, or the
    abstention: the words ``cant_judge`` / ``outside_expertise`` in CSV, a labelled missing
    value in SPSS (:data:`SPSS_CODES`, declared user-missing) and Stata (the extended
    missing values ``.a`` and ``.b``). An empty cell is "can't judge". Wide CSV, SPSS and
    Stata exports are wide (value labels belong to a variable, and each dimension has its
    own scale). In a wide file every column other than the rater, the item and
    :data:`WIDE_ATTRIBUTES` is a dimension.

Text cells of CSV and XLSX are neutralised against formula injection
(:func:`neutralise`). The module imports only the standard library at import time (the
web app's workers import it); pandas, openpyxl and pyreadstat are imported by the
functions that need them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import re
import tempfile
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from analysis.options import Columns

if TYPE_CHECKING:
    import pandas as pd

    from analysis.results import PanelAnalysis

__all__ = [
    "ABSTENTION_LABELS",
    "FORMATS",
    "SPSS_CODES",
    "STATA_CODES",
    "WIDE_ATTRIBUTES",
    "Codebook",
    "DimensionScale",
    "FileFormat",
    "FormatName",
    "RatingTable",
    "Table",
    "Variable",
    "csv_cell",
    "dimension_table",
    "neutralise",
    "read_ratings",
    "write_csv",
    "write_ratings",
    "write_table",
]


#: The format names, for typed parameters (the keys of :data:`FORMATS`, in order).
FormatName = Literal["csv", "wide-csv", "xlsx", "sav", "dta", "json"]


@dataclass(frozen=True)
class FileFormat:
    """One file format: its name (the ``--format`` / ``format`` value), file suffix, media
    type and layout."""

    name: str
    suffix: str
    media_type: str
    layout: str
    title: str
    #: A short name for a link or a menu.
    label: str


FORMATS: dict[str, FileFormat] = {
    f.name: f
    for f in (
        FileFormat(
            "csv", ".csv", "text/csv; charset=utf-8", "long", "CSV, one row per rating", "CSV"
        ),
        FileFormat(
            "wide-csv",
            "-wide.csv",
            "text/csv; charset=utf-8",
            "wide",
            "CSV, one row per expert and item",
            "wide CSV",
        ),
        FileFormat(
            "xlsx",
            ".xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "long",
            "Excel workbook with a codebook sheet",
            "Excel",
        ),
        FileFormat(
            "sav", ".sav", "application/x-spss-sav", "wide", "SPSS with value labels", "SPSS"
        ),
        FileFormat(
            "dta", ".dta", "application/x-stata-dta", "wide", "Stata with value labels", "Stata"
        ),
        FileFormat(
            "json", ".json", "application/json", "long", "JSON records and codebook", "JSON"
        ),
    )
}

#: The abstentions and the label they carry in every file.
ABSTENTION_LABELS = {"cant_judge": "can't judge", "outside_expertise": "outside expertise"}
#: SPSS user-missing codes of the abstentions (moved below a scale that reaches 0 or less).
SPSS_CODES = {"cant_judge": -1, "outside_expertise": -2}
#: Stata extended missing values of the abstentions.
STATA_CODES = {"cant_judge": "a", "outside_expertise": "b"}
#: Columns of a wide file that are not dimensions (besides the rater and the item).
WIDE_ATTRIBUTES = (
    "round",
    "round_id",
    "survey",
    "survey_version",
    "organisation",
    "stakeholder_group",
    "group",
    "response_status",
    "language",
)

# --- cells: what a spreadsheet must never read as a formula ------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Characters an XLSX file cannot hold (XML 1.0 forbids them).
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralise(text: str | None) -> str:
    """Keep a spreadsheet from reading a text cell as a formula (OWASP, "CSV Injection").

    A text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading apostrophe, unless it is nothing but a plain decimal number (``-0.25``).

    Examples
    --------
    >>> neutralise("=1+1"), neutralise("-0.25"), neutralise("plain")
    ("'=1+1", '-0.25', 'plain')
    """
    if not text:
        return ""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    """One CSV cell: numbers as numbers, booleans as true/false, None empty, the rest as
    neutralised text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return repr(number) if math.isfinite(number) else ""
    return neutralise(str(value))


def write_csv(rows: Iterable[Sequence[Any] | Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A header of ``columns`` and one line per row (a sequence in column order, or a
    mapping by column name), every cell through :func:`csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralise(name) for name in columns])
    for row in rows:
        values = [row.get(name) for name in columns] if isinstance(row, Mapping) else list(row)
        if len(values) != len(columns):
            raise ValueError(f"a CSV row has {len(values)} cells for {len(columns)} columns")
        writer.writerow([csv_cell(value) for value in values])
    return out.getvalue()


def _xlsx_cell(value: Any) -> Any:
    """A cell for openpyxl: numbers as numbers, text neutralised and without the control
    characters XML cannot hold (each becomes U+FFFD)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            return None
        return int(value) if isinstance(value, numbers.Integral) else number
    return neutralise(_NOT_IN_XML.sub("\ufffd", str(value)))


def _json_cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- what the files say about themselves ---------------------------------------------------


@dataclass(frozen=True)
class Variable:
    """One column of a file and what it means."""

    name: str
    label: str


@dataclass(frozen=True)
class DimensionScale:
    """One dimension's scale: its levels, each with its description."""

    dimension: str
    label: str
    measurement: str
    levels: tuple[tuple[int, str], ...]
    #: Whether its raters may abstain ("can't judge", "outside expertise").
    abstentions: tuple[str, ...] = ("cant_judge", "outside_expertise")


@dataclass(frozen=True)
class Codebook:
    """What a rating file's columns and codes mean, and where the data came from."""

    title: str
    survey: str
    survey_version: int
    survey_label: str
    digest: str
    variables: tuple[Variable, ...]
    scales: tuple[DimensionScale, ...]
    #: Columns constant for one rater and item, kept by the wide layout.
    wide_keys: tuple[str, ...] = ("rater", "item")

    def spss_codes(self) -> dict[str, int]:
        """The SPSS codes of the abstentions: -1 and -2, or the two below the lowest scale
        level when a scale reaches below 0."""
        lowest = min((level for s in self.scales for level, _ in s.levels), default=1)
        shift = min(0, lowest)
        return {status: code + shift for status, code in SPSS_CODES.items()}

    def to_dict(self) -> dict[str, Any]:
        spss = self.spss_codes()
        return {
            "title": self.title,
            "survey": self.survey,
            "survey_version": self.survey_version,
            "survey_label": self.survey_label,
            "survey_digest": self.digest,
            "variables": [{"name": v.name, "label": v.label} for v in self.variables],
            "scales": [
                {
                    "dimension": s.dimension,
                    "label": s.label,
                    "measurement": s.measurement,
                    "levels": {str(level): text for level, text in s.levels},
                    "abstentions": list(s.abstentions),
                }
                for s in self.scales
            ],
            "abstentions": {
                status: {
                    "label": label,
                    "spss_code": spss[status],
                    "stata_code": "." + STATA_CODES[status],
                    "wide_csv": status,
                }
                for status, label in ABSTENTION_LABELS.items()
            },
        }

    def sheet_rows(self) -> list[tuple[str, str, object, str]]:
        """The codebook as rows (section, name, value, label) for a spreadsheet."""
        spss = self.spss_codes()
        rows: list[tuple[str, str, object, str]] = [
            ("survey", "survey", self.survey, self.title),
            ("survey", "survey_version", self.survey_version, f"version {self.survey_label}"),
            ("survey", "survey_digest", self.digest, "SHA-256 of the survey definition"),
        ]
        rows += [("variable", v.name, "", v.label) for v in self.variables]
        for scale in self.scales:
            rows.append(("dimension", scale.dimension, scale.measurement, scale.label))
            rows += [("level", scale.dimension, level, text) for level, text in scale.levels]
        rows += [
            (
                "abstention",
                "status",
                status,
                f"{label} (empty value; SPSS code {spss[status]}, Stata .{STATA_CODES[status]})",
            )
            for status, label in ABSTENTION_LABELS.items()
        ]
        return rows

    def scale_of(self, dimension: str) -> DimensionScale | None:
        return next((s for s in self.scales if s.dimension == dimension), None)


@dataclass(frozen=True)
class RatingTable:
    """Long-format ratings to write: rows in ``columns`` order, which include ``rater``,
    ``item``, ``dimension``, ``value`` and ``status``; and their codebook."""

    columns: tuple[str, ...]
    rows: Sequence[Sequence[object]]
    codebook: Codebook

    def wide(self) -> Table:
        """One row per rater x item (the codebook's ``wide_keys``), one column per
        dimension (scale order, then others sorted); an abstention is its status word."""
        at = {name: position for position, name in enumerate(self.columns)}
        keys = [k for k in self.codebook.wide_keys if k in at]
        known = [s.dimension for s in self.codebook.scales]
        seen = {str(row[at["dimension"]]) for row in self.rows}
        dimensions = [d for d in known if d in seen] + sorted(seen - set(known))
        clash = sorted(set(dimensions) & set(keys))
        if clash:
            raise ValueError(f"dimension {clash[0]!r} has the name of a column of the wide layout")
        cells: dict[tuple[object, object], list[object]] = {}
        for row in self.rows:
            key = (row[at["rater"]], row[at["item"]])
            line = cells.get(key)
            if line is None:
                line = cells[key] = [row[at[k]] for k in keys] + [None] * len(dimensions)
            status = row[at["status"]]
            cell = row[at["value"]] if status == "value" else status
            line[len(keys) + dimensions.index(str(row[at["dimension"]]))] = cell
        labels = {v.name: v.label for v in self.codebook.variables}
        variables = [Variable(k, labels.get(k, k)) for k in keys]
        for dimension in dimensions:
            scale = self.codebook.scale_of(dimension)
            variables.append(Variable(dimension, scale.label if scale else dimension))
        return Table(tuple(keys + dimensions), list(cells.values()), tuple(variables))


@dataclass(frozen=True)
class Table:
    """Rows to write, their column names and (optionally) each column's meaning."""

    columns: tuple[str, ...]
    rows: Sequence[Sequence[object]]
    variables: tuple[Variable, ...] = field(default=())


# --- writing ---------------------------------------------------------------------------------


def write_table(table: Table, fmt: str, *, sheet: str = "results") -> bytes:
    """A plain table as CSV, XLSX (one sheet) or JSON records (``{"columns", "rows"}``
    where each row is an object).

    Examples
    --------
    >>> write_table(Table(("a", "b"), [(1, "=x")]), "csv").decode()
    "a,b\\n1,'=x\\n"
    """
    if fmt == "csv":
        return write_csv(table.rows, table.columns).encode("utf-8")
    if fmt == "xlsx":
        return _workbook([(sheet, table.columns, table.rows)])
    if fmt == "json":
        records = [
            {c: _json_cell(v) for c, v in zip(table.columns, row, strict=True)}
            for row in table.rows
        ]
        return json.dumps(records, indent=1, ensure_ascii=False).encode("utf-8")
    raise ValueError(f"fmt must be csv, xlsx or json, not {fmt!r}")


def write_ratings(table: RatingTable, fmt: str) -> bytes:
    """The ratings in one of :data:`FORMATS`, as the bytes of a file.

    Notes
    -----
    ``csv``: the long table. ``wide-csv``: :meth:`RatingTable.wide`. ``xlsx``: a sheet
    "ratings" (long) and a sheet "codebook" (section, name, value, label: the survey, its
    version and digest, every column's meaning, each dimension's levels, the abstentions).
    ``sav`` / ``dta``: the wide table, a variable label per column, the scale levels as
    value labels, the abstentions as labelled missing values. ``json``: an object with
    ``codebook`` and ``ratings`` (records of the long table).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "csv":
        return write_csv(table.rows, table.columns).encode("utf-8")
    if fmt == "wide-csv":
        wide = table.wide()
        return write_csv(wide.rows, wide.columns).encode("utf-8")
    if fmt == "xlsx":
        return _workbook(
            [
                ("ratings", table.columns, table.rows),
                ("codebook", ("section", "name", "value", "label"), table.codebook.sheet_rows()),
            ]
        )
    if fmt == "json":
        document = {
            "codebook": table.codebook.to_dict(),
            "ratings": [
                {c: _json_cell(v) for c, v in zip(table.columns, row, strict=True)}
                for row in table.rows
            ],
        }
        return json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8")
    return _statistics_file(table, fmt)


def _workbook(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[object]]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, columns, rows in sheets:
        sheet = book.create_sheet(title)
        sheet.freeze_panes = "A2"
        sheet.append([_xlsx_cell(c) for c in columns])
        for row in rows:
            sheet.append([_xlsx_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _statistics_file(table: RatingTable, fmt: str) -> bytes:
    """The wide table as SPSS or Stata through pyreadstat (which writes to a path)."""
    import pandas as pd

    wide = table.wide()
    codebook = table.codebook
    keys = [c for c in wide.columns if c in codebook.wide_keys]
    dimensions = [c for c in wide.columns if c not in keys]
    stata = fmt == "dta"
    # Stata names have at most 32 characters; SPSS allows 64 (a survey key's maximum).
    names = {c: c[:32] if stata else c for c in wide.columns}
    spss = codebook.spss_codes()
    columns = {
        column: _statistics_column(
            [row[position] for row in wide.rows], coded=column in dimensions, stata=stata, spss=spss
        )
        for position, column in enumerate(wide.columns)
    }
    frame = pd.DataFrame(columns).rename(columns=names)
    limit = 80 if stata else 256
    options: dict[str, Any] = {
        "column_labels": {names[v.name]: v.label[:limit] for v in wide.variables},
        "variable_value_labels": {
            names[d]: _statistics_value_labels(codebook.scale_of(d), stata=stata, spss=spss)
            for d in dimensions
        },
    }
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ratings." + fmt)
        if stata:
            _write_dta(frame, path, codebook, [names[d] for d in dimensions], options)
        else:
            _write_sav(frame, path, codebook, {names[d]: d for d in dimensions}, options)
        return Path(path).read_bytes()


def _statistics_column(
    cells: list[object], *, coded: bool, stata: bool, spss: Mapping[str, int]
) -> pd.Series:
    """One wide column for SPSS or Stata: a dimension's abstentions as their missing-value
    codes, numbers as floats, anything else as text."""
    import pandas as pd

    if coded:
        values = [
            (STATA_CODES[c] if stata else spss[c]) if isinstance(c, str) else c for c in cells
        ]
        if stata:
            return pd.Series([math.nan if c is None else c for c in values], dtype=object)
        return pd.Series(values, dtype=float)
    if all(isinstance(c, numbers.Real) or c is None for c in cells):
        return pd.Series(cells, dtype=float)
    return pd.Series(["" if c is None else str(c) for c in cells], dtype=object)


def _statistics_value_labels(
    scale: DimensionScale | None, *, stata: bool, spss: Mapping[str, int]
) -> dict[Any, str]:
    """A dimension's value labels: its scale's levels, then the abstentions' codes."""
    levels: dict[Any, str] = {
        float(level) if not stata else level: text
        for level, text in (scale.levels if scale else ())
    }
    for status, label in ABSTENTION_LABELS.items():
        levels[STATA_CODES[status] if stata else float(spss[status])] = label
    return levels


def _write_dta(
    frame: pd.DataFrame,
    path: str,
    codebook: Codebook,
    dimensions: list[str],
    options: dict[str, Any],
) -> None:
    """Write a Stata file; ``dimensions`` are the (Stata) names of the dimension columns."""
    import pyreadstat

    pyreadstat.write_dta(
        frame,
        path,
        file_label=codebook.title[:80],
        missing_user_values={d: list(STATA_CODES.values()) for d in dimensions},
        **options,
    )


def _write_sav(
    frame: pd.DataFrame,
    path: str,
    codebook: Codebook,
    dimensions: Mapping[str, str],
    options: dict[str, Any],
) -> None:
    """Write an SPSS file; ``dimensions`` maps each dimension column's name to its key."""
    import pyreadstat

    spss = codebook.spss_codes()
    pyreadstat.write_sav(
        frame,
        path,
        file_label=codebook.title[:64],
        note=f"{codebook.survey} v{codebook.survey_version} sha256:{codebook.digest}",
        missing_ranges={name: [float(c) for c in spss.values()] for name in dimensions},
        variable_measure={
            name: _spss_measure(codebook.scale_of(key)) for name, key in dimensions.items()
        },
        **options,
    )


def _spss_measure(scale: DimensionScale | None) -> str:
    measurement = scale.measurement if scale else "ordinal"
    return {"nominal": "nominal", "ordinal": "ordinal"}.get(measurement, "scale")


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cells:
    """A file's cells as text: its header and, per row, where it is and its cells."""

    header: list[str]
    rows: list[tuple[str, list[str]]]
    where: str


def read_ratings(
    path: str | os.PathLike[str],
    *,
    wide: bool | None = None,
    sheet: str | None = None,
    columns: Columns = Columns(),
) -> pd.DataFrame:
    """Read a rating file of any of :data:`FORMATS` into validated tidy ratings.

    Parameters
    ----------
    path : path-like
        ``.csv``, ``.xlsx``, ``.sav``, ``.dta`` or ``.json``; the suffix decides.
    wide : bool, optional
        Whether the file is wide (a column per dimension). By default a file with rater and
        item columns but neither a dimension nor a value column is wide.
    sheet : str, optional
        The XLSX sheet; by default "ratings" if there is one, else the first.
    columns : Columns
        What the file calls the columns (default: the package's standard names), and
        whether its values may be text labels (nominal data), as for
        :func:`analysis.tidy.read_ratings_csv`.

    Returns
    -------
    pandas.DataFrame
        As :func:`analysis.tidy.validate_ratings` returns it.

    Raises
    ------
    ValueError
        Naming the file, the row (and the sheet) and the column of a bad cell; or the file
        when it is not of the format its suffix says.

    Notes
    -----
    A long CSV goes through :func:`analysis.tidy.read_ratings_csv` (its fast reader). In a
    wide file, a dimension cell holds a value, ``cant_judge`` or ``outside_expertise``
    (SPSS/Stata: a missing value labelled "outside ..." is ``outside_expertise``, any other
    missing value ``cant_judge``); an empty cell is ``cant_judge``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "w.csv").write_text("rater,item,risk\\na,x,3\\nb,x,cant_judge\\n")
    >>> frame = read_ratings(folder / "w.csv")
    >>> frame[["rater", "dimension", "value", "status"]].values.tolist()
    [['a', 'risk', 3.0, 'value'], ['b', 'risk', nan, 'cant_judge']]
    """
    from analysis.tidy import read_ratings_csv

    file_name = os.fspath(path)
    suffix = Path(file_name).suffix.lower()
    renames = columns.required()
    cells: _Cells
    if suffix == ".csv":
        header = _csv_header(file_name)
        if not _is_wide(header, renames, wide):
            return read_ratings_csv(file_name, columns=columns)
        cells = _csv_cells(file_name)
    elif suffix == ".xlsx":
        cells = _xlsx_cells(file_name, sheet)
    elif suffix == ".json":
        cells = _json_cells(file_name)
    elif suffix in (".sav", ".dta"):
        cells = _statistics_cells(file_name, suffix)
    else:
        raise ValueError(
            f"{file_name}: cannot read {suffix or 'a file without a suffix'}; "
            "use .csv, .xlsx, .sav, .dta or .json"
        )
    return _ratings_of(cells, columns, wide=_is_wide(cells.header, renames, wide))


def _is_wide(header: Sequence[str], renames: Mapping[str, str], wide: bool | None) -> bool:
    if wide is not None:
        return wide
    given = {renames.get(c, c) for c in header}
    return {"rater", "item"} <= given and not given & {"dimension", "value"}


def _csv_header(file_name: str) -> list[str]:
    try:
        with open(file_name, newline="", encoding="utf-8-sig") as handle:
            return [c.strip() for c in next(csv.reader(handle), [])]
    except UnicodeDecodeError:
        raise ValueError(f"{file_name}: the file is not UTF-8 text") from None


def _csv_cells(file_name: str) -> _Cells:
    from analysis.tidy import csv_rows

    rows = csv_rows(file_name, required=())
    _, header = next(rows)
    return _Cells(header, [(f"{file_name}, line {n}", row) for n, row in rows], file_name)


def _text(cell: object) -> str:
    """A typed cell (XLSX, JSON, SPSS) as the text a CSV file would hold."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float):
        return "" if math.isnan(cell) else repr(cell)
    return str(cell)


def _xlsx_cells(file_name: str, sheet: str | None) -> _Cells:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(file_name, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ValueError(f"{file_name}: not an XLSX workbook ({exc})") from None
    try:
        names = book.sheetnames
        chosen = sheet or ("ratings" if "ratings" in names else names[0])
        if chosen not in names:
            raise ValueError(
                f"{file_name}: no sheet {chosen!r}; the workbook has {', '.join(names)}"
            )
        where = f"{file_name}, sheet {chosen!r}"
        lines = book[chosen].iter_rows(values_only=True)
        first = next(lines, None)
        header = [_text(c).strip() for c in first or ()]
        while header and not header[-1]:
            header.pop()
        if not header:
            raise ValueError(f"{where}: row 1 holds no column names")
        rows: list[tuple[str, list[str]]] = []
        for number, line in enumerate(lines, start=2):
            cells = [_text(c) for c in line]
            if not any(c.strip() for c in cells):
                continue
            extra = [i for i, c in enumerate(cells) if i >= len(header) and c.strip()]
            if extra:
                raise ValueError(
                    f"{where}, row {number}: a value in column {extra[0] + 1}, "
                    f"which has no name in row 1"
                )
            cells += [""] * (len(header) - len(cells))
            rows.append((f"{where}, row {number}", cells[: len(header)]))
    finally:
        book.close()
    return _Cells(header, rows, where)


def _json_cells(file_name: str) -> _Cells:
    try:
        with open(file_name, encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file_name}: not JSON ({exc})") from None
    records = document.get("ratings") if isinstance(document, dict) else document
    if not isinstance(records, list):
        raise ValueError(
            f"{file_name}: expected a list of rating records, or an object whose "
            "'ratings' is that list"
        )
    header: list[str] = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ValueError(f"{file_name}, record {number}: not an object")
        header += [k for k in record if k not in header]
    rows: list[tuple[str, list[str]]] = []
    for number, record in enumerate(records, start=1):
        where = f"{file_name}, record {number}"
        for key, cell in record.items():
            if isinstance(cell, dict | list):
                raise ValueError(f"{where}, column {key!r}: expected a number or a text")
        rows.append((where, [_text(record.get(column)) for column in header]))
    return _Cells(header, rows, file_name)


def _statistics_cells(file_name: str, suffix: str) -> _Cells:
    """An SPSS or Stata file's cells, abstentions as their status words."""
    import pandas as pd
    import pyreadstat

    reader = pyreadstat.read_sav if suffix == ".sav" else pyreadstat.read_dta
    try:
        frame, meta = reader(file_name, user_missing=True)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError) as exc:
        kind = "an SPSS .sav" if suffix == ".sav" else "a Stata .dta"
        raise ValueError(f"{file_name}: not {kind} file ({exc})") from None
    ranges: Mapping[str, list[dict[str, float]]] = getattr(meta, "missing_ranges", {}) or {}
    user: Mapping[str, list[str]] = getattr(meta, "missing_user_values", {}) or {}
    value_labels: Mapping[str, Mapping[Any, str]] = meta.variable_value_labels or {}
    columns: list[list[str]] = []
    for column in frame.columns:
        labels = value_labels.get(column, {})
        missing = _missing_test(ranges.get(column, []), user.get(column, []))
        cells: list[str] = []
        for cell in frame[column].tolist():
            if missing(cell):
                cells.append(_abstention(labels.get(cell)))
            elif isinstance(cell, float) and cell.is_integer():
                cells.append(str(int(cell)))
            else:
                cells.append("" if cell is None or cell is pd.NA else _text(cell))
        columns.append(cells)
    rows = [(f"{file_name}, row {n + 1}", [c[n] for c in columns]) for n in range(len(frame.index))]
    return _Cells([str(c) for c in frame.columns], rows, file_name)


def _missing_test(
    ranges: Sequence[Mapping[str, float]], codes: Sequence[str]
) -> Callable[[object], bool]:
    def missing(cell: object) -> bool:
        if isinstance(cell, str):
            return cell in codes
        if isinstance(cell, int | float):
            return any(r["lo"] <= cell <= r["hi"] for r in ranges)
        return False

    return missing


def _abstention(label: str | None) -> str:
    return "outside_expertise" if label and "outside" in label.lower() else "cant_judge"


#: Parses one cell's text: (text, file column, where) -> the cell's value.
_CellParser = Callable[[str, str, str], object]


def _ratings_of(cells: _Cells, columns: Columns, *, wide: bool) -> pd.DataFrame:
    """The cells as validated tidy ratings; a bad cell's error names its row and column."""
    import pandas as pd

    from analysis.tidy import code_text_values, validate_ratings

    renames, standard = columns.required(), columns.renames()
    text_values = columns.text_values
    _check_header(cells, renames, wide=wide)
    parse = _cell_parser(standard, text_values=text_values)
    if wide:
        records = _wide_records(cells, renames, standard, parse, text_values=text_values)
    else:
        records = _long_records(cells, standard, parse)
    frame = pd.DataFrame(records)
    value_labels: dict[Hashable, dict[float, str]] = {}
    if text_values:
        frame, value_labels = code_text_values(frame)
    if "status" in frame.columns:
        frame = _statuses_filled(frame)
    validated = validate_ratings(frame, name=cells.where)
    if value_labels:
        validated.attrs["value_labels"] = value_labels
    return validated


def _check_header(cells: _Cells, renames: Mapping[str, str], *, wide: bool) -> None:
    """Reject a header with a repeated column, a wide file with long columns, or a header
    missing a column the layout needs."""
    header = cells.header
    if len(set(header)) != len(header):
        repeated = next(c for c in header if header.count(c) > 1)
        raise ValueError(f"{cells.where}: the column {repeated!r} appears twice")
    needed = ("rater", "item") if wide else ("rater", "item", "dimension", "value")
    by_standard = {renames.get(c, c): c for c in header}
    if wide and {"dimension", "value"} <= set(by_standard):
        raise ValueError(
            f"{cells.where}: the columns {by_standard['dimension']!r} and "
            f"{by_standard['value']!r} make it a long file (a row per rating), not a wide one"
        )
    for column in needed:
        if column not in by_standard:
            name = next(k for k, v in renames.items() if v == column)
            raise ValueError(f"{cells.where}: no column {name!r}")


def _cell_parser(standard: Mapping[str, str], *, text_values: bool) -> _CellParser:
    from analysis.tidy import _parse_cell

    def parse(text: str, column: str, where: str) -> object:
        return _parse_cell(
            text.strip(),
            column=column,
            standard=standard.get(column),
            where=where,
            text_values=text_values,
        )

    return parse


def _long_records(
    cells: _Cells, standard: Mapping[str, str], parse: _CellParser
) -> dict[str, list[object]]:
    """A long file's columns (under their standard names), each cell parsed."""
    header = cells.header
    records: dict[str, list[object]] = {standard.get(c, c): [] for c in header}
    for where, row in cells.rows:
        for column, text in zip(header, row, strict=True):
            records[standard.get(column, column)].append(parse(text, column, where))
    return records


def _wide_records(
    cells: _Cells,
    renames: Mapping[str, str],
    standard: Mapping[str, str],
    parse: _CellParser,
    *,
    text_values: bool,
) -> dict[str, list[object]]:
    """A wide file as long columns: a record per row and dimension column, carrying the
    row's rater, item and other attributes; an empty or abstention cell is its status."""
    header = cells.header
    kept = [c for c in header if renames.get(c, c) in ("rater", "item", *WIDE_ATTRIBUTES)]
    dimensions = [c for c in header if c not in kept]
    if not dimensions:
        raise ValueError(
            f"{cells.where}: a wide file needs a column per dimension besides {', '.join(kept)}"
        )
    names = [standard.get(c, c) for c in kept]
    records: dict[str, list[object]] = {
        name: [] for name in [*names, "dimension", "value", "status"]
    }
    position = {c: header.index(c) for c in header}
    for where, row in cells.rows:
        fixed = [parse(row[position[c]], c, where) for c in kept]
        for dimension in dimensions:
            for name, cell in zip(names, fixed, strict=True):
                records[name].append(cell)
            records["dimension"].append(dimension)
            value, status = _wide_value(
                row[position[dimension]].strip(), dimension, where, text_values=text_values
            )
            records["value"].append(value)
            records["status"].append(status)
    return records


def _wide_value(text: str, dimension: str, where: str, *, text_values: bool) -> tuple[object, str]:
    """A wide cell's value and status: an abstention word or an empty cell has no value."""
    from analysis.tidy import STATUSES, _parse_cell

    if text in STATUSES[1:] or not text:
        return math.nan, text or "cant_judge"
    number = _parse_cell(
        text, column=dimension, standard="value", where=where, text_values=text_values
    )
    return number, "value"


def _statuses_filled(frame: pd.DataFrame) -> pd.DataFrame:
    """An empty status is "value" where there is a value, else "cant_judge"."""
    import numpy as np
    import pandas as pd

    frame["status"] = frame["status"].replace("", np.nan)
    frame["status"] = frame["status"].fillna(
        pd.Series(np.where(frame["value"].notna(), "value", "cant_judge"), index=frame.index)
    )
    return frame


# --- results ---------------------------------------------------------------------------------


def dimension_table(result: PanelAnalysis) -> Table:
    """The per-dimension statistics of an analysis as one row per dimension.

    Notes
    -----
    An undefined coefficient is an empty cell; ``reasons`` says why (``name: reason``,
    separated by ``; ``). ``alpha`` is the alpha at the dimension's own level.
    """
    entries = list(result.dimensions.values())
    levels = list(entries[0].alpha) if entries else []
    forms = list(entries[0].icc.forms) if entries else []
    kappas = list(entries[0].by_name()) if entries else []
    columns = [
        "dimension",
        "level",
        "n_raters",
        "n_items",
        "n_values",
        "alpha",
        "alpha_ci_low",
        "alpha_ci_high",
        "p_below_minimum",
        "minimum_alpha",
        "reading",
        *[f"alpha_{level}" for level in levels],
        *kappas,
        *[f"icc_{form}" for form in forms],
        "kendall_w",
        "reasons",
    ]
    rows: list[list[object]] = []
    for entry in entries:
        primary = entry.primary_alpha
        rows.append(
            [
                str(entry.dimension),
                entry.level,
                entry.n_raters,
                entry.n_items,
                entry.n_values,
                primary.value,
                primary.ci_low,
                primary.ci_high,
                primary.p_below_minimum,
                primary.minimum,
                primary.reading,
                *[entry.alpha[level].value for level in levels],
                *[c.value for c in entry.by_name().values()],
                *[entry.icc.forms[form].value for form in forms],
                entry.kendall_w.value,
                "; ".join(f"{k}: {v}" for k, v in entry.reasons().items()),
            ]
        )
    return Table(tuple(columns), rows)
