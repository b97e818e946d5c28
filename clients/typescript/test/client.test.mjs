// The client against a live `topten serve` (test/server.mjs): every method, the error codes,
// retries, and the generated types against the server's own OpenAPI document.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { Topten, ToptenError, parseRetryAfter } from "../dist/index.js";
import { generate } from "../scripts/gen-types.mjs";
import { execFileSync } from "node:child_process";
import { publishSample, startServer, cleanup, TOPTEN } from "./server.mjs";

const KEY = "client-test-key-0123456789";
let sample, server, keyed, client;

/** What each user rated (their whole history), from the sample's ratings. */
function history(dir) {
  const has = new Map();
  for (const line of readFileSync(join(dir, "ratings.tsv"), "utf8").trim().split("\n")) {
    const [u, i] = line.split("\t");
    if (!has.has(u)) has.set(u, new Set());
    has.get(u).add(i);
  }
  return has;
}

before(async () => {
  sample = publishSample();
  server = await startServer({ store: sample.store });
  client = new Topten({ baseUrl: server.baseUrl });
});

after(async () => {
  await server?.stop();
  await keyed?.stop();
  if (sample) cleanup(sample.dir);
});

test("the committed types are those of the live server's OpenAPI document", async () => {
  const doc = await client.openapi();
  const committed = readFileSync(new URL("../src/types.ts", import.meta.url), "utf8");
  assert.equal(generate(doc), committed, "src/types.ts is stale: run `npm run gen-types -- URL/api/openapi.json`");
});

test("the storefront's copy of the client is this build", () => {
  const built = readFileSync(new URL("../dist/index.js", import.meta.url), "utf8");
  const copy = readFileSync(new URL("../../storefront/site/topten-client.js", import.meta.url), "utf8");
  assert.equal(copy, built, "clients/storefront/site/topten-client.js is stale: run `npm run build`");
});

test("recommendations: k signed items, none the user has, filters and explanations", async () => {
  const has = history(sample.dir);
  for (const user of ["u0", "u1", "u2", "u45"]) {
    const answer = await client.recommendations(user, { k: 10 });
    assert.equal(answer.userId, user);
    assert.equal(answer.source, "personalized");
    assert.equal(answer.items.length, 10);
    assert.match(answer.recommendationId, /^r2:/);
    for (const item of answer.items) assert.ok(!has.get(user).has(item.itemId), `${user} already has ${item.itemId}`);
  }
  const comedies = await client.recommendations("u1", { k: 5, category: "Comedy" });
  assert.ok(comedies.items.length > 0);
  for (const item of comedies.items) assert.match(item.title, /\(Comedy\)$/);
  const notHorror = await client.recommendations("u2", { k: 10, excludeCategory: ["Horror", "Drama"] });
  for (const item of notHorror.items) assert.match(item.title, /\(Comedy\)$/);
  const first = (await client.recommendations("u0", { k: 3 })).items.map((i) => i.itemId);
  const without = await client.recommendations("u0", { k: 3, exclude: [first[0]] });
  assert.ok(!without.items.some((i) => i.itemId === first[0]));
  const filtered = await client.recommendations("u0", { k: 5, filter: "itemId != $skip", params: { skip: first[1] } });
  assert.ok(!filtered.items.some((i) => i.itemId === first[1]));
  const explained = await client.recommendations("u0", { k: 2, explain: true });
  assert.ok(Array.isArray(explained.items[0].because) && explained.items[0].because.length > 0);
  const stranger = await client.recommendations("someone new", { k: 4 });
  assert.equal(stranger.source, "popular");
  assert.equal(stranger.userId, "someone new");
});

test("similar, trending and rank", async () => {
  const similar = await client.similar("i0", { k: 5 });
  assert.equal(similar.itemId, "i0");
  assert.equal(similar.items.length, 5);
  assert.ok(!similar.items.some((i) => i.itemId === "i0"));
  const dramas = await client.similar("i0", { k: 3, category: "Drama" });
  for (const item of dramas.items) assert.match(item.title, /\(Drama\)$/);
  const trending = await client.trending({ k: 5, window: "7d" });
  assert.ok(Array.isArray(trending.items));
  const ranked = await client.rank("u0", ["i1", "i0", "i3", "nope"]);
  assert.deepEqual(ranked.items.map((i) => i.itemId).sort(), ["i0", "i1", "i3", "nope"]);
  assert.equal(ranked.items.find((i) => i.itemId === "nope").score, null);
});

test("events: a click on an answer is credited to it; an impression and a retried send store once", async () => {
  const answer = await client.recommendations("u3", { k: 10 });
  const shown = await client.events.shown("u3", answer);
  assert.equal(shown.accepted, 1);
  const clicked = await client.events.clicked("u3", answer.items[2].itemId, answer);
  assert.equal(clicked.accepted, 1);
  assert.equal(clicked.attributed, 1);
  assert.deepEqual(clicked.unattributedIds, {});
  assert.deepEqual(clicked.refreshed, ["u3"]);
  const after = await client.recommendations("u3", { k: 10 });
  assert.notDeepEqual(after.items.map((i) => i.itemId), answer.items.map((i) => i.itemId));
  // The first attempt reaches the server and then the connection "drops": the retry carries
  // the same eventId, so the event is stored once.
  let calls = 0;
  const flaky = new Topten({
    baseUrl: server.baseUrl,
    fetch: async (url, init) => {
      const res = await fetch(url, init);
      if (++calls === 1) throw new TypeError("connection reset");
      return res;
    },
  });
  const sent = await flaky.events.send([{ type: "view", userId: "u4", itemId: "i7" }]);
  assert.equal(calls, 2);
  assert.equal(sent.duplicates, 1);
  assert.equal(sent.stored, 0);
});

