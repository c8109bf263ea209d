// The document itself: valid OpenAPI 3.1 (@seriousme/openapi-schema-validator,
// the official JSON Schemas of the specification), the YAML and JSON forms
// identical, every operation shaped as the gateway promises, and every
// example valid against its own schema.
//   node validate-doc.mjs docs/openapi.yaml build/docs/openapi.json
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { parse } from "yaml";
import { Validator } from "@seriousme/openapi-schema-validator";
import { ajvFor, pointer, validatorAt, deref, fail } from "./lib.mjs";

const [yamlPath, jsonPath] = process.argv.slice(2);
const doc = parse(readFileSync(yamlPath, "utf8"));
const json = JSON.parse(readFileSync(jsonPath, "utf8"));
if (!isDeepStrictEqual(doc, json))
  fail(`${yamlPath} and ${jsonPath} differ once parsed: the YAML writer lost something`);

const validator = new Validator();
const result = await validator.validate(doc);
if (validator.version !== "3.1")
  fail(`validator read OpenAPI ${validator.version}, expected 3.1`);
if (!result.valid)
  fail("not valid OpenAPI 3.1:\n" + JSON.stringify(result.errors, null, 2));

const ajv = ajvFor(doc);
let operations = 0, examples = 0;
const ids = new Set();
for (const [path, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    operations++;
    if (ids.has(op.operationId))
      fail(`${method} ${path}: operationId ${op.operationId} used twice`);
    ids.add(op.operationId);
    for (const name of path.matchAll(/\{([^}]+)\}/g))
      if (!(op.parameters || []).some((p) => p.in === "path" && p.name === name[1] && p.required))
        fail(`${method} ${path}: no required path parameter ${name[1]}`);
    const responses = op.responses || {};
    if (!responses.default)
      fail(`${method} ${path}: no default (error) response`);
    if (path.startsWith("/api/v1/") && !(responses["429"] && responses["400"]))
      fail(`${method} ${path}: an /api/v1 route without its 400 and 429 responses`);
    const check = (where, schemaPtr, example) => {
      examples++;
      const validate = validatorAt(ajv, schemaPtr);
      if (!validate(example))
        fail(`${method} ${path} ${where}: example does not fit its schema: ${ajv.errorsText(validate.errors)}`);
    };
    for (const [i, p] of (op.parameters || []).entries())
      if (p.example !== undefined)
        check(`parameter ${p.name}`, pointer("paths", path, method, "parameters", i, "schema"), p.example);
    for (const [type, media] of Object.entries(op.requestBody?.content || {}))
      if (media.example !== undefined)
        check(`request ${type}`, pointer("paths", path, method, "requestBody", "content", type, "schema"), media.example);
    for (const [status, response] of Object.entries(responses))
      for (const [type, media] of Object.entries(deref(doc, response).content || {}))
        if (media.example !== undefined && !response.$ref)
          check(`response ${status} ${type}`, pointer("paths", path, method, "responses", status, "content", type, "schema"), media.example);
  }
}
// Every schema compiles on its own (a dangling $ref fails here).
for (const name of Object.keys(doc.components.schemas))
  validatorAt(ajv, pointer("components", "schemas", name));
if (operations < 30)
  fail(`only ${operations} operations: the route table is not all there`);
if (!process.exitCode)
  console.log(`ok: OpenAPI ${doc.openapi}, ${operations} operations, ${Object.keys(doc.components.schemas).length} schemas, ${examples} examples checked`);
