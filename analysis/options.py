"""Choices the analysis offers, named without importing numpy: a web worker checks a
request's options before the computing process runs the statistics (`app/web/computing.py`
keeps numpy, pandas and scipy out of the web workers), and the readers of
:mod:`analysis.formats` (standard library only at import) name a file's columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias


@dataclass(frozen=True)
class Columns:
    """What a rating file calls the columns of the tidy table (see :mod:`analysis.tidy`),
    and whether its values are text labels.

    The readers (:func:`analysis.tidy.read_ratings_csv`, :func:`analysis.formats.read_ratings`)
    rename these columns to the package's standard names. ``rater``, ``item``,
    ``dimension`` and ``value`` are required (a wide file has no dimension and value
    columns); ``status``, ``round`` and ``confidence`` are used when the file has them.
    With ``text_values``, the values may be text labels (nominal data): each dimension's
    labels are coded 1, 2, ... (:func:`analysis.tidy.code_text_values`), and the codes'
    labels are in the frame's ``attrs["value_labels"]``.

    Examples
    --------
    >>> Columns(rater="expert", value="score").required()
    {'expert': 'rater', 'item': 'item', 'dimension': 'dimension', 'score': 'value'}
    """

    rater: str = "rater"
    item: str = "item"
    dimension: str = "dimension"
    value: str = "value"
    status: str = "status"
    round: str = "round"
    confidence: str = "confidence"
    text_values: bool = False

    def required(self) -> dict[str, str]:
        """The file's names of the required columns, each to its standard name."""
        return {
            self.rater: "rater",
            self.item: "item",
            self.dimension: "dimension",
            self.value: "value",
        }

    def renames(self) -> dict[str, str]:
        """The file's names of every column, required and optional, to the standard ones."""
        optional = {self.status: "status", self.round: "round", self.confidence: "confidence"}
        return {**self.required(), **optional}


AlphaInterval: TypeAlias = Literal["two-way", "hayes-krippendorff"]
#: How alpha's interval is computed: the default two-way bootstrap (raters and items, or
#: items only with raters fixed), or the Hayes-Krippendorff bootstrap of the KALPHA macro.
ALPHA_INTERVALS: tuple[AlphaInterval, ...] = ("two-way", "hayes-krippendorff")
#: Short names accepted for the interval methods.
_ALPHA_INTERVAL_ALIASES = {"hk": "hayes-krippendorff", "kalpha": "hayes-krippendorff"}


def check_alpha_interval(alpha_interval: object) -> AlphaInterval:
    """The interval method named by ``alpha_interval`` ("hk" is "hayes-krippendorff")."""
    name = _ALPHA_INTERVAL_ALIASES.get(str(alpha_interval).lower(), alpha_interval)
    for known in ALPHA_INTERVALS:
        if name == known:
            return known
    raise ValueError(
        f"alpha_interval must be one of {', '.join(ALPHA_INTERVALS)} (or hk), "
        f"not {alpha_interval!r}"
    )
