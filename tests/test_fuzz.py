"""Fuzzing every operation of the OpenAPI schema: no input may crash the server.

Schemathesis generates requests from the schema (valid ones, and invalid ones that break
it on purpose: boundary values, wrong types, missing fields, NUL characters) for every
operation, on both database backends, against a seeded panel: round 1 open with submitted
answers and an invited expert, round 2 closed with a published rubric. Besides what the
schema allows, fuzz dictionaries put ids of real rows, ids beyond the database's range and
text with NUL characters into parameters and bodies. Every answer must be a documented
status other than 5xx, with a documented content type and a body matching the schema.

Each operation is fuzzed in depth by the role it is for (the admin for staff operations,
the invited expert for the expert API, an anonymous visitor for sign-in and the public
rubric pages), and lightly by each of the three other roles, whom it must refuse cleanly.
Generation is derandomized with a fixed seed, so every run sends the same requests.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.config import Settings
from app.main import create_app
from app.schemas import DB_INT_MAX
from app.services import rounds, rubrics, sessions
from app.services.demo import simulate_panel
from tests.conftest import empty_postgres
from tests.factories import make_invitations, make_round, make_user

pytestmark = pytest.mark.slow

ROLES = ("admin", "researcher", "expert", "anonymous")
# The admin's operations (the API but for the expert's part and sign-in), and the others.
STAFF = r"^/api/(?!expert/|auth/login$)"
NOT_STAFF = r"^/api/expert/|^/api/auth/login$|^/(?!api/)"
# They run the statistics on the seeded round: each answer takes a fraction of a second, so
# they get the random phase only (bad values are covered in tests/test_hostile_input.py).
ANALYSES = r"^/api/rounds/\{round_id\}/(report|calibration|publish)$"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


# PostgreSQL refuses NUL in text; ids beyond its INTEGER (2^31 - 1) or SQLite's (2^63 - 1)
# made the drivers raise; numpy refuses negative seeds.
HOSTILE_TEXT = ["\x00", "a\x00b", "\r", "line\rbreak", "\u202e", "%00", "'; --", "v99999999999"]
BODY_TEXT = (
    "email",
    "password",
    "name",
    "survey",
    "filename",
    "content",
    "justification",
    "invitees[*].name",
    "invitees[*].organisation",
    "ratings[*].item",
    "ratings[*].rationale",
    "context.notes",
)
HOSTILE_INTEGERS = [-1, 0, 2**31 - 1, 2**31, 2**32, 2**63, -(2**63) - 1, 10**30]


def _config(*, max_examples: int, coverage: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": 20261202,
            "suppress-health-check": ["all"],
            "dictionaries": {
                "hostile_text": {"values": HOSTILE_TEXT},
                "hostile_integers": {"values": HOSTILE_INTEGERS},
                "ids": {"values": [1, 2, 3, 2**31, 2**63]},
                "slugs": {"values": ["small", "sma\x00ll"]},
                "rubric_files": {"values": ["v1", "v1.json", "v1.csv", "v2147483648"]},
            },
            "generation": {
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
                # Besides what the schema allows: values that broke the server before.
                "dictionaries": {
                    "string": {"dictionary": "hostile_text", "probability": 0.25},
                    "integer": {"dictionary": "hostile_integers", "probability": 0.25},
                },
            },
            # Request bodies take dictionary values field by field.
            "parameters": {
                **{
                    f"body.{field}": {"dictionary": "hostile_text", "probability": 0.25}
                    for field in BODY_TEXT
                },
                # Half the time, ids of rows that exist (and ids beyond the range).
                **{
                    f"path.{name}": {"dictionary": "ids", "probability": 0.5}
                    for name in ("round_id", "invitation_id", "number", "a", "b")
                },
                "path.slug": {"dictionary": "slugs", "probability": 0.5},
                "path.name": {"dictionary": "rubric_files", "probability": 0.5},
            },
            "phases": {
                # Boundary values, wrong types, missing and extra fields; a method the
                # operation does not have is the framework's 405 and not worth the time.
                "coverage": {"enabled": coverage, "unexpected-methods": []},
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "operations": [
                {
                    "include-path-regex": ANALYSES,
                    "phases": {"coverage": {"enabled": False}},
                    "generation": {"max-examples": min(max_examples, 6)},
                }
            ],
        }
    )


# The schema does not depend on the database: read it from an app that never connects.
_schema_app = create_app(Settings(database_url="sqlite://"))
in_depth = schemathesis.openapi.from_asgi(
    "/openapi.json", _schema_app, config=_config(max_examples=8, coverage=True)
)
lightly = schemathesis.openapi.from_asgi(
    "/openapi.json", _schema_app, config=_config(max_examples=3, coverage=False)
)


def owner(path: str) -> str:
    """The role an operation is for."""
    if path.startswith("/api/expert/"):
        return "expert"
    if path.startswith("/api/") and path != "/api/auth/login":
        return "admin"
    return "anonymous"


@dataclass(frozen=True)
class Panel:
    """An app on a seeded database, and how each role authenticates to it."""

    app: FastAPI
    engine: Engine
    tokens: dict[str, str]
    user_ids: dict[str, int]

    def headers(self, role: str, path: str) -> dict[str, str]:
        token = self.tokens.get(role)
        if path == "/api/auth/logout" and role in self.user_ids:
            # Signing out ends the token used; sign out a throwaway session instead.
            with Session(self.engine) as session:
                token, _ = sessions.start_session(session, user_id=self.user_ids[role], hours=1)
                session.commit()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, case: schemathesis.Case, role: str) -> None:
        _cheaper(case)
        case.call_and_validate(app=self.app, headers=self.headers(role, case.path))


def _seed(session: Session) -> tuple[dict[str, str], dict[str, int]]:
    """Round 1 open, with submitted answers and the invited expert (so the example id 1
    reaches the statistics and the writes), round 2 closed with a published rubric."""
    admin = make_user(session)
    researcher = make_user(session, email="res@example.org", role="researcher")
    assert admin.id is not None and researcher.id is not None
    open_ = make_round(session)
    closed = make_round(session, name="Round 2")
    assert open_.id is not None and closed.id is not None
    simulate_panel(session, round_id=open_.id, n_experts=4, seed=3)
    simulate_panel(session, round_id=closed.id, n_experts=4, seed=4)
    rounds.close_round(session, round_id=closed.id)
    rubrics.publish_rubric(
        session, round_id=closed.id, publisher=admin, justification="fuzz", n_bootstrap=100
    )
    session.commit()
    expert = make_invitations(session, open_, 1)[0]
    user_ids = {"admin": admin.id, "researcher": researcher.id}
    tokens = {
        role: sessions.start_session(session, user_id=user_id, hours=2)[0]
        for role, user_id in user_ids.items()
    }
    session.commit()
    return {**tokens, "expert": expert.token}, user_ids


@pytest.fixture(scope="module")
def panel(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Panel]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("fuzz") / "elicit.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        empty_postgres(url)
    app = create_app(Settings(database_url=url, base_url="http://testserver"))
    with Session(app.state.engine, expire_on_commit=False) as session:
        tokens, user_ids = _seed(session)
    yield Panel(app, app.state.engine, tokens, user_ids)
    app.state.engine.dispose()


QUERY_BOOTSTRAP = {"/api/rounds/{round_id}/report", "/api/rounds/{round_id}/calibration"}
BODY_BOOTSTRAP = {"/api/rounds/{round_id}/publish"}


def _cheaper(case: schemathesis.Case) -> None:
    """Keep valid bootstrap counts small: 10000 resamples are accepted like 20, only slower,
    and the fuzzer would spend its time resampling. Out-of-range counts go as they are."""
    if case.path in QUERY_BOOTSTRAP and isinstance(case.query, dict):
        count = case.query.get("n_bootstrap", 20)
        if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= 10_000:
            case.query["n_bootstrap"] = min(count, 20)
    if case.path in BODY_BOOTSTRAP and isinstance(case.body, dict):
        count = case.body.get("n_bootstrap", 100)
        if isinstance(count, int) and not isinstance(count, bool) and 100 <= count <= 10_000:
            case.body["n_bootstrap"] = 100


# In this order: the admin's operations change the panel (revoked links, closed rounds),
# so they come after the expert has used their link.
@in_depth.exclude(path_regex=STAFF).parametrize()
def test_expert_and_public_operations(case: schemathesis.Case, panel: Panel) -> None:
    panel.call(case, owner(case.path))


@in_depth.exclude(path_regex=NOT_STAFF).parametrize()
def test_staff_operations_as_the_admin(case: schemathesis.Case, panel: Panel) -> None:
    panel.call(case, "admin")


@lightly.parametrize()
def test_every_operation_as_the_other_roles(case: schemathesis.Case, panel: Panel) -> None:
    for role in ROLES:
        if role != owner(case.path):
            panel.call(case, role)


# A value the service checks against the survey's scale before anything is stored.
UNBOUNDED = {("RatingInput", "value")}


def test_every_integer_parameter_has_a_documented_range() -> None:
    """The fuzzer tries the documented bounds and just beyond them: an integer without a
    range would never be tried beyond the database's."""
    raw = in_depth.raw_schema
    for path, operations in raw["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if schema.get("type") == "integer":
                    where = (method, path, parameter["name"])
                    assert "minimum" in schema and "maximum" in schema, where
                    if parameter["in"] == "path":
                        assert schema["maximum"] <= DB_INT_MAX, where
    for name in _request_schemas(raw):
        for field, schema in raw["components"]["schemas"][name].get("properties", {}).items():
            for option in schema.get("anyOf", [schema]):
                if option.get("type") == "integer" and (name, field) not in UNBOUNDED:
                    assert "minimum" in option and "maximum" in option, (name, field)


def _request_schemas(raw: dict) -> set[str]:
    """Names of the component schemas that request bodies use, directly or inside others."""
    found: set[str] = set()
    pending = [
        body
        for operations in raw["paths"].values()
        for operation in operations.values()
        for body in [operation.get("requestBody")]
        if body
    ]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in found:
                found.add(ref.rsplit("/", 1)[1])
                pending.append(raw["components"]["schemas"][ref.rsplit("/", 1)[1]])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def test_every_operation_is_fuzzed() -> None:
    paths = {result.ok().path for result in in_depth.get_all_operations()}
    assert len(paths) >= 25
    assert {"/api/auth/login", "/api/expert/ratings", "/rubrics/{slug}/{name}"} <= paths
    for path in paths:
        assert (re.search(STAFF, path) is None) != (re.search(NOT_STAFF, path) is None), path
        assert (owner(path) == "admin") == (re.search(STAFF, path) is not None), path
