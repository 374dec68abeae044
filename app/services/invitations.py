"""Experts and their personal invitation links."""

from __future__ import annotations

import codecs
import csv
import io
import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlmodel import Session, col, delete, select

from app.errors import Conflict, InvalidInput, Message, NotFound
from app.i18n import N_
from app.inputs import InviteeCreate
from app.models import (
    Expert,
    ExpertContact,
    Invitation,
    WebSession,
    id_of,
    utcnow,
)
from app.security import hash_token, looks_like_token, new_token
from app.services import ReadModel
from app.services.csv_out import write_csv
from app.services.rounds import get_round, panel_rows, response_status, round_definition

# No 0/O, 1/I/L: codes are read aloud and typed from paper.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
UNKNOWN_LINK = N_("This invitation link is not valid. Ask the survey team for a new one.")


@dataclass(frozen=True)
class IssuedInvitation:
    invitation_id: int
    expert_code: str
    name: str
    email: str
    token: str
    round_id: int
    #: The invitation's language (None: the survey's first).
    language: str | None = None

    def url(self, base_url: str) -> str:
        return f"{base_url}/i/{self.token}"


def invite_experts(
    session: Session,
    *,
    round_id: int,
    invitees: list[InviteeCreate],
    language: str | None = None,
) -> list[IssuedInvitation]:
    """Invite people to a round; returns each one's secret token (never stored, shown once).

    An e-mail already known reuses that expert's pseudonymous code, so the same person keeps
    one code across rounds. Each invitation is in the invitee's ``language``, else in
    ``language``, else in the survey's first; a language the survey is not given in is
    refused. All or nothing: one bad row invites nobody.
    """
    round_ = get_round(session, round_id=round_id)
    if round_.status == "closed":
        raise Conflict(
            N_("round %(round)s is closed; experts can no longer be invited"),
            values={"round": round_id},
        )
    languages = round_definition(session, round_).languages
    if language is not None and language not in languages:
        raise InvalidInput(_not_offered(language, languages), field="language")
    seen: set[str] = set()
    for index, person in enumerate(invitees):
        email = person.email.lower()
        if email in seen:
            raise InvalidInput(
                N_("%(email)s is listed twice"),
                field=f"invitees[{index}].email",
                values={"email": email},
            )
        seen.add(email)
        if person.language is not None and person.language not in languages:
            raise InvalidInput(
                N_("%(email)s: %(problem)s"),
                field=f"invitees[{index}].language",
                values={"email": email, "problem": _not_offered(person.language, languages)},
            )
    issued = []
    for index, person in enumerate(invitees):
        expert = _expert_for(session, person)
        already = session.exec(
            select(Invitation).where(
                Invitation.round_id == round_id, Invitation.expert_id == expert.id
            )
        ).first()
        if already is not None:
            raise Conflict(
                N_(
                    "%(email)s is already invited to round %(round)s (invitation "
                    "%(invitation)s); re-issue that invitation for a new link"
                ),
                field=f"invitees[{index}].email",
                values={"email": person.email, "round": round_id, "invitation": already.id},
            )
        token = new_token()
        chosen = person.language or language
        invitation = Invitation(
            round_id=round_id,
            expert_id=id_of(expert),
            token_hash=hash_token(token),
            language=None if chosen == languages[0] else chosen,
        )
        session.add(invitation)
        session.flush()
        assert invitation.id is not None
        issued.append(
            IssuedInvitation(
                invitation.id,
                expert.code,
                person.name,
                person.email.lower(),
                token,
                round_id,
                invitation.language,
            )
        )
    return issued


def _not_offered(language: str, languages: list[str]) -> Message:
    return Message(
        N_("the survey is not given in %(language)s; its languages are %(languages)s"),
        {"language": repr(language), "languages": ", ".join(languages)},
    )


def set_invitation_language(session: Session, *, invitation_id: int, language: str) -> Invitation:
    """The expert reads the survey in ``language`` from now on (one of its languages)."""
    invitation = _get(session, invitation_id)
    round_ = get_round(session, round_id=invitation.round_id)
    languages = round_definition(session, round_).languages
    if language not in languages:
        raise InvalidInput(_not_offered(language, languages), field="language")
    invitation.language = None if language == languages[0] else language
    session.add(invitation)
    return invitation


