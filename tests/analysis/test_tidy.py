"""Validation of tidy ratings and reading CSV files.

Oracle: the input convention documented in analysis/tidy.py (hand-written cases).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.options import Columns
from analysis.tidy import dimension_data, read_ratings_csv, select_round, validate_ratings


def write(tmp_path, text: str):
    path = tmp_path / "ratings.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_csv_with_custom_columns_and_empty_cells(tmp_path):
    path = write(
        tmp_path,
        "expert,topic,scale,score,organisation\n"
        "007,weights,proprietary,5,aisi-uk\n"
        "008,weights,proprietary,,aisi-us\n"
        "\n"
        "009,weights,proprietary,4.5,aisi-uk\n",
    )
    columns = Columns(rater="expert", item="topic", dimension="scale", value="score")
    frame = read_ratings_csv(path, columns=columns)
    assert frame["rater"].tolist() == ["007", "008", "009"]
    assert frame["value"].tolist()[0] == 5.0 and np.isnan(frame["value"].tolist()[1])
    assert frame["status"].tolist() == ["value", "cant_judge", "value"]
    assert frame["organisation"].tolist() == ["aisi-uk", "aisi-us", "aisi-uk"]


def test_read_csv_reports_file_line_and_column(tmp_path):
    path = write(tmp_path, "rater,item,dimension,value\na,x,d,3\nb,x,d,three\n")
    with pytest.raises(ValueError, match=r"ratings\.csv, line 3, column 'value': 'three'"):
        read_ratings_csv(path)


def test_read_csv_counts_physical_lines_with_quoted_newlines(tmp_path):
    path = write(tmp_path, 'rater,item,dimension,value\na,"multi\nline item",d,3\nb,x,d,?\n')
    with pytest.raises(ValueError, match="line 4"):
        read_ratings_csv(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rater,item,value\na,x,1\n", "line 1: no column 'dimension'"),
        ("rater,item,dimension,value\na,,d,1\n", "line 2, column 'item': empty item"),
        ("rater,item,dimension,value\na,x,d,inf\n", "not a finite number"),
        ("rater,item,dimension,value\na,x,d\n", "line 2: 3 cells"),
        ("", "the file is empty"),
        ("rater,item,dimension,value,status\na,x,d,,maybe\n", "status"),
        ("rater,item,dimension,value\na,x,d,1\na,x,d,2\n", "repeats an earlier rating"),
    ],
)
def test_read_csv_errors(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_ratings_csv(write(tmp_path, text))


def test_validate_ratings_checks_status_against_value():
    frame = pd.DataFrame(
        {
            "rater": ["a"],
            "item": ["x"],
            "dimension": ["d"],
            "value": [3.0],
            "status": ["cant_judge"],
        }
    )
    with pytest.raises(ValueError, match="only status 'value' carries a value"):
        validate_ratings(frame)
    with pytest.raises(ValueError, match="lacks the column"):
        validate_ratings(frame.drop(columns="item"))
    with pytest.raises(ValueError, match="must be a pandas DataFrame"):
        validate_ratings([1, 2])
    with pytest.raises(ValueError, match="column 'value' has 'high'"):
        validate_ratings(frame.assign(value=["high"], status=["value"]))


def test_validate_does_not_modify_input():
    frame = pd.DataFrame({"rater": [1], "item": [1], "dimension": ["d"], "value": ["2"]})
    copy = frame.copy()
    validated = validate_ratings(frame)
    pd.testing.assert_frame_equal(frame, copy)
    assert validated["value"].dtype == float


def test_select_round_defaults_to_last():
    frame = pd.DataFrame(
        {
            "rater": [1, 1, 2],
            "item": [1, 1, 1],
            "dimension": "d",
            "value": [1.0, 2.0, 3.0],
            "round": [1, 2, 2],
        }
    )
    assert select_round(validate_ratings(frame))["value"].tolist() == [2.0, 3.0]
    assert select_round(validate_ratings(frame), 1)["value"].tolist() == [1.0]
    with pytest.raises(ValueError, match="round 3"):
        select_round(validate_ratings(frame), 3)


def test_dimension_data_checks_scale():
    frame = validate_ratings(
        pd.DataFrame({"rater": [1, 2], "item": [1, 1], "dimension": "d", "value": [1.0, 7.0]})
    )
    with pytest.raises(ValueError, match=r"scales: dimension 'd' has the value 7\.0"):
        dimension_data(frame, scales={"d": [1, 2, 3, 4, 5]})
    data = dimension_data(frame)["d"]
    assert data.domain.tolist() == [1.0, 7.0] and data.n_raters == 2 and data.n_items == 1


FAST_AND_CAREFUL = {
    "plain": "rater,item,dimension,value\na,x,d,3\nb,x,d,\nb,y,d,4.5\n",
    "padded and quoted": 'rater , item,dimension,value,note\n a ,"x, y", d , 3 ,"said ""no"""\n',
    "bom, blank line, numeric labels": "\ufeffrater,item,dimension,value\n1,2,3,4\n\n2,2,3,5\n",
    "optional columns": (
        "rater,item,dimension,value,status,round,confidence\n"
        "a,x,d,3,value,1,High\nb,x,d,,cant_judge,1,\nc,x,d,2,,2,0.5\n"
    ),
    "text value": "rater,item,dimension,value\na,x,d,yes\n",
    "missing cell": "rater,item,dimension,value\na,x,d\n",
    "extra cell": "rater,item,dimension,value\na,x,d,3,9\n",
    "empty label": "rater,item,dimension,value\n,x,d,3\n",
    "blank row of commas": "rater,item,dimension,value\na,x,d,3\n,,,\n",
    "not finite": "rater,item,dimension,value\na,x,d,inf\n",
    "repeated column": "rater,item,dimension,value,value\na,x,d,3,4\n",
    "no rows": "rater,item,dimension,value\n",
}


@pytest.mark.parametrize("case", FAST_AND_CAREFUL)
def test_the_fast_reader_gives_the_careful_readers_table_or_steps_aside(case, tmp_path):
    from analysis.tidy import _read_careful, _read_fast

    path = tmp_path / "r.csv"
    path.write_text(FAST_AND_CAREFUL[case], encoding="utf-8")
    renames = {"rater": "rater", "item": "item", "dimension": "dimension", "value": "value"}
    standard = {**renames, "status": "status", "round": "round", "confidence": "confidence"}
    fast = _read_fast(str(path), standard)
    try:
        careful = _read_careful(str(path), renames, standard, text_values=False)
    except ValueError:
        assert fast is None  # the careful reader refuses it, and it alone says why
        return
    if case == "blank row of commas":
        assert fast is None  # an empty label: the careful reader decides (it skips the row)
    if case in ("plain", "padded and quoted", "optional columns"):
        assert fast is not None  # the common files take the fast road
    if fast is not None:
        pd.testing.assert_frame_equal(fast, careful)


def test_repeated_rows_are_those_pandas_finds():
    # Oracle: DataFrame.duplicated on the same keys (labels of mixed types, missing rounds).
    from analysis.tidy import _repeated_rows

    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "rater": rng.choice(["a", "b", 3], size=400),
            "item": rng.integers(0, 5, size=400),
            "dimension": rng.choice(["d", "e"], size=400),
            "round": rng.choice([1.0, 2.0, np.nan], size=400),
        }
    )
    for keys in (["rater", "item", "dimension"], ["rater", "item", "dimension", "round"]):
        expected = frame.duplicated(keys).to_numpy()
        assert 0 < expected.sum() < len(frame)
        assert (_repeated_rows(frame, keys) == expected).all()
