// Starts a real `topten serve` for the tests: trains a small implicit model on generated
// ratings (three taste groups over 60 items with genres), publishes it with its catalogue to
// a fresh embedded store, and serves it on a free 127.0.0.1 port. The binary is
// $TOPTEN_BIN, else the workspace's target/release/topten (scripts/test.sh builds it).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";

const repo = new URL("../../../", import.meta.url).pathname;
export const TOPTEN = process.env.TOPTEN_BIN ?? join(repo, "target/release/topten");
const GENRES = ["Comedy", "Drama", "Horror"];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Writes the data, trains and publishes; returns the directory and the store URI. */
export function publishSample() {
  if (!existsSync(TOPTEN)) {
    throw new Error(`no topten binary at ${TOPTEN}: build it (cargo build --release --bin topten) or set TOPTEN_BIN`);
  }
  const dir = mkdtempSync(join(tmpdir(), "topten-client-"));
  const rows = [];
  // User u<n> likes the items of genre n % 3 (items i0..i59, genre = index % 3).
  for (let u = 0; u < 90; u++) {
    const g = u % 3;
    for (let i = 0; i < 60; i++) {
      if (i % 3 === g && (i * 7 + u * 13) % 5 < 3) rows.push(`u${u}\ti${i}\t${4 + ((i + u) % 2)}\t${1_700_000_000 + u * 100 + i}`);
    }
  }
  writeFileSync(join(dir, "ratings.tsv"), rows.join("\n") + "\n");
  const catalogue = ["itemId\ttitle\tcategories"];
  for (let i = 0; i < 60; i++) catalogue.push(`i${i}\tItem ${i} (${GENRES[i % 3]})\t${GENRES[i % 3]}`);
  writeFileSync(join(dir, "catalogue.tsv"), catalogue.join("\n") + "\n");
  const env = { ...process.env, TOPTEN_LOG: "warn" };
  execFileSync(TOPTEN, ["train", "--ratings", join(dir, "ratings.tsv"), "--model", "implicit", "--factors", "8", "--iterations", "10", "--out", join(dir, "model")], { env, stdio: ["ignore", "ignore", "inherit"] });
  const store = `embedded:${join(dir, "store.db")}`;
  execFileSync(TOPTEN, ["publish", "--model", join(dir, "model"), "--store", store, "--items", join(dir, "catalogue.tsv")], { env, stdio: ["ignore", "ignore", "inherit"] });
  return { dir, store };
}

/** A running server: `{ baseUrl, stop() }`. `env` adds settings (e.g. TOPTEN_API_KEY);
 * `healthy: false` waits only for an answer (a store with nothing published is unhealthy). */
export async function startServer({ store, env = {}, args = [], healthy = true }) {
  const port = await freePort();
  const child = spawn(TOPTEN, ["serve", "--store", store, "--bind", "127.0.0.1", "--port", String(port), ...args], {
    env: { ...process.env, TOPTEN_LOG: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`topten serve exited: ${log}`);
    try {
      const res = await fetch(`${baseUrl}/api/health`);
      if (res.ok || !healthy) break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error(`topten serve did not become healthy: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    log: () => log,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}
