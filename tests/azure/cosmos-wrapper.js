#!/usr/bin/env node
// A thin HTTP front for npm @vercel/cosmosdb-server (in-memory Cosmos DB NoSQL API) that the
// topten tests talk to through the official Rust SDK (azure_data_cosmos).
//
//   node cosmos-wrapper.js [--port 0] [--control-port 0]
//
// Prints one JSON line {"port": P, "control": C} on stdout once both listen on 127.0.0.1.
//
// Why a wrapper (see ../../../shared/notes/local-azure.md and the README's Cosmos section):
// the server has wire bugs the SDK trips over, and the tests need to see and steer traffic.
//   fixes   - GET /dbs/../pkranges: partition-range ids are numbers, the SDK wants strings
//           - GET of a missing document answers 500; Cosmos answers 404 (the cold-start path)
//           - the account document advertises https:// endpoints for a plain-HTTP server
//           - cross-partition queries routed by partition-key range need the server's
//             enable-cross-partition header
//   counts  - item reads, writes (create/upsert/replace), queries, deletes, injected 429s,
//             and documents written more than once (GET /stats, POST /reset on the control port)
//   faults  - POST /throttle {"share": 0.3, "retryAfterMs": 20}: answer that share of writes
//             with 429 + x-ms-retry-after-ms (deterministically: every 1/share-th write)
//           - POST /down and POST /up: stop and restart listening on the data port (the data
//             itself lives on in the inner server, like a real service coming back)
//           - POST /delay {"ms": 500}: hold every item read that long (slow-store tests)
"use strict";

const http = require("http");
const { createHttpServer } = require("@vercel/cosmosdb-server");

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const stats = () => ({ itemReads: 0, writes: 0, writesOk: 0, queries: 0, deletes: 0, throttled: 0, other: 0, duplicateWrites: 0 });
let counts = stats();
let written = new Map(); // document id (db/coll/id) -> successful writes
let throttle = { share: 0, retryAfterMs: 20 };
let writeSeq = 0;
let readDelayMs = 0;

function classify(req) {
  const path = req.url.split("?")[0];
  const isDoc = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/[^/]+$/.test(path);
  const isDocs = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/?$/.test(path);
  const isQuery = String(req.headers["x-ms-documentdb-isquery"] || "").toLowerCase() === "true"
    || String(req.headers["content-type"] || "").startsWith("application/query+json");
  if (req.method === "GET" && isDoc) return "itemRead";
  if (req.method === "POST" && isDocs && isQuery) return "query";
  if ((req.method === "POST" && isDocs) || (req.method === "PUT" && isDoc)) return "write";
  if (req.method === "DELETE" && isDoc) return "delete";
  return "other";
}

function shouldThrottle() {
  if (!(throttle.share > 0)) return false;
  const n = writeSeq++;
  return Math.floor((n + 1) * throttle.share) > Math.floor(n * throttle.share);
}

function send(res, status, headers, body) {
  const h = { ...headers };
  delete h["content-length"];
  delete h["transfer-encoding"];
  delete h["connection"];
  h["content-length"] = Buffer.byteLength(body);
  res.writeHead(status, h);
  res.end(body);
}

function docKey(req, body) {
  const path = req.url.split("?")[0];
  const coll = path.replace(/\/docs(\/.*)?$/, "");
  if (req.method === "PUT") return path;
  try {
    return coll + "/docs/" + JSON.parse(body.toString("utf8")).id;
  } catch (_) {
    return null;
  }
}

// The server logs a stack trace for every missing-document read (the 500 fixed above): quiet.
const consoleError = console.error;
console.error = (...args) => {
  if (args[0] instanceof Error && /read-document/.test(String(args[0].stack))) return;
  consoleError(...args);
};

