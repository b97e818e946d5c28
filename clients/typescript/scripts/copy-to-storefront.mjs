// Copies the built client into the storefront page (clients/storefront/site/topten-client.js), so
// the page works from any static server with no build step of its own. The copy is committed;
// the tests check it equals a fresh build.
import { copyFile } from "node:fs/promises";
const from = new URL("../dist/index.js", import.meta.url);
const to = new URL("../../storefront/site/topten-client.js", import.meta.url);
await copyFile(from, to);
