// Real answers of the gateway against the document: each record (one JSON
// object per line: method, path, status, content_type, body) must be an
// operation's declared status, of a declared media type, and its body must
// fit the schema (ajv, JSON Schema 2020-12). Every operation must have been
// seen answering with success at least once.
//   node validate-responses.mjs openapi.json responses.jsonl
import { readFileSync } from "node:fs";
import { ajvFor, pointer, validatorAt, deref, fail } from "./lib.mjs";

const [docPath, recordsPath] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(docPath, "utf8"));
const records = readFileSync(recordsPath, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const ajv = ajvFor(doc);
const validators = new Map();

// The template of doc.paths that path (no query) fits.
function template (path) {
  for (const t of Object.keys(doc.paths)) {
    const re = new RegExp("^" + t.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+") + "$");
    if (re.test(path))
      return t;
  }
  return null;
}

const succeeded = new Set();
let checked = 0;
for (const r of records) {
  const what = `${r.method} ${r.path} -> ${r.status}`;
  const t = template(r.path.split("?")[0]);
  const method = r.method.toLowerCase();
  const op = t && doc.paths[t][method];
  if (!op) {
    fail(`${what}: no such operation in the document`);
    continue;
  }
  const declared = op.responses[String(r.status)];
  if (!declared) {
    fail(`${what}: status not declared (declared: ${Object.keys(op.responses).join(", ")})`);
    continue;
  }
  const response = deref(doc, declared);
  const ptrBase = declared.$ref ? declared.$ref : pointer("paths", t, method, "responses", String(r.status));
  if (!response.content) {
    if (r.body.length)
      fail(`${what}: declared without a body, got ${r.body.length} bytes`);
  }
  else {
    const base = (r.content_type || "").split(";")[0].trim().toLowerCase();
    const type = Object.keys(response.content).find((k) => k.split(";")[0].trim().toLowerCase() === base);
    if (!type) {
      fail(`${what}: Content-Type ${r.content_type} not declared (${Object.keys(response.content).join(", ")})`);
      continue;
    }
    const schemaPtr = ptrBase + "/" + pointer("content", type, "schema").slice(2);
    if (!validators.has(schemaPtr))
      validators.set(schemaPtr, validatorAt(ajv, schemaPtr));
    const validate = validators.get(schemaPtr);
    let body = r.body;
    if (base === "application/json") {
      try {
        body = JSON.parse(r.body);
      } catch (e) {
        fail(`${what}: body is not JSON: ${e.message}`);
        continue;
      }
    }
    if (!validate(body))
      fail(`${what}: body does not fit the schema: ${ajv.errorsText(validate.errors)}\n  body: ${r.body.slice(0, 600)}`);
  }
  checked++;
  if (r.status < 300)
    succeeded.add(`${method} ${t}`);
}
for (const [t, item] of Object.entries(doc.paths))
  for (const method of Object.keys(item))
    if (!succeeded.has(`${method} ${t}`))
      fail(`${method.toUpperCase()} ${t}: never called with success in this run`);
if (!process.exitCode)
  console.log(`ok: ${checked} responses fit the document; all ${succeeded.size} operations answered with success`);
