"""Telling subscribers about rubric events: signed webhooks, and the Atom feeds that list
the same events.

Every version published, review opened and review closed is a :class:`RubricEvent`, written
in the transaction of what caused it; :func:`queue_deliveries` adds, in that transaction,
one :class:`WebhookDelivery` per active subscription to the event's survey (or to all
surveys). The worker delivers them as it sends e-mail (an outbox, the same pattern as
``app.services.mail``): it claims due deliveries in a short transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), POSTs each with no transaction open, and records each outcome in
its own transaction: ``sent`` (2xx), ``failed`` for good (a 3xx, since redirects are not
followed, or a 4xx other than 408 and 429), or queued again 1, 2, 4 ... minutes later (at
most an hour) after a 5xx, 408, 429, a time-out or a connection error, until
``QUEUE.retry.max_attempts`` attempts (:data:`app.services.outbox.MAX_ATTEMPTS`). A worker
stopped between the subscriber's answer and its record sends that delivery again once the
lease runs out, with the same ``X-Elicit-Delivery`` id.

Each request is signed: ``X-Elicit-Signature: sha256=<hex>``, the HMAC-SHA256 of
``f"{timestamp}.{body}"`` under the subscription's secret, with the Unix time in
``X-Elicit-Timestamp``; the subscriber recomputes it (README, "Webhooks").

Addresses: http(s) only, and never a loopback, private, link-local or otherwise non-public
address (the server could otherwise be made to call into its own network), unless the
``ELICIT_WEBHOOK_ALLOW_PRIVATE`` setting allows it. The check runs when a subscription is
made, and again at each delivery on the addresses the name resolves to then; the connection
goes to the address that was checked, so a name cannot resolve to a public address for the
check and a private one for the request.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import re
import secrets
import socket
import ssl
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, or_, select

from app.db import first_or_not_found, session_scope
from app.errors import InvalidInput, Message
from app.i18n import N_
from app.models import (
    RubricEvent,
    RubricVersion,
    Survey,
    WebhookDelivery,
    WebhookSubscription,
    id_of,
)
from app.services import ReadModel, audit, outbox

_log = logging.getLogger("elicit.webhooks")

#: How deliveries are claimed and tried again: as e-mail is.
QUEUE = outbox.Queue(WebhookDelivery)
#: Seconds to connect, and to wait for each part of the answer.
TIMEOUT = 10.0
#: Entries in a feed.
FEED_LIMIT = 50
MAX_URL = 2000

KIND_LABELS = {
    "published": "New version published",
    "under_review": "Under review",
    "review_closed": "Review closed",
}


# --- subscriptions --------------------------------------------------------------------------


class Subscription(ReadModel):
    """A webhook subscription as admins see it (never its secret)."""

    id: int
    url: str
    survey: str | None
    active: bool
    created_by: str
    created_at: datetime


class CreatedSubscription(Subscription):
    """A subscription just made, with the signing secret: shown this once, never again."""

    secret: str


def queue_deliveries(session: Session, event: RubricEvent) -> int:
    """Queue ``event`` for every active subscription to its survey (or to all surveys), in
    the caller's transaction; the worker delivers them. Returns how many were queued."""
    subscriptions = session.exec(
        select(WebhookSubscription).where(
            col(WebhookSubscription.active),
            or_(
                col(WebhookSubscription.survey_id).is_(None),
                col(WebhookSubscription.survey_id) == event.survey_id,
            ),
        )
    ).all()
    for subscription in subscriptions:
        session.add(WebhookDelivery(subscription_id=id_of(subscription), event_id=id_of(event)))
    return len(subscriptions)


def create_subscription(
    session: Session, *, url: str, survey: str | None, actor: str, allow_private: bool
) -> CreatedSubscription:
    """Subscribe ``url`` to one survey's rubric events (or every survey's, without
    ``survey``), with a new signing secret. The address is checked here without a name
    look-up (no network wait in the transaction): callers resolve it first with
    :func:`checked_url`, before their transaction begins."""
    url = checked_url(url, allow_private=allow_private, resolve=False)
    survey_id = None
    if survey is not None and survey.strip():
        survey = survey.strip()
        survey_id = id_of(_survey(session, survey))
    else:
        survey = None
    row = WebhookSubscription(
        url=url, secret=secrets.token_urlsafe(32), survey_id=survey_id, created_by=actor[:320]
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "webhook.created", "webhook", id_of(row), url=url, survey=survey or "all"
    )
    return CreatedSubscription(**_shown(row, survey).model_dump(), secret=row.secret)


