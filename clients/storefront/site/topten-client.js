/** What went wrong: `code` is the API's stable error code, or one of the client's own
 * (`network_error`, `timeout`, `invalid_response`). */
export class ToptenError extends Error {
    code;
    /** HTTP status (0 when no answer came). */
    status;
    /** The answer's `x-request-id`, to find it in the server's log. */
    requestId;
    /** The wait the server asked for (`Retry-After`), in milliseconds. */
    retryAfterMs;
    constructor(code, message, status, requestId = null, retryAfterMs = null) {
        super(message);
        this.name = "ToptenError";
        this.code = code;
        this.status = status;
        this.requestId = requestId;
        this.retryAfterMs = retryAfterMs;
    }
}
const RETRY_STATUSES = new Set([429, 503]);
const MAX_BACKOFF_MS = 5_000;
const MAX_RETRY_AFTER_MS = 30_000;
/** The topten API. */
export class Topten {
    baseUrl;
    apiKey;
    timeoutMs;
    retries;
    fetchFn;
    constructor(options = {}) {
        const origin = globalThis.location?.origin;
        const base = options.baseUrl ?? origin;
        if (!base)
            throw new TypeError("Topten: baseUrl is required outside a browser");
        this.baseUrl = base.endsWith("/") ? base : `${base}/`;
        this.apiKey = options.apiKey;
        this.timeoutMs = options.timeoutMs ?? 10_000;
        this.retries = Math.max(0, options.retries ?? 2);
        const f = options.fetch ?? globalThis.fetch;
        if (!f)
            throw new TypeError("Topten: no fetch available");
        this.fetchFn = f.bind(globalThis);
    }
    /** A user's top items (`GET /api/recommendations/{userId}`). */
    recommendations(userId, options = {}) {
        const query = listQuery(options);
        if (options.k !== undefined)
            query.set("k", String(options.k));
        if (options.exclude?.length)
            query.set("exclude", options.exclude.join(","));
        if (options.explain)
            query.set("explain", "true");
        return this.json({ method: "GET", path: `api/recommendations/${seg(userId)}`, query, repeatable: true });
    }
    /** The caller's candidates in the user's order (`POST /api/recommendations/{userId}/rank`). */
    rank(userId, itemIds) {
        return this.json({
            method: "POST",
            path: `api/recommendations/${seg(userId)}/rank`,
            body: { itemIds },
            repeatable: true,
        });
    }
    /** Items most like one item (`GET /api/items/{itemId}/similar`). */
    similar(itemId, options = {}) {
        const query = listQuery(options);
        if (options.k !== undefined)
            query.set("k", String(options.k));
        return this.json({ method: "GET", path: `api/items/${seg(itemId)}/similar`, query, repeatable: true });
    }
    /** Items with the most recent interactions (`GET /api/items/trending`); `window` like
     * `30m`, `24h`, `7d`. */
    trending(options = {}) {
        const query = new URLSearchParams();
        if (options.k !== undefined)
            query.set("k", String(options.k));
        if (options.window !== undefined)
            query.set("window", options.window);
        return this.json({ method: "GET", path: "api/items/trending", query, repeatable: true });
    }
    /** Interactions, impressions and clicks (`POST /api/events`). */
    events = {
        /** Records events. Each event without an `eventId` gets a random one first, so a retry
         * never stores it twice. */
        send: (events) => {
            const body = { events: events.map((e) => (e.eventId ? e : { ...e, eventId: newEventId() })) };
            return this.json({ method: "POST", path: "api/events", body, repeatable: true });
        },
        /** Records that `userId` was shown an answer's items (all of them, or `itemIds`), credited
         * to the answer. */
        shown: (userId, answer, itemIds) => {
            const shown = itemIds ?? answer.items.map((i) => i.itemId).filter((i) => !!i);
            return this.events.send([
                { type: "impression", userId, itemIds: shown, ...idOf(answer) },
            ]);
        },
        /** Records a click on `itemId` of an answer (credited to it), or on an item outside any
         * answer (`answer` left out). */
        clicked: (userId, itemId, answer) => this.events.send([{ type: "click", userId, itemId, ...idOf(answer) }]),
    };
    /** The live catalogue (`/api/items`). */
    items = {
        /** One item as it stands, with its entity tag. */
        get: async (itemId) => this.tagged({ method: "GET", path: `api/items/${seg(itemId)}`, repeatable: true }),
        /** Changes one item with a partial document; `ifMatch` makes it conditional (412
         * `precondition_failed` when the item changed meanwhile). */
        put: (itemId, change, options = {}) => this.tagged({
            method: "PUT",
            path: `api/items/${seg(itemId)}`,
            body: change,
            headers: ifMatch(options),
            repeatable: true,
        }),
        /** Changes many items, all or nothing. */
        post: (items) => this.json({ method: "POST", path: "api/items", body: { items }, repeatable: true }),
        /** Withdraws an item: never served until a `put` brings it back. */
        delete: (itemId, options = {}) => this.tagged({ method: "DELETE", path: `api/items/${seg(itemId)}`, headers: ifMatch(options), repeatable: true }),
    };
    /** A user's data: erasure, access and merging a session (`/api/users`). */
    users = {
        /** Forgets the user (idempotent). */
        delete: (userId) => this.json({ method: "DELETE", path: `api/users/${seg(userId)}`, repeatable: true }),
        /** Everything topten holds about the user. */
        data: (userId) => this.json({ method: "GET", path: `api/users/${seg(userId)}/data`, repeatable: true }),
        /** Moves a session's events to the user (a retry moves nothing twice). */
        merge: (userId, from) => this.json({ method: "POST", path: `api/users/${seg(userId)}/merge`, body: { from }, repeatable: true }),
    };
    /** Operations: online figures and metrics (need the key). */
    admin = {
        /** The online figures of the last `hours` (1 to 168). */
        stats: (options = {}) => {
            const query = new URLSearchParams();
            if (options.hours !== undefined)
                query.set("hours", String(options.hours));
            return this.json({ method: "GET", path: "api/admin/stats", query, repeatable: true });
        },
        /** The Prometheus text exposition. */
        metrics: async () => (await this.send({ method: "GET", path: "api/metrics", repeatable: true })).text(),
    };
    /** The service's health: `status` `ok`, or `unavailable` with a `reason` (a 503 is an
     * answer here, not an error). */
    health() {
        return this.json({ method: "GET", path: "api/health", repeatable: true, accept: [503] }, 0);
    }
    /** The API's OpenAPI document. */
    openapi() {
        return this.json({ method: "GET", path: "api/openapi.json", repeatable: true });
    }
    async json(call, retries = this.retries) {
        const res = await this.send(call, retries);
        return parse(res);
    }
    async tagged(call) {
        const res = await this.send(call);
        return { item: await parse(res), etag: res.headers.get("etag") };
    }
    /** Sends `call`, retrying as the options say; resolves with a 2xx (or accepted) answer. */
    async send(call, retries = this.retries) {
        const url = new URL(call.path, this.baseUrl);
        if (call.query)
            url.search = call.query.toString();
        const headers = { accept: "application/json", ...(call.headers ?? {}) };
        if (this.apiKey)
            headers["x-functions-key"] = this.apiKey;
        if (call.body !== undefined)
            headers["content-type"] = "application/json";
        const body = call.body === undefined ? undefined : JSON.stringify(call.body);
        for (let attempt = 0;; attempt++) {
            let res;
            const abort = new AbortController();
            const timer = setTimeout(() => abort.abort(), this.timeoutMs);
            try {
                res = await this.fetchFn(url, { method: call.method, headers, body, signal: abort.signal });
            }
            catch (e) {
                clearTimeout(timer);
                const timedOut = abort.signal.aborted;
                if (call.repeatable && attempt < retries) {
                    await sleep(backoff(attempt));
                    continue;
                }
                throw new ToptenError(timedOut ? "timeout" : "network_error", timedOut ? `no answer within ${this.timeoutMs} ms` : `request failed: ${e.message}`, 0);
            }
            clearTimeout(timer);
            if (res.ok || call.accept?.includes(res.status))
                return res;
            const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
            if (RETRY_STATUSES.has(res.status) && attempt < retries) {
                await res.body?.cancel();
                await sleep(retryAfterMs ?? backoff(attempt));
                continue;
            }
            throw await errorOf(res, retryAfterMs);
        }
    }
}
function listQuery(f) {
    const q = new URLSearchParams();
    const list = (v) => (Array.isArray(v) ? v.join(",") : v);
    if (f.category !== undefined)
        q.set("category", list(f.category));
    if (f.excludeCategory !== undefined)
        q.set("excludeCategory", list(f.excludeCategory));
    if (f.filter !== undefined)
        q.set("filter", f.filter);
    for (const [name, value] of Object.entries(f.params ?? {}))
        q.set(name, String(value));
    return q;
}
/** One path segment: ids may hold any character but control characters. */
function seg(id) {
    return encodeURIComponent(id);
}
function idOf(answer) {
    return answer?.recommendationId ? { recommendationId: answer.recommendationId } : {};
}
function ifMatch(options) {
    return options.ifMatch ? { "if-match": options.ifMatch } : {};
}
function newEventId() {
    const c = globalThis.crypto;
    if (c?.randomUUID)
        return c.randomUUID();
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}
/** Exponential backoff with full jitter: 100 ms, 200 ms, 400 ms, ... at most 5 s. */
function backoff(attempt) {
    return Math.random() * Math.min(MAX_BACKOFF_MS, 100 * 2 ** attempt);
}
/** `Retry-After` in milliseconds: seconds or an HTTP date, at most 30 s. */
export function parseRetryAfter(value) {
    if (value === null || value.trim() === "")
        return null;
    const secs = Number(value);
    const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(value) - Date.now();
    return Number.isFinite(ms) ? Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS) : null;
}
function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
async function parse(res) {
    const text = await res.text();
    try {
        return JSON.parse(text);
    }
    catch {
        throw new ToptenError("invalid_response", `HTTP ${res.status}: not JSON: ${text.slice(0, 200)}`, res.status, res.headers.get("x-request-id"));
    }
}
async function errorOf(res, retryAfterMs) {
    const requestId = res.headers.get("x-request-id");
    const text = await res.text().catch(() => "");
    try {
        const { error } = JSON.parse(text);
        if (error && typeof error.code === "string") {
            return new ToptenError(error.code, error.message, res.status, requestId, retryAfterMs);
        }
    }
    catch {
        // Not the API's JSON (a proxy's page): said below.
    }
    return new ToptenError("invalid_response", `HTTP ${res.status}: ${text.slice(0, 200)}`, res.status, requestId, retryAfterMs);
}
