"""The ``elicit`` command line. Each command is one session and one service call, the same
service functions the web app uses; every command honours DATABASE_URL."""

from __future__ import annotations

import dataclasses
import gc
import ipaddress
import json
import os
import re
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import typer

from app.errors import DomainError

if TYPE_CHECKING:
    from sqlmodel import Session

    from app.config import Settings
    from app.models import Round, User
    from app.services.schedule import ScheduleState


def get_settings() -> Settings:
    """The settings, with app.config imported when a command first needs them
    (pydantic-settings' import time is spared to `elicit analyze` and `--help`)."""
    from app.config import get_settings as settings

    return settings()


def _reread_settings() -> None:
    """Forget the cached settings (the environment was just changed)."""
    from app.config import get_settings as settings

    settings.cache_clear()


cli = typer.Typer(
    help="Expert elicitation surveys, reliability and calibrated tier rubrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
survey_cli = typer.Typer(help="Survey definition files.", no_args_is_help=True)
round_cli = typer.Typer(
    help="Rounds: create, open, close, schedule, show, list.", no_args_is_help=True
)
user_cli = typer.Typer(help="Staff accounts.", no_args_is_help=True)
rubric_cli = typer.Typer(help="Published rubric versions.", no_args_is_help=True)
mail_cli = typer.Typer(help="E-mail to the panel: what was sent, queued or failed.")
context_cli = typer.Typer(
    help="Context factors of published rubrics: observations, triggers, reviews.",
    no_args_is_help=True,
)
person_cli = typer.Typer(
    help="Personal data of the panel: export, erase, erase after the retention period.",
    no_args_is_help=True,
)
cli.add_typer(db_cli, name="db")
cli.add_typer(mail_cli, name="mail")
cli.add_typer(survey_cli, name="survey")
cli.add_typer(round_cli, name="round")
cli.add_typer(user_cli, name="user")
cli.add_typer(rubric_cli, name="rubric")
cli.add_typer(person_cli, name="person")
cli.add_typer(context_cli, name="context")


_T = TypeVar("_T")


#: Ids are the database's integers: a larger one is refused before any query.
MAX_ID = 2**31 - 1
RoundArg = Annotated[int, typer.Argument(help="Round id", min=1, max=MAX_ID)]
#: ``--json``: print what a command shows as JSON (a list or an object) rather than text.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON")]
#: ``--json`` on a command that prints one result.
JsonObjectFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object")]
#: ``--bootstrap`` and ``--seed`` of the commands that resample the experts.
BootstrapOption = Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples")]
SeedOption = Annotated[int, typer.Option(help="Bootstrap seed")]


#: Whether this process is the ``elicit`` command (:func:`main`), not a program that
#: calls the commands (the tests).
_COMMAND = {"running": False}


def main() -> None:
    """The ``elicit`` command."""
    _COMMAND["running"] = True
    try:
        cli()
    finally:
        # The process ends here, and every command has closed what it opened (sessions,
        # engines, files). The full collection that CPython runs at exit would only walk
        # every object of the imported modules to free memory the system takes back
        # anyway: 0.1-0.2 s after an analysis, which the collector skips for frozen ones.
        gc.freeze()


# Text that came from a user or a file is printed with these characters shown as visible
# escapes: an ESC sequence could recolour or rewrite the terminal, a C1 control or a bidi
# override could make the text read differently from what it is ("Trojan Source").
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{_CONTROL}{_BIDI}]")
_UNSAFE_ONE_LINE = re.compile(f"[\t\n{_CONTROL}{_BIDI}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object, *, one_line: bool = False) -> str:
    """``text`` with control characters and bidi overrides shown as ``\\x1b`` / ``\\u202e``;
    newlines and tabs are kept unless ``one_line`` (a name or title within a line)."""
    return (_UNSAFE_ONE_LINE if one_line else _UNSAFE).sub(_escape, str(text))


def _one(text: object) -> str:
    return terminal_safe(text, one_line=True)


def _echo(message: object = "", *, err: bool = False, nl: bool = True, **style: Any) -> None:
    """Every line the CLI prints goes through here."""
    typer.secho(terminal_safe(message), err=err, nl=nl, **style)


def _fail(message: str, code: int = 1) -> NoReturn:
    _echo(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def id_of(row: Any) -> int:
    """The id of a stored row (``app.models.id_of``, imported once a database is in use)."""
    from app.models import id_of as stored_id

    return stored_id(row)


@contextmanager
def _session(settings: Settings | None = None) -> Iterator[Session]:
    """One transaction; domain errors become a message and exit status 1."""
    from app.db import make_engine, session_scope  # (SQLAlchemy: only for commands that use it)

    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            yield session
    except DomainError as exc:  # a SurveyFileError too: its message names file and line
        _fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
    finally:
        engine.dispose()


def _audit(session: Session, *entry: Any, **details: Any) -> None:
    """One entry of the audit trail (actor "cli") in the command's transaction: the
    arguments of ``audit.note`` after the actor."""
    from app.services import audit

    audit.record(session, audit.CLI, *entry, **details)


def _json_safe(text: str) -> str:
    """JSON text that is safe on a terminal and still the same data: json.dumps escapes
    C0 controls itself; C1 controls and bidi overrides become \\uXXXX escapes here."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _json_text(data: Any, **kwargs: Any) -> str:
    return _json_safe(json.dumps(data, indent=2, ensure_ascii=False, **kwargs))


def _print_json(data: Any) -> None:
    _echo(_json_text(data, default=str))


def _print_result(result: Any, format_text: Callable[[Any], str], *, as_json: bool) -> None:
    """An analysis result of a file: one JSON object, or the text its module writes."""
    _echo(_json_text(result.to_dict()) if as_json else format_text(result))


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _write_document(text: str, fmt: str, output: Path | None = None) -> None:
    """A CSV, HTML or JSON document to a file (as is) or to standard output. On a terminal
    user text is escaped; piped or redirected, CSV and HTML keep their exact bytes (JSON is
    escaped either way, without changing the data)."""
    if output is not None:
        output.write_text(text, encoding="utf-8")
        _echo(f"wrote {output}", err=True)
        return
    if fmt == "json":
        text = _json_safe(text)
    elif _stdout_is_terminal():
        text = terminal_safe(text)
    sys.stdout.write(text)


# --- db ----------------------------------------------------------------------------------


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations (creates the SQLite file if needed)."""
    from app.migrate import upgrade_database

    settings = get_settings()
    upgrade_database(settings.database_url, revision)
    _echo(f"database at {revision}: {_display_url(settings.database_url)}")
    _purge_sessions(settings, quiet=True)


@db_cli.command("purge-sessions")
def db_purge_sessions() -> None:
    """Delete expired sign-in sessions (upgrade and serve do this too)."""
    _purge_sessions(get_settings())


def _purge_sessions(settings: Settings, *, quiet: bool = False) -> None:
    """Delete expired sessions; ``quiet`` (at start-up) reports only what it removed and
    warns instead of failing, since the server can start without it."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.services import sessions

    try:
        with _session(settings) as session:
            count = sessions.purge_expired_sessions(session)
    except SQLAlchemyError as exc:
        if not quiet:
            raise
        _echo(f"warning: expired sessions not purged: {exc.__class__.__name__}", err=True)
        return
    if count or not quiet:
        _echo(f"{count} expired sessions removed", err=quiet)


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- surveys -----------------------------------------------------------------------------


@survey_cli.command("load")
def survey_load(
    files: Annotated[list[Path], typer.Argument(help="YAML survey files")],
    accept_translations: Annotated[
        bool,
        typer.Option(
            "--accept-translations",
            help="The translations were checked: keep no stale-translation warnings",
        ),
    ] = False,
) -> None:
    """Validate and load survey files; a changed file becomes a new version. A translation
    whose source text changed while it did not is reported as a warning (and shown on the
    admin console) until confirmed with --accept-translations."""
    from app.services import surveys
    from app.survey_files import SurveyFileError, load_survey_file

    # Every file is read (at most the size limit of each) and validated before the
    # database is touched: one bad file loads nothing, and every problem is reported.
    definitions = []
    failed = False
    for path in files:
        try:
            definitions.append((path, load_survey_file(path)))
        except SurveyFileError as exc:
            _echo(str(exc), fg=typer.colors.RED, err=True)
            failed = True
    if failed:
        raise typer.Exit(1)
    with _session() as session:
        for path, definition in definitions:
            version, created = surveys.load_survey(
                session,
                definition=definition,
                source_name=str(path),
                # For the lines of warnings only: the file was read and validated above.
                text=path.read_text(encoding="utf-8-sig") if path.is_file() else None,
                accept_translations=accept_translations,
            )
            state = "loaded as" if created else "unchanged,"
            if created:
                loaded = f"{definition.slug} v{version.number}"
                _audit(session, "survey.loaded", "survey", loaded, file=str(path))
            _echo(f"{path}: {definition.slug} {state} version {version.number}")
            for warning in surveys.translation_warnings(version):
                _echo(f"warning: {_one(str(warning))}", fg=typer.colors.YELLOW)


@survey_cli.command("check")
def survey_check(files: Annotated[list[Path], typer.Argument(help="YAML survey files")]) -> None:
    """Validate survey files without touching the database (each is read only up to the
    survey file size limit)."""
    from app.survey_files import SurveyFileError, load_survey_file

    failed = False
    for path in files:
        try:
            definition = load_survey_file(path)
        except SurveyFileError as exc:
            _echo(str(exc), fg=typer.colors.RED, err=True)
            failed = True
            continue
        _echo(
            f"{path}: ok ({definition.slug}, {len(definition.items)} items, "
            f"{len(definition.dimensions)} dimensions)"
        )
    if failed:
        raise typer.Exit(1)


@survey_cli.command("list")
def survey_list() -> None:
    """List loaded survey versions."""
    from app.services import surveys

    with _session() as session:
        for slug, version in surveys.list_survey_versions(session):
            _echo(
                f"{slug}\tv{version.number}\t{_one(version.label)}\t"
                f"{version.content_sha256[:12]}\t{_one(version.title)}"
            )


# --- rounds ------------------------------------------------------------------------------


@round_cli.command("create")
def round_create(
    survey: Annotated[str, typer.Argument(help="Survey slug")],
    name: Annotated[str, typer.Option(help="Round name")] = "Round 1",
    version: Annotated[int | None, typer.Option(help="Survey version (default newest)")] = None,
    closes_at: Annotated[
        datetime | None, typer.Option(help="Closing time, UTC (e.g. 2026-12-31T18:00)")
    ] = None,
    open_now: Annotated[bool, typer.Option("--open", help="Open it at once")] = False,
) -> None:
    """Create a round (draft unless --open)."""
    from datetime import UTC

    from app.services import rounds

    with _session() as session:
        when = closes_at.replace(tzinfo=UTC) if closes_at and not closes_at.tzinfo else closes_at
        round_ = rounds.create_round(
            session, slug=survey, name=name, version=version, closes_at=when
        )
        _created_round(session, round_, open_now=open_now)
        _echo(f"round {round_.id} ({_one(round_.name)}) is {round_.status}")


def _created_round(session: Session, round_: Round, *, open_now: bool, **details: Any) -> None:
    """Audit a round just created (``details`` in its entry) and, with ``open_now``, open
    it at once, audited too."""
    from app.services import rounds

    round_id = id_of(round_)
    _audit(session, "round.created", "round", round_id, round_id=round_id, **details)
    if open_now:
        rounds.open_round(session, round_id=round_id)
        _audit(session, "round.opened", "round", round_id, round_id=round_id)


def _move_round(round_id: int, step: Callable[[Session], Round], action: str) -> None:
    """Open or close a round in one transaction with its audit entry, then say which it
    now is."""
    with _session() as session:
        round_ = step(session)
        _audit(session, action, "round", round_id, round_id=round_id)
        _echo(f"round {round_.id} is {round_.status}")


@round_cli.command("open")
def round_open(round_id: RoundArg) -> None:
    """Open a round to its experts."""
    from app.services import rounds

    _move_round(
        round_id, lambda session: rounds.open_round(session, round_id=round_id), "round.opened"
    )


@round_cli.command("deadline")
def round_deadline(
    round_id: RoundArg,
    closes_at: Annotated[str, typer.Argument(help="UTC time like 2026-12-31T18:00, or 'none'")],
) -> None:
    """Set or clear the time at which a round stops accepting answers."""
    from datetime import UTC

    when = None
    if closes_at.lower() != "none":
        try:
            when = datetime.fromisoformat(closes_at)
        except ValueError:
            _fail(f"{closes_at!r} is not a time like 2026-12-31T18:00 (UTC) or 'none'")
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    from app.services import audit, schedule

    with _session() as session:
        schedule.set_closing_time(session, round_id=round_id, closes_at=when, actor=audit.CLI)
    _echo(
        f"round {round_id} "
        + (f"closes at {when:%Y-%m-%d %H:%M} UTC" if when else "has no closing time")
    )


@round_cli.command("close")
def round_close(round_id: RoundArg) -> None:
    """Close a round: no more answers are accepted."""
    from app.services import rounds

    _move_round(
        round_id, lambda session: rounds.close_round(session, round_id=round_id), "round.closed"
    )


@round_cli.command("next")
def round_next(
    round_id: Annotated[int, typer.Argument(help="The closed round N", min=1, max=MAX_ID)],
    version: Annotated[
        int | None, typer.Option(help="A revised survey version with matching keys")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the new round")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the panel's new links to this CSV file")
    ] = None,
    open_now: Annotated[bool, typer.Option("--open", help="Open the new round at once")] = False,
) -> None:
    """Create Delphi round N+1 from closed round N, with the panel's feedback."""
    from app.services import delphi, invitations

    settings = get_settings()
    with _session(settings) as session:
        round_, issued = delphi.create_next_round(
            session, round_id=round_id, version=version, name=name
        )
        _created_round(session, round_, open_now=open_now, follows=round_id)
        new_id, status, asked = round_.id, round_.status, round_.item_keys
    _echo(
        f"round {new_id} ({status}) follows round {round_id}; {len(issued)} experts invited"
        + (f"; {len(asked)} items still asked" if asked else "")
    )
    _write_links(invitations.issued_as_csv(issued, base_url=settings.base_url), out)


def _write_links(links_csv: str, out: Path | None) -> None:
    if out is None:
        # Shown to the admin on the screen: names and e-mails always escaped.
        _echo(links_csv, nl=False)
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(links_csv)
    _echo(f"links written to {out} (keep it private)")


@round_cli.command("stability")
def round_stability(
    round_id: RoundArg,
    as_json: JsonFlag = False,
) -> None:
    """Compare a Delphi round with the previous one and suggest whether to stop."""
    from app.services import delphi

    with _session() as session:
        moved = delphi.round_stability(session, round_id=round_id)
    if as_json:
        _print_json(moved.to_dict())
        return
    found = moved.stability
    _echo(
        f"round {moved.previous_round_id} -> {round_id}: "
        f"{_pct(found.share_raters_changed)} of experts changed an answer, "
        f"{_pct(found.share_cells_changed)} of answers changed"
    )
    for key, d in found.dimensions.items():
        alpha = (
            f"alpha {d.alpha_before:.3f} -> {d.alpha_after:.3f}"
            if d.alpha_before is not None and d.alpha_after is not None
            else "alpha undefined"
        )
        change = "n/a" if d.mean_absolute_change is None else f"{d.mean_absolute_change:.4g}"
        rho = d.median_rank_correlation
        order = "n/a" if rho is None else f"{rho:.2f}"
        _echo(
            f"  {_one(str(key))}: mean absolute change {change}, {alpha}; items' order kept "
            f"(Spearman of medians) {order}; {d.n_cells_moved} item(s) moved "
            "(Wilcoxon, Holm p < 0.05)"
        )
    kappas = sorted(e.weighted_kappa for e in found.experts if e.weighted_kappa is not None)
    if kappas:
        median = statistics.median(kappas)
        _echo(
            f"  each expert's answers, round {moved.previous_round_id} against {round_id} "
            f"(quadratic-weighted kappa): median {median:.2f}, lowest {kappas[0]:.2f}"
        )
    _echo(f"suggestion: {found.suggestion}: {found.explanation}")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


@round_cli.command("list")
def round_list() -> None:
    """List rounds with their progress and schedule."""
    from app.services import rounds, schedule

    with _session() as session:
        for round_ in rounds.list_rounds(session):
            info = rounds.round_details(session, round_)
            progress = rounds.round_progress(session, round_id=id_of(round_))
            state = schedule.schedule_state(session, round_id=id_of(round_))
            _echo(
                f"{round_.id}\t{round_.status}\t{info.survey} v{info.survey_version}\t"
                f"{_one(round_.name)}\tinvited {progress.invited}, "
                f"started {progress.started}, submitted {progress.submitted}"
                + "".join(f"\t{line}" for line in _schedule_summary(state))
            )


@round_cli.command("show")
def round_show(round_id: RoundArg) -> None:
    """Show a round: its state, progress, schedule and the steps the worker has done."""
    from app.services import rounds, schedule

    with _session() as session:
        info = rounds.get_round_details(session, round_id=round_id)
        progress = rounds.round_progress(session, round_id=round_id)
        state = schedule.schedule_state(session, round_id=round_id)
    _echo(f"round {info.id}: {_one(info.name)} ({info.survey} v{info.survey_version})")
    _echo(
        f"  status:     {info.status}"
        + (f", opened {_utc(info.opened_at)}" if info.opened_at else "")
        + (f", closed {_utc(info.closed_at)}" if info.closed_at else "")
    )
    _echo(
        f"  panel:      invited {progress.invited}, started {progress.started}, "
        f"submitted {progress.submitted}"
    )
    _print_schedule(state)


@round_cli.command("schedule")
def round_schedule(
    round_id: RoundArg,
    opens_at: Annotated[
        str | None,
        typer.Option(
            "--opens-at",
            help="When the worker opens the draft round, e.g. 2026-12-01T09:00+01:00 or "
            "2026-12-01T08:00Z (a time without an offset is UTC); 'none' to clear",
        ),
    ] = None,
    closes_at: Annotated[
        str | None,
        typer.Option(
            "--closes-at",
            help="When the worker closes the round (offset or Z; without one: UTC); "
            "'none' to clear",
        ),
    ] = None,
    remind_days: Annotated[
        str | None,
        typer.Option(
            "--remind-days",
            help="Days before the closing time on which those who have not submitted are "
            "reminded, e.g. 7,2; 'none' to clear",
        ),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Clear the schedule first (then set what is given)")
    ] = False,
) -> None:
    """Set when the worker opens a round, reminds those who have not submitted and closes
    it, each step once. Times carry an offset or Z; a time without one is UTC. What is not
    given keeps its value; with no option at all, the schedule is shown."""
    from app.errors import InvalidInput
    from app.services import audit, rounds, schedule

    given = (opens_at, closes_at, remind_days)
    with _session() as session:
        if clear or any(value is not None for value in given):
            round_ = rounds.get_round(session, round_id=round_id)
            kept = (
                (None, None, [])
                if clear
                else (round_.opens_at, round_.closes_at, round_.reminder_days or [])
            )
            try:
                days = (
                    kept[2]
                    if remind_days is None
                    else []
                    if remind_days.strip().lower() == "none"
                    else schedule.parse_reminder_days(remind_days)
                )
            except InvalidInput as exc:
                _fail(f"--remind-days: {exc.message}")
            wanted = schedule.Schedule(
                opens_at=kept[0] if opens_at is None else _cli_time(opens_at, "--opens-at"),
                closes_at=kept[1] if closes_at is None else _cli_time(closes_at, "--closes-at"),
                reminder_days=days,
            )
            schedule.set_schedule(session, round_id=round_id, wanted=wanted, actor=audit.CLI)
        state = schedule.schedule_state(session, round_id=round_id)
    _print_schedule(state)


def _cli_time(text: str, option: str) -> datetime | None:
    """A time given on the command line: 'none', or ISO 8601; without an offset, UTC."""
    from datetime import UTC

    if text.strip().lower() == "none":
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(f"{option}: {text!r} is not a time like 2026-12-31T18:00Z (or 'none')")
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _utc(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


def _schedule_summary(state: ScheduleState) -> list[str]:
    """A round's schedule in short: when it opens, closes, reminds; the steps done."""
    plan, parts = state.schedule, []
    if plan.opens_at is not None and any(s.kind == "open" for s in state.steps_planned):
        parts.append(f"opens {_utc(plan.opens_at)}")
    if plan.closes_at is not None:
        parts.append(f"closes {_utc(plan.closes_at)}")
    if plan.reminder_days:
        parts.append(f"reminders {','.join(map(str, plan.reminder_days))} days before")
    if state.steps_done:
        parts.append("done: " + ", ".join(step.label for step in state.steps_done))
    return parts


def _print_schedule(state: ScheduleState) -> None:
    plan = state.schedule
    _echo(f"  opens:      {_utc(plan.opens_at) if plan.opens_at else 'when an admin opens it'}")
    _echo(f"  closes:     {_utc(plan.closes_at) if plan.closes_at else 'no closing time'}")
    days = ", ".join(map(str, plan.reminder_days))
    _echo(
        "  reminders:  "
        + (f"{days} days before closing, to those who have not submitted" if days else "none")
    )
    for step in state.steps_done:
        _echo(f"  done:       {_utc(step.done_at)}  {step.label}: {_one(step.detail)}")
    if state.next_step is not None:
        _echo(f"  next:       {state.next_step.label}, due {_utc(state.next_step.due_at)}")


# --- invitations -------------------------------------------------------------------------


@cli.command("invite")
def invite(
    round_id: Annotated[int, typer.Argument(help="Round id", min=1, max=MAX_ID)],
    csv_file: Annotated[
        Path, typer.Option("--csv", help="CSV with name,email,organisation[,stakeholder_group]")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Write the links to this CSV file instead of the screen")
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="E-mail each expert their link (queued for the worker)")
    ] = False,
    language: Annotated[
        str | None,
        typer.Option(
            help="The language of the invitations whose CSV row names none (one of the "
            "survey's languages; default: its first)"
        ),
    ] = None,
) -> None:
    """Invite experts from a CSV; prints (or writes) each one's secret link, shown once, or
    with --send queues an invitation e-mail to each instead."""
    from app.services import invitations, mail

    settings = get_settings()
    try:
        people = invitations.read_invitees_csv(csv_file.read_bytes(), filename=str(csv_file))
    except OSError as exc:
        _fail(f"{csv_file}: cannot read: {exc.strerror or exc}")
    except DomainError as exc:
        _fail(exc.message)
    with _session(settings) as session:
        sender = mail.Sender.of(settings) if send else None
        issued = mail.invite(
            session, round_id=round_id, invitees=people, sender=sender, language=language
        )
        _audit(
            session, "invitations.created", "round", round_id, round_id=round_id, count=len(issued)
        )
    if send:
        _echo(
            f"{len(issued)} invitations; their e-mails are queued and will be "
            f"{mail.where_mail_goes(settings.smtp_url, settings.mail_dir)}"
        )
        for one in issued:
            _echo(f"  {one.expert_code}  {one.email}")
        _echo(f"see `elicit mail status {round_id}`; `elicit worker` sends them if no server runs")
        return
    _echo(f"{len(issued)} invitations", err=out is None)
    _write_links(invitations.issued_as_csv(issued, base_url=settings.base_url), out)


@cli.command("remind")
def remind(round_id: RoundArg) -> None:
    """E-mail a reminder to every invited expert of an open round who has not submitted;
    each gets a new link (the earlier one stops working; signed-in browsers stay in)."""
    from app.services import mail

    settings = get_settings()
    with _session(settings) as session:
        queued = mail.queue_reminders(session, round_id=round_id, sender=mail.Sender.of(settings))
        _audit(session, "reminders.queued", "round", round_id, round_id=round_id, count=len(queued))
    if not queued:
        _echo(f"nobody to remind: everyone invited to round {round_id} has submitted")
        return
    _echo(
        f"{len(queued)} reminders queued; they will be "
        f"{mail.where_mail_goes(settings.smtp_url, settings.mail_dir)}"
    )
    for one in queued:
        _echo(f"  {one.expert_code}  {_one(one.to_address)}")
    _echo(f"see `elicit mail status {round_id}`; `elicit worker` sends them if no server runs")


EmailOption = Annotated[str | None, typer.Option("--email", help="The expert's e-mail address")]
CodeOption = Annotated[str | None, typer.Option("--code", help="The expert's code (E-...)")]


@cli.command("revoke")
def revoke(round_id: RoundArg, email: EmailOption = None, code: CodeOption = None) -> None:
    """Revoke an expert's link to a round (by --email or --code); their sessions end."""
    from app.services import invitations

    with _session() as session:
        found = invitations.find_in_round(session, round_id=round_id, email=email, code=code)
        invitations.revoke_invitation(session, invitation_id=id_of(found))
        _audit(session, "invitation.revoked", "invitation", found.id, round_id=round_id)
    _echo(f"the link of {_one(email or code or '')} to round {round_id} is revoked")


@cli.command("reissue")
def reissue(
    round_id: RoundArg,
    email: EmailOption = None,
    code: CodeOption = None,
    out: Annotated[Path | None, typer.Option(help="Write the link to this CSV file")] = None,
) -> None:
    """Give an expert a new link to a round (by --email or --code); the old one stops
    working. The new link is shown once."""
    from app.services import invitations

    settings = get_settings()
    with _session(settings) as session:
        found = invitations.find_in_round(session, round_id=round_id, email=email, code=code)
        issued = invitations.reissue_invitation(session, invitation_id=id_of(found))
        _audit(session, "invitation.reissued", "invitation", found.id, round_id=round_id)
    _write_links(invitations.issued_as_csv([issued], base_url=settings.base_url), out)


@cli.command("progress")
def progress(
    round_id: RoundArg,
    as_json: JsonFlag = False,
) -> None:
    """Invited / started / submitted, and each expert's completion."""
    from app.services import rounds

    with _session() as session:
        data = rounds.round_progress(session, round_id=round_id)
    if as_json:
        _print_json(data.model_dump())
        return
    _echo(
        f"round {round_id} ({data.status}): invited {data.invited}, "
        f"started {data.started}, submitted {data.submitted}"
        + (f", revoked {data.revoked}" if data.revoked else "")
    )
    for expert in data.experts:
        status = "revoked" if expert.invitation_revoked else expert.status
        _echo(f"  {expert.expert_code}\t{status:<12}\t{expert.answered}/{expert.expected}")


@cli.command("export")
def export(
    round_id: RoundArg,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="csv (one row per rating), wide-csv (one row per expert and item), xlsx "
            "(with a codebook sheet), sav (SPSS), dta (Stata) or json",
        ),
    ] = "csv",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (needed for xlsx, sav and dta)"),
    ] = None,
    include_drafts: Annotated[bool, typer.Option(help="Include unsubmitted responses")] = False,
    quantiles: Annotated[
        bool,
        typer.Option(
            "--quantiles",
            help="Export the answers to the quantity questions instead (CSV that "
            "`elicit cooke` reads)",
        ),
    ] = False,
) -> None:
    """Export a round's ratings, or its quantile answers (pseudonymous codes only)."""
    from app.services import exports

    if quantiles:
        if fmt != "csv":
            _fail("--quantiles writes CSV only (the columns `elicit cooke` reads)")
        with _session() as session:
            text = exports.export_quantiles_csv(
                session, round_id=round_id, include_drafts=include_drafts
            )
            _audit(session, "export.downloaded", "round", round_id, round_id=round_id)
        _write_document(text, "csv", output)
        return
    formats = exports.export_formats()
    if fmt not in formats:
        _fail(f"--format {fmt!r} is not supported; use one of {', '.join(formats)}")
    binary = fmt in ("xlsx", "sav", "dta")
    if binary and output is None:
        _fail(f"--format {fmt} writes a binary file: give it with --output FILE")
    with _session() as session:
        exported = exports.export_ratings(
            session, round_id=round_id, fmt=fmt, include_drafts=include_drafts
        )
        _audit(session, "export.downloaded", "round", round_id, round_id=round_id, format=fmt)
    if binary and output is not None:
        output.write_bytes(exported.content)
        _echo(f"wrote {output}", err=True)
        return
    _write_document(exported.content.decode("utf-8"), "json" if fmt == "json" else "csv", output)


