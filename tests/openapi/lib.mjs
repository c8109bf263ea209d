// Shared by the checks: the document as a JSON Schema resource for ajv
// (JSON Schema 2020-12, the dialect of OpenAPI 3.1), and $ref lookup.
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

export const DOC_ID = "https://media-gateway.invalid/openapi.json";

// An ajv that knows the whole document under DOC_ID, so that "#/components/..."
// references inside any schema of it resolve. OpenAPI's own keywords
// (example, discriminator, ...) are annotations: strict mode is off for them.
export function ajvFor (doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: DOC_ID });
  return ajv;
}

// A JSON pointer from path segments.
export function pointer (...parts) {
  return "#/" + parts.map((p) => String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
}

// The validator of the schema at pointer ptr of the document.
export function validatorAt (ajv, ptr) {
  return ajv.compile({ $ref: DOC_ID + ptr });
}

// Follow a "$ref": "#/..." of the document (responses, parameters).
export function deref (doc, value) {
  let at = value;
  while (at && at.$ref && at.$ref.startsWith("#/")) {
    at = at.$ref.slice(2).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
      .reduce((node, key) => (node === undefined ? undefined : node[key]), doc);
  }
  return at;
}

export function fail (message) {
  console.error("FAIL: " + message);
  process.exitCode = 1;
}