def reissue_invitation(
    session: Session, *, invitation_id: int, keep_sessions: bool = False
) -> IssuedInvitation:
    """Give an invitation a new secret link; the old link stops working, and so do the
    sessions opened with it unless ``keep_sessions`` (a reminder: the link is replaced only
    because a stored hash cannot be mailed again, not because it leaked)."""
    invitation = _get(session, invitation_id)
    expert = session.get(Expert, invitation.expert_id)
    contact = session.get(ExpertContact, invitation.expert_id)
    assert expert is not None and contact is not None
    token = new_token()
    invitation.token_hash = hash_token(token)
    invitation.revoked_at = None
    session.add(invitation)
    if not keep_sessions:
        session.exec(delete(WebSession).where(col(WebSession.invitation_id) == invitation_id))
    return IssuedInvitation(
        invitation_id,
        expert.code,
        contact.name,
        contact.email,
        token,
        invitation.round_id,
        invitation.language,
    )


def find_in_round(
    session: Session, *, round_id: int, email: str | None = None, code: str | None = None
) -> Invitation:
    """A round's invitation of the expert with this e-mail address or code (exactly one of
    the two); NotFound says which round was searched."""
    if (email is None) == (code is None):
        raise InvalidInput(
            N_("give the expert's e-mail address or code (one of them)"), field="email"
        )
    get_round(session, round_id=round_id)
    query = select(Invitation).join(Expert, col(Expert.id) == col(Invitation.expert_id))
    if email is not None:
        query = query.join(
            ExpertContact, col(ExpertContact.expert_id) == col(Invitation.expert_id)
        ).where(ExpertContact.email == email.strip().lower())
        who = N_("no expert with the e-mail address %(who)s is invited to round %(round)s")
        shown = email.strip()
    else:
        query = query.where(Expert.code == (code or "").strip())
        who = N_("no expert with the code %(who)s is invited to round %(round)s")
        shown = (code or "").strip()
    invitation = session.exec(query.where(Invitation.round_id == round_id)).first()
    if invitation is None:
        raise NotFound(
            who,
            field="email" if email else "code",
            values={"who": repr(shown), "round": round_id},
        )
    return invitation


def revoke_invitation(session: Session, *, invitation_id: int) -> Invitation:
    """Stop an invitation link from working; its expert's sessions end at once."""
    invitation = _get(session, invitation_id)
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        session.add(invitation)
    session.exec(delete(WebSession).where(col(WebSession.invitation_id) == invitation_id))
    return invitation


def find_invitation(session: Session, *, token: str) -> Invitation:
    """The live invitation for a token; unknown, revoked and malformed tokens look the same."""
    if not looks_like_token(token):
        raise NotFound(UNKNOWN_LINK)
    invitation = session.exec(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    ).first()
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound(UNKNOWN_LINK)
    return invitation


class InvitationSummary(ReadModel):
    """One invitation of a round, with the expert's name and e-mail (admins only) and how
    far the expert's response has got; never the token."""

    id: int
    round_id: int
    expert_code: str
    name: str
    email: str
    organisation: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    response_status: str
    #: The language the expert reads the survey in (None: the survey's first).
    language: str | None = None


def list_invitations(session: Session, *, round_id: int) -> list[InvitationSummary]:
    """Invitations of a round with names (admins only) and response status."""
    get_round(session, round_id=round_id)
    rows = panel_rows(session, round_id=round_id)
    return [
        InvitationSummary.of(
            inv,
            expert_code=expert.code,
            name=contact.name,
            email=contact.email,
            organisation=expert.organisation,
            response_status=response_status(response),
            language=inv.language,
        )
        for inv, expert, contact, response in rows
    ]


_HEADER_HELP = N_(
    "the first line must be the header name,email,organisation (and optionally "
    "stakeholder_group and language)"
)
_SAVE_AS_UTF8 = N_('save the file as UTF-8 text ("CSV UTF-8" in Excel) and try again')


def read_invitees_csv(
    data: bytes, *, filename: str = "invitees.csv", field: str = "csv"
) -> list[InviteeCreate]:
    """Read an uploaded invitee CSV: UTF-8 (a byte-order mark is fine) or UTF-16 with a
    byte-order mark. Anything else is refused, naming the line and what to do."""
    encoding = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else None
    if encoding is None and b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InvalidInput(
            N_(
                "%(where)s: the file contains NUL bytes, so it is not CSV text (UTF-16 without "
                "a byte-order mark, or a spreadsheet file?); %(advice)s"
            ),
            field=field,
            values={"where": f"{filename}:{line}", "advice": Message(_SAVE_AS_UTF8)},
        )
    try:
        text = data.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(encoding or "utf-8", "replace").count("\n") + 1
        raise InvalidInput(
            N_(
                "%(where)s: the file is not %(encoding)s text (byte %(byte)s cannot be read; "
                "Latin-1 or Windows-1252?); %(advice)s"
            ),
            field=field,
            values={
                "where": f"{filename}:{line}",
                "encoding": encoding or "UTF-8",
                "byte": f"0x{data[exc.start]:02X}",
                "advice": Message(_SAVE_AS_UTF8),
            },
        ) from exc
    return parse_invitees_csv(text, filename=filename, field=field)