# --- analysis --------------------------------------------------------------------------


INTERVAL_HELP = (
    "Alpha's 95% interval: two-way (raters and items resampled, the default) or hk "
    "(Hayes-Krippendorff, as the KALPHA macro: pairable values resampled, percentile "
    "interval, q = share below the minimum)"
)


@cli.command("report")
def report(
    round_id: RoundArg,
    fmt: Annotated[str, typer.Option("--format", help="html, json or csv")] = "html",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write")] = None,
    n_bootstrap: BootstrapOption = 1000,
    seed: SeedOption = 0,
    group_by: Annotated[
        str | None, typer.Option(help="Compare subgroups: organisation or group")
    ] = None,
    include_drafts: Annotated[bool, typer.Option(help="Include unsubmitted responses")] = False,
    interval: Annotated[str, typer.Option(help=INTERVAL_HELP)] = "two-way",
    language: Annotated[
        str | None,
        typer.Option(
            "--language",
            help="The HTML report's language: one of the survey's or the interface's "
            "(en, fr, ar); by default the survey's own",
        ),
    ] = None,
) -> None:
    """Reliability report of a round: self-contained HTML with plots, JSON or CSV."""
    from app.services import reports

    if fmt not in reports.FORMATS:
        _fail(f"--format {fmt!r} is not supported; use html, json or csv")
    with _session() as session:
        options = reports.ReportOptions(n_bootstrap, seed, group_by, include_drafts, interval)
        inputs = reports.report_inputs(session, round_id=round_id, options=options)
    try:
        shown = reports.report_language(inputs.definition, language)
    except DomainError as exc:
        _fail(f"--language: {exc.message.removeprefix('lang: ')}")
    _write_document(reports.render_report(reports.compute_report(inputs), fmt, shown), fmt, output)