async function main() {
  const inner = createHttpServer();
  await new Promise((r) => inner.listen(0, "127.0.0.1", r));
  const innerPort = inner.address().port;

  const handler = (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      const kind = classify(req);
      if (process.env.COSMOS_WRAPPER_LOG) console.error(req.method, req.url, JSON.stringify(req.headers), body.toString("utf8").slice(0, 300));
      if (kind === "itemRead") counts.itemReads++;
      else if (kind === "write") counts.writes++;
      else if (kind === "query") counts.queries++;
      else if (kind === "delete") counts.deletes++;
      else counts.other++;

      if (kind === "write" && shouldThrottle()) {
        counts.throttled++;
        return send(res, 429, { "content-type": "application/json", "x-ms-retry-after-ms": String(throttle.retryAfterMs), "x-ms-substatus": "3200", "x-ms-request-charge": "0" },
          JSON.stringify({ code: "TooManyRequests", message: "Request rate is large (injected by the test wrapper)" }));
      }
      if (kind === "itemRead" && readDelayMs > 0) await new Promise((r) => setTimeout(r, readDelayMs));

      const headers = { ...req.headers, host: req.headers.host };
      // The SDK fans a cross-partition query out per partition-key range (header
      // x-ms-documentdb-partitionkeyrangeid), which Cosmos accepts; this server wants the old
      // enable-cross-partition flag instead, else "missing partition keys".
      if (kind === "query" && req.headers["x-ms-documentdb-partitionkeyrangeid"] !== undefined) {
        headers["x-ms-documentdb-query-enablecrosspartition"] = "true";
      }
      const proxied = http.request({ host: "127.0.0.1", port: innerPort, method: req.method, path: req.url, headers }, (up) => {
        const out = [];
        up.on("data", (c) => out.push(c));
        up.on("end", () => {
          let status = up.statusCode;
          let text = Buffer.concat(out);
          const path = req.url.split("?")[0];
          if (kind === "itemRead" && status === 500) {
            status = 404;
            text = Buffer.from(JSON.stringify({ code: "NotFound", message: "Entity with the specified id does not exist in the system." }));
          } else if (/\/pkranges$/.test(path) && status === 200) {
            const j = JSON.parse(text.toString("utf8"));
            for (const r of j.PartitionKeyRanges || []) r.id = String(r.id);
            text = Buffer.from(JSON.stringify(j));
          } else if (path === "/" && req.method === "GET" && status === 200) {
            // The server names its own (inner) address over https; point clients at this front.
            text = Buffer.from(text.toString("utf8").replace(/https?:\/\/[^/"]+\//g, `http://${req.headers.host}/`));
          }
          if (kind === "write" && status >= 200 && status < 300) {
            counts.writesOk++;
            const key = docKey(req, body);
            if (key) {
              const n = (written.get(key) || 0) + 1;
              written.set(key, n);
              if (n === 2) counts.duplicateWrites++;
            }
          }
          if (process.env.COSMOS_WRAPPER_LOG) console.error(" ->", status, JSON.stringify(up.headers), text.toString("utf8").slice(0, 400));
          const h = { ...up.headers };
          if (!h["x-ms-request-charge"]) h["x-ms-request-charge"] = kind === "itemRead" ? "1" : kind === "write" ? "10" : "2.5";
          send(res, status, h, text);
        });
      });
      proxied.on("error", (e) => send(res, 502, { "content-type": "application/json" }, JSON.stringify({ code: "BadGateway", message: String(e) })));
      proxied.end(body);
    });
  };

  const dataPort = arg("--port", 0);
  let front = null;
  const sockets = new Set();
  let boundPort = dataPort;
  const up = () =>
    new Promise((resolve, reject) => {
      front = http.createServer(handler);
      front.keepAliveTimeout = 60000;
      front.on("connection", (s) => {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
      });
      front.once("error", reject);
      front.listen(boundPort, "127.0.0.1", () => {
        boundPort = front.address().port;
        resolve();
      });
    });
  const down = () =>
    new Promise((resolve) => {
      if (!front) return resolve();
      front.close(() => resolve());
      for (const s of sockets) s.destroy();
      front = null;
    });
  await up();

  const control = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      let input = {};
      try {
        input = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
      } catch (_) {}
      const ok = (j) => send(res, 200, { "content-type": "application/json" }, JSON.stringify(j));
      switch (req.url) {
        case "/stats":
          return ok({ ...counts, documentsWritten: written.size, duplicates: [...written].filter(([, n]) => n > 1).map(([k]) => k) });
        case "/reset":
          counts = stats();
          written = new Map();
          writeSeq = 0;
          return ok({});
        case "/throttle":
          throttle = { share: Number(input.share || 0), retryAfterMs: Number(input.retryAfterMs || 20) };
          writeSeq = 0;
          return ok(throttle);
        case "/delay":
          readDelayMs = Number(input.ms || 0);
          return ok({ ms: readDelayMs });
        case "/down":
          await down();
          return ok({ down: true });
        case "/up":
          if (!front) await up();
          return ok({ up: true, port: boundPort });
        default:
          return send(res, 404, {}, "{}");
      }
    });
  });
  await new Promise((r) => control.listen(arg("--control-port", 0), "127.0.0.1", r));
  process.stdout.write(JSON.stringify({ port: boundPort, control: control.address().port }) + "\n");
  const stop = () => process.exit(0);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // Exit with the parent: tests pipe stdin and close it (or die), which ends this process too.
  process.stdin.on("end", stop);
  process.stdin.resume();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