def parse_invitees_csv(
    text: str, *, filename: str = "invitees.csv", field: str = "csv"
) -> list[InviteeCreate]:
    """Read ``name,email,organisation[,stakeholder_group][,language]`` rows; errors name
    the line."""
    # newline="": a lone CR ends a line as CRLF and LF do; quoted fields keep theirs.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    people = []
    try:
        first = next(reader, None)
        if first is None or not any(cell.strip() for cell in first):
            raise InvalidInput(
                N_("%(where)s: the file is empty; %(advice)s"),
                field=field,
                values={"where": f"{filename}:1", "advice": Message(_HEADER_HELP)},
            )
        header = [cell.strip().lower() for cell in first]
        missing = [h for h in ("name", "email") if h not in header]
        if missing:
            raise InvalidInput(
                N_("%(where)s: %(advice)s; missing: %(missing)s"),
                field=field,
                values={
                    "where": f"{filename}:1",
                    "advice": Message(_HEADER_HELP),
                    "missing": ", ".join(missing),
                },
            )
        for row in reader:
            line = reader.line_num
            values = {h: v.strip() for h, v in zip(header, row, strict=False) if v.strip()}
            if not values:
                continue
            people.append(_invitee(values, f"{filename}:{line}", field))
    except csv.Error as exc:
        raise InvalidInput(
            N_("%(where)s: %(problem)s"),
            field=field,
            values={"where": f"{filename}:{max(reader.line_num, 1)}", "problem": _csv_problem(exc)},
        ) from exc
    if not people:
        raise InvalidInput(
            N_(
                "%(where)s: no invitees below the header; add one line per expert "
                "(name,email,organisation)"
            ),
            field=field,
            values={"where": f"{filename}:2"},
        )
    return people


def _invitee(values: dict[str, str], where: str, field: str) -> InviteeCreate:
    try:
        return InviteeCreate(
            name=values.get("name", ""),
            email=values.get("email", ""),
            organisation=values.get("organisation"),
            stakeholder_group=values.get("stakeholder_group"),
            language=values.get("language"),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        column = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(
            N_("%(where)s: %(column)s: %(problem)s"),
            field=field,
            values={"where": where, "column": column, "problem": first["msg"]},
        ) from exc


def _csv_problem(exc: csv.Error) -> Message:
    if "field larger than field limit" in str(exc):
        return Message(
            N_(
                'a field is longer than %(most)s characters; is a quote (") opened and never '
                "closed?"
            ),
            {"most": csv.field_size_limit()},
        )
    return Message(
        N_("cannot read this line as CSV (%(problem)s); put quotes around fields with commas"),
        {"problem": str(exc)},
    )


def issued_as_csv(issued: list[IssuedInvitation], *, base_url: str) -> str:
    """The links of a batch, for the admin to download once."""
    return write_csv(
        [(i.expert_code, i.name, i.email, i.url(base_url)) for i in issued],
        ["expert_code", "name", "email", "url"],
    )


def _expert_for(session: Session, person: InviteeCreate) -> Expert:
    email = person.email.lower()
    contact = session.exec(select(ExpertContact).where(ExpertContact.email == email)).first()
    if contact is not None:
        expert = session.get(Expert, contact.expert_id)
        assert expert is not None
        return expert
    expert = Expert(
        code=_new_code(session),
        organisation=person.organisation,
        stakeholder_group=person.stakeholder_group,
    )
    session.add(expert)
    session.flush()
    assert expert.id is not None
    session.add(ExpertContact(expert_id=expert.id, name=person.name, email=email))
    return expert


def _new_code(session: Session) -> str:
    while True:
        code = "E-" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
        if session.exec(select(Expert.id).where(Expert.code == code)).first() is None:
            return code


def _get(session: Session, invitation_id: int) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFound(
            N_("invitation %(invitation)s does not exist"), values={"invitation": invitation_id}
        )
    return invitation
