"""The report's "Seed questions (Cooke's classical model)" section, from answers stored
through the service: the published INECC panel (Cooke & Goossens 2008) gives the weights
and decision maker ANDURYL 1.2.2 gives (frozen values, and ANDURYL itself when installed),
in JSON, CSV and HTML; undefined with a reason when it cannot be computed."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from app.inputs import QuantileInput
from app.services import quantities, reports, responses
from app.services.answer_store import Saving
from app.services.quantities import PanelQuantiles
from app.services.reports import ReportOptions, cooke_section
from app.survey_files import SurveyDefinition
from tests.analysis.test_cooke import (
    INECC_ANSWERS,
    INECC_QUESTIONS,
    INECC_REALISATIONS,
    Panel,
    assert_item_robustness_matches,
    assert_main_matches,
    inecc_panel,
    needs_anduryl,
    run_anduryl,
)
from tests.factories import (
    make_invitations,
    make_response,
    make_round,
    make_survey,
    rating,
    survey_dict,
)

KEYS = [f"q{i:02d}" for i in range(1, len(INECC_QUESTIONS) + 1)]
INECC_QUANTITIES = [
    {
        "key": key,
        "label": f"INECC {name}",
        "question": f"The INECC question {name}.",
        **({"realisation": INECC_REALISATIONS[i]} if i < len(INECC_REALISATIONS) else {}),
    }
    for i, (key, name) in enumerate(zip(KEYS, INECC_QUESTIONS, strict=True))
]


@pytest.fixture
def inecc_round(session):  # type: ignore[no-untyped-def]
    """The INECC panel answering through the service; returns the round and each
    expert's code by INECC letter."""
    make_survey(session, quantities=INECC_QUANTITIES)
    round_ = make_round(session)
    panel = inecc_panel()
    codes = {}
    for letter, issued in zip(INECC_ANSWERS, make_invitations(session, round_, 9), strict=True):
        response = make_response(session, issued)
        position = panel.experts.index(letter)
        answers = [
            QuantileInput(question=key, q05=q05, q50=q50, q95=q95)
            for key, (q05, q50, q95) in zip(KEYS, panel.values[position].tolist(), strict=True)
        ]
        quantities.save_quantiles(session, Saving(response.id), answers=answers)
        responses.save_ratings(
            session, Saving(response.id), ratings=[rating(), rating(dimension="misuse")]
        )
        responses.submit_response(session, response_id=response.id)
        codes[letter] = issued.expert_code
    session.commit()
    return round_, codes


@pytest.mark.slow  # one full report (figures, severity model) of a nine-expert panel
def test_report_section_matches_anduryl_on_the_published_case(session, inecc_round) -> None:
    round_, codes = inecc_round
    report = reports.build_report(
        session, round_id=round_.id, options=ReportOptions(n_bootstrap=10)
    )
    section = report.cooke
    assert section is not None and section.result is not None and section.reason is None
    # ANDURYL 1.2.2's optimised decision maker on this panel (tests/analysis/test_cooke.py).
    weights = section.weights or {}
    assert {k: v for k, v in weights.items() if v > 0} == pytest.approx(
        {codes["E"]: 0.004597964565, codes["F"]: 0.8352347862, codes["I"]: 0.1601672492},
        abs=1e-9,
    )
    dm = section.result.decision_maker
    assert dm.alpha == pytest.approx(0.0015044508278553304, abs=1e-12)
    a20 = next(q for q in dm.quantiles if q.question == "q14")
    assert [a20.q05, a20.q50, a20.q95] == pytest.approx(
        [1.789682406, 3.36114409, 4.095131826], abs=1e-8
    )
    assert len(section.result.item_robustness) == 13
    assert len(section.result.expert_robustness) == 9

    data = report.to_dict()["seed_questions"]
    assert data["reason"] is None
    assert {e["expert"]: e["weight"] for e in data["experts"]}[codes["F"]] == pytest.approx(
        0.8352347862, abs=1e-9
    )
    rows = list(csv.reader(io.StringIO(reports.render_report(report, "csv"))))
    weight_row = ["seed_questions", f"expert/{codes['F']}", "weight", "0.835235"]
    assert weight_row in rows
    assert ["seed_questions", "question/q14", "q50", "3.361144"] in rows
    html = reports.render_report(report, "html")
    assert "Seed questions (Cooke" in html
    assert "INECC A20" in html and "Item robustness" in html and "Expert robustness" in html


@needs_anduryl
def test_report_section_equals_anduryl_run_on_the_same_answers(session, inecc_round) -> None:
    round_, codes = inecc_round
    inputs = reports.report_inputs(session, round_id=round_.id)
    section = cooke_section(inputs.quantiles, inputs.definition)
    assert section is not None and section.result is not None
    # The same answers, in the report's order (experts by code), given to ANDURYL.
    panel = inecc_panel()
    letters = sorted(codes, key=lambda letter: codes[letter])
    order = [panel.experts.index(letter) for letter in letters]
    same = Panel([codes[x] for x in letters], KEYS, panel.values[order], panel.realisations)
    reference = run_anduryl(same, alpha=None)
    assert_main_matches(section.result, reference)
    assert_item_robustness_matches(section.result, reference)


def _definition(**overrides):  # type: ignore[no-untyped-def]
    return SurveyDefinition.model_validate(survey_dict(**overrides))


def test_undefined_with_a_reason() -> None:
    seeds = _definition(quantities=INECC_QUANTITIES[12:14])  # one seed, one target
    one = [
        PanelQuantiles("E-1", "q13", 0.5, 0.7, 0.9),
        PanelQuantiles("E-1", "q14", 1, 2, 3),
        PanelQuantiles("E-2", "q13", 0.5, 0.7, 0.9),
    ]
    section = cooke_section(one, seeds)
    assert section is not None and section.result is None
    assert (
        section.reason == "1 expert answered every quantity question; the model needs at least two"
    )
    assert [(x.expert, x.reason) for x in section.left_out] == [
        ("E-2", "answered 1 of the 2 quantity questions")
    ]
    targets = _definition(quantities=INECC_QUANTITIES[13:15])
    section = cooke_section(one, targets)
    assert section is not None and "no seed question" in (section.reason or "")
    assert cooke_section(one, _definition()) is None  # no quantity questions: no section
    two = [*one, PanelQuantiles("E-2", "q14", 2, 3, 4)]
    section = cooke_section(two, seeds)
    assert section is not None and section.result is not None
    assert sum((section.weights or {}).values()) == pytest.approx(1.0)
    assert not np.isnan(section.result.decision_maker.calibration)