@cli.command("analyze")
def analyze_file(
    file: Annotated[
        Path,
        typer.Argument(
            help="Ratings file (a round export works): .csv (long or wide), .xlsx, .sav, "
            ".dta or .json"
        ),
    ],
    as_json: JsonObjectFlag = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Also write the per-dimension statistics to FILE: .csv, .xlsx or .json",
        ),
    ] = None,
    wide: Annotated[
        bool | None,
        typer.Option(
            "--wide/--long",
            help="The file has a column per dimension (wide) or a row per rating (long); "
            "by default wide when it has rater and item columns but no dimension and value",
        ),
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(help="XLSX sheet to read (default 'ratings' or the first)")
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(help="Level of measurement for every dimension (default ordinal)"),
    ] = None,
    n_bootstrap: BootstrapOption = 1000,
    seed: SeedOption = 0,
    minimum_alpha: Annotated[float, typer.Option(help="Minimum acceptable alpha")] = 0.667,
    interval: Annotated[str, typer.Option(help=INTERVAL_HELP)] = "two-way",
    group_by: Annotated[
        str | None, typer.Option(help="Rater attribute column to compare groups by")
    ] = None,
    item_group: Annotated[
        str | None, typer.Option(help="Column giving each item's group (reliability per group)")
    ] = None,
    by_language: Annotated[
        bool,
        typer.Option(
            "--by-language",
            help="Split by the 'language' column (a round export has it): reliability and "
            "consensus per language, and the items whose ratings differ by language",
        ),
    ] = False,
    rater: Annotated[str, typer.Option(help="Column naming the rater")] = "rater",
    item: Annotated[str, typer.Option(help="Column naming the item")] = "item",
    dimension: Annotated[str, typer.Option(help="Column naming the dimension")] = "dimension",
    value: Annotated[str, typer.Option(help="Column holding the value")] = "value",
    scale: Annotated[
        list[str] | None,
        typer.Option(
            help="The scale's values, for the coefficients that count its categories "
            "(Brennan-Prediger, AC2): 1-5 or 0,1,2,3 for every dimension, DIMENSION=1-5 for "
            "one (repeat the option). Default: the values that occur, which differs from "
            "the round report, where the survey file gives the scale"
        ),
    ] = None,
) -> None:
    """Analyse a ratings file (no server, no database). Empty cells are "can't judge"."""
    with _lasting_imports():
        from analysis.formats import dimension_table, read_ratings, write_table
        from analysis.languages import format_language_text, split_by_language
        from analysis.options import Columns
        from analysis.summary import analyze, format_text

    result_format = None
    if output is not None:
        result_format = {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}.get(output.suffix.lower())
        if result_format is None:
            _fail(f"--output {output}: name a .csv, .xlsx or .json file")
    try:
        columns = Columns(
            rater=rater, item=item, dimension=dimension, value=value, text_values=level == "nominal"
        )
        frame = read_ratings(file, wide=wide, sheet=sheet, columns=columns)
        groups = None
        if item_group is not None:
            if item_group not in frame.columns:
                raise ValueError(f"{file}: no column {item_group!r} for --item-group")
            groups = dict(zip(frame["item"], frame[item_group], strict=True))
        options: dict[str, Any] = {
            "levels": level,
            "n_bootstrap": n_bootstrap,
            "seed": seed,
            "minimum_alpha": minimum_alpha,
            "alpha_interval": interval,
            "scales": _scales(scale or [], list(frame["dimension"].unique())),
        }
        result = analyze(frame, **options, group_by=group_by, item_groups=groups, validated=True)
        split = None
        if by_language:
            if "language" not in frame.columns:
                raise ValueError(f"{file}: no column 'language' for --by-language")
            split = split_by_language(
                frame, analyze=lambda part: analyze(part, **options), seed=seed
            )
        if output is not None and result_format is not None:
            output.write_bytes(write_table(dimension_table(result), result_format))
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    if output is not None:
        _echo(f"wrote {output}", err=True)
    if as_json:
        document = result.to_dict()
        if split is not None:
            document["by_language"] = split.to_dict()
        _echo(_json_text(document))
    else:
        _echo(format_text(result) + ("\n\n" + format_language_text(split) if split else ""))


