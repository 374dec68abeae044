"""Choices the analysis offers, named without importing numpy: a web worker checks a
request's options before the computing process runs the statistics (`app/web/computing.py`
keeps numpy, pandas and scipy out of the web workers)."""

from __future__ import annotations

from typing import Literal, TypeAlias

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
