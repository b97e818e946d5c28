"""The client against a live `topten serve` (conftest.py): every method, the error codes,
retries, and the models against the server's own OpenAPI document."""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from conftest import KEY, TOPTEN, Server
from topten_client import (
    AsyncClient,
    Client,
    EventsAccepted,
    Health,
    Item,
    Ranked,
    Recommendations,
    ScoredItem,
    Similar,
    Stats,
    ToptenError,
    Trending,
    UserData,
    UserDeleted,
    UserMerged,
    parse_retry_after,
)
from topten_client.models import RankedItem, StoreHealth, camel


@pytest.fixture
def client(server):
    with Client(server.base_url) as c:
        yield c


def _fields(cls) -> set[str]:
    return {f.metadata.get("json", camel(f.name)) for f in dataclasses.fields(cls)} - {"__etag"}


def test_models_match_the_live_openapi_document(client):
    doc = client.openapi()
    schemas = doc["components"]["schemas"]
    paths = doc["paths"]

    def ok(path, method):
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    def resolve(s):
        return schemas[s["$ref"].split("/")[-1]] if "$ref" in s else s

    rec = schemas["Recommendations"]
    pairs = [
        (Recommendations, rec),
        (ScoredItem, rec["properties"]["items"]["items"]),
        (Similar, schemas["Similar"]),
        (Trending, ok("/api/items/trending", "get")),
        (Ranked, ok("/api/recommendations/{userId}/rank", "post")),
        (RankedItem, ok("/api/recommendations/{userId}/rank", "post")["properties"]["items"]["items"]),
        (EventsAccepted, schemas["EventsAccepted"]),
        (Item, schemas["Item"]),
        (Health, schemas["Health"]),
        (StoreHealth, schemas["Health"]["properties"]["store"]),
        (UserDeleted, ok("/api/users/{userId}", "delete")),
        (UserData, ok("/api/users/{userId}/data", "get")),
        (UserMerged, ok("/api/users/{userId}/merge", "post")),
        (Stats, schemas["Stats"]),
    ]
    for cls, schema in pairs:
        assert _fields(cls) == set(resolve(schema)["properties"]), cls.__name__
        required = set(resolve(schema).get("required", []))
        optional = {f.metadata.get("json", camel(f.name)) for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
        assert not (required & optional), f"{cls.__name__}: a required field has a default"


def test_the_document_names_every_field_the_server_answers_with(keyed_server):
    """What the models leave out the document must not lack either: each answer's fields are
    all in its schema."""
    with Client(keyed_server.base_url, api_key=KEY) as c:
        doc = c.openapi()
        schemas = doc["components"]["schemas"]
        stats = httpx.get(f"{keyed_server.base_url}/api/admin/stats", headers={"x-functions-key": KEY}).json()
        health = httpx.get(f"{keyed_server.base_url}/api/health").json()
        recs = httpx.get(f"{keyed_server.base_url}/api/recommendations/u0?explain=true").json()
    assert set(stats) <= set(schemas["Stats"]["properties"])
    assert set(health) <= set(schemas["Health"]["properties"])
    assert set(recs) <= set(schemas["Recommendations"]["properties"])
    item_schema = schemas["Recommendations"]["properties"]["items"]["items"]["properties"]
    assert all(set(i) <= set(item_schema) for i in recs["items"])


def test_recommendations_are_signed_new_to_the_user_and_filtered(client, sample):
    for user in ["u0", "u1", "u2", "u45"]:
        answer = client.recommendations(user, k=10)
        assert answer.user_id == user and answer.source == "personalized"
        assert len(answer.items) == 10
        assert answer.recommendation_id.startswith("r2:")
        assert not {i.item_id for i in answer.items} & sample["histories"][user]
    assert all(i.title.endswith("(Comedy)") for i in client.recommendations("u1", k=5, category="Comedy").items)
    mixed = client.recommendations("u2", k=10, exclude_category=["Horror", "Drama"])
    assert mixed.items and all(i.title.endswith("(Comedy)") for i in mixed.items)
    first = [i.item_id for i in client.recommendations("u0", k=3).items]
    assert first[0] not in {i.item_id for i in client.recommendations("u0", k=3, exclude=[first[0]]).items}
    skipped = client.recommendations("u0", k=5, filter="itemId != $skip", params={"skip": first[1]})
    assert first[1] not in {i.item_id for i in skipped.items}
    explained = client.recommendations("u0", k=2, explain=True)
    assert explained.items[0].because and explained.items[0].because[0].item_id
    assert client.recommendations("someone new", k=4).source == "popular"


def test_similar_trending_and_rank(client):
    similar = client.similar("i0", k=5)
    assert similar.item_id == "i0" and len(similar.items) == 5
    assert "i0" not in {i.item_id for i in similar.items}
    assert all(i.title.endswith("(Drama)") for i in client.similar("i0", k=3, category="Drama").items)
    assert isinstance(client.trending(k=5, window="7d").items, list)
    ranked = client.rank("u0", ["i1", "i0", "i3", "nope"])
    assert sorted(i.item_id for i in ranked.items) == ["i0", "i1", "i3", "nope"]
    assert next(i for i in ranked.items if i.item_id == "nope").score is None


def test_clicks_are_credited_and_a_retried_send_stores_once(client, server):
    answer = client.recommendations("u3", k=10)
    assert client.events.shown("u3", answer).accepted == 1
    clicked = client.events.clicked("u3", answer.items[2].item_id, answer)
    assert (clicked.accepted, clicked.attributed, clicked.unattributed_ids, clicked.refreshed) == (1, 1, {}, ["u3"])
    assert [i.item_id for i in client.recommendations("u3", k=10).items] != [i.item_id for i in answer.items]

    # The first attempt reaches the server, then the connection "drops": the retry carries
    # the same eventId, so the event is stored once.
    class DropFirst(httpx.HTTPTransport):
        calls = 0

        def handle_request(self, request):
            res = super().handle_request(request)
            DropFirst.calls += 1
            if DropFirst.calls == 1:
                res.read()
                raise httpx.ReadError("connection reset", request=request)
            return res

    with Client(server.base_url, transport=DropFirst()) as flaky:
        sent = flaky.events.send([{"type": "view", "userId": "u4", "itemId": "i7"}])
    assert DropFirst.calls == 2
    assert (sent.duplicates, sent.stored) == (1, 0)


def test_errors_carry_the_stable_codes(client):
    with pytest.raises(ToptenError) as e:
        client.recommendations("u0", k=1000)
    assert (e.value.code, e.value.status) == ("invalid_k", 400) and e.value.request_id
    with pytest.raises(ToptenError, match="item_not_found"):
        client.items.get("no-such-item")
    with pytest.raises(ToptenError) as e:
        client.recommendations("u0", filter="price <")
    assert e.value.code == "invalid_filter"
    with pytest.raises(ToptenError) as e:
        client.events.send([{"type": "rating", "userId": "u0", "itemId": "i1"}])
    assert e.value.code == "invalid_events"
    with Client("http://127.0.0.1:9", retries=0) as nowhere, pytest.raises(ToptenError) as e:
        nowhere.recommendations("u0")
    assert (e.value.code, e.value.status) == ("network_error", 0)


def test_catalogue_get_conditional_put_post_delete(client):
    item = client.items.get("i4")
    assert (item.item_id, item.categories) == ("i4", ["Drama"]) and item.etag
    changed = client.items.put("i4", {"title": "Renamed"}, if_match=item.etag)
    assert changed.title == "Renamed" and changed.etag != item.etag
    with pytest.raises(ToptenError) as e:
        client.items.put("i4", {"title": "Stale"}, if_match=item.etag)
    assert (e.value.code, e.value.status) == ("precondition_failed", 412)
    posted = client.items.post([{"itemId": "fresh-1", "title": "Fresh", "categories": ["Comedy"]}, {"itemId": "i6", "available": False}])
    assert [i.item_id for i in posted] == ["fresh-1", "i6"] and posted[1].available is False
    assert client.items.delete("fresh-1").withdrawn is True
    with pytest.raises(ToptenError, match="item_not_found"):
        client.items.get("fresh-1")


def test_users_data_merge_and_erasure(client):
    client.events.send([{"type": "click", "userId": "session-9", "itemId": "i9"}])
    merged = client.users.merge("u9", "session-9")
    assert (merged.user_id, merged.from_, merged.moved) == ("u9", "session-9", 1)
    data = client.users.data("u9")
    assert data.user_id == "u9" and any(e["itemId"] == "i9" for e in data.events)
    forgotten = client.users.delete("u9")
    assert forgotten.user_id == "u9" and forgotten.events >= 1


def test_admin_calls_need_the_key(keyed_server):
    with Client(keyed_server.base_url, api_key=KEY) as admin:
        stats = admin.admin.stats(hours=2)
        assert stats.hours == 2
        assert "topten_http_requests_total" in admin.admin.metrics()
        assert admin.health().status == "ok"
    with Client(keyed_server.base_url) as anonymous, pytest.raises(ToptenError) as e:
        anonymous.admin.stats()
    assert (e.value.code, e.value.status) == ("unauthorized", 401)


def test_429_and_503_are_retried_honouring_retry_after():
    answers = [
        (429, {"retry-after": "0"}, b'{"error":{"code":"store_unavailable","message":"busy"}}'),
        (503, {}, b'{"error":{"code":"store_unavailable","message":"busy"}}'),
        (200, {}, b'{"status":"ok"}'),
    ]
    seen = []

    class Stand(BaseHTTPRequestHandler):
        def do_GET(self):
            status, headers, body = answers[min(len(seen), len(answers) - 1)]
            seen.append(self.path)
            self.send_response(status)
            for k, v in {"content-type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    stand = HTTPServer(("127.0.0.1", 0), Stand)
    threading.Thread(target=stand.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{stand.server_port}"
    try:
        t0 = time.monotonic()
        with Client(base, retries=2) as c:
            assert c.openapi() == {"status": "ok"}
        assert len(seen) == 3 and time.monotonic() - t0 < 5
        seen.clear()
        with Client(base, retries=0) as c, pytest.raises(ToptenError) as e:
            c.openapi()
        assert (e.value.code, e.value.status, e.value.retry_after) == ("store_unavailable", 429, 0.0)
    finally:
        stand.shutdown()
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("120") == 30.0
    assert parse_retry_after(formatdate(time.time() + 60, usegmt=True)) == 30.0
    assert parse_retry_after("soon") is None


def test_nothing_published_is_no_active_version_with_retry_after(sample):
    store = f"embedded:{sample['dir'] / 'empty.db'}"
    subprocess.run([TOPTEN, "versions", "--store", store, "--create"], check=True, stdout=subprocess.DEVNULL)
    empty = Server(store, healthy=False)
    try:
        with Client(empty.base_url, retries=0) as c:
            with pytest.raises(ToptenError) as e:
                c.recommendations("u0")
            assert (e.value.code, e.value.status) == ("no_active_version", 503) and e.value.retry_after > 0
            health = c.health()
            assert (health.status, health.reason) == ("unavailable", "no_active_version")
    finally:
        empty.stop()


@pytest.mark.anyio
async def test_the_async_client_does_the_same(server, sample):
    async with AsyncClient(server.base_url) as c:
        answer = await c.recommendations("u5", k=10)
        assert len(answer.items) == 10
        assert not {i.item_id for i in answer.items} & sample["histories"]["u5"]
        clicked = await c.events.clicked("u5", answer.items[0].item_id, answer)
        assert clicked.attributed == 1
        assert (await c.similar("i1", k=3)).item_id == "i1"
        assert (await c.items.get("i2")).categories == ["Horror"]
        with pytest.raises(ToptenError) as e:
            await c.recommendations("u5", k=0)
        assert e.value.code == "invalid_k"