@contextmanager
def _lasting_imports() -> Iterator[None]:
    """Import modules that live as long as the process with the garbage collector paused,
    and, run as the ``elicit`` command, exempt their objects from later collections.

    The analysis stack (pandas, pyarrow, scipy) creates about 85,000 objects, none of
    them garbage; every collection of the generation they are in walks them again
    (0.1 s in an analysis). :func:`gc.freeze` moves them out of the collector's sight;
    called within another program (a test), it would also keep that program's garbage
    of the moment, so only the command does it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _COMMAND["running"]:
            gc.freeze()
        if enabled:
            gc.enable()


def _scales(specs: list[str], dimensions: list[Any]) -> dict[Any, list[float]] | None:
    """--scale options as analyze()'s scales: "1-5" or "0,1,2" for every dimension,
    "DIMENSION=..." for one (a later option for the same dimension wins)."""
    scales: dict[Any, list[float]] = {}
    by_name = {str(d): d for d in dimensions}
    for spec in specs:
        name, _, values = spec.rpartition("=")
        if name and name not in by_name:
            raise ValueError(f"--scale {spec}: no dimension {name!r} in the file")
        parsed = _scale_values(values, spec)
        for dimension in [by_name[name]] if name else dimensions:
            scales[dimension] = parsed
    return scales or None


def _scale_values(text: str, spec: str) -> list[float]:
    low, dash, high = text.partition("-")
    try:
        if dash and low.strip().isdigit() and high.strip().isdigit():
            first, last = int(low), int(high)
            if first >= last:
                raise ValueError
            return [float(v) for v in range(first, last + 1)]
        values = sorted({float(v) for v in text.split(",")})
    except ValueError:
        raise ValueError(
            f"--scale {spec}: give a range like 1-5 or the values like 0,1,2,3"
        ) from None
    if len(values) < 2:
        raise ValueError(f"--scale {spec}: a scale needs at least two values")
    return values


# --- calibration and rubrics -------------------------------------------------------------


@cli.command("calibrate")
def calibrate(
    round_id: RoundArg,
    as_json: JsonFlag = False,
    n_bootstrap: BootstrapOption = 1000,
    seed: SeedOption = 0,
    weighting: Annotated[
        str,
        typer.Option(
            help="How experts count: equal, performance (Cooke's weights from the seed "
            "questions) or severity (severity-adjusted ratings), as in publishing"
        ),
    ] = "equal",
) -> None:
    """Fit the tier thresholds to a round's holistic tiers (stores nothing)."""
    from app.services import rubrics

    with _session() as session:
        options = rubrics.CalibrationOptions(
            n_bootstrap=n_bootstrap, seed=seed, weighting=weighting
        )
        inputs = rubrics.calibration_inputs(session, round_id=round_id, options=options)
        data = rubrics.compute_calibration(inputs)
    if as_json:
        _print_json(data)
        return
    names = data["tier_labels"]
    tiers = data["tiers"]
    _echo(
        f"round {round_id}: score = {data['aggregate']} of the "
        f"{'' if weighting == 'equal' else 'weighted '}medians of "
        f"{_one(', '.join(map(str, data['dimensions'])))}"
    )
    _echo(_weighting_line(weighting, data["settings"].get("weights") or {}))
    for name, initial, fitted in zip(
        tiers[1:], data["initial_thresholds"], data["fitted_thresholds"], strict=True
    ):
        _echo(f"  {_one(names.get(name, name)):<14} declared >= {initial:<5g} fitted >= {fitted:g}")
    if data.get("kappa_fitted") is not None:
        _echo(
            f"quadratic-weighted kappa: declared {data['kappa_initial']:.3f}, fitted "
            f"{data['kappa_fitted']:.3f}, leave-one-item-out "
            + (f"{data['loo_kappa']:.3f}" if data.get("loo_kappa") is not None else "undefined")
        )
    else:
        _echo("no holistic tiers: thresholds stay as declared")
    if data["reasons"].get("probabilities"):
        _echo(f"no tier probabilities: {_one(data['reasons']['probabilities'])}")
    for warning in data["warnings"]:
        _echo(f"warning: {_one(warning)}")
    dimensions = [str(d) for d in data["dimensions"]]
    _echo(
        f"{'item':<44} "
        + "".join(f"{d[:9]:>10}" for d in dimensions)
        + f"{'score':>7}  tier            P(modal)"
    )
    for item in data["items"]:
        tier = tiers[item["rule_tier"]] if item["rule_tier"] is not None else "-"
        share = item.get("modal_share")
        flag = "  borderline" if item.get("borderline") else ""
        medians = "".join(f"{_number(item['scores'].get(d)):>10}" for d in dimensions)
        _echo(
            f"  {_one(item['label'])[:42]:<42} {medians}{_number(item['score']):>7}  "
            f"{_one(names.get(tier, tier)):<15} "
            + (f"{share:.2f}" if share is not None else "-")
            + flag
        )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _weighting_line(weighting: str, weights: dict[str, Any]) -> str:
    """What the calibration's weights were, in one line."""
    if weighting == "equal":
        return "weighting equal: every expert counts once"
    if weighting == "severity":
        return "weighting severity: fitted on the severity-adjusted ratings"
    return (
        f"weighting performance (Cooke's global weights): {weights.get('experts_with_weight')} "
        f"experts carry weight, effective number {weights.get('effective_experts', 0):.2f}"
    )


