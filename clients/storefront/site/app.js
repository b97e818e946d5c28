// The storefront: a shopper's top 10 with titles, categories and "because" explanations, a
// category filter, and a product page with similar items. Clicking a product sends the click
// with the answer's recommendationId (the list's impression was sent when it was shown), then
// reloads the list, which the server has just folded the click into.
//
// Query parameters: `user` (the shopper), `category` (the filter), `api` (the API's base URL;
// default this page's origin), `key` (an API key, for a server that protects reads).
import { Topten, ToptenError } from "./topten-client.js";

const params = new URLSearchParams(location.search);
const topten = new Topten({ baseUrl: params.get("api") ?? location.origin, apiKey: params.get("key") ?? undefined });
const $ = (id) => document.getElementById(id);

/** Catalogue records by item id (titles, categories), fetched once each. */
const items = new Map();
/** Every category seen so far, for the filter. */
const categories = new Set();

const state = { user: params.get("user") ?? "", category: params.get("category") ?? "", answer: null, previous: [] };

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function item(itemId) {
  if (!items.has(itemId)) {
    items.set(
      itemId,
      topten.items.get(itemId).then(
        ({ item }) => item,
        () => ({ itemId }), // not in the catalogue (or the key is needed): the list's own title stands
      ),
    );
  }
  return items.get(itemId);
}

function card(listed, record, because) {
  const li = document.createElement("li");
  li.className = "card";
  li.tabIndex = 0;
  li.dataset.itemId = listed.itemId;
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = listed.title ?? record.title ?? listed.itemId;
  li.append(title);
  if (record.categories?.length) {
    const cats = document.createElement("span");
    cats.className = "cats";
    cats.textContent = record.categories.join(" · ");
    li.append(cats);
    for (const c of record.categories) categories.add(c);
  }
  if (because?.length) {
    const b = document.createElement("span");
    b.className = "because";
    b.textContent = `Because you liked ${because.join(", ")}`;
    li.append(b);
  }
  if (typeof listed.score === "number") {
    const s = document.createElement("span");
    s.className = "score";
    s.textContent = `score ${listed.score.toFixed(3)}`;
    li.append(s);
  }
  return li;
}

function refreshCategories() {
  if (state.category) categories.add(state.category);
  const select = $("category");
  const have = new Set([...select.options].map((o) => o.value));
  for (const c of [...categories].sort()) {
    if (!have.has(c)) select.append(new Option(c, c));
  }
  select.value = state.category;
}

/** Loads and shows the shopper's list; sends its impression. */
async function showPicks() {
  if (!state.user) {
    status("Enter a shopper's id to see their picks.");
    return;
  }
  status(`Loading picks for ${state.user}…`);
  const answer = await topten.recommendations(state.user, { k: 10, explain: true, ...(state.category ? { category: state.category } : {}) });
  const records = await Promise.all(answer.items.map((i) => item(i.itemId)));
  const becauseTitles = await Promise.all(
    answer.items.map(async (i) =>
      Promise.all((i.because ?? []).slice(0, 2).map(async (b) => (await item(b.itemId)).title ?? b.itemId)),
    ),
  );
  const list = $("list");
  const before = new Set(state.previous);
  list.replaceChildren(
    ...answer.items.map((listed, n) => {
      const li = card(listed, records[n], becauseTitles[n]);
      if (state.previous.length && !before.has(listed.itemId)) li.classList.add("fresh");
      li.addEventListener("click", () => open(listed.itemId, answer));
      li.addEventListener("keydown", (e) => e.key === "Enter" && open(listed.itemId, answer));
      return li;
    }),
  );
  list.dataset.version = answer.modelVersion;
  list.dataset.ids = answer.items.map((i) => i.itemId).join(",");
  state.answer = answer;
  state.previous = answer.items.map((i) => i.itemId);
  $("picks-title").textContent = `Top picks for ${answer.userId}${state.category ? ` in ${state.category}` : ""}`;
  $("picks-note").textContent =
    answer.source === "personalized" ? `Personal picks from version ${answer.modelVersion}.` : `No history yet: ${answer.source} items.`;
  refreshCategories();
  await topten.events.shown(state.user, answer);
  status("");
}

/** The product page: its record and similar items; sends the click, then reloads the picks. */
async function open(itemId, answer) {
  status(`Opening ${itemId}…`);
  const sent = topten.events.clicked(state.user, itemId, answer);
  const record = await item(itemId);
  $("product-title").textContent = record.title ?? itemId;
  $("product-meta").textContent = record.categories?.length ? record.categories.join(" · ") : "";
  $("product").hidden = false;
  try {
    const similar = await topten.similar(itemId, { k: 6 });
    const records = await Promise.all(similar.items.map((i) => item(i.itemId)));
    $("similar").replaceChildren(
      ...similar.items.map((s, n) => {
        const li = card(s, records[n]);
        li.addEventListener("click", () => open(s.itemId, similar));
        return li;
      }),
    );
  } catch (e) {
    $("similar").replaceChildren();
    if (!(e instanceof ToptenError && e.code === "item_not_found")) throw e;
  }
  const accepted = await sent;
  document.body.dataset.lastEvent = JSON.stringify({ itemId, attributed: accepted.attributed });
  await showPicks();
  window.scrollTo({ top: 0 });
}

function report(e) {
  status(e instanceof ToptenError ? `${e.code}: ${e.message}` : String(e), true);
}

$("who").addEventListener("submit", (e) => {
  e.preventDefault();
  const next = new URLSearchParams(location.search);
  next.set("user", $("user").value.trim());
  if ($("category").value) next.set("category", $("category").value);
  else next.delete("category");
  location.search = next.toString();
});
$("category").addEventListener("change", () => {
  state.category = $("category").value;
  state.previous = [];
  showPicks().catch(report);
});
$("back").addEventListener("click", () => {
  $("product").hidden = true;
});

$("user").value = state.user;
window.addEventListener("unhandledrejection", (e) => report(e.reason));
showPicks().catch(report);
