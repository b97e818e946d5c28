// The storefront in headless Chromium (Debian's, driven by playwright-core over the DevTools
// protocol) against a live `topten serve --static site/`: the page shows a shopper's 10
// products with titles, categories and explanations; a click reaches the API with its
// recommendationId and the list visibly changes; the category filter and the product page
// work. Saves a 1280x900 screenshot as a test artefact ($ARTEFACTS_DIR, default
// target/test-artefacts).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { publishSample, startServer, cleanup } from "../../typescript/test/server.mjs";

const site = new URL("../site/", import.meta.url).pathname;
const repo = new URL("../../../", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const artefacts = process.env.ARTEFACTS_DIR ?? join(repo, "target/test-artefacts");
let sample, server, browser;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM`);
  sample = publishSample();
  server = await startServer({ store: sample.store, args: ["--static", site] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (sample) cleanup(sample.dir);
});

async function openPage(query) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
  await page.goto(`${server.baseUrl}/${query}`);
  await page.waitForFunction(() => document.querySelectorAll("#list li").length > 0, null, { timeout: 15_000 });
  return { page, errors };
}

const listed = (page) => page.$$eval("#list li", (lis) => lis.map((li) => ({
  id: li.dataset.itemId,
  title: li.querySelector(".title")?.textContent ?? "",
  cats: li.querySelector(".cats")?.textContent ?? "",
  because: li.querySelector(".because")?.textContent ?? "",
})));

test("the page is served at / beside the API, and a missing file is the API's JSON 404", async () => {
  const index = await fetch(`${server.baseUrl}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get("content-type"), /text\/html/);
  assert.match(await index.text(), /topten storefront/);
  const missing = await fetch(`${server.baseUrl}/no-such-file.js`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, "not_found");
  assert.equal((await fetch(`${server.baseUrl}/api/health`)).status, 200);
});

test("a shopper's 10 products; a click is sent with its answer and the list refreshes", async () => {
  const { page, errors } = await openPage("?user=u0");
  const before = await listed(page);
  assert.equal(before.length, 10);
  for (const p of before) {
    assert.ok(p.title.startsWith("Item "), p.title);
    assert.ok(p.cats.length > 0, `no categories on ${p.id}`);
  }
  assert.ok(before.some((p) => p.because.startsWith("Because you liked")));
  const ids = before.map((p) => p.id).join(",");

  const target = before[0].id;
  await page.click(`#list li[data-item-id="${target}"]`);
  await page.waitForFunction(() => document.body.dataset.lastEvent, null, { timeout: 15_000 });
  await page.waitForFunction((old) => document.querySelector("#list").dataset.ids !== old, ids, { timeout: 15_000 });
  const lastEvent = JSON.parse(await page.evaluate(() => document.body.dataset.lastEvent));
  assert.deepEqual(lastEvent, { itemId: target, attributed: 1 });
  const after = await listed(page);
  assert.equal(after.length, 10);
  assert.ok(!after.some((p) => p.id === target), "the clicked item is still listed");
  assert.ok(await page.$$eval("#list li.fresh", (l) => l.length) > 0, "no item marked new");

  // The product page with its similar items.
  assert.equal(await page.isVisible("#product"), true);
  assert.ok(await page.$$eval("#similar li", (l) => l.length) > 0);

  // What the server holds: the impression of the first list and the click, both credited.
  const data = await (await fetch(`${server.baseUrl}/api/users/u0/data`)).json();
  const click = data.events.find((e) => e.type === "click" && e.itemId === target);
  assert.ok(click, "the click did not arrive");
  assert.match(click.recommendationId ?? "", /^r2:/);
  assert.ok(data.events.some((e) => e.type === "impression" && e.itemIds?.includes(target)));

  mkdirSync(artefacts, { recursive: true });
  await page.screenshot({ path: join(artefacts, "storefront.png") });
  assert.deepEqual(errors, []);
  await page.close();
});

test("the category filter keeps the list to that category", async () => {
  const { page, errors } = await openPage("?user=u1");
  await page.selectOption("#category", "Comedy");
  await page.waitForFunction(() => document.querySelector("#picks-title").textContent.includes("in Comedy"), null, { timeout: 15_000 });
  const shown = await listed(page);
  assert.ok(shown.length > 0);
  for (const p of shown) assert.match(p.cats, /Comedy/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("an API error is shown on the page, not thrown away", async () => {
  const page = await browser.newPage();
  await page.goto(`${server.baseUrl}/?user=${"x".repeat(200)}`);
  await page.waitForFunction(() => document.querySelector("#status").classList.contains("error"), null, { timeout: 15_000 });
  assert.match(await page.textContent("#status"), /invalid_user_id/);
  await page.close();
});