def _pairs(given: list[str], option: str) -> dict[str, object]:
    """``KEY=VALUE`` options as a mapping (a usage error names the one without ``=``)."""
    pairs: dict[str, object] = {}
    for text in given:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{text!r}: write FACTOR=VALUE", param_hint=option)
        pairs[key.strip()] = value.strip()
    return pairs


@cli.command("publish")
def publish(
    round_id: RoundArg,
    publisher: Annotated[str, typer.Option(help="E-mail of the admin publishing")],
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            metavar="FACTOR=VALUE",
            help="The value the rubric assumes for one of the survey's context factors "
            "(repeat for each; `elicit context show SLUG` lists them)",
        ),
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Context: other assumptions")] = None,
    justification: Annotated[
        str | None, typer.Option(help="Needed when reliability is below the minimum")
    ] = None,
    n_bootstrap: BootstrapOption = 1000,
    seed: SeedOption = 0,
    weighting: Annotated[
        str,
        typer.Option(
            help="How experts count in the calibration (thresholds and tiers): equal, "
            "performance (Cooke's weights from the seed questions) or severity "
            "(severity-adjusted ratings)"
        ),
    ] = "equal",
) -> None:
    """Publish a closed round's calibration as the next immutable rubric version."""
    from app.errors import InvalidInput
    from app.services import rubrics, users

    settings = get_settings()
    with _session(settings) as session:
        user = users.get_user_by_email(session, email=publisher)
        if user is None or user.role != "admin":
            raise InvalidInput(f"{publisher} is not an admin account", field="publisher")
        version = rubrics.publish_rubric(
            session,
            round_id=round_id,
            publisher=user,
            justification=justification,
            context={**_pairs(context or [], "--context"), "notes": notes or ""},
            n_bootstrap=n_bootstrap,
            seed=seed,
            weighting=weighting,
        )
        slug, number, digest = version.record["survey"]["slug"], version.number, version.digest
        _audit(session, "rubric.published", "rubric", f"{slug} v{number}", round_id=round_id)
    _echo(f"published {slug} v{number}: {settings.base_url}/rubrics/{slug}/v{number}")
    _echo(f"weighting {weighting}")
    _echo(f"sha256 {digest}")


@rubric_cli.command("list")
def rubric_list() -> None:
    """Published rubric versions."""
    from app.services import rubrics

    with _session() as session:
        published = rubrics.list_published(session)
    for survey in published:
        for v in survey.versions:
            _echo(f"{survey.slug}\tv{v.number}\t{v.published_at[:16]}\t{v.digest[:16]}")


@rubric_cli.command("show")
def rubric_show(
    survey: str,
    number: int,
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
) -> None:
    """Print a published version (JSON record with digest, or CSV of items)."""
    from app.services import rubrics

    with _session() as session:
        version = rubrics.get_rubric(session, slug=survey, number=number)
        if fmt == "csv":
            _write_document(rubrics.rubric_csv(version), "csv")
        elif fmt == "json":
            _print_json(rubrics.document(version))
        else:
            _fail(f"--format {fmt!r} is not supported; use json or csv")


