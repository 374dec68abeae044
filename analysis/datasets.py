"""Small published and illustrative rating tables, in the tidy layout ``analysis`` takes.

They serve the examples in the docstrings, the tests and anyone trying the package: each
function returns a new DataFrame with the columns rater, item, dimension and value.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["krippendorff_2011", "shrout_fleiss_1979", "two_languages", "two_raters"]

_COLUMNS = ["rater", "item", "dimension", "value"]


def krippendorff_2011() -> pd.DataFrame:
    """Krippendorff's (2011) worked example: 4 coders, 12 units, values 1-5, 7 missing.

    Its published alphas are 0.743 (nominal), 0.815 (ordinal), 0.849 (interval) and
    0.797 (ratio). Units are numbered 1-12 and the one dimension is called "d".

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg
    School for Communication, University of Pennsylvania, section C.

    Examples
    --------
    >>> frame = krippendorff_2011()
    >>> len(frame), frame["value"].isna().sum(), sorted(frame["rater"].unique())
    (48, 7, ['A', 'B', 'C', 'D'])
    """
    rows = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    }
    frame = pd.DataFrame(
        [(r, u + 1, "d", v) for r, values in rows.items() for u, v in enumerate(values)],
        columns=_COLUMNS,
    )
    return frame.astype({"value": "float64"})


#: Shrout & Fleiss (1979), Table 2: 6 targets (rows) rated by 4 judges (columns).
SHROUT_FLEISS_1979 = (
    (9, 2, 5, 8),
    (6, 1, 3, 2),
    (8, 4, 6, 8),
    (7, 1, 2, 6),
    (10, 5, 6, 9),
    (6, 2, 4, 7),
)


def shrout_fleiss_1979() -> pd.DataFrame:
    """Shrout & Fleiss's (1979) worked example: 6 targets (items 0-5) rated by 4 judges
    (raters 0-3) on one dimension "d", complete.

    Its published intraclass correlations are ICC(1,1) 0.17, ICC(2,1) 0.29, ICC(3,1)
    0.71, ICC(1,4) 0.44, ICC(2,4) 0.62 and ICC(3,4) 0.91.

    References
    ----------
    Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing
    rater reliability. Psychological Bulletin, 86(2), 420-428, Table 2.

    Examples
    --------
    >>> shrout_fleiss_1979().groupby("rater")["value"].mean().round(2).tolist()
    [7.67, 2.5, 4.33, 6.67]
    """
    return pd.DataFrame(
        [
            (judge, target, "d", float(value))
            for target, row in enumerate(SHROUT_FLEISS_1979)
            for judge, value in enumerate(row)
        ],
        columns=_COLUMNS,
    )


def two_raters() -> pd.DataFrame:
    """Two raters (a, b), three items (x, y on dimension p; z on dimension u): the
    smallest table every figure and summary can be drawn from.

    Examples
    --------
    >>> frame = two_raters()
    >>> frame.groupby("dimension")["item"].unique().map(list).to_dict()
    {'p': ['x', 'y'], 'u': ['z']}
    """
    return pd.DataFrame(
        {
            "rater": list("ababab"),
            "item": ["x", "x", "y", "y", "z", "z"],
            "dimension": ["p", "p", "p", "p", "u", "u"],
            "value": [1.0, 2.0, 4.0, 5.0, 3.0, 3.0],
        }
    )


def two_languages() -> pd.DataFrame:
    """Four raters (a, b in English; c, d in French) rating three items (x, y, z) on one
    dimension (d), with a column ``language``: the smallest table split by language.

    Examples
    --------
    >>> two_languages().groupby("language")["rater"].unique().map(list).to_dict()
    {'en': ['a', 'b'], 'fr': ['c', 'd']}
    """
    return pd.DataFrame(
        {
            "rater": [r for r in "abcd" for _ in range(3)],
            "item": list("xyz") * 4,
            "dimension": "d",
            "value": [1, 2, 3, 1, 2, 3, 2, 3, 4, 2, 3, 5.0],
            "language": ["en"] * 6 + ["fr"] * 6,
        }
    )
