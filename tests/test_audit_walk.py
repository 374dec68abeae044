"""Every state-changing staff route of the API leaves exactly the audit entries it should:
a walk through a round's whole life, route by route, and a check that the walk covers every
such route the API has (a new route without an entry in the trail fails here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from app.models import AuditEntry
from tests.factories import PASSWORD, full_ratings, login, make_user, survey_yaml
from tests.test_api import EXPERT_ONLY, _api_routes

#: State-changing routes that change no stored state of the study (so leave no entry):
#: signing in and out, computing a calibration to look at, and the language a staff
#: member reads their own pages in.
NOT_AUDITED = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/rounds/{round_id}/calibration"),
    ("PUT", "/api/account/language"),
}


def _new_entries(session, seen: int) -> list[AuditEntry]:
    session.rollback()
    return list(
        session.exec(
            select(AuditEntry).where(col(AuditEntry.id) > seen).order_by(col(AuditEntry.id))
        ).all()
    )


def test_every_state_changing_staff_route_leaves_its_audit_entry(session, client, app):
    admin_user = make_user(session)
    admin = login(client)
    soon = datetime.now(UTC) + timedelta(days=2)
    walked: dict[tuple[str, str], list[str]] = {}
    details: dict[tuple[str, str], list[dict[str, object]]] = {}
    last = 0

    def call(method: str, template: str, path: str, expected: list[str], **kwargs):
        nonlocal last
        reply = client.request(method, path, headers=kwargs.pop("headers", admin), **kwargs)
        assert reply.is_success, (method, path, reply.status_code, reply.text)
        entries = _new_entries(session, last)
        if entries:
            last = entries[-1].id
        actions = [e.action for e in entries]
        assert actions == expected, (method, template, actions)
        assert all(e.actor == admin_user.email for e in entries)
        walked[(method, template)] = actions
        details[(method, template)] = [e.details or {} for e in entries]
        return reply

    call(
        "POST",
        "/api/surveys",
        "/api/surveys",
        ["survey.loaded"],
        json={"filename": "walk.yaml", "content": survey_yaml(slug="walk")},
    )
    rid = call(
        "POST",
        "/api/rounds",
        "/api/rounds",
        ["round.created"],
        json={"survey": "walk", "name": "R"},
    ).json()["id"]
    base = f"/api/rounds/{rid}"
    call(
        "PATCH",
        "/api/rounds/{round_id}",
        base,
        ["round.deadline_set"],
        json={"closes_at": (soon + timedelta(days=9)).isoformat()},
    )
    call(
        "PUT",
        "/api/rounds/{round_id}/schedule",
        f"{base}/schedule",
        ["round.scheduled"],
        json={
            "opens_at": soon.isoformat(),
            "closes_at": (soon + timedelta(days=10)).isoformat(),
            "reminder_days": [2],
        },
    )
    people = [{"name": f"Expert {i}", "email": f"e{i}@example.org"} for i in range(3)]
    issued = call(
        "POST",
        "/api/rounds/{round_id}/invitations",
        f"{base}/invitations",
        ["invitations.created"],
        json={"invitees": people[:2]},
    ).json()
    call(
        "POST",
        "/api/rounds/{round_id}/invitations.csv",
        f"{base}/invitations.csv",
        ["invitations.created"],
        content="name,email\nExpert 2,e2@example.org\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    call("POST", "/api/rounds/{round_id}/open", f"{base}/open", ["round.opened"])
    first, second = issued
    # The first expert answers (the experts' own routes leave the rating history instead).
    expert = {"Authorization": f"Bearer {first['url'].rsplit('/', 1)[-1]}"}
    assert client.post("/api/expert/consent", headers=expert).is_success
    client.put("/api/expert/ratings", headers=expert, json={"ratings": full_ratings(4)})
    assert client.post("/api/expert/submit", headers=expert).is_success
    call(
        "POST",
        "/api/invitations/{invitation_id}/revoke",
        f"/api/invitations/{second['invitation_id']}/revoke",
        ["invitation.revoked"],
    )
    call(
        "POST",
        "/api/invitations/{invitation_id}/reissue",
        f"/api/invitations/{second['invitation_id']}/reissue",
        ["invitation.reissued"],
    )
    call("POST", "/api/rounds/{round_id}/remind", f"{base}/remind", ["reminders.queued"])
    call(
        "POST",
        "/api/rounds/{round_id}/responses/{expert_code}/reopen",
        f"{base}/responses/{first['expert_code']}/reopen",
        ["response.reopened"],
    )
    assert client.post("/api/expert/submit", headers=expert).is_success
    call("POST", "/api/rounds/{round_id}/close", f"{base}/close", ["round.closed"])
    call(
        "POST",
        "/api/rounds/{round_id}/publish",
        f"{base}/publish",
        ["rubric.published"],
        json={
            "justification": "a walk through every route",
            "n_bootstrap": 100,
            "context": {"company_relations": "voluntary access"},
        },
    )
    review_id = call(
        "POST",
        "/api/surveys/{slug}/observations",
        "/api/surveys/walk/observations",
        ["factor.observed", "rubric.review_opened"],
        json={
            "factor": "company_relations",
            "value": "a binding agreement",
            "observed_on": datetime.now(UTC).date().isoformat(),
        },
    ).json()["reviews_opened"][0]["id"]
    call(
        "POST",
        "/api/reviews/{review_id}/round",
        f"/api/reviews/{review_id}/round",
        ["round.created"],
        json={},
    )
    call(
        "POST",
        "/api/reviews/{review_id}/close",
        f"/api/reviews/{review_id}/close",
        ["rubric.review_closed"],
        json={"resolution": "the agreement keeps access as assumed"},
    )
    call("POST", "/api/rounds/{round_id}/next", f"{base}/next", ["round.created"], json={})
    # Webhook subscriptions (the secret stays out of the trail).
    hook = call(
        "POST",
        "/api/webhooks",
        "/api/webhooks",
        ["webhook.created"],
        json={"url": "https://hooks.example.org/elicit", "survey": "walk"},
    ).json()
    call(
        "POST",
        "/api/webhooks/{subscription_id}/deactivate",
        f"/api/webhooks/{hook['id']}/deactivate",
        ["webhook.deactivated"],
    )
    call(
        "DELETE",
        "/api/webhooks/{subscription_id}",
        f"/api/webhooks/{hook['id']}",
        ["webhook.deleted"],
    )
    (made,) = details[("POST", "/api/webhooks")]
    assert made == {"url": "https://hooks.example.org/elicit", "survey": "walk"}
    assert hook["secret"] not in str(details)

    uid = call(
        "POST",
        "/api/users",
        "/api/users",
        ["user.created", "user.reset_sent"],
        json={"email": "colleague@example.org", "role": "researcher"},
    ).json()["id"]
    call(
        "PATCH",
        "/api/users/{user_id}",
        f"/api/users/{uid}",
        ["user.role_changed"],
        json={"role": "admin"},
    )
    call(
        "POST",
        "/api/users/{user_id}/password-reset",
        f"/api/users/{uid}/password-reset",
        ["user.reset_sent"],
    )
    call(
        "POST",
        "/api/account/password",
        "/api/account/password",
        ["user.password_changed"],
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
    )

    # Changes say what was before and what after.
    (role,) = details[("PATCH", "/api/users/{user_id}")]
    assert role == {"role": "admin", "role_before": "researcher"}
    (scheduled,) = details[("PUT", "/api/rounds/{round_id}/schedule")]
    assert scheduled["opens_at_before"] == "" and scheduled["opens_at"]
    assert scheduled["reminder_days"] == "2" and scheduled["closes_at_before"]
    (deadline,) = details[("PATCH", "/api/rounds/{round_id}")]
    assert deadline["closes_at_before"] == "" and deadline["closes_at"]

    writes = {
        (method, path)
        for method, path in _api_routes(app)
        if method != "GET" and not path.startswith(EXPERT_ONLY)
    }
    assert set(walked) == writes - NOT_AUDITED