@rubric_cli.command("diff")
def rubric_diff(
    survey: str,
    a: int,
    b: int,
    as_json: JsonFlag = False,
) -> None:
    """What changed between two published versions."""
    from app.services import rubrics

    with _session() as session:
        diff = rubrics.diff_rubrics(
            rubrics.get_rubric(session, slug=survey, number=a),
            rubrics.get_rubric(session, slug=survey, number=b),
        )
    if as_json:
        _print_json(diff.to_json())
        return
    tiers, dimensions = diff.tier_labels, diff.dimension_labels

    def number(value: float | None, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    def tier(key: str | None, share: float | None) -> str:
        name = _one(tiers.get(key, key)) if key else "(not in this version)"
        return name if share is None else f"{name} ({share:.0%})"

    def quoted(value: str | None) -> str:
        return f'"{_one(value)}"' if value else "(not recorded)"

    _echo(f"{_one(survey)} ({_one(diff.title)}): v{a} -> v{b}")
    _echo("Items that changed tier (the probability of that tier in its version):")
    for change in diff.tier_changes:
        _echo(
            f"  {_one(change.label)}: {tier(change.before, change.p_from)} -> "
            f"{tier(change.after, change.p_to)}"
        )
    if not diff.tier_changes:
        _echo("  none")
    _echo(f"  {len(diff.unchanged)} items kept their tier")
    _echo("Thresholds (score from which a tier applies):")
    for key, t in diff.thresholds.items():
        _echo(f"  {tier(key, None)}: {number(t.before, 2)} -> {number(t.after, 2)}")
    _echo("Reliability (Krippendorff's alpha):")
    for key, e in diff.reliability.items():
        moved = f"{e.change:+.3f}" if e.change is not None else "n/a"
        _echo(
            f"  {_one(dimensions.get(key, key))}: {number(e.before, 3)} -> "
            f"{number(e.after, 3)} ({moved})"
        )
    _echo("Context assumed:")
    for c in diff.context_changes:
        _echo(f"  {_one(c.label)}: {quoted(c.before)} -> {quoted(c.after)}")
    if not diff.context_changes:
        _echo("  unchanged")
    justification = diff.justification
    if justification.changed:
        _echo(f"Justification: {quoted(justification.before)} -> {quoted(justification.after)}")
    else:
        _echo(f"Justification: unchanged ({quoted(justification.after)})")


@rubric_cli.command("verify")
def rubric_verify(file: Path) -> None:
    """Check a downloaded record (v{n}.json) against its digest."""
    from app.errors import InvalidInput
    from app.services import rubrics

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
        ok = rubrics.verify_record(document)
    except (OSError, ValueError, InvalidInput) as exc:
        _fail(f"{file}: {getattr(exc, 'message', exc)}")
    if not ok:
        _fail(f"{file}: the digest does NOT match the record; it has been altered")
    _echo(f"{file}: digest verified ({_one(document['digest'])})")


# --- context factors and reviews ------------------------------------------------------------

ReviewArg = Annotated[int, typer.Argument(help="Review id", min=1, max=MAX_ID)]


@context_cli.command("show")
def context_show(slug: str, as_json: JsonFlag = False) -> None:
    """A survey's context factors: assumed, last observed, review due; and open reviews."""
    from app.services import reviews

    with _session() as session:
        shown = reviews.survey_context(session, slug=slug)
    if as_json:
        _print_json(shown.model_dump(mode="json"))
        return
    status = shown.status.state.replace("_", " ") if shown.status else "not published"
    version = f"v{shown.version}" if shown.version else "-"
    _echo(f"{_one(shown.title)} ({shown.survey}): rubric {version}, {status}")
    for f in shown.factors:
        latest = f"{_one(f.latest.shown)} ({f.latest.observed_on})" if f.latest else "-"
        _echo(f"  {f.key}: assumed {_one(f.assumed_shown or '-')}; latest {latest}")
        _echo(
            f"    review due {f.review_due or '-'} ({f.volatility}, every {f.review_every_days} d)"
        )
    for review in shown.status.reviews if shown.status else []:
        if review.closed_at is None:
            _echo(f"review {review.id} open: {_one(review.reason)}")


@context_cli.command("observe")
def context_observe(
    slug: str,
    factor: str,
    value: str,
    on: Annotated[
        str | None, typer.Option("--on", help="When it was observed (YYYY-MM-DD; default today)")
    ] = None,
    source: Annotated[str, typer.Option(help="A link to the source")] = "",
    note: Annotated[str, typer.Option(help="A note")] = "",
) -> None:
    """Record an observation of a factor; triggers are checked at once."""
    from datetime import date

    from app.inputs import ObservationInput
    from app.services import audit, reviews

    try:
        observed_on = date.fromisoformat(on) if on else date.today()
    except ValueError:
        raise typer.BadParameter(f"{on!r} is not a date (YYYY-MM-DD)", param_hint="--on") from None
    observation = ObservationInput(
        factor=factor, value=value, observed_on=observed_on, source_url=source, note=note
    )
    with _session() as session:
        _, opened = reviews.record_observation(
            session, slug=slug, observation=observation, actor=audit.CLI
        )
        fired = [(r.id, r.reason) for r in opened]
    _echo(f"recorded {factor} = {_one(value)} on {observed_on}")
    for review_id, reason in fired:
        _echo(f"review {review_id} opened: {_one(reason)}")
    if not fired:
        _echo("no trigger fired")


@context_cli.command("check")
def context_check() -> None:
    """Check every published rubric's triggers now (the worker does this on its own)."""
    from app.db import make_engine
    from app.services import reviews

    engine = make_engine(get_settings().database_url)
    try:
        opened = reviews.check_all(engine)
    finally:
        engine.dispose()
    for review in opened:
        _echo(f"review {review.id} opened: {_one(review.reason)}")
    _echo(f"{len(opened)} review(s) opened")


@context_cli.command("close")
def context_close(
    review_id: ReviewArg,
    resolution: Annotated[str, typer.Option(help="How it was resolved (shown publicly)")],
) -> None:
    """Close a review of a published rubric."""
    from app.services import audit, reviews

    with _session() as session:
        reviews.close_review(session, review_id=review_id, actor=audit.CLI, resolution=resolution)
        state = reviews.review_of(session, review_id=review_id)
    _echo(f"review {review_id} closed ({state.survey} v{state.version})")


@context_cli.command("round")
def context_round(
    review_id: ReviewArg,
    name: Annotated[str | None, typer.Option(help="The new round's name")] = None,
) -> None:
    """Create a draft round asking only the items the open reviews bear on."""
    from app.services import audit, reviews

    with _session() as session:
        round_ = reviews.start_review_round(
            session, review_id=review_id, actor=audit.CLI, name=name
        )
        shown = (id_of(round_), round_.name, list(round_.item_keys or []))
    _echo(f"round {shown[0]} (draft): {_one(shown[1])}; items: {', '.join(shown[2])}")


# --- users -------------------------------------------------------------------------------


def _change_account(change: Callable[[Session], User], action: str, done: str) -> None:
    """Apply one change to a staff account in one transaction with its audit entry, then
    say what was done (``{email}`` in ``done`` is the account's address)."""
    with _session() as session:
        user = change(session)
        _audit(session, action, "user", user.email)
        _echo(done.format(email=_one(user.email)))


@user_cli.command("create")
def user_create(
    email: str,
    role: Annotated[str, typer.Option(help="admin or researcher")] = "researcher",
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (prompted for if omitted; ELICIT_PASSWORD)", envvar="ELICIT_PASSWORD"
        ),
    ] = None,
) -> None:
    """Create a staff account."""
    from app.services import users

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _session() as session:
        user = users.create_user(session, email=email, password=password, role=role)
        _audit(session, "user.created", "user", user.email, role=user.role)
        _echo(f"created {user.role} {_one(user.email)}")


@user_cli.command("password")
def user_password(
    email: str,
    from_stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the new password from the first line of stdin")
    ] = False,
) -> None:
    """Set a new password; every session of the account ends."""
    from app.services import users

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    _change_account(
        lambda session: users.set_password(session, email=email, password=password),
        "user.password_changed",
        "password changed for {email}; all its sessions have ended",
    )


@user_cli.command("deactivate")
def user_deactivate(email: str) -> None:
    """Stop an account from signing in; every session of the account ends."""
    from app.services import users

    _change_account(
        lambda session: users.deactivate_user(session, email=email),
        "user.deactivated",
        "deactivated {email}; all its sessions have ended",
    )


@user_cli.command("activate")
def user_activate(email: str) -> None:
    """Let a deactivated account sign in again."""
    from app.services import users

    _change_account(
        lambda session: users.activate_user(session, email=email),
        "user.activated",
        "activated {email}",
    )


@user_cli.command("list")
def user_list() -> None:
    """Staff accounts: e-mail, role, active or not, created."""
    from app.services import users

    with _session() as session:
        for user in users.list_users(session):
            state = "active" if user.is_active else "inactive"
            _echo(f"{_one(user.email)}\t{user.role}\t{state}\t{user.created_at:%Y-%m-%d}")


@user_cli.command("role")
def user_role(
    email: str,
    role: Annotated[str, typer.Argument(help="admin or researcher")],
) -> None:
    """Make an account an admin or a researcher (the last active admin stays one)."""
    from app.services import audit, users

    with _session() as session:
        account = users.get_user_by_email(session, email=email)
        before = {"role": account.role if account else None}
        user = users.set_role(session, email=email, role=role)
        moved = audit.Change(before, {"role": user.role})
        _audit(session, "user.role_changed", "user", user.email, changed=moved)
        _echo(f"{_one(user.email)} is now {user.role}")


@user_cli.command("reset")
def user_reset(email: str) -> None:
    """E-mail an account a one-time link to set a new password (it works for two hours;
    using it ends every session of the account)."""
    from app.services import mail, users

    settings = get_settings()
    with _session(settings) as session:
        sent = users.request_password_reset(session, email=email, sender=mail.Sender.of(settings))
        _audit(session, "user.reset_sent", "user", sent.email)
    goes = mail.where_mail_goes(settings.smtp_url, settings.mail_dir)
    _echo(
        f"a link to set a new password for {_one(sent.email)} is queued (valid until "
        f"{sent.expires_at:%Y-%m-%d %H:%M} UTC); e-mail is {goes}"
    )
    _echo("`elicit worker` sends it if no server runs")


# --- audit trail ---------------------------------------------------------------------------


@cli.command("audit")
def audit_trail(
    round_id: Annotated[
        int | None, typer.Option("--round", help="Only this round's entries", min=1, max=MAX_ID)
    ] = None,
    limit: Annotated[int, typer.Option(help="How many entries", min=1, max=500)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """What staff did, newest first: when, who, what, on what, in which round."""
    from app.services import audit

    with _session() as session:
        found = audit.entries(session, round_id=round_id, limit=limit)
    if as_json:
        _print_json([e.model_dump() for e in found.entries])
        return
    for e in found.entries:
        details = "; ".join(f"{k}: {v}" for k, v in e.details.items())
        _echo(
            f"{e.at:%Y-%m-%d %H:%M:%S}\t{_one(e.actor)}\t{e.action}\t"
            f"{e.target_type} {_one(e.target_id or '')}\t"
            f"{'round ' + str(e.round_id) if e.round_id else ''}\t{_one(details)}"
        )


@round_cli.command("history")
def round_history(
    round_id: RoundArg,
    expert: Annotated[str | None, typer.Option(help="Only this expert (code)")] = None,
    item: Annotated[str | None, typer.Option(help="Only this item (key)")] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write the history to this CSV file")
    ] = None,
) -> None:
    """Every saved state of a round's ratings, of one expert and/or item if given."""
    from app.services import audit

    scope = audit.HistoryScope(round_id, expert_code=expert, item=item)
    with _session() as session:
        if csv_file is not None:
            exported = audit.export_history(session, actor=audit.CLI, scope=scope)
        else:
            history = audit.rating_history(session, scope=scope)
    if csv_file is not None:
        _write_document(exported, "csv", csv_file)
        return
    for h in history:
        answer = str(h.value) if h.status == "value" else h.status
        _echo(
            f"{h.expert_code}\t{_one(h.item)}\t{_one(h.dimension)}\tr{h.revision}\t{answer}\t"
            f"{h.confidence or ''}\t{h.language or '-'}\t{h.changed_by}\t"
            f"{h.changed_at:%Y-%m-%d %H:%M:%S}\t{_one(h.rationale)}"
        )


# --- backups -----------------------------------------------------------------------------


# --- personal data -------------------------------------------------------------------------


@person_cli.command("export")
def person_export(
    email: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON to this file")
    ] = None,
) -> None:
    """Everything stored about a person, found by e-mail address, as JSON (for the person:
    contact details, invitations, responses with the consent text, ratings with their
    history, e-mails sent to them). Recorded in the audit trail by code."""
    from app.services import audit, privacy

    with _session() as session:
        text = privacy.export_person(session, email=email, actor=audit.CLI).model_dump_json(
            indent=2
        )
    _write_document(text + "\n", "json", output)