test("errors carry the API's stable codes", async () => {
  await assert.rejects(client.recommendations("u0", { k: 1000 }), (e) => e instanceof ToptenError && e.code === "invalid_k" && e.status === 400 && !!e.requestId);
  await assert.rejects(client.items.get("no-such-item"), (e) => e.code === "item_not_found" && e.status === 404);
  await assert.rejects(client.recommendations("u0", { filter: "price <" }), (e) => e.code === "invalid_filter");
  await assert.rejects(client.events.send([{ type: "rating", userId: "u0", itemId: "i1" }]), (e) => e.code === "invalid_events");
  const nowhere = new Topten({ baseUrl: "http://127.0.0.1:9", retries: 0 });
  await assert.rejects(nowhere.health(), (e) => e.code === "network_error" && e.status === 0);
});

test("the catalogue: get with its ETag, conditional put, post, delete", async () => {
  const { item, etag } = await client.items.get("i4");
  assert.equal(item.itemId, "i4");
  assert.deepEqual(item.categories, ["Drama"]);
  assert.ok(etag);
  const changed = await client.items.put("i4", { title: "Renamed" }, { ifMatch: etag });
  assert.equal(changed.item.title, "Renamed");
  assert.notEqual(changed.etag, etag);
  await assert.rejects(client.items.put("i4", { title: "Stale" }, { ifMatch: etag }), (e) => e.code === "precondition_failed" && e.status === 412);
  const posted = await client.items.post([{ itemId: "fresh-1", title: "Fresh", categories: ["Comedy"] }, { itemId: "i6", available: false }]);
  assert.deepEqual(posted.items.map((i) => i.itemId), ["fresh-1", "i6"]);
  const gone = await client.items.delete("fresh-1");
  assert.equal(gone.item.withdrawn, true);
  await assert.rejects(client.items.get("fresh-1"), (e) => e.code === "item_not_found");
});

test("users: data, merge and erasure", async () => {
  await client.events.send([{ type: "click", userId: "session-9", itemId: "i9" }]);
  const merged = await client.users.merge("u9", "session-9");
  assert.equal(merged.moved, 1);
  const data = await client.users.data("u9");
  assert.equal(data.userId, "u9");
  assert.ok(data.events.some((e) => e.itemId === "i9"));
  const forgotten = await client.users.delete("u9");
  assert.equal(forgotten.userId, "u9");
  assert.ok(forgotten.events >= 1);
});

test("the key: admin calls with it, unauthorized without", async () => {
  keyed = await startServer({ store: sample.store, env: { TOPTEN_API_KEY: KEY } });
  const admin = new Topten({ baseUrl: keyed.baseUrl, apiKey: KEY });
  const stats = await admin.admin.stats({ hours: 2 });
  assert.equal(stats.hours, 2);
  assert.match(await admin.admin.metrics(), /topten_http_requests_total/);
  const health = await admin.health();
  assert.equal(health.status, "ok");
  const anonymous = new Topten({ baseUrl: keyed.baseUrl });
  await assert.rejects(anonymous.admin.stats(), (e) => e.code === "unauthorized" && e.status === 401);
});

test("429 and 503 are retried, honouring Retry-After; the last one is thrown with its code", async () => {
  const answers = [
    [429, { "retry-after": "0" }, { error: { code: "store_unavailable", message: "busy" } }],
    [503, {}, { error: { code: "store_unavailable", message: "busy" } }],
    [200, {}, { status: "ok" }],
  ];
  let n = 0;
  const stand = createServer((req, res) => {
    const [status, headers, body] = answers[Math.min(n++, answers.length - 1)];
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  });
  await new Promise((r) => stand.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${stand.address().port}`;
  try {
    const t0 = Date.now();
    assert.deepEqual(await new Topten({ baseUrl: base, retries: 2 }).openapi(), { status: "ok" });
    assert.equal(n, 3);
    assert.ok(Date.now() - t0 < 5000);
    n = 0;
    await assert.rejects(new Topten({ baseUrl: base, retries: 0 }).openapi(), (e) => e.code === "store_unavailable" && e.status === 429 && e.retryAfterMs === 0);
  } finally {
    stand.close();
  }
  assert.equal(parseRetryAfter("2"), 2000);
  assert.equal(parseRetryAfter("120"), 30000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 60_000).toUTCString()), 30000);
  assert.equal(parseRetryAfter("soon"), null);
});

test("a server with nothing published answers no_active_version with its Retry-After", async () => {
  const store = `embedded:${join(sample.dir, "empty.db")}`;
  execFileSync(TOPTEN, ["versions", "--store", store, "--create"], { stdio: "ignore" });
  const empty = await startServer({ store, healthy: false });
  try {
    const c = new Topten({ baseUrl: empty.baseUrl, retries: 0 });
    await assert.rejects(c.recommendations("u0"), (e) => e.code === "no_active_version" && e.status === 503 && e.retryAfterMs > 0);
    const health = await c.health();
    assert.equal(health.status, "unavailable");
    assert.equal(health.reason, "no_active_version");
  } finally {
    await empty.stop();
  }
});
