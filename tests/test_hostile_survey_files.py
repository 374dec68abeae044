"""Survey files against hostile input: alias bombs ("billion laughs"), deep nesting, huge
files, bytes that are not text. Each is refused with a SurveyFileError that names the file
(and the line where there is one) in well under a second and a few MB, through the parser,
the API (422, never 500) and the CLI (exit status 1, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli
from app.survey_files import (
    MAX_NESTING_DEPTH,
    MAX_NODES,
    MAX_REPORTED_PROBLEMS,
    MAX_SURVEY_FILE_BYTES,
    SurveyDefinition,
    SurveyFileError,
    builtin_surveys_dir,
    load_survey_directory,
    load_survey_file,
    parse_survey_text,
)
from tests.factories import login, make_user

MINIMAL = (Path(__file__).parent / "data" / "surveys" / "minimal.yaml").read_text("utf-8")

#: The target is under 1 s; the assertion leaves room for a loaded CI machine.
SECONDS = 2.0
#: Peak of Python allocations while refusing (tracemalloc).
PEAK_BYTES = 100 * 1024 * 1024
#: Address space a refusal may add to the test process before it fails with MemoryError:
#: a regression (an alias bomb expanded again) fails the test instead of the machine.
HEADROOM_BYTES = 1024**3


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------


def _address_space() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def capped_memory() -> Iterator[None]:
    """Cap this process's address space at its current size plus HEADROOM_BYTES (Linux)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        yield
        return
    current = _address_space()
    if current is None:  # pragma: no cover - no /proc
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = current + HEADROOM_BYTES
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def measured() -> Iterator[dict[str, float]]:
    """Timings of the refusals in one test, printed with ``-s``."""
    seen: dict[str, float] = {}
    yield seen
    if seen:
        print(" ".join(f"{k}={v:.3g}" for k, v in seen.items()))


def refuse(call: Callable[[], Any], timings: dict[str, float] | None = None) -> SurveyFileError:
    """Run ``call``, which must raise SurveyFileError, once timed and once under tracemalloc
    (which slows it down), each under the address-space cap; return the error."""
    with capped_memory():
        start = time.perf_counter()
        with pytest.raises(SurveyFileError) as info:
            call()
        elapsed = time.perf_counter() - start
        tracemalloc.start()
        try:
            with pytest.raises(SurveyFileError):
                call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    if timings is not None:
        timings["seconds"] = max(timings.get("seconds", 0.0), elapsed)
        timings["peak_mb"] = max(timings.get("peak_mb", 0.0), peak / 1e6)
    assert elapsed < SECONDS, f"refusing took {elapsed:.2f} s"
    assert peak < PEAK_BYTES, f"refusing peaked at {peak / 1e6:.0f} MB"
    assert str(info.value) == "\n".join(str(p) for p in info.value.errors)
    return info.value


def refuse_text(text: str, timings: dict[str, float] | None = None) -> str:
    """The message for ``text`` given as hostile.yaml."""
    error = refuse(lambda: parse_survey_text(text, filename="hostile.yaml"), timings)
    return str(error)