@person_cli.command("erase")
def person_erase(
    email: str,
    delete_ratings: Annotated[
        bool,
        typer.Option(
            "--delete-ratings",
            help="Delete the person's ratings and code too (default: keep them anonymised)",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase a person: name and e-mail everywhere (outbox included), rationales blanked,
    links revoked; their ratings kept anonymised under the code unless --delete-ratings."""
    from app.services import audit, privacy

    what = "their ratings and code are deleted" if delete_ratings else "ratings kept anonymised"
    if not yes and not typer.confirm(f"Erase {_one(email)} ({what})? This cannot be undone"):
        _fail("nothing erased")
    settings = get_settings()
    with _session(settings) as session:
        erasing = privacy.Erasing(
            audit.CLI,
            keep_ratings=not delete_ratings,
            mail_dir=privacy.mail_copies(settings.smtp_url, settings.mail_dir),
        )
        done = privacy.erase_person(session, email=email, erasing=erasing)
    kept = (
        f"ratings kept under code {done.expert_code}"
        if done.ratings_kept
        else (f"{done.ratings_deleted} ratings deleted with the code")
    )
    _echo(
        f"erased: {done.messages_scrubbed} e-mails scrubbed, {done.mail_files_removed} file "
        f"copies removed, {done.rationales_blanked} rationales blanked; {kept}"
    )


@person_cli.command("purge")
def person_purge(
    days: Annotated[
        int | None,
        typer.Option(help="Erase after this many days (default: RETENTION_DAYS)", min=1),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List who would be erased; erase nobody")
    ] = False,
) -> None:
    """Erase the name and e-mail of every expert whose rounds all closed more than
    RETENTION_DAYS days ago (their ratings stay anonymised), as the worker does."""
    from app.models import utcnow
    from app.services import audit, privacy

    settings = get_settings()
    days = days if days is not None else settings.retention_days
    if days is None:
        _fail("no retention period: set RETENTION_DAYS or give --days")
    with _session(settings) as session:
        codes = privacy.purge_expired(
            session,
            days=days,
            now=utcnow(),
            actor=audit.CLI,
            mail_dir=privacy.mail_copies(settings.smtp_url, settings.mail_dir),
            dry_run=dry_run,
        )
    verb = "would erase" if dry_run else "erased"
    _echo(f"{verb} {len(codes)} expert(s) whose rounds closed over {days} days ago")
    for code in codes:
        _echo(f"  {code}")


@cli.command("backup")
def backup(
    file: Annotated[Path, typer.Argument(help="Backup file to write (replaced if it exists)")],
) -> None:
    """Back up the whole database while the service runs (SQLite: online backup API;
    PostgreSQL: pg_dump custom format)."""
    from app.services import backups

    settings = get_settings()
    summary = _backup_call(
        lambda: backups.backup_database(database_url=settings.database_url, path=file)
    )
    _echo(
        f"backed up {_display_url(settings.database_url)} to {file} "
        f"({_size(summary.size_bytes)}, {summary.kind}, schema {summary.revision}): "
        f"{backups.describe_counts(summary.counts)}"
    )


@cli.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by elicit backup")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that already holds data")
    ] = False,
) -> None:
    """Replace the database with a backup, then migrate it to the newest schema."""
    from app.services import backups

    settings = get_settings()
    summary = _backup_call(
        lambda: backups.restore_database(database_url=settings.database_url, path=file, force=force)
    )
    _echo(
        f"restored {file} ({_size(summary.size_bytes)}) into "
        f"{_display_url(settings.database_url)}, now at schema {summary.revision}: "
        f"{backups.describe_counts(summary.counts)}"
    )


def _backup_call(call: Callable[[], _T]) -> _T:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return call()
    except DomainError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _fail(f"database error: {getattr(exc, 'orig', None) or exc}")


def _size(n_bytes: int) -> str:
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    if n_bytes < 1024**2:
        return f"{n_bytes / 1024:.1f} KiB"
    return f"{n_bytes / 1024**2:.1f} MiB"


# --- serving -----------------------------------------------------------------------------


@cli.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: the WORKERS setting)")
    ] = None,
    upgrade: Annotated[bool, typer.Option(help="Apply migrations first")] = True,
    mail_worker: Annotated[
        bool,
        typer.Option(help="Send queued e-mail from the web workers (else run `elicit worker`)"),
    ] = True,
    allow_local_links: Annotated[
        bool,
        typer.Option(
            help="Serve on a public interface even though links point to this machine "
            "(also ALLOW_LOCAL_LINKS=true)"
        ),
    ] = False,
) -> None:
    """Serve the web app and API (DATABASE_URL; BASE_URL for invitation links)."""
    from app.migrate import upgrade_database
    from app.server import serve as serve_app
    from app.services.mail import where_mail_goes

    if mail_worker:
        os.environ["MAIL_WORKER"] = "true"
        _reread_settings()

    if "BASE_URL" not in os.environ:
        os.environ["BASE_URL"] = f"http://{_link_host(host)}:{port}"
        _reread_settings()
    settings = get_settings()
    problem = unreachable_links(host, settings.base_url)
    if problem and not (allow_local_links or settings.allow_local_links):
        _fail(problem)
    if upgrade:
        upgrade_database(settings.database_url)
    _purge_sessions(settings, quiet=True)
    _echo(f"invitation links point to {settings.base_url}")
    if settings.mail_worker:
        _echo(f"e-mail to the panel is {where_mail_goes(settings.smtp_url, settings.mail_dir)}")
    serve_app(host=host, port=port, workers=workers or settings.workers)


def _link_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104


def _is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def unreachable_links(host: str, base_url: str) -> str | None:
    """Why invitation links would not work for the panel, or None: the service listens on
    another interface (so it is meant for others) while its links name this machine."""
    link_host = urlsplit(base_url).hostname or ""
    if _is_loopback(host) or not _is_loopback(link_host):
        return None
    return (
        f"invitation links would point to {base_url}, which only this machine can open, "
        f"while the service listens on {host}. Set BASE_URL to the address the experts "
        "will use (for example https://survey.example.org); to try it in a container on "
        "this computer only, set ALLOW_LOCAL_LINKS=true"
    )


@cli.command("demo")
def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server after setting up")
    ] = True,
    simulated: Annotated[
        int, typer.Option(help="Also add this many simulated, submitted responses")
    ] = 0,
) -> None:
    """Load the built-in surveys, create an admin, open a round, invite demo experts, print
    the admin login and the expert links, then serve."""
    from app.migrate import upgrade_database
    from app.services.demo import set_up_demo

    if "BASE_URL" not in os.environ:
        os.environ["BASE_URL"] = f"http://{_link_host(host)}:{port}"
        _reread_settings()
    settings = get_settings()
    upgrade_database(settings.database_url)
    _purge_sessions(settings, quiet=True)
    with _session(settings) as session:
        setup = set_up_demo(session)
    if simulated:
        from app.services.demo import simulate_panel

        with _session(settings) as session:
            count = simulate_panel(
                session,
                round_id=setup.round_id,
                n_experts=simulated,
                seed=int.from_bytes(os.urandom(2), "big"),
            )
        _echo(f"added {simulated} simulated responses ({count} ratings)")
    base = settings.base_url
    _echo(f"database: {_display_url(settings.database_url)}")
    _echo(f"surveys loaded: {', '.join(setup.loaded)}")
    _echo("")
    _echo(f"Admin sign-in:      {base}/login")
    _echo(f"  admin:            {setup.admin_email}  password: {setup.admin_password}")
    _echo(f"  researcher:       {setup.researcher_email}  password: {setup.researcher_password}")
    _echo(f"Round:              {setup.round_name} (id {setup.round_id}, {setup.survey}, open)")
    _echo("Expert links (each is one expert's personal link):")
    for link in setup.links:
        _echo(f"  {link.expert_code}  {link.url(base)}")
    _echo(f"API documentation:  {base}/docs")
    _echo("")
    if serve_after:
        # The demo is for this machine: its links may point to it, whatever the interface.
        serve(host=host, port=port, workers=1, upgrade=False, allow_local_links=True)


if __name__ == "__main__":
    main()


@mail_cli.command("status")
def mail_status(
    round_id: RoundArg,
    as_json: JsonFlag = False,
) -> None:
    """Per invitation of a round, its latest e-mail: queued, sending, sent or failed."""
    from app.services import mail

    with _session() as session:
        rows = mail.mail_status(session, round_id=round_id)
    if as_json:
        _echo(json.dumps([dataclasses.asdict(r) for r in rows], default=str, indent=2))
        return
    if not rows:
        _echo(f"no e-mail for round {round_id} yet (elicit invite ... --send queues some)")
        return
    for r in rows:
        when = f"{r.sent_at:%Y-%m-%d %H:%M} UTC" if r.sent_at else ""
        problem = f"  {r.last_error[:120]}" if r.last_error else ""
        _echo(
            f"{r.expert_code}  {r.to_address:<32} {r.kind:<10} {r.status:<8} "
            f"tries {r.attempts}  {when}{problem}"
        )


@mail_cli.command("preview")
def mail_preview(
    round_id: RoundArg,
    kind: Annotated[str, typer.Option(help="invitation, reminder or receipt")] = "invitation",
) -> None:
    """Show an e-mail of a round as its first invited expert would read it (the survey
    file's wording, or the built-in one), with a sample in place of the personal link."""
    from app.services import mail

    settings = get_settings()
    with _session(settings) as session:
        shown = mail.preview(session, round_id=round_id, kind=kind, sender=mail.Sender.of(settings))
    origin = "the survey file's wording" if shown.from_survey_file else "the built-in wording"
    _echo(f"To: {_one(shown.to_address)}\nSubject: {_one(shown.subject)}\n({origin})\n")
    _echo(shown.body, nl=False)


@cli.command("worker")
def worker(
    once: Annotated[
        bool,
        typer.Option("--once", help="Do the scheduled steps and send what is due now, then stop"),
    ] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between looks at the outbox", min=0.5, max=3600)
    ] = 5.0,
) -> None:
    """Open, remind and close rounds on their schedule, and send queued e-mail (invitations,
    reminders) with retries; any number may run at once (each step and e-mail goes once)."""
    from app.db import make_engine
    from app.services import mail

    settings = get_settings()
    engine = make_engine(settings.database_url)
    sender = mail.MailWorker.of(engine, settings, interval=interval)
    _echo(f"e-mail is {mail.where_mail_goes(settings.smtp_url, settings.mail_dir)}")
    try:
        if once:
            for step in sender.run_schedule():
                _echo(f"round {step.round_id}: {step.label}: {_one(step.detail)}")
            done = sender.run_once()
            _echo(f"sent {done.sent}, to retry {done.retried}, failed {done.failed}")
            if (hooks := sender.webhooks) is not None:
                _echo(
                    f"webhooks: sent {hooks.sent}, to retry {hooks.retried}, failed {hooks.failed}"
                )
            return
        sender.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()


@cli.command("cooke")
def cooke(
    file: Annotated[Path, typer.Argument(help="Tidy CSV: expert,question,q05,q50,q95,realisation")],
    as_json: JsonObjectFlag = False,
    alpha: Annotated[
        float | None,
        typer.Option(help="Fixed calibration cutoff from 0 to 1 (default: optimised)"),
    ] = None,
    overshoot: Annotated[
        float, typer.Option(help="Intrinsic range: share of each question's spread added")
    ] = 0.1,
) -> None:
    """Cooke's classical model on any CSV of 5/50/95% quantiles (no server, no database):
    calibration, information, weights, the decision maker's quantiles, robustness.
    An empty realisation marks a target question."""
    from analysis.cooke import combine_experts, format_text, read_quantiles_csv

    try:
        result = combine_experts(read_quantiles_csv(file), alpha=alpha, overshoot=overshoot)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    _print_result(result, format_text, as_json=as_json)


@cli.command("severity")
def severity(
    file: Annotated[Path, typer.Argument(help="Tidy ratings CSV (a round export works)")],
    as_json: JsonObjectFlag = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Model only this dimension (repeat the option); the dimensions modelled "
            "together share each rater's severity. Default: every dimension",
        ),
    ] = None,
    no_correction: Annotated[
        bool, typer.Option("--no-correction", help="Plain JMLE severities, no (L-1)/L")
    ] = False,
    rater: Annotated[str, typer.Option(help="Column naming the rater")] = "rater",
    item: Annotated[str, typer.Option(help="Column naming the item")] = "item",
    dimension: Annotated[str, typer.Option(help="Column naming the dimension")] = "dimension",
    value: Annotated[str, typer.Option(help="Column holding the value")] = "value",
) -> None:
    """Rater severity in any tidy ratings CSV (no server, no database): a many-facet Rasch
    model with each rater's severity and fit, each item's severity-adjusted score."""
    from analysis.options import Columns
    from analysis.severity import fit_severity, format_text
    from analysis.tidy import read_ratings_csv

    try:
        columns = Columns(rater=rater, item=item, dimension=dimension, value=value)
        frame = read_ratings_csv(file, columns=columns)
        chosen = None
        if only:
            by_name = {str(d): d for d in frame["dimension"].unique()}
            missing = [name for name in only if name not in by_name]
            if missing:
                raise ValueError(f"--only {missing[0]}: no dimension {missing[0]!r} in the file")
            chosen = [by_name[name] for name in only]
        result = fit_severity(frame, dimensions=chosen, bias_correction=not no_correction)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    _print_result(result, format_text, as_json=as_json)


# --- webhooks ------------------------------------------------------------------------------

webhook_cli = typer.Typer(
    help="Webhooks: tell other systems of new rubric versions and reviews, signed.",
    no_args_is_help=True,
)
cli.add_typer(webhook_cli, name="webhook")
SubscriptionArg = Annotated[int, typer.Argument(help="Subscription id", min=1, max=MAX_ID)]


@webhook_cli.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(help="The subscriber's public http(s) address")],
    survey: Annotated[
        str | None, typer.Option(help="Only this survey's events (default: every survey's)")
    ] = None,
) -> None:
    """Subscribe an address to rubric events (versions published, reviews opened and
    closed); prints the signing secret, this once."""
    from app.services import audit, webhooks

    settings = get_settings()
    try:  # before the transaction: the address's name is looked up
        url = webhooks.checked_url(url, allow_private=settings.webhook_allow_private)
    except DomainError as exc:
        _fail(f"{exc.field}: {exc.message}")
    with _session(settings) as session:
        created = webhooks.create_subscription(
            session,
            url=url,
            survey=survey,
            actor=audit.CLI,
            allow_private=settings.webhook_allow_private,
        )
    _echo(f"subscription {created.id}: {_one(created.url)} ({created.survey or 'every survey'})")
    _echo(f"secret (shown this once; the subscriber checks signatures with it): {created.secret}")


