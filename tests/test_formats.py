"""Researchers' formats: a round's ratings exported as long and wide CSV, XLSX with a
codebook, SPSS, Stata and JSON, read back by independent readers (the csv and json modules,
pandas.read_excel / openpyxl, pyreadstat), and `elicit analyze` on each file giving the
alphas of the long CSV."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyreadstat
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from analysis.formats import FORMATS, FormatName, read_ratings
from app.cli import cli
from app.config import get_settings
from app.inputs import InviteeCreate
from app.models import AuditEntry
from app.services import exports, invitations, responses
from app.services.answer_store import Saving
from tests.factories import login, make_round, make_user, rating, sign_in_page

runner = CliRunner()
FORMULA = '=HYPERLINK("http://evil.example","x")'
SUFFIX = {name: f.suffix for name, f in FORMATS.items()}


def _round(session):
    """A submitted round of five experts over the small survey (two dimensions and the
    holistic tier), with both kinds of abstention and formula-like text."""
    round_ = make_round(session)
    people = [
        InviteeCreate(
            name=f"Person {k}",
            email=f"person{k}@example.org",
            organisation="=cmd" if k == 0 else f"Institute {k % 2}",
        )
        for k in range(5)
    ]
    issued = invitations.invite_experts(session, round_id=round_.id, invitees=people)
    for k, link in enumerate(issued):
        response = responses.start_response(
            session, invitation=invitations.find_invitation(session, token=link.token)
        )
        responses.give_consent(session, response_id=response.id)
        answers = []
        for i, item in enumerate(("weights", "evals", "methods")):
            answers.append(rating(item, "sensitivity", 1 + (i * 2 + k % 2) % 5, rationale=FORMULA))
            answers.append(rating(item, "misuse", 1 + (i + k // 2) % 5, confidence="high"))
            answers.append(rating(item, "tier", min(2, i + k % 2)))
        answers[1] = rating("weights", "misuse", None, status="cant_judge")
        if k == 1:
            answers[3] = rating("evals", "sensitivity", None, status="outside_expertise")
        responses.save_ratings(session, Saving(response.id), ratings=answers)
        responses.submit_response(session, response_id=response.id)
    session.commit()
    return round_


def _write(session, round_, name: str, folder: Path | None = None) -> Path:
    exported = exports.export_ratings(session, round_id=round_.id, fmt=name)
    assert exported.filename == f"round-{round_.id}-ratings{SUFFIX[name]}"
    folder = folder or Path(tempfile.mkdtemp())
    path = folder / exported.filename
    path.write_bytes(exported.content)
    return path


@pytest.fixture
def files(session, tmp_path) -> dict[str, Path]:
    """The round exported in every format, by format name."""
    round_ = _round(session)
    return {name: _write(session, round_, name, tmp_path) for name in FORMATS}


def _long(files) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files["csv"].read_text(encoding="utf-8"))))


def test_the_format_names_are_one_list():
    from typing import get_args

    assert list(get_args(FormatName)) == list(FORMATS)


def test_csv_json_and_wide_csv_read_back_with_the_csv_and_json_modules(files, backend):
    long = _long(files)
    assert len(long) == 45 and "@example.org" not in files["csv"].read_text()
    assert {r["organisation"] for r in long} >= {"'=cmd"}  # neutralised
    document = json.loads(files["json"].read_text(encoding="utf-8"))
    records = document["ratings"]
    assert [(r["rater"], r["item"], r["dimension"]) for r in records] == [
        (r["rater"], r["item"], r["dimension"]) for r in long
    ]
    assert [r["value"] for r in records] == [int(r["value"]) if r["value"] else None for r in long]
    codebook = document["codebook"]
    assert codebook["survey"] == "small" and codebook["survey_version"] == 1
    assert len(codebook["survey_digest"]) == 64
    scales = {s["dimension"]: s for s in codebook["scales"]}
    assert scales["sensitivity"]["levels"]["3"] == "level 3"
    assert scales["misuse"]["abstentions"] == ["cant_judge"]
    assert scales["tier"]["levels"] == {"0": "No Brainer", "1": "Gray Area", "2": "High Trust"}
    assert {v["name"] for v in codebook["variables"]} == set(long[0])
    assert codebook["abstentions"]["outside_expertise"]["spss_code"] == -2

    wide = list(csv.DictReader(io.StringIO(files["wide-csv"].read_text(encoding="utf-8"))))
    assert len(wide) == 15  # 5 experts x 3 items
    assert list(wide[0])[-3:] == ["sensitivity", "misuse", "tier"]
    assert "rationale" not in wide[0] and "dimension" not in wide[0]
    by_cell = {(r["rater"], r["item"]): r for r in wide}
    for row in long:
        cell = by_cell[(row["rater"], row["item"])][row["dimension"]]
        assert cell == (row["value"] if row["status"] == "value" else row["status"])
    assert sum(r["sensitivity"] == "outside_expertise" for r in wide) == 1
    assert sum(r["misuse"] == "cant_judge" for r in wide) == 5


def test_xlsx_has_the_ratings_and_a_codebook_sheet(files, backend):
    long = _long(files)
    sheets = pd.read_excel(files["xlsx"], sheet_name=None, dtype=str, keep_default_na=False)
    assert list(sheets) == ["ratings", "codebook"]
    ratings = sheets["ratings"]
    assert list(ratings.columns) == list(long[0])
    # The same cells as the CSV; a boolean is a spreadsheet boolean.
    same = [{**r, "share_rationale": r["share_rationale"].capitalize()} for r in long]
    assert ratings.to_dict("records") == same
    codebook = sheets["codebook"]
    assert list(codebook.columns) == ["section", "name", "value", "label"]
    rows = {(r.section, r.name, r.value): r.label for r in codebook.itertuples()}
    assert rows[("level", "misuse", "4")] == "misuse 4"
    assert rows[("level", "tier", "2")] == "High Trust"
    assert rows[("dimension", "sensitivity", "ordinal")] == "Sensitivity: How sensitive is it?"
    assert ("variable", "rater", "") in rows and ("survey", "survey", "small") in rows
    digest = next(r.value for r in codebook.itertuples() if r.name == "survey_digest")
    assert len(digest) == 64
    assert "can't judge" in rows[("abstention", "status", "cant_judge")]


def test_xlsx_text_cells_are_never_formulas(files, backend):
    book = openpyxl.load_workbook(files["xlsx"])
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    assert "'" + FORMULA in texts and "'=cmd" in texts
    assert FORMULA not in texts
    values = [c.value for c in book["ratings"]["J"][1:]]  # the value column stays numeric
    assert {type(v) for v in values} == {int, type(None)}


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_spss_and_stata_carry_variable_and_value_labels(files, backend, fmt):
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, meta = reader(str(files[fmt]), user_missing=True)
    plain, _ = reader(str(files[fmt]))
    assert len(frame) == 15
    assert list(frame.columns)[-3:] == ["sensitivity", "misuse", "tier"]
    labels = meta.column_names_to_labels
    assert labels["sensitivity"] == "Sensitivity: How sensitive is it?"
    assert labels["rater"] == "Expert's pseudonymous code"
    levels = meta.variable_value_labels["misuse"]
    cant, outside = (-1, -2) if fmt == "sav" else ("a", "b")
    assert levels[4] == "misuse 4" and levels[cant] == "can't judge"
    assert levels[outside] == "outside expertise"
    assert meta.variable_value_labels["tier"][0] == "No Brainer"
    # Abstentions are missing values a reader must opt into seeing.
    assert (frame["misuse"] == cant).sum() == 5 and plain["misuse"].isna().sum() == 5
    assert (frame["sensitivity"] == outside).sum() == 1
    assert plain["sensitivity"].isna().sum() == 1
    if fmt == "sav":
        assert meta.missing_ranges["misuse"] == [{"lo": -1.0, "hi": -1.0}, {"lo": -2.0, "hi": -2.0}]
        assert meta.variable_measure["sensitivity"] == "ordinal"
        assert "small v1 sha256:" in " ".join(meta.notes)
    else:
        # Stata lists the extended missing values that occur.
        assert meta.missing_user_values["misuse"] == ["a"]
        assert meta.missing_user_values["sensitivity"] == ["b"]
    long = _long(files)
    wanted = {
        (r["rater"], r["item"], r["dimension"]): float(r["value"]) for r in long if r["value"]
    }
    got = {
        (row.rater, row.item, dimension): float(getattr(row, dimension))
        for row in plain.itertuples()
        for dimension in ("sensitivity", "misuse", "tier")
        if pd.notna(getattr(row, dimension))
    }
    assert got == wanted


def _alphas(path: Path, *extra: str) -> dict[str, dict[str, float]]:
    result = runner.invoke(cli, ["analyze", str(path), "--json", "--bootstrap", "0", *extra])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    return {k: d["krippendorff_alpha"] for k, d in data["dimensions"].items()}


def _cells(frame) -> list[tuple]:
    """The ratings a reader gave, in a fixed order, as plain values."""
    columns = ["rater", "item", "dimension", "value", "status"]
    table = frame[columns].astype({"rater": str, "item": str, "dimension": str, "status": str})
    return sorted(
        (r, i, d, None if pd.isna(v) else v, s) for r, i, d, v, s in table.itertuples(index=False)
    )


def test_every_format_reads_back_as_the_long_csv(files, backend):
    expected = _cells(read_ratings(files["csv"]))
    assert len(expected) == 45
    assert sum(status == "outside_expertise" for *_, status in expected) == 1
    assert sum(status == "cant_judge" for *_, status in expected) == 5
    for name in FORMATS:
        assert _cells(read_ratings(files[name])) == expected, name
    assert _cells(read_ratings(files["wide-csv"], wide=True)) == expected
    with pytest.raises(ValueError, match="'dimension' and 'value' make it a long file"):
        read_ratings(files["json"], wide=True)
    # Rater attributes travel too: --group-by works on a wide file.
    # (SPSS and Stata keep text as it is: no program runs it as a formula.)
    organisations = set(read_ratings(files["sav"])["organisation"])
    assert organisations == {"=cmd", "Institute 0", "Institute 1"}


def test_analyze_gives_the_same_alphas_on_a_statistics_file(files, backend):
    expected = _alphas(files["csv"])
    assert set(expected) == {"sensitivity", "misuse", "tier"}
    assert expected["sensitivity"]["ordinal"] is not None
    assert _alphas(files["dta"]) == expected


def test_analyze_writes_its_table_as_csv_xlsx_or_json(tmp_path, files, backend):
    data = json.loads(
        runner.invoke(cli, ["analyze", str(files["csv"]), "--json", "--bootstrap", "0"]).output
    )
    alpha = {k: d["krippendorff_alpha"]["ordinal"] for k, d in data["dimensions"].items()}
    for suffix in (".csv", ".xlsx", ".json"):
        out = tmp_path / f"result{suffix}"
        result = runner.invoke(cli, ["analyze", str(files["csv"]), "-o", str(out)])
        assert result.exit_code == 0, result.output
        if suffix == ".csv":
            rows = list(csv.DictReader(io.StringIO(out.read_text())))
        elif suffix == ".xlsx":
            rows = pd.read_excel(out).to_dict("records")
        else:
            rows = json.loads(out.read_text())
        assert {r["dimension"]: float(r["alpha"]) for r in rows} == pytest.approx(alpha)
        assert {r["level"] for r in rows} == {"ordinal"}
    refused = runner.invoke(cli, ["analyze", str(files["csv"]), "-o", str(tmp_path / "r.pdf")])
    assert refused.exit_code == 1 and "name a .csv, .xlsx or .json file" in refused.output


def test_an_undefined_statistic_is_an_empty_cell_with_its_reason(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("rater,item,dimension,value\na,x,d,1\nb,x,d,2\n")
    out = tmp_path / "r.csv"
    assert runner.invoke(cli, ["analyze", str(path), "-o", str(out)]).exit_code == 0
    (row,) = csv.DictReader(io.StringIO(out.read_text()))
    assert row["alpha"] == "" and "krippendorff_alpha.ordinal:" in row["reasons"]


# --- bad files: the file, the row (and sheet) and the column --------------------------------


def _refused(path: Path, *extra: str) -> str:
    result = runner.invoke(cli, ["analyze", str(path), "--bootstrap", "0", *extra])
    assert result.exit_code == 1, result.output
    return " ".join(result.output.split())


def test_bad_files_name_the_file_row_and_column(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("rater,item,risk,harm\na,x,3,2\nb,x,high,1\n")
    assert f"{wide}, line 3, column 'risk': 'high' is not a number" in _refused(wide)

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "mine"
    sheet.append(["rater", "item", "dimension", "value"])
    sheet.append(["a", "x", "d", 3])
    sheet.append(["b", "x", "d", "three"])
    xlsx = tmp_path / "bad.xlsx"
    book.save(xlsx)
    message = _refused(xlsx)
    assert f"{xlsx}, sheet 'mine', row 3, column 'value': 'three' is not a number" in message
    assert f"{xlsx}: no sheet 'ratings'; the workbook has mine" in _refused(
        xlsx, "--sheet", "ratings"
    )

    records = tmp_path / "bad.json"
    records.write_text(json.dumps([{"rater": "a", "item": "x", "dimension": "d", "value": "?"}]))
    assert f"{records}, record 1, column 'value': '?' is not a number" in _refused(records)
    records.write_text('{"ratings": 3}')
    assert "expected a list of rating records" in _refused(records)

    for suffix, kind in ((".sav", "an SPSS .sav"), (".dta", "a Stata .dta"), (".xlsx", "an XLSX")):
        broken = tmp_path / f"broken{suffix}"
        broken.write_bytes(b"not really")
        assert f"{broken}: not {kind}" in _refused(broken)
    other = tmp_path / "r.txt"
    other.write_text("x")
    assert "cannot read .txt; use .csv, .xlsx, .sav, .dta or .json" in _refused(other)


def test_a_statistics_file_with_text_in_a_dimension_names_row_and_variable(tmp_path):
    frame = pd.DataFrame({"rater": ["a", "b"], "item": ["x", "x"], "risk": ["2", "lots"]})
    path = tmp_path / "text.sav"
    pyreadstat.write_sav(frame, str(path))
    assert f"{path}, row 2, column 'risk': 'lots' is not a number" in _refused(path)


# --- the API, the pages and the CLI -----------------------------------------------------------


def test_api_export_format_parameter(session, client, backend):
    make_user(session)
    make_user(session, email="researcher@example.org", role="researcher")
    round_ = _round(session)
    headers = login(client, "researcher@example.org")
    url = f"/api/rounds/{round_.id}/export"
    for name, file_format in FORMATS.items():
        reply = client.get(url, params={"format": name}, headers=headers)
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == file_format.media_type
        assert reply.headers["content-disposition"] == (
            f'attachment; filename="round-{round_.id}-ratings{file_format.suffix}"'
        )
    assert (
        client.get(url, headers=headers).text
        == client.get(f"/api/rounds/{round_.id}/export.csv", headers=headers).text
    )
    refused = client.get(url, params={"format": "pdf"}, headers=headers)
    assert refused.status_code == 422
    assert all(name in refused.text for name in FORMATS), refused.text
    assert client.get(url, params={"format": "csv"}).status_code == 401
    session.expire_all()
    formats = [
        (e.details or {}).get("format")
        for e in session.exec(select(AuditEntry).where(AuditEntry.action == "export.downloaded"))
    ]
    assert sorted(f for f in formats if f) == sorted([*FORMATS, "csv", "csv"])


def test_the_round_page_links_every_format(session, client, backend):
    make_user(session)
    round_ = _round(session)
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}")
    assert page.status_code == 200
    for name in FORMATS:
        assert f'href="/admin/rounds/{round_.id}/export?format={name}"' in page.text
    reply = client.get(f"/admin/rounds/{round_.id}/export?format=dta")
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/x-stata-dta"


def test_cli_export_every_format(session, elicit, tmp_path, backend):
    round_ = _round(session)
    rid = str(round_.id)
    for name in ("sav", "xlsx"):
        out = tmp_path / f"r{SUFFIX[name]}"
        elicit("export", rid, "--format", name, "-o", str(out))
        assert _cells(read_ratings(out)) == _cells(read_ratings(_write(session, round_, name)))
    assert elicit("export", rid, "--format", "wide-csv").output.startswith("round_id,survey,")
    assert json.loads(elicit("export", rid, "--format", "json").output)["codebook"]
    result = elicit("export", rid, "--format", "xlsx", ok=False)
    assert result.exit_code == 1 and "give it with --output FILE" in result.output
    result = elicit("export", rid, "--format", "pdf", ok=False)
    assert "use one of csv, wide-csv, xlsx, sav, dta, json" in result.output
    get_settings.cache_clear()
