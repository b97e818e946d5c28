// Writes src/types.ts from topten's OpenAPI document: one type per component schema, and a
// response and body type per operation that does not name a component.
//
//   node scripts/gen-types.mjs OPENAPI.json [OUT.ts]     (OUT defaults to src/types.ts)
//   node scripts/gen-types.mjs http://127.0.0.1:8080/api/openapi.json
//
// The test suite regenerates the types from a live `topten serve` and fails when they differ
// from the committed file, so the client cannot drift from the API. Hand-written rather than
// an OpenAPI generator package: the client has no dependencies, and the document uses a small
// part of JSON Schema (objects, arrays, enums, nullable, anyOf/oneOf, $ref).
import { readFile, writeFile } from "node:fs/promises";

export function pascal(s) {
  return s.replace(/(^|[_\-\s])(\w)/g, (_, __, c) => c.toUpperCase());
}

const ident = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
// Component names that would shadow a global of TypeScript's.
const renamed = { Error: "ErrorBody" };
const typeName = (name) => renamed[name] ?? name;
const key = (k) => (ident.test(k) ? k : JSON.stringify(k));

/** The TypeScript type of `schema`, indented for nesting level `depth`. */
function typeOf(schema, depth) {
  if (!schema || Object.keys(schema).length === 0) return "unknown";
  if (schema.$ref) return typeName(schema.$ref.split("/").pop());
  const nullable = schema.nullable ? " | null" : "";
  if (schema.enum) {
    const values = schema.enum.map((v) => (v === null ? "null" : JSON.stringify(v)));
    if (schema.nullable && !schema.enum.includes(null)) values.push("null");
    return values.join(" | ");
  }
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives && !schema.properties) {
    return alternatives.map((a) => typeOf(a, depth)).join(" | ") + nullable;
  }
  if (alternatives && schema.properties) {
    // Constraint branches over one object (the events): one object type per branch.
    // A branch's `not: {required: [...]}` (or `not: {anyOf: [{required}, ...]}`) forbids
    // those fields, so they are left out of its type.
    const forbidden = (branch) =>
      new Set([branch.not?.required ?? [], ...(branch.not?.anyOf ?? []).map((a) => a.required ?? [])].flat());
    return alternatives
      .map((branch) => {
        const gone = forbidden(branch);
        const properties = Object.fromEntries(
          Object.entries({ ...schema.properties, ...(branch.properties ?? {}) }).filter(([n]) => !gone.has(n)),
        );
        const required = [...new Set([...(schema.required ?? []), ...(branch.required ?? [])])];
        return objectType({ ...schema, properties, required }, depth);
      })
      .map((t) => `(${t})`)
      .join(" | ") + nullable;
  }
  switch (schema.type) {
    case "string":
      return "string" + nullable;
    case "number":
    case "integer":
      return "number" + nullable;
    case "boolean":
      return "boolean" + nullable;
    case "array":
      return `Array<${typeOf(schema.items, depth)}>` + nullable;
    case "object":
    case undefined:
      return objectType(schema, depth) + nullable;
    default:
      return "unknown";
  }
}

function objectType(schema, depth) {
  const props = schema.properties ?? {};
  const names = Object.keys(props).sort();
  const extra = schema.additionalProperties;
  if (names.length === 0) {
    if (extra && typeof extra === "object") return `Record<string, ${typeOf(extra, depth)}>`;
    return "Record<string, unknown>";
  }
  const pad = "  ".repeat(depth + 1);
  const required = new Set(schema.required ?? []);
  const lines = names.map((n) => {
    const doc = props[n].description ? `${pad}/** ${props[n].description.replace(/\*\//g, "* /")} */\n` : "";
    return `${doc}${pad}${key(n)}${required.has(n) ? "" : "?"}: ${typeOf(props[n], depth + 1)};`;
  });
  if (extra && typeof extra === "object") lines.push(`${pad}[key: string]: unknown;`);
  return `{\n${lines.join("\n")}\n${"  ".repeat(depth)}}`;
}

/** The whole `types.ts` for an OpenAPI document. */
export function generate(doc) {
  const out = [
    "// Generated from topten's OpenAPI document by scripts/gen-types.mjs: do not edit.",
    "// `npm test` regenerates it from a live server and fails when it differs.",
    "",
  ];
  const schemas = doc.components?.schemas ?? {};
  for (const name of Object.keys(schemas).sort()) {
    const s = schemas[name];
    if (s.description && s.description.length <= 200) out.push(`/** ${s.description.replace(/\*\//g, "* /")} */`);
    out.push(`export type ${typeName(name)} = ${typeOf(s, 0)};`, "");
  }
  const codes = schemas.Error?.properties?.error?.properties?.code?.enum;
  if (codes) out.push(`/** Every stable error code the API answers with. */`, `export type ErrorCode = ${codes.map((c) => JSON.stringify(c)).join(" | ")};`, "");
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      if (op && typeof op === "object" && op.operationId) ops.push({ path, method, op });
    }
  }
  ops.sort((a, b) => a.op.operationId.localeCompare(b.op.operationId));
  for (const { path, method, op } of ops) {
    const name = pascal(op.operationId);
    const body = op.requestBody?.content?.["application/json"]?.schema;
    if (body && !body.$ref) out.push(`/** Body of ${method.toUpperCase()} ${path}. */`, `export type ${name}Body = ${typeOf(body, 0)};`, "");
    const ok = op.responses?.["200"]?.content?.["application/json"]?.schema;
    if (ok && !ok.$ref) out.push(`/** 200 answer of ${method.toUpperCase()} ${path}. */`, `export type ${name}Response = ${typeOf(ok, 0)};`, "");
  }
  return out.join("\n");
}

async function load(source) {
  if (/^https?:/.test(source)) {
    const res = await fetch(source);
    if (!res.ok) throw new Error(`${source}: HTTP ${res.status}`);
    return res.json();
  }
  return JSON.parse(await readFile(source, "utf8"));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [source, target = new URL("../src/types.ts", import.meta.url).pathname] = process.argv.slice(2);
  if (!source || source === "--help" || source === "-h") {
    console.error("usage: node scripts/gen-types.mjs OPENAPI.json|URL [OUT.ts]");
    process.exit(source ? 0 : 2);
  }
  await writeFile(target, generate(await load(source)));
  console.error(`gen-types: wrote ${target}`);
}
