"""Survey definition files: the shipped surveys, and precise file:line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.survey_files import (
    HOLISTIC_TIER_KEY,
    SurveyDefinition,
    SurveyFileError,
    SurveyFileProblem,
    builtin_surveys_dir,
    discover_survey_files,
    load_survey_directory,
    load_survey_file,
    parse_survey_text,
)

DATA = Path(__file__).parent / "data" / "surveys"
MINIMAL = (DATA / "minimal.yaml").read_text(encoding="utf-8")
SHIPPED = ["ai-safety-cooperation.yaml", "aisi-information-sharing.yaml"]


def edited(old: str, new: str) -> str:
    """The minimal fixture with one exact, unique fragment replaced."""
    assert MINIMAL.count(old) == 1, old
    return MINIMAL.replace(old, new)


def error_lines(text: str) -> list[str]:
    with pytest.raises(SurveyFileError) as info:
        parse_survey_text(text, filename="x.yaml")
    assert isinstance(info.value, ValueError)
    assert str(info.value) == "\n".join(str(p) for p in info.value.errors)
    return str(info.value).splitlines()


# --------------------------------------------------------------------------------------
# Shipped surveys
# --------------------------------------------------------------------------------------


def test_builtin_dir_and_discovery() -> None:
    directory = builtin_surveys_dir()
    assert directory == Path(__file__).resolve().parent.parent / "surveys"
    assert [p.name for p in discover_survey_files(directory)] == SHIPPED


def test_discovery_sorts_yaml_and_yml_only(tmp_path: Path) -> None:
    for name in ["b.yml", "a.yaml", "c.YAML", "README.md", ".hidden.yaml", "notes.txt"]:
        (tmp_path / name).write_text("x: 1\n")
    (tmp_path / "sub.yaml").mkdir()
    assert [p.name for p in discover_survey_files(tmp_path)] == ["a.yaml", "b.yml", "c.YAML"]
    with pytest.raises(FileNotFoundError):
        discover_survey_files(tmp_path / "missing")


@pytest.fixture(scope="module")
def shipped() -> dict[str, SurveyDefinition]:
    return {s.slug: s for s in load_survey_directory(builtin_surveys_dir())}


def test_shipped_surveys_load(shipped: dict[str, SurveyDefinition]) -> None:
    assert sorted(shipped) == ["ai-safety-cooperation", "aisi-information-sharing"]
    for survey in shipped.values():
        assert survey.version == "1.0"
        assert survey.holistic_tier.enabled
        assert survey.consensus.max_iqr == 1
        assert survey.consensus.min_share_within_one == 0.7
        assert survey.reliability.minimum_alpha == 0.667
        assert len(survey.introduction) > 1000


def test_shipped_surveys_are_consistent(shipped: dict[str, SurveyDefinition]) -> None:
    for survey in shipped.values():
        for dim in survey.dimensions:
            assert dim.key != HOLISTIC_TIER_KEY
            assert (dim.scale.min, dim.scale.max) == (1, 5)
            assert sorted(dim.scale.levels) == dim.scale.values
            assert all(len(text.split()) >= 8 for text in dim.scale.levels.values()), dim.key
        item_keys = [i.key for i in survey.items]
        assert len(item_keys) == len(set(item_keys))
        assert len({i.label for i in survey.items}) == len(item_keys)
        assert all(survey.group_of(i) and len(i.description.split()) >= 25 for i in survey.items)
        rule = survey.tier_rule
        assert rule.aggregate == "max"
        assert sorted(rule.thresholds) == sorted(survey.tier_keys[1:])
        values = [rule.thresholds[k] for k in survey.tier_keys[1:]]
        assert values == sorted(values)
        for key in rule.dimensions:
            scale = survey.dimension(key).scale
            assert all(scale.min < v <= scale.max for v in values)


def test_information_sharing_survey(shipped: dict[str, SurveyDefinition]) -> None:
    survey = shipped["aisi-information-sharing"]
    assert [d.key for d in survey.dimensions] == ["proprietary", "misuse"]
    assert survey.tier_keys == ["no_brainer", "gray_area", "high_trust"]
    assert [t.label for t in survey.tiers] == ["No Brainer", "Gray Area", "High Trust"]
    assert survey.tier_rule.dimensions == ["proprietary", "misuse"]
    assert survey.tier_rule.thresholds == {"gray_area": 2.5, "high_trust": 4}
    assert len(survey.items) >= 12
    keys = {i.key for i in survey.items}
    for key in [
        "pre_deployment_evaluation_results",
        "post_deployment_evaluation_results",
        "evaluation_methods",
        "evaluation_standards",
        "evaluation_infrastructure",
        "risk_management_standards",
        "institutional_learnings",
        "preliminary_safety_research_results",
        "research_agendas",
        "risk_estimates",
        "model_weights",
        "algorithmic_details",
        "incident_information",
    ]:
        assert key in keys
    # No Brainer exactly when both factors are at most 2.
    assert survey.rule_tier({"proprietary": 2, "misuse": 2}) == "no_brainer"
    assert survey.rule_tier({"proprietary": 1, "misuse": 3}) == "gray_area"
    assert survey.rule_tier({"proprietary": 4, "misuse": 1}) == "high_trust"


def test_cooperation_survey(shipped: dict[str, SurveyDefinition]) -> None:
    survey = shipped["ai-safety-cooperation"]
    assert [d.key for d in survey.dimensions] == [
        "dangerous_capabilities",
        "sensitive_information",
        "harm_opportunities",
        "cooperation_benefit",
    ]
    assert survey.tier_rule.dimensions == [
        "dangerous_capabilities",
        "sensitive_information",
        "harm_opportunities",
    ]
    keys = {i.key for i in survey.items}
    assert {"verification_mechanisms", "shared_protocols", "evaluations"} <= keys
    assert {"interpretability", "alignment_methods", "red_teaming"} <= keys
    assert {"incident_reporting", "compute_governance"} <= keys


def test_definition_round_trips_through_json(shipped: dict[str, SurveyDefinition]) -> None:
    # The database stores model_dump(mode="json") (string level keys) and re-validates it.
    for survey in shipped.values():
        again = SurveyDefinition.model_validate(survey.model_dump(mode="json"))
        assert again == survey
        assert again.content_sha256() == survey.content_sha256()


def test_readme_example_loads() -> None:
    readme = (builtin_surveys_dir() / "README.md").read_text(encoding="utf-8")
    example = re.search(r"## Annotated example\n\n```yaml\n(.*?)```", readme, re.S)
    assert example is not None
    survey = parse_survey_text(example.group(1), filename="README.md")
    assert survey.rule_tier({"proprietary": 3}) == "restrict"
    assert survey.rule_tier({"proprietary": 2}) == "share"


# --------------------------------------------------------------------------------------
# Errors: exact file:line and field path
# --------------------------------------------------------------------------------------


def test_minimal_fixture_loads() -> None:
    survey = load_survey_file(DATA / "minimal.yaml")
    assert survey.dimension("misuse").scale.levels == {1: "Low", 2: "Medium", 3: "High"}
    assert survey.item("weights").label == "Model weights"


def test_missing_level_description_points_at_levels() -> None:
    assert error_lines(edited("        3: High\n", "")) == [
        "x.yaml:17 dimensions[1].scale.levels: level 3 has no description"
    ]


def test_empty_level_description_points_at_the_level() -> None:
    assert error_lines(edited("        3: High\n", '        3: ""\n')) == [
        "x.yaml:20 dimensions[1].scale.levels[3]: level 3 has no description"
    ]
    assert error_lines(edited("        3: High\n", "        3:\n")) == [
        "x.yaml:20 dimensions[1].scale.levels[3]: level 3 has no description"
    ]


def test_problem_fields_and_file_name() -> None:
    with pytest.raises(SurveyFileError) as info:
        parse_survey_text(edited("        3: High\n", ""), filename="surveys/x.yaml")
    assert info.value.errors == [
        SurveyFileProblem(
            file="surveys/x.yaml",
            line=17,
            path="dimensions[1].scale.levels",
            message="level 3 has no description",
        )
    ]


@pytest.mark.parametrize(("key", "shown"), [('"3"', '["3"]'), ("three", ".three")])
def test_level_keys_must_be_integers(key: str, shown: str) -> None:
    lines = error_lines(edited("        3: High\n", f"        {key}: High\n"))
    assert len(lines) == 1
    assert lines[0].startswith(f"x.yaml:20 dimensions[1].scale.levels{shown}: level keys must be")


def test_boolean_keys_are_refused() -> None:
    assert error_lines(edited("        3: High\n", "        yes: High\n")) == [
        "x.yaml:20 dimensions[1].scale.levels.yes: key 'yes' is read as a boolean; quote it "
        "if you mean the text"
    ]


def test_level_outside_scale() -> None:
    assert error_lines(edited("        3: High\n", "        3: High\n        4: More\n")) == [
        "x.yaml:21 dimensions[1].scale.levels[4]: levels [4] lie outside 1..3"
    ]


def test_max_not_above_min() -> None:
    assert error_lines(edited("      max: 3\n", "      max: 1\n")) == [
        "x.yaml:16 dimensions[1].scale.max: max (1) must be greater than min (1)"
    ]


def test_unknown_field() -> None:
    assert error_lines(edited("    label: Misuse\n", "    label: Misuse\n    colour: red\n")) == [
        "x.yaml:13 dimensions[1].colour: unknown field (not part of the survey format; "
        "see surveys/README.md)"
    ]


def test_missing_field_points_at_parent_mapping() -> None:
    assert error_lines(edited("    label: Misuse\n", "")) == [
        "x.yaml:11 dimensions[1].label: required field is missing"
    ]
    assert error_lines(edited("tier_rule:\n", "rule:\n")) == [
        "x.yaml:3 tier_rule: required field is missing",
        "x.yaml:32 rule: unknown field (not part of the survey format; see surveys/README.md)",
    ]


def test_wrong_types() -> None:
    assert error_lines(edited("      min: 1\n", "      min: one\n")) == [
        "x.yaml:15 dimensions[1].scale.min: input should be a valid integer, unable to parse "
        "string as an integer (got 'one')"
    ]
    assert error_lines(edited("items:\n", "items: 3\nunused:\n")) == [
        "x.yaml:21 items: input should be a valid list (got 3)",
        "x.yaml:22 unused: unknown field (not part of the survey format; see surveys/README.md)",
    ]
    assert error_lines(edited('version: "1.0"', "version: 1.0")) == [
        'x.yaml:4 version: input should be a valid string (got 1.0; put it in quotes, e.g. "1.0")'
    ]
    assert error_lines(edited("  aggregate: max", "  aggregate: median")) == [
        "x.yaml:34 tier_rule.aggregate: input should be 'max', 'min' or 'mean' (got 'median')"
    ]


def test_invalid_key() -> None:
    assert error_lines(edited("  - key: weights\n", "  - key: Weights\n")) == [
        "x.yaml:22 items[0].key: keys use lowercase letters, digits and '_' and start with a "
        "letter (got 'Weights')"
    ]


def test_duplicate_item_key() -> None:
    assert error_lines(edited("  - key: learnings\n", "  - key: weights\n")) == [
        "x.yaml:25 items[1].key: duplicate key 'weights' (already used by items[0])"
    ]


def test_reserved_dimension_key() -> None:
    assert error_lines(edited("  - key: misuse\n", "  - key: tier\n")) == [
        "x.yaml:11 dimensions[1].key: dimension key 'tier' is reserved for holistic tiers"
    ]


def test_unknown_rule_dimension() -> None:
    text = edited(
        "  dimensions: [proprietary, misuse]", "  dimensions:\n    - proprietary\n    - harm"
    )
    assert error_lines(text) == [
        "x.yaml:35 tier_rule.dimensions[1]: unknown dimension 'harm' "
        "(dimensions are: ['misuse', 'proprietary'])"
    ]


def test_thresholds_not_increasing() -> None:
    assert error_lines(edited("    high_trust: 3", "    high_trust: 2")) == [
        "x.yaml:37 tier_rule.thresholds.high_trust: thresholds must increase with the tier "
        "order: high_trust (2) must be above gray_area (2)"
    ]


def test_threshold_outside_scale() -> None:
    lines = error_lines(edited("    high_trust: 3", "    high_trust: 4"))
    assert len(lines) == 1
    assert lines[0].startswith("x.yaml:37 tier_rule.thresholds.high_trust: threshold 4 must lie")


def test_thresholds_must_match_tiers() -> None:
    assert error_lines(edited("    gray_area: 2\n", "")) == [
        "x.yaml:35 tier_rule.thresholds: missing threshold for ['gray_area']; give one "
        "threshold for each tier after the first: ['gray_area', 'high_trust']"
    ]
    lines = error_lines(edited("    gray_area: 2\n", "    gray_area: 2\n    no_brainer: 1\n"))
    assert lines == [
        "x.yaml:37 tier_rule.thresholds.no_brainer: the first tier has no threshold; give one "
        "threshold for each tier after the first: ['gray_area', 'high_trust']"
    ]


def test_several_problems_are_all_reported_in_line_order() -> None:
    text = edited("      min: 1\n", "      min: one\n").replace("slug: minimal", "slug: Minimal")
    lines = error_lines(text)
    assert [line.split(" ")[0] for line in lines] == ["x.yaml:3", "x.yaml:15"]


def test_yaml_syntax_error() -> None:
    assert error_lines(edited("title: Minimal survey", "title: [Minimal")) == [
        "x.yaml:6 YAML syntax error: while parsing a flow sequence; expected ',' or ']', "
        "but got ':' (column 11)"
    ]
    assert error_lines(edited("tier_rule:", "\ttier_rule:")) == [
        "x.yaml:32 YAML syntax error: while scanning for the next token; found character "
        "'\\t' that cannot start any token (column 1)"
    ]


def test_duplicate_yaml_key() -> None:
    assert error_lines(edited("title: Minimal survey", "title: Minimal survey\nslug: other")) == [
        "x.yaml:6 slug: duplicate key 'slug' (first given on line 3)"
    ]
    text = edited("        2: Medium\n", "        2: Medium\n        2: Middle\n")
    assert error_lines(text) == [
        "x.yaml:20 dimensions[1].scale.levels[2]: duplicate key 2 (first given on line 19)"
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    assert error_lines(text) == [
        "x.yaml: the file is empty (expected a survey definition: a mapping with slug, "
        "version, title, ...)"
    ]


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("hello\n", "single value")])
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    assert error_lines(text) == [
        f"x.yaml:1 the top level must be a mapping of survey fields (slug: ..., title: ...), "
        f"not a {kind}"
    ]


def test_unsafe_tags_are_refused() -> None:
    lines = error_lines(edited("title: Minimal survey", "title: !!python/object:os.system x"))
    assert len(lines) == 1
    assert lines[0].startswith("x.yaml:5 YAML syntax error:")


def test_unreadable_and_undecodable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(SurveyFileError) as info:
        load_survey_file(missing)
    assert str(info.value) == f"{missing}: cannot read the file: No such file or directory"

    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"slug: x\ntitle: caf\xe9\n")
    with pytest.raises(SurveyFileError) as info:
        load_survey_file(latin1)
    assert str(info.value) == (
        f"{latin1}:2 the file is not valid UTF-8 text (byte 0xe9 at offset 18); save it as UTF-8"
    )


def test_directory_collects_problems_and_duplicate_slugs(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "c.yaml").write_text("", encoding="utf-8")
    with pytest.raises(SurveyFileError) as info:
        load_survey_directory(tmp_path)
    assert [(Path(p.file).name, p.path) for p in info.value.errors] == [
        ("b.yaml", "slug"),
        ("c.yaml", ""),
    ]
