"""The Atom feeds of rubric events (RFC 4287): read back with ElementTree in the Atom
namespace, element by element, and with feedparser, an independent feed reader."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

import feedparser
import pytest

from app.models import RubricEvent, Survey, id_of
from app.services import reviews, webhooks
from tests import test_webhooks
from tests.factories import make_round
from tests.test_webhooks import BASE_URL, deliver, observe, publish_small, subscribe, verified

#: The webhook subscriber (a fixture).
receiver = test_webhooks.receiver

A = "{http://www.w3.org/2005/Atom}"
BASE = "http://testserver"  # the test app's BASE_URL
TRICKY = "Companies <b>refuse</b> access & say \"no\" to 'voluntary' sharing"


def _feed(client, path: str) -> ET.Element:
    reply = client.get(path)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/atom+xml"
    assert reply.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(reply.content)
    assert root.tag == f"{A}feed"
    return root


def _required(element: ET.Element, name: str) -> str:
    found = element.findall(f"{A}{name}")
    assert len(found) == 1, f"{element.tag} needs exactly one {name}"
    return found[0].text or ""


def _rfc3339(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _links(element: ET.Element) -> dict[str, ET.Element]:
    return {link.get("rel", "alternate"): link for link in element.findall(f"{A}link")}


def test_feed_lists_publication_review_and_closing_newest_first(session, client):
    publish_small(session)
    review_id = observe(session, TRICKY)
    reviews.close_review(
        session, review_id=review_id, actor="admin@example.org", resolution="Access <restored> & ok"
    )
    session.commit()

    feed = _feed(client, "/rubrics/small/feed.atom")
    assert _required(feed, "id").startswith("urn:uuid:")
    assert _required(feed, "title") == "A small survey: new rubric versions and reviews"
    links = _links(feed)
    assert links["self"].get("href") == f"{BASE}/rubrics/small/feed.atom"
    assert links["self"].get("type") == "application/atom+xml"
    assert links["alternate"].get("href") == f"{BASE}/rubrics/small/"
    assert feed.find(f"{A}author/{A}name").text == "elicit"  # type: ignore[union-attr]

    entries = feed.findall(f"{A}entry")
    kinds = [e.find(f"{A}category").get("term") for e in entries]  # type: ignore[union-attr]
    assert kinds == ["review_closed", "under_review", "published"]
    updated = [_rfc3339(_required(e, "updated")) for e in entries]
    assert updated == sorted(updated, reverse=True)
    assert _rfc3339(_required(feed, "updated")) == updated[0]
    ids = [_required(e, "id") for e in entries]
    assert len(set(ids)) == 3 and all(i.startswith("urn:uuid:") for i in ids)
    for entry in entries:
        link = _links(entry)["alternate"]
        assert link.get("href") == f"{BASE}/rubrics/small/v1" and link.get("type") == "text/html"
        assert _required(entry, "summary") and _required(entry, "title")
    closed, opened, published = entries
    assert _required(published, "title") == "A small survey: rubric version 1 published"
    assert _required(opened, "title") == "A small survey v1 is under review"
    # The reason, exactly as staff typed it: markup and quotes are text, escaped in the XML.
    assert TRICKY in _required(opened, "summary")
    assert _required(closed, "summary") == "Review closed by staff: Access <restored> & ok"
    assert opened.find(f"{A}category").get("label") == "Under review"  # type: ignore[union-attr]

    raw = client.get("/rubrics/small/feed.atom").content
    assert b"<b>" not in raw and b"&lt;b&gt;refuse&lt;/b&gt; access &amp; say" in raw
    # Stable: the same entry has the same id on every fetch.
    again = _feed(client, "/rubrics/small/feed.atom").findall(f"{A}entry")
    assert [_required(e, "id") for e in again] == ids


def test_an_independent_reader_understands_the_feed(session, client):
    publish_small(session)
    observe(session, TRICKY)
    parsed = feedparser.parse(client.get("/rubrics/small/feed.atom").content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "A small survey: new rubric versions and reviews"
    first = parsed.entries[0]
    assert first.title == "A small survey v1 is under review"
    assert first.link == f"{BASE}/rubrics/small/v1"
    assert [t.term for t in first.tags] == ["under_review"]
    assert TRICKY in first.summary
    assert first.updated_parsed is not None and first.id.startswith("urn:uuid:")


def test_the_feed_of_every_survey_and_of_one_not_yet_published(session, client):
    publish_small(session)
    everything = _feed(client, "/rubrics/feed.atom")
    assert _links(everything)["self"].get("href") == f"{BASE}/rubrics/feed.atom"
    (entry,) = everything.findall(f"{A}entry")
    assert _links(entry)["alternate"].get("href") == f"{BASE}/rubrics/small/v1"
    one = _feed(client, "/rubrics/small/feed.atom")
    assert _required(everything, "id") != _required(one, "id")

    # A survey loaded but not yet published: a valid, empty feed one can subscribe to.
    other = Survey(slug="later")
    session.add(other)
    session.commit()
    empty = _feed(client, "/rubrics/later/feed.atom")
    assert empty.findall(f"{A}entry") == []
    assert _required(empty, "title") == "later: new rubric versions and reviews"
    _rfc3339(_required(empty, "updated"))

    missing = client.get("/rubrics/nope/feed.atom")
    assert missing.status_code == 404 and "no survey &#39;nope&#39;" in missing.text


def test_characters_xml_cannot_carry_do_not_break_the_feed(session, client):
    version = publish_small(session)
    session.add(
        RubricEvent(
            survey_id=version.survey_id,
            rubric_version_id=id_of(version),
            kind="under_review",
            title="Vertical\x0btab and form\x0cfeed",
            summary="bell\x07 and a ]]> end of CDATA",
        )
    )
    session.commit()
    entry = _feed(client, "/rubrics/small/feed.atom").findall(f"{A}entry")[0]
    assert _required(entry, "title") == "Vertical\ufffdtab and form\ufffdfeed"
    assert _required(entry, "summary") == "bell\ufffd and a ]]> end of CDATA"


def test_the_rubric_pages_point_to_their_feed(session, client):
    publish_small(session)
    alternate = '<link rel="alternate" type="application/atom+xml" title="A small survey'
    for path, feed in (
        ("/rubrics/small/v1", "/rubrics/small/feed.atom"),
        ("/rubrics/small/", "/rubrics/small/feed.atom"),
        ("/rubrics/", "/rubrics/feed.atom"),
    ):
        page = client.get(path).text
        head = page.split("</head>")[0]
        assert 'type="application/atom+xml"' in head and f'href="{feed}"' in head, path
        body = page.split("<body>")[1]
        assert f'<a href="{feed}" type="application/atom+xml">Subscribe (Atom)</a>' in body
    assert alternate in client.get("/rubrics/small/v1").text


@pytest.mark.parametrize("path", ["/rubrics/feed.atom", "/rubrics/small/feed.atom"])
def test_feeds_are_public_and_read_only(client, path, session):
    make_round(session)
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 405


def test_one_observation_tells_the_page_the_feed_and_the_webhook(session, client, engine, receiver):
    """The issue's acceptance: staff record that a factor changed and nothing else; the
    published version shows "under review" publicly with the reason, the feed has the entry
    and the subscriber gets the signed webhook."""
    publish_small(session)
    created = subscribe(session, receiver.url)
    observe(session, "Companies withdrew from voluntary access")

    page = client.get("/rubrics/small/v1").text
    assert "<strong>Under review.</strong>" in page
    assert "Companies withdrew from voluntary access" in page.split('id="status"')[1]
    (entry, _) = _feed(client, "/rubrics/small/feed.atom").findall(f"{A}entry")
    assert entry.find(f"{A}category").get("term") == "under_review"  # type: ignore[union-attr]
    assert "Companies withdrew from voluntary access" in _required(entry, "summary")

    assert deliver(engine) == webhooks.Delivered(1, 0, 0)
    body = verified(created.secret, receiver.received[0])
    assert body["summary"] == _required(entry, "summary")
    assert body["url"] == f"{BASE_URL}/rubrics/small/v1"