def list_subscriptions(session: Session) -> list[Subscription]:
    """Every subscription, newest first."""
    rows = session.exec(
        select(WebhookSubscription, Survey.slug)
        .outerjoin(Survey, col(Survey.id) == col(WebhookSubscription.survey_id))
        .order_by(col(WebhookSubscription.id).desc())
    ).all()
    return [_shown(row, slug) for row, slug in rows]


#: Why a delivery still queued was not sent.
WITHDRAWN = "not sent: the subscription was deactivated"


def deactivate_subscription(session: Session, *, subscription_id: int, actor: str) -> Subscription:
    """Stop telling a subscriber: nothing more is queued for it, and what is queued and not
    yet claimed is not sent. Deactivating one already inactive changes nothing."""
    row = _locked_subscription(session, subscription_id)
    if row.active:
        row.active = False
        session.add(row)
        unsent = select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.status == "queued"
        )
        for delivery in session.exec(unsent.with_for_update()).all():
            delivery.status, delivery.last_error = "failed", WITHDRAWN
            session.add(delivery)
        audit.record(session, actor, "webhook.deactivated", "webhook", subscription_id)
    return _shown(row, _slug_of(session, row.survey_id))


def delete_subscription(session: Session, *, subscription_id: int, actor: str) -> None:
    """Delete a subscription with its deliveries (their log goes with it)."""
    row = _locked_subscription(session, subscription_id)
    session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == row.id))
    session.delete(row)
    session.flush()
    audit.record(session, actor, "webhook.deleted", "webhook", subscription_id, url=row.url)