def python_parser_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml (or when it stops early) the pure-Python loader enforces the limits."""
    monkeypatch.setattr(yaml, "__with_libyaml__", False)


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        python_parser_only(monkeypatch)
    elif not yaml.__with_libyaml__:  # pragma: no cover - wheels have it
        pytest.skip("PyYAML without libyaml")
    return str(request.param)


# --------------------------------------------------------------------------------------
# Hostile shapes
# --------------------------------------------------------------------------------------


def laughs_lists(levels: int = 9, width: int = 9) -> str:
    """The classic: 9 aliases of 9 aliases ... 9**9 strings, 466 bytes."""
    lines = ["a0: &a0 [" + ",".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + f"\nslug: *a{levels - 1}\n"


def laughs_mappings(levels: int = 9, width: int = 9) -> str:
    lines = ["m0: &m0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
    for i in range(1, levels):
        lines.append(f"m{i}: &m{i} {{" + ", ".join(f"k{j}: *m{i - 1}" for j in range(width)) + "}")
    return "\n".join(lines) + f"\nslug: *m{levels - 1}\n"


def laughs_merge_keys(levels: int = 9, width: int = 9) -> str:
    """Merge keys (``<<: *a``) copy every key of the merged mapping into each user."""
    lines = ["b0: &b0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
    for i in range(1, levels):
        members = ", ".join(f"x{j}: {{<<: *b{i - 1}}}" for j in range(width))
        lines.append(f"b{i}: &b{i} {{<<: *b{i - 1}, {members}}}")
    return "\n".join(lines) + f"\nslug: {{<<: *b{levels - 1}}}\n"


def laughs_after_a_valid_survey() -> str:
    """The bomb as a plausible-looking extra field at the end of a valid survey."""
    return MINIMAL + "notes:\n" + "".join(f"  {line}\n" for line in laughs_lists().splitlines())


BOMBS = {
    "lists": (laughs_lists(), 1, "&a0"),
    "mappings": (laughs_mappings(), 1, "&m0"),
    "merge keys": (laughs_merge_keys(), 1, "&b0"),
    "after a valid survey": (laughs_after_a_valid_survey(), MINIMAL.count("\n") + 2, "&a0"),
    "alias without anchor": ("slug: *nowhere\n", 1, "*nowhere"),
    "alias as a key": ("slug: x\n? *k\n: v\n", 2, "*k"),
    "anchor alone": ("slug: &s minimal\n", 1, "&s"),
}


def test_the_bombs_are_small_files() -> None:
    assert len(laughs_lists()) < 500
    assert len(laughs_mappings()) < 1000


@pytest.mark.parametrize("shape", list(BOMBS))
def test_alias_bombs_are_refused_at_the_anchor(
    shape: str, parser: str, measured: dict[str, float]
) -> None:
    text, line, what = BOMBS[shape]
    message = refuse_text(text, measured)
    kind = "aliases" if what.startswith("*") else "anchors"
    assert message == (
        f"hostile.yaml:{line} YAML {kind} ({what}) are not allowed in survey files; "
        f"write the value out in full"
    )


def test_a_bomb_file_is_refused_with_its_path(tmp_path: Path, measured: dict[str, float]) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs_lists(), encoding="utf-8")
    message = str(refuse(lambda: load_survey_file(path), measured))
    assert message.startswith(f"{path}:1 YAML anchors (&a0) are not allowed")


def _deep(kind: str, levels: int) -> str:
    if kind == "flow lists":
        return "slug: " + "[" * levels + "]" * levels + "\n"
    if kind == "flow mappings":
        return "slug: " + "{a: " * levels + "1" + "}" * levels + "\n"
    if kind == "mixed":
        return "slug: " + "[{a: " * levels + "1" + "}]" * levels + "\n"
    if kind == "block sequences":
        return "slug:\n  " + "- " * levels + "x\n"
    if kind == "block mappings":  # indentation costs bytes: as deep as the size limit allows
        return "".join(" " * i + f"k{i}:\n" for i in range(levels)) + " " * levels + "x\n"
    raise AssertionError(kind)


DEEP = {
    "flow lists": 10_000,
    "flow mappings": 10_000,
    "mixed": 10_000,
    "block sequences": 10_000,
    "block mappings": 700,
}


@pytest.mark.parametrize("kind", list(DEEP))
def test_deep_nesting_is_refused(kind: str, measured: dict[str, float]) -> None:
    message = refuse_text(_deep(kind, DEEP[kind]), measured)
    assert message.startswith("hostile.yaml:")
    assert message.endswith(
        f"lists and mappings are nested more than {MAX_NESTING_DEPTH} levels deep "
        f"(the limit for a survey file)"
    )
    # The line of the first list or mapping past the limit.
    line = {"block sequences": 2, "block mappings": MAX_NESTING_DEPTH + 1}.get(kind, 1)
    assert message.startswith(f"hostile.yaml:{line} ")


def test_a_hundred_thousand_levels(measured: dict[str, float]) -> None:
    message = refuse_text(_deep("flow lists", 100_000), measured)
    assert "nested more than" in message


@pytest.mark.parametrize("kind", ["flow lists", "flow mappings", "block sequences"])
def test_deep_nesting_without_libyaml(
    kind: str, monkeypatch: pytest.MonkeyPatch, measured: dict[str, float]
) -> None:
    python_parser_only(monkeypatch)
    message = refuse_text(_deep(kind, 10_000), measured)
    assert "nested more than" in message


def test_nesting_up_to_the_limit_is_allowed() -> None:
    # The top-level mapping is level 1; 63 lists inside it make 64.
    ok = refuse_text(_deep("flow lists", MAX_NESTING_DEPTH - 1))
    assert "nested" not in ok and "slug:" in ok
    too_deep = refuse_text(_deep("flow lists", MAX_NESTING_DEPTH))
    assert "nested more than" in too_deep


def test_too_many_nodes(parser: str, measured: dict[str, float]) -> None:
    text = MINIMAL + "extra: [" + "1, " * MAX_NODES + "]\n"
    line = MINIMAL.count("\n") + 1
    assert refuse_text(text, measured) == (
        f"hostile.yaml:{line} the file has more than {MAX_NODES:,} YAML nodes (keys, values, "
        f"lists and mappings; the limit for a survey file)"
    )


def test_the_densest_file_under_the_size_limit(parser: str, measured: dict[str, float]) -> None:
    text = "x: [" + "1," * ((MAX_SURVEY_FILE_BYTES - 10) // 2) + "]\n"
    assert len(text.encode()) <= MAX_SURVEY_FILE_BYTES
    assert "more than 5,000 YAML nodes" in refuse_text(text, measured)


def test_many_problems_are_capped(measured: dict[str, float]) -> None:
    text = "".join(f"unknown_{i}: 1\n" for i in range(1_000))
    lines = refuse_text(text, measured).splitlines()
    assert len(lines) == MAX_REPORTED_PROBLEMS + 1
    # 1,000 unknown fields and 7 missing ones (slug, version, title, dimensions, ...).
    assert lines[-1] == (
        f"hostile.yaml: ... and {1_007 - MAX_REPORTED_PROBLEMS:,} more problems not listed"
    )


# --------------------------------------------------------------------------------------
# Size
# --------------------------------------------------------------------------------------


def _limit_message(file: object, got: str) -> str:
    return (
        f"{file}: the file is too large ({got}); a survey file may be at most "
        f"{MAX_SURVEY_FILE_BYTES:,} bytes ({MAX_SURVEY_FILE_BYTES // 1024} KiB)"
    )


def _padded(size: int) -> str:
    """The minimal survey padded with a comment line to exactly ``size`` bytes of UTF-8."""
    room = size - len(MINIMAL.encode()) - len("# \n")
    return MINIMAL + "# " + "x" * room + "\n"


def test_a_file_of_exactly_the_limit_loads_one_byte_more_does_not(tmp_path: Path) -> None:
    path = tmp_path / "padded.yaml"
    path.write_text(_padded(MAX_SURVEY_FILE_BYTES), encoding="utf-8")
    assert path.stat().st_size == MAX_SURVEY_FILE_BYTES
    assert load_survey_file(path).slug == "minimal"
    path.write_text(_padded(MAX_SURVEY_FILE_BYTES + 1), encoding="utf-8")
    message = str(refuse(lambda: load_survey_file(path)))
    assert message == _limit_message(path, f"{MAX_SURVEY_FILE_BYTES + 1:,} bytes")


def test_a_huge_file_is_refused_without_reading_it(
    tmp_path: Path, measured: dict[str, float]
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # sparse: 2 GiB on the file system costs nothing
        handle.truncate(2 * 1024**3)
    message = str(refuse(lambda: load_survey_file(path), measured))
    assert message == _limit_message(path, f"{2 * 1024**3:,} bytes")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_device_is_refused(measured: dict[str, float]) -> None:
    message = str(refuse(lambda: load_survey_file("/dev/zero"), measured))
    assert message == _limit_message("/dev/zero", f"more than {MAX_SURVEY_FILE_BYTES:,} bytes")


def test_text_over_the_limit_is_refused(measured: dict[str, float]) -> None:
    ascii_text = MINIMAL + "# " + "x" * MAX_SURVEY_FILE_BYTES + "\n"
    assert refuse_text(ascii_text, measured) == _limit_message(
        "hostile.yaml", f"more than {MAX_SURVEY_FILE_BYTES:,} bytes"
    )
    # Under the limit in characters, over it in bytes of UTF-8.
    wide = "# " + "é" * (MAX_SURVEY_FILE_BYTES // 2 + 1) + "\n"
    size = len(wide.encode())
    assert len(wide) < MAX_SURVEY_FILE_BYTES < size
    assert refuse_text(wide, measured) == _limit_message("hostile.yaml", f"{size:,} bytes")


# --------------------------------------------------------------------------------------
# Bytes that are not text, and other shapes
# --------------------------------------------------------------------------------------


def _refuse_bytes(tmp_path: Path, raw: bytes, timings: dict[str, float] | None = None) -> str:
    path = tmp_path / "bytes.yaml"
    path.write_bytes(raw)
    return str(refuse(lambda: load_survey_file(path), timings)).replace(str(path), "bytes.yaml")


def test_nul_byte(tmp_path: Path, measured: dict[str, float]) -> None:
    raw = MINIMAL.replace("title: Minimal survey", "title: Minimal\x00survey").encode()
    assert _refuse_bytes(tmp_path, raw, measured) == (
        "bytes.yaml:5 the file contains a NUL byte (column 15), which YAML does not allow; "
        "a survey file must be plain text"
    )


@pytest.mark.parametrize(
    ("char", "name"),
    [("\x1b", "U+001B"), ("\x7f", "U+007F"), ("\ufffe", "U+FFFE"), ("\ud800", "U+D800")],
)
def test_characters_yaml_does_not_allow(char: str, name: str) -> None:
    text = MINIMAL.replace("label: Misuse", f"label: Mis{char}use")
    assert refuse_text(text) == (
        f"hostile.yaml:12 the file contains the character {name} (column 15), which YAML "
        f"does not allow; a survey file must be plain text"
    )


@pytest.mark.parametrize(
    ("raw", "line", "detail"),
    [
        (b"slug: x\ntitle: caf\xe9\n", 2, "byte 0xe9 at offset 18"),
        (b"\xff\xfes\x00l\x00u\x00g\x00", 1, "byte 0xff at offset 0"),  # UTF-16
        (b"slug: x\n\n\nbad: \xc3\x28\n", 4, "byte 0xc3 at offset 15"),  # broken sequence
        (b"slug: \xed\xa0\x80\n", 1, "byte 0xed at offset 6"),  # an encoded surrogate
    ],
)
def test_invalid_utf8(tmp_path: Path, raw: bytes, line: int, detail: str) -> None:
    assert _refuse_bytes(tmp_path, raw) == (
        f"bytes.yaml:{line} the file is not valid UTF-8 text ({detail}); save it as UTF-8"
    )


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    plain = parse_survey_text(MINIMAL, filename="plain.yaml")
    assert load_survey_file(path) == plain
    assert parse_survey_text("\ufeff" + MINIMAL, filename="bom.yaml") == plain
    # Line numbers are unchanged by the mark.
    bad = "\ufeff" + MINIMAL.replace("slug: minimal", "slug: Minimal")
    assert refuse_text(bad).startswith("hostile.yaml:3 slug:")


def test_tabs_for_indentation(measured: dict[str, float]) -> None:
    text = MINIMAL.replace("\n  - key: misuse", "\n\t- key: misuse")
    assert refuse_text(text, measured) == (
        "hostile.yaml:11 YAML syntax error: while scanning for the next token; found character "
        "'\\t' that cannot start any token (column 1)"
    )


def test_a_tab_inside_a_value_is_text() -> None:
    survey = parse_survey_text(
        MINIMAL.replace("title: Minimal survey", 'title: "Minimal\\tsurvey"'), filename="t.yaml"
    )
    assert survey.title == "Minimal\tsurvey"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("42\n", "single value"),
        ("'just some text'\n", "single value"),
        ("null\n", "single value"),
        ("- slug: minimal\n- title: x\n", "list"),
        ("[slug, version]\n", "list"),
    ],
)
def test_top_level_that_is_not_a_mapping(text: str, kind: str) -> None:
    assert refuse_text(text) == (
        f"hostile.yaml:1 the top level must be a mapping of survey fields "
        f"(slug: ..., title: ...), not a {kind}"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2024-02-30", "day is out of range for month"),
        ("!!int twelve", "invalid literal for int()"),
        ("!!float many", "could not convert string to float"),
        ("9" * 5000, "Exceeds the limit (4300 digits)"),
    ],
)
def test_values_yaml_cannot_hold(value: str, problem: str) -> None:
    message = refuse_text(MINIMAL.replace("title: Minimal survey", f"title: {value}"))
    assert message.startswith("hostile.yaml:5 title: cannot read the value ")
    assert problem in message


def test_python_tags_are_refused() -> None:
    text = MINIMAL.replace("title: Minimal survey", "title: !!python/object:os.system id")
    assert refuse_text(text).startswith("hostile.yaml:5 YAML syntax error: could not determine")


@pytest.mark.parametrize(
    ("tagged", "tag"),
    [
        ("!!python/object/apply:os.system [id]", "tag:yaml.org,2002:python/object/apply:os.system"),
        ("!!set {a, b}", "tag:yaml.org,2002:set"),
        ("!custom {a: 1}", "!custom"),
    ],
)
def test_tags_on_lists_and_mappings_are_refused(tagged: str, tag: str) -> None:
    text = MINIMAL.replace("title: Minimal survey", f"title: {tagged}")
    assert refuse_text(text) == (
        f"hostile.yaml:5 title: the YAML tag {tag!r} is not allowed in survey files "
        f"(plain lists and mappings only)"
    )


def test_several_documents() -> None:
    assert refuse_text(MINIMAL + "---\n" + MINIMAL).startswith(
        f"hostile.yaml:{MINIMAL.count(chr(10)) + 1} YAML syntax error: expected a single document"
    )


# --------------------------------------------------------------------------------------
# Real surveys still load, quickly
# --------------------------------------------------------------------------------------


def test_the_builtin_surveys_still_load() -> None:
    start = time.perf_counter()
    surveys = load_survey_directory(builtin_surveys_dir())
    assert sorted(s.slug for s in surveys) == ["ai-safety-cooperation", "aisi-information-sharing"]
    assert time.perf_counter() - start < SECONDS


def test_a_large_legitimate_survey_loads() -> None:
    """200 items and a 101-level scale: far beyond the shipped surveys, within the limits."""
    items = "".join(
        f"  - key: item_{i}\n    label: Item {i}\n    description: What item {i} covers.\n"
        f"    group: group {i % 7}\n"
        for i in range(200)
    )
    levels = "".join(f"        {v}: Level {v} described.\n" for v in range(0, 101))
    text = MINIMAL.replace("items:\n", "items:\n" + items) + "holistic_tier: {enabled: true}\n"
    old_scale = "      min: 1\n      max: 3\n      levels:\n        1: Low\n        2: Medium\n"
    assert text.count(old_scale) == 1
    text = text.replace(
        old_scale + "        3: High\n", "      min: 0\n      max: 100\n      levels:\n" + levels
    )
    start = time.perf_counter()
    survey = parse_survey_text(text, filename="large.yaml")
    elapsed = time.perf_counter() - start
    assert isinstance(survey, SurveyDefinition)
    assert len(survey.items) == 202 and survey.dimensions[1].scale.max == 100
    assert elapsed < SECONDS


# --------------------------------------------------------------------------------------
# Through the API and the CLI
# --------------------------------------------------------------------------------------


@pytest.fixture
def admin(session, client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    make_user(session)
    return login(client)


API_CASES: dict[str, tuple[str, str | tuple[str, ...]]] = {
    "bomb": (laughs_lists(), "x.yaml:1 YAML anchors (&a0) are not allowed"),
    "merge bomb": (laughs_merge_keys(), "x.yaml:1 YAML anchors (&b0) are not allowed"),
    "deep lists": (_deep("flow lists", 10_000), "x.yaml:1 lists and mappings are nested"),
    "deep mappings": (_deep("flow mappings", 10_000), "x.yaml:1 lists and mappings are nested"),
    # Request validation may refuse these before the parser does (either is a clear 422).
    "nul": ("slug: a\x00b\n", ("x.yaml:1 the file contains a NUL byte", "content: ")),
    "surrogate": ("slug: a\ud800b\n", ("x.yaml:1 the file contains the character", "content: ")),
    "too large": ("# " + "x" * MAX_SURVEY_FILE_BYTES + "\n", "x.yaml: the file is too large"),
    "top-level list": ("- a\n", "x.yaml:1 the top level must be a mapping"),
    "bad date": ("slug: 2024-02-30\n", "x.yaml:1 slug: cannot read the value"),
}


def test_hostile_files_through_the_api_are_422(client, admin) -> None:  # type: ignore[no-untyped-def]
    headers = {**admin, "Content-Type": "application/json"}
    for name, (content, expected) in API_CASES.items():
        # ASCII JSON: a lone surrogate travels as the escape \ud800, as any client may send.
        body = json.dumps({"filename": "x.yaml", "content": content})
        start = time.perf_counter()
        with capped_memory():
            reply = client.post("/api/surveys", headers=headers, content=body)
        elapsed = time.perf_counter() - start
        assert reply.status_code == 422, (name, reply.status_code, reply.text[:300])
        assert reply.json()["detail"].startswith(expected), (name, reply.json())
        assert elapsed < SECONDS, (name, elapsed)
    assert client.get("/api/surveys", headers=admin).json() == []


runner = CliRunner()


def test_cli_refuses_a_bomb_before_touching_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    database = tmp_path / "never.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    get_settings.cache_clear()
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(laughs_lists(), encoding="utf-8")
    deep = tmp_path / "deep.yaml"
    deep.write_text(_deep("flow lists", 10_000), encoding="utf-8")
    try:
        for command in ("check", "load"):
            with capped_memory():
                result = runner.invoke(cli, ["survey", command, str(bomb), str(deep)])
            assert result.exit_code == 1, result.output
            assert f"{bomb}:1 YAML anchors (&a0) are not allowed" in result.output
            assert f"{deep}:1 lists and mappings are nested more than" in result.output
            assert "Traceback" not in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
    finally:
        get_settings.cache_clear()
    assert not database.exists()


def _elicit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed ``elicit`` command in a child process, its memory capped at 2 GiB."""
    script = Path(sys.executable).parent / "elicit"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]

    def cap() -> None:  # pragma: no cover - runs in the child
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = 2 * 1024**3 if hard == resource.RLIM_INFINITY else min(2 * 1024**3, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{cwd / 'child.db'}"}
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap if sys.platform == "linux" else None,
        check=False,
    )


@pytest.mark.parametrize("command", ["check", "load"])
def test_the_elicit_command_refuses_hostile_files(tmp_path: Path, command: str) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(laughs_mappings(), encoding="utf-8")
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(5 * 1024**3)
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"slug: x\x00\n")
    start = time.perf_counter()
    result = _elicit("survey", command, str(bomb), str(huge), str(nul), cwd=tmp_path)
    elapsed = time.perf_counter() - start
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert f"{bomb}:1 YAML anchors (&m0) are not allowed" in result.stderr
    assert _limit_message(huge, f"{5 * 1024**3:,} bytes") in result.stderr
    assert f"{nul}:1 the file contains a NUL byte" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "child.db").exists()
    assert elapsed < 30  # a whole interpreter start included
