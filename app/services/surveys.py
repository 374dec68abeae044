"""Survey definitions in the database: every distinct content is one immutable version."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlmodel import Session, col, func, select

from app.errors import NotFound
from app.i18n import N_
from app.models import Survey, SurveyVersion, id_of
from app.survey_files import (
    HOLISTIC_TIER_KEY,
    SurveyDefinition,
    SurveyFileError,
    SurveyFileProblem,
    parse_survey_text,
    stale_translations,
)


@dataclass(frozen=True)
class LoadedSurvey:
    """A survey file stored: its slug, its version, and whether that version is new."""

    slug: str
    version: SurveyVersion
    created: bool


def load_survey(
    session: Session,
    *,
    definition: SurveyDefinition,
    source_name: str,
    text: str | None = None,
    accept_translations: bool = False,
) -> tuple[SurveyVersion, bool]:
    """Store a definition; returns (version, created). Same content -> the existing version.

    A new version keeps warnings about its translations that may be stale (the source text
    changed from the newest stored version, the translation did not; lines from ``text``,
    the file's text, when given): see :func:`translation_warnings`. ``accept_translations``
    confirms them: none are kept, and those an unchanged version kept are cleared."""
    survey = session.exec(select(Survey).where(Survey.slug == definition.slug)).first()
    if survey is None:
        survey = Survey(slug=definition.slug)
        session.add(survey)
        session.flush()
    digest = definition.content_sha256()
    existing = session.exec(
        select(SurveyVersion).where(
            SurveyVersion.survey_id == survey.id, SurveyVersion.content_sha256 == digest
        )
    ).first()
    if existing is not None:
        if accept_translations and existing.translation_warnings:
            existing.translation_warnings = None
            session.add(existing)
            session.flush()
        return existing, False
    newest = session.exec(
        select(func.max(SurveyVersion.number)).where(SurveyVersion.survey_id == survey.id)
    ).one()
    warnings: list[SurveyFileProblem] = []
    if newest is not None and not accept_translations:
        previous = get_survey_version(session, slug=definition.slug, number=newest)
        warnings = stale_translations(
            definition_of(previous), definition, filename=source_name, text=text
        )
    version = SurveyVersion(
        survey_id=id_of(survey),
        number=(newest or 0) + 1,
        label=definition.version,
        title=definition.title,
        definition=definition.model_dump(mode="json"),
        content_sha256=digest,
        source_name=source_name,
        translation_warnings=[asdict(w) for w in warnings] or None,
    )
    session.add(version)
    session.flush()
    return version, True


def load_survey_text(
    session: Session, *, content: str, filename: str, accept_translations: bool = False
) -> LoadedSurvey:
    """Parse, validate and store a survey file's text (problems name ``filename``'s lines)."""
    try:
        definition = parse_survey_text(content, filename=filename)
    except SurveyFileError as exc:
        raise SurveyFileError(exc.errors, field="content") from None
    version, created = load_survey(
        session,
        definition=definition,
        source_name=filename,
        text=content,
        accept_translations=accept_translations,
    )
    return LoadedSurvey(slug=definition.slug, version=version, created=created)


def translation_warnings(version: SurveyVersion) -> list[SurveyFileProblem]:
    """The translations of ``version`` that may be stale, until confirmed."""
    return [SurveyFileProblem(**w) for w in version.translation_warnings or []]


def get_survey_version(session: Session, *, slug: str, number: int | None = None) -> SurveyVersion:
    """A survey's version by number, or its newest version."""
    query = (
        select(SurveyVersion)
        .join(Survey, col(Survey.id) == col(SurveyVersion.survey_id))
        .where(Survey.slug == slug)
    )
    if number is not None:
        query = query.where(SurveyVersion.number == number)
    version = session.exec(query.order_by(col(SurveyVersion.number).desc())).first()
    if version is None:
        if number is None:
            raise NotFound(
                N_("survey %(slug)s does not exist; load its file first"),
                values={"slug": repr(slug)},
            )
        raise NotFound(
            N_("survey %(slug)s version %(number)s does not exist; load its file first"),
            values={"slug": repr(slug), "number": number},
        )
    return version


def list_survey_versions(session: Session) -> list[tuple[str, SurveyVersion]]:
    """Every (slug, version), newest version first within each survey."""
    rows = session.exec(
        select(Survey.slug, SurveyVersion)
        .join(SurveyVersion, col(Survey.id) == col(SurveyVersion.survey_id))
        .order_by(col(Survey.slug), col(SurveyVersion.number).desc())
    ).all()
    return [(slug, version) for slug, version in rows]


def slug_of(session: Session, version: SurveyVersion) -> str:
    """The slug of the survey a version belongs to."""
    survey = session.get(Survey, version.survey_id)
    assert survey is not None
    return survey.slug


def definition_of(version: SurveyVersion) -> SurveyDefinition:
    """The typed definition stored with a version (parsed once per content digest)."""
    cached = _definitions.get(version.content_sha256)
    if cached is None:
        cached = SurveyDefinition.model_validate(version.definition)
        _definitions[version.content_sha256] = cached
    return cached


# Versions are immutable, so a parsed definition never goes stale.
_definitions: dict[str, SurveyDefinition] = {}


def cached_definition(content_sha256: str) -> SurveyDefinition | None:
    """The definition with this content digest, if one has been parsed in this process."""
    return _definitions.get(content_sha256)


def expected_cells(definition: SurveyDefinition) -> list[tuple[str, str]]:
    """Every (item, dimension) an expert is asked about, holistic tier included, in order."""
    dimensions = [d.key for d in definition.dimensions]
    if definition.holistic_tier.enabled:
        dimensions.append(HOLISTIC_TIER_KEY)
    return [(item.key, dim) for item in definition.items for dim in dimensions]