@webhook_cli.command("list")
def webhook_list() -> None:
    """Subscriptions: id, state, survey, address."""
    from app.services import webhooks

    with _session() as session:
        rows = webhooks.list_subscriptions(session)
    if not rows:
        _echo("no webhook subscriptions (elicit webhook add URL makes one)")
    for s in rows:
        state = "active" if s.active else "inactive"
        _echo(f"{s.id}\t{state}\t{_one(s.survey or '*')}\t{_one(s.url)}\t{s.created_at:%Y-%m-%d}")


@webhook_cli.command("deactivate")
def webhook_deactivate(subscription_id: SubscriptionArg) -> None:
    """Stop telling a subscriber (what is queued for it is not sent); its log is kept."""
    from app.services import audit, webhooks

    with _session() as session:
        done = webhooks.deactivate_subscription(
            session, subscription_id=subscription_id, actor=audit.CLI
        )
    _echo(f"subscription {done.id} is inactive: {_one(done.url)}")


@webhook_cli.command("remove")
def webhook_remove(subscription_id: SubscriptionArg) -> None:
    """Delete a subscription and the record of its deliveries."""
    from app.services import audit, webhooks

    with _session() as session:
        webhooks.delete_subscription(session, subscription_id=subscription_id, actor=audit.CLI)
    _echo(f"subscription {subscription_id} removed")


@webhook_cli.command("deliveries")
def webhook_deliveries(
    subscription: Annotated[
        int | None, typer.Option(help="Only this subscription's", min=1, max=MAX_ID)
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first", min=1, max=500)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """The newest deliveries: queued, sending, sent or failed (why), with attempts and the
    subscriber's HTTP status."""
    from app.services import webhooks

    with _session() as session:
        rows = webhooks.list_deliveries(session, subscription_id=subscription, limit=limit)
    if as_json:
        _print_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        _echo("no webhook deliveries yet")
    for r in rows:
        answer = f"HTTP {r.response_status}" if r.response_status else "no answer"
        when = f"  sent {r.sent_at:%Y-%m-%d %H:%M} UTC" if r.sent_at else ""
        problem = f"  {_one(r.last_error[:160])}" if r.last_error else ""
        _echo(
            f"{r.id}  {r.survey} v{r.version} {r.kind:<13} -> {_one(r.url)}  {r.status:<7} "
            f"tries {r.attempts}  {answer}{when}{problem}"
        )