def _locked_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    return first_or_not_found(
        session,
        select(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
        .with_for_update(),
        Message(N_("no webhook subscription %(id)s"), {"id": subscription_id}),
    )


def _survey(session: Session, slug: str) -> Survey:
    return first_or_not_found(
        session,
        select(Survey).where(Survey.slug == slug),
        Message(
            N_("no survey %(slug)s; leave the survey out to subscribe to every survey"),
            {"slug": repr(slug)},
        ),
        field="survey",
    )


def _slug_of(session: Session, survey_id: int | None) -> str | None:
    if survey_id is None:
        return None
    survey = session.get(Survey, survey_id)
    return survey.slug if survey else None


def _shown(row: WebhookSubscription, slug: str | None) -> Subscription:
    return Subscription(
        id=id_of(row),
        url=row.url,
        survey=slug,
        active=row.active,
        created_by=row.created_by,
        created_at=row.created_at,
    )


# --- addresses --------------------------------------------------------------------------


class RefusedAddress(Exception):
    """The address is one a webhook may not be sent to."""


def checked_url(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """``url`` if a webhook may be sent there: http(s), a host, no user or password in it,
    and (unless ``allow_private``) no address that is not public. With ``resolve`` the
    host's name is looked up, a network wait: call it with no transaction open."""
    url = (url or "").strip()
    field = "url"
    if not url or len(url) > MAX_URL:
        raise InvalidInput(
            N_("give the subscriber's http(s) address (at most %(most)s characters)"),
            field=field,
            values={"most": MAX_URL},
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError as exc:
        raise InvalidInput(
            N_("not a valid address: %(problem)s"), field=field, values={"problem": str(exc)}
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            N_("the address must start with https:// or http:// and name a host"), field=field
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            N_("the address must not carry a user or password: requests are signed instead"),
            field=field,
        )
    if _UNPRINTABLE.search(url):
        raise InvalidInput(
            N_("the address must not contain spaces or control characters"), field=field
        )
    if parts.fragment:
        raise InvalidInput(N_("the address must not have a #fragment"), field=field)
    if not allow_private:
        try:
            _refuse_private(parts.hostname, resolve=resolve)
        except RefusedAddress as exc:
            raise InvalidInput(
                N_(
                    "%(problem)s; webhooks go to public addresses only "
                    "(ELICIT_WEBHOOK_ALLOW_PRIVATE)"
                ),
                field=field,
                values={"problem": exc.args[0]},
            ) from None
    return url


_UNPRINTABLE = re.compile(r"[\s\x00-\x1f\x7f]")
_LOCAL_NAMES = re.compile(r"(^|\.)(localhost|local|internal|localdomain|home\.arpa)\.?$", re.I)


def _refuse_private(host: str, *, resolve: bool) -> None:
    """Raise RefusedAddress when ``host`` is, or resolves to, an address that is not public.
    A name that does not resolve now passes (it is checked again at each delivery)."""
    literal = _ip(host)
    if literal is not None:
        _check_ip(literal, host)
        return
    if _LOCAL_NAMES.search(host):
        raise RefusedAddress(Message(N_("%(host)s is a local name"), {"host": host}))
    if resolve:
        try:
            found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        for *_, address in found:
            ip = _ip(str(address[0]))
            if ip is not None:
                _check_ip(ip, host)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _check_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> None:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            _check_ip(embedded, host)
    if not ip.is_global or ip.is_multicast:
        shown = host if host == str(ip) else f"{host} ({ip})"
        raise RefusedAddress(Message(N_("%(host)s is not a public address"), {"host": shown}))


# --- sending one request ------------------------------------------------------------------


class PermanentFailure(Exception):
    """Sending again would not help: the address is refused, or the subscriber said no."""


class RetryLater(Exception):
    """The subscriber or the network failed for now: try again later."""


@dataclass(frozen=True)
class Answer:
    """The subscriber's answer to one delivery."""

    status: int
    reason: str


def _connect(addresses: list[str], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first of ``addresses`` (checked beforehand) that answers."""
    failure: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            failure = exc
    raise failure


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """Connects to addresses checked beforehand, whatever the name resolves to by then."""

    def __init__(self, host: str, port: int, *, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """As above, over TLS: the certificate is checked against the name, not the address."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: list[str],
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._addresses = addresses
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _connection(url: str, *, allow_private: bool, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        if not allow_private:
            _refuse_private(host, resolve=False)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except RefusedAddress as exc:
        raise PermanentFailure(f"refused: {exc}") from None
    except (OSError, UnicodeError) as exc:
        raise RetryLater(f"{host} cannot be resolved: {exc}") from None
    addresses = list(dict.fromkeys(str(address[0]) for *_, address in found))
    if not allow_private:
        try:
            for text in addresses:
                ip = _ip(text)
                if ip is not None:
                    _check_ip(ip, host)
        except RefusedAddress as exc:
            raise PermanentFailure(f"refused: {exc}") from None
    if https:
        return _CheckedHTTPSConnection(
            host, port, addresses=addresses, timeout=timeout, context=ssl.create_default_context()
        )
    return _CheckedHTTPConnection(host, port, addresses=addresses, timeout=timeout)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout: float = TIMEOUT,
) -> Answer:
    """POST ``body`` to ``url``; redirects are not followed. Raises PermanentFailure or
    RetryLater unless the subscriber answered 2xx."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _connection(url, allow_private=allow_private, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        status, reason = response.status, response.reason
        text = response.read(2000).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        raise RetryLater(f"no answer from {parts.hostname}: {exc!r}") from None
    finally:
        connection.close()
    said = f"HTTP {status} {reason}".strip() + (f": {text.strip()[:300]}" if text.strip() else "")
    if 200 <= status < 300:
        return Answer(status, reason)
    if 300 <= status < 400:
        raise _Refused(status, f"{said} (redirects are not followed: update the address)")
    if status >= 500 or status in (408, 429):
        raise _Later(status, said)
    raise _Refused(status, said)


class _Refused(PermanentFailure):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Later(RetryLater):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


# --- the worker's side ----------------------------------------------------------------------


#: What one pass of :func:`deliver_due` did.
Delivered = outbox.Delivery


@dataclass(frozen=True)
class _Outgoing:
    delivery_id: int
    url: str
    secret: str
    kind: str
    body: bytes


def deliver_due(
    engine: Engine,
    *,
    base_url: str,
    allow_private: bool,
    batch: outbox.Batch = outbox.Batch(),
    timeout: float = TIMEOUT,
) -> Delivered:
    """POST what is due now, each outcome recorded at once. Safe to run in many workers."""
    return outbox.deliver_due(
        engine,
        QUEUE,
        ready=lambda claimed: _outgoing(engine, claimed, base_url=base_url),
        send=lambda out: _send(out, allow_private=allow_private, timeout=timeout),
        batch=batch,
    )


def _send(out: _Outgoing, *, allow_private: bool, timeout: float) -> outbox.Attempt:
    """POST one delivery, signed: sent, refused for good, or to be tried again, with the
    subscriber's HTTP status when it answered."""
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "elicit-webhooks",
        "X-Elicit-Event": out.kind,
        "X-Elicit-Delivery": str(out.delivery_id),
        "X-Elicit-Timestamp": str(stamp),
        "X-Elicit-Signature": signature(out.secret, stamp, out.body),
    }
    try:
        answer = post(out.url, out.body, headers, allow_private=allow_private, timeout=timeout)
    except PermanentFailure as exc:
        return outbox.Attempt("failed", str(exc), exc.status if isinstance(exc, _Refused) else None)
    except RetryLater as exc:
        return outbox.Attempt("retry", str(exc), exc.status if isinstance(exc, _Later) else None)
    return outbox.Attempt("sent", "", answer.status)


class EventBody(TypedDict):
    """The JSON body of a webhook: one rubric event."""

    id: int
    kind: str
    survey: str
    version: int
    title: str
    summary: str
    url: str
    created_at: str


def payload(event: RubricEvent, *, slug: str, number: int, base_url: str) -> EventBody:
    """What a webhook tells of one event (its JSON body)."""
    return {
        "id": id_of(event),
        "kind": event.kind,
        "survey": slug,
        "version": number,
        "title": event.title,
        "summary": event.summary,
        "url": version_url(base_url, slug, number),
        "created_at": _rfc3339(event.created_at),
    }


def _outgoing(
    engine: Engine, claimed: list[tuple[int, datetime]], *, base_url: str
) -> list[outbox.Claimed[_Outgoing]]:
    """The claimed deliveries, read in one query, ready to send."""
    if not claimed:
        return []
    leases = dict(claimed)
    with session_scope(engine, read_only=True) as session:
        rows = session.exec(
            select(WebhookDelivery, WebhookSubscription, RubricEvent)
            .join(
                WebhookSubscription,
                col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id),
            )
            .join(RubricEvent, col(RubricEvent.id) == col(WebhookDelivery.event_id))
            .where(col(WebhookDelivery.id).in_(list(leases)))
            .order_by(col(WebhookDelivery.id))
        ).all()
        where = _event_versions(session, [event for _, _, event in rows])
        out = []
        for delivery, subscription, event in rows:
            slug, number = where[id_of(event)]
            body = payload(event, slug=slug, number=number, base_url=base_url)
            request = _Outgoing(
                delivery_id=id_of(delivery),
                url=subscription.url,
                secret=subscription.secret,
                kind=event.kind,
                body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
            )
            out.append(outbox.Claimed(id_of(delivery), leases[id_of(delivery)], request))
    return out


# --- what admins see ------------------------------------------------------------------------


class DeliveryShown(ReadModel):
    """One delivery of an event to a subscriber: its state and the subscriber's answer."""

    id: int
    subscription_id: int
    url: str
    event_id: int
    kind: str
    survey: str
    version: int
    title: str
    status: str
    attempts: int
    response_status: int | None
    last_error: str
    next_attempt_at: datetime
    sent_at: datetime | None


def list_deliveries(
    session: Session, *, subscription_id: int | None = None, limit: int = 100
) -> list[DeliveryShown]:
    """The newest deliveries (of one subscription if given), newest first."""
    query = (
        select(WebhookDelivery, WebhookSubscription.url, RubricEvent)
        .join(
            WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id)
        )
        .join(RubricEvent, col(RubricEvent.id) == col(WebhookDelivery.event_id))
        .order_by(col(WebhookDelivery.id).desc())
        .limit(limit)
    )
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    rows = session.exec(query).all()
    where = _event_versions(session, [event for _, _, event in rows])
    return [
        DeliveryShown.of(
            d,
            url=url,
            kind=event.kind,
            survey=where[id_of(event)][0],
            version=where[id_of(event)][1],
            title=event.title,
        )
        for d, url, event in rows
    ]


def _event_versions(session: Session, events: list[RubricEvent]) -> dict[int, tuple[str, int]]:
    """Per event id, the survey's slug and the version's number."""
    if not events:
        return {}
    rows = session.exec(
        select(RubricEvent.id, Survey.slug, RubricVersion.number)
        .join(Survey, col(Survey.id) == col(RubricEvent.survey_id))
        .join(RubricVersion, col(RubricVersion.id) == col(RubricEvent.rubric_version_id))
        .where(col(RubricEvent.id).in_({id_of(e) for e in events}))
    ).all()
    return {event_id: (slug, number) for event_id, slug, number in rows if event_id is not None}


# --- the Atom feeds (RFC 4287) ------------------------------------------------------------

ATOM = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml"
# XML 1.0 cannot carry these at all, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def version_url(base_url: str, slug: str, number: int) -> str:
    return f"{base_url}/rubrics/{slug}/v{number}"


def feed_url(base_url: str, slug: str | None) -> str:
    return f"{base_url}/rubrics/{slug}/feed.atom" if slug else f"{base_url}/rubrics/feed.atom"


def atom_feed(
    session: Session, *, slug: str | None, base_url: str, limit: int = FEED_LIMIT
) -> bytes:
    """The newest rubric events (of one survey, or of all) as an Atom feed document.

    A survey that exists but has published nothing yet has an empty feed, so subscribing
    before the first version works; an unknown survey is NotFound."""
    query = (
        select(RubricEvent, Survey.slug, RubricVersion.number)
        .join(Survey, col(Survey.id) == col(RubricEvent.survey_id))
        .join(RubricVersion, col(RubricVersion.id) == col(RubricEvent.rubric_version_id))
        .order_by(col(RubricEvent.created_at).desc(), col(RubricEvent.id).desc())
        .limit(limit)
    )
    title, alternate, since = "Published rubrics: new versions and reviews", "/rubrics/", None
    if slug is not None:
        survey = first_or_not_found(
            session,
            select(Survey).where(Survey.slug == slug),
            Message(N_("no survey %(slug)s"), {"slug": repr(slug)}),
        )
        query = query.where(RubricEvent.survey_id == survey.id)
        title = f"{_survey_title(session, survey)}: new rubric versions and reviews"
        alternate, since = f"/rubrics/{slug}/", survey.created_at
    rows = session.exec(query).all()
    self_url = feed_url(base_url, slug)
    feed = _element("feed")
    _text(feed, "id", _urn(self_url))
    _text(feed, "title", title)
    newest = rows[0][0].created_at if rows else since or datetime(2000, 1, 1, tzinfo=UTC)
    _text(feed, "updated", _rfc3339(newest))
    _link(feed, "self", self_url, ATOM_MEDIA_TYPE)
    _link(feed, "alternate", base_url + alternate, "text/html")
    author = ET.SubElement(feed, "author")
    _text(author, "name", "elicit")
    _text(author, "uri", base_url + "/rubrics/")
    _text(feed, "generator", "elicit")
    for event, event_slug, number in rows:
        entry = ET.SubElement(feed, "entry")
        _text(entry, "id", _urn(f"{base_url}/rubrics/events/{id_of(event)}"))
        _text(entry, "title", event.title)
        _text(entry, "updated", _rfc3339(event.created_at))
        _text(entry, "published", _rfc3339(event.created_at))
        _link(entry, "alternate", version_url(base_url, event_slug, number), "text/html")
        category = ET.SubElement(entry, "category")
        category.set("term", event.kind)
        category.set("label", KIND_LABELS.get(event.kind, event.kind))
        _text(entry, "summary", event.summary)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def _survey_title(session: Session, survey: Survey) -> str:
    newest = session.exec(
        select(RubricVersion)
        .where(RubricVersion.survey_id == survey.id)
        .order_by(col(RubricVersion.number).desc())
        .limit(1)
    ).first()
    return str(newest.record["survey"]["title"]) if newest is not None else survey.slug


def _element(name: str) -> ET.Element:
    # Plain names under a default namespace declared on the root (ElementTree's own
    # default_namespace option refuses plain attribute names such as rel and href).
    return ET.Element(name, {"xmlns": ATOM})


def _text(parent: ET.Element, name: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, name)
    child.text = _NOT_XML.sub("\ufffd", text)
    return child


def _link(parent: ET.Element, rel: str, href: str, media_type: str) -> None:
    link = ET.SubElement(parent, "link")
    link.set("rel", rel)
    link.set("type", media_type)
    link.set("href", href)


def _urn(url: str) -> str:
    """A stable, globally unique id for an address (RFC 4122 name-based UUID)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, url).urn


def _rfc3339(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
