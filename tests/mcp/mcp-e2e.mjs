// /mcp driven by the official MCP TypeScript SDK client (its Streamable HTTP
// transport), against a real gateway and actors started by tests/e2e/test_mcp.c:
//   node mcp-e2e.mjs BASE_URL SECOND_GATEWAY_URL ACCESS_TOKEN TITLE_ID OTHER_TITLE_ID ALLOWED_ORIGIN
// Every tool is called and compared with the REST answer for the same input;
// protocol errors, anonymous user tools, sessions (shared by two gateways,
// ended by DELETE), Origin and revision negotiation are checked. Exit 0: all held.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { EmptyResultSchema, McpError } from "@modelcontextprotocol/sdk/types.js";

const [base, second, token, titleId, otherId, allowedOrigin] = process.argv.slice(2);
const bearer = { Authorization: `Bearer ${token}` };
const TOOLS = ["search_titles", "get_title", "where_to_watch", "trending", "discover", "find_person",
  "resolve_titles", "get_watchlist", "add_to_watchlist", "remove_from_watchlist", "set_progress"];

async function connect (headers, url = base) {
  const client = new Client({ name: "mg-e2e", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url + "/mcp"), { requestInit: { headers } });
  await client.connect(transport);
  return { client, transport };
}

async function rest (method, path, headers, body) {
  const response = await fetch(base + path, {
    method,
    headers: { ...headers, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// A raw POST /mcp; the parsed JSON-RPC answer (SSE or JSON) with the HTTP status and headers.
async function raw (body, headers = {}, url = base) {
  const response = await fetch(url + "/mcp", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  const type = response.headers.get("content-type") || "";
  let json = null;
  if (type.startsWith("text/event-stream")) {
    const data = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
    json = JSON.parse(data);
  }
  else if (text)
    json = JSON.parse(text);
  return { status: response.status, type, headers: response.headers, json };
}

// Fields that differ between two answers to the same question (timings), and
// on_my_services, which the gateway's mine.c adds to REST answers for signed-in
// callers after the bus answer and the tools do not add yet.
function stable (value) {
  if (Array.isArray(value))
    return value.map(stable);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value))
      if (k !== "took_ms" && k !== "on_my_services")
        out[k] = stable(v);
    return out;
  }
  return value;
}

// Call tool with args and compare with the REST answer (status 200) or error.
async function same (client, tool, args, method, path, headers, body) {
  const result = await client.callTool({ name: tool, arguments: args });
  const expected = await rest(method, path, headers, body);
  if (expected.status >= 400) {
    assert.equal(result.isError, true, `${tool}: REST answered ${expected.status}, the tool did not fail`);
    assert.equal(JSON.parse(result.content[0].text).error.code, expected.body.error.code, tool);
    return result;
  }
  assert.ok(!result.isError, `${tool}: ${JSON.stringify(result.content)}`);
  assert.deepEqual(stable(result.structuredContent), stable(expected.body), `${tool} vs ${method} ${path}`);
  assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent, `${tool}: text = structuredContent`);
  return result;
}

async function rpcError (promise, code, what) {
  try {
    await promise;
  }
  catch (error) {
    assert.ok(error instanceof McpError, `${what}: ${error}`);
    assert.equal(error.code, code, `${what}: ${error.message}`);
    return;
  }
  assert.fail(`${what}: no error`);
}

async function main () {
  // Signed in: every tool, compared with REST.
  const { client, transport } = await connect(bearer);
  assert.ok(["2025-11-25", "2025-06-18"].includes(transport.protocolVersion ?? "2025-11-25"));
  const listed = await client.listTools();
  assert.deepEqual(listed.tools.map((t) => t.name).sort(), [...TOOLS].sort());
  for (const tool of listed.tools) {
    assert.equal(tool.inputSchema.type, "object", tool.name);
    assert.equal(tool.outputSchema?.type, "object", tool.name);
  }
  const search = listed.tools.find((t) => t.name === "search_titles");
  for (const name of ["q", "mode", "genres", "region", "page", "per_page"])
    assert.ok(search.inputSchema.properties[name], `search_titles takes ${name}`);
  await client.ping();

  await same(client, "search_titles", { q: "matrix", mode: "keyword", genres: ["science-fiction"], per_page: 5 },
    "GET", "/api/v1/search?q=matrix&mode=keyword&genres=science-fiction&per_page=5", bearer);
  await same(client, "get_title", { id: titleId }, "GET", `/api/v1/content/${titleId}`, bearer);
  await same(client, "where_to_watch", { id: titleId, region: "US" },
    "GET", `/api/v1/content/${titleId}/availability?region=US`, bearer);
  await same(client, "trending", { type: "movie", window: "week", per_page: 3 },
    "GET", "/api/v1/trending?type=movie&window=week&per_page=3", bearer);
  await same(client, "discover", { genres: ["science-fiction", "crime"], sort: "rating", year_from: 1990 },
    "GET", "/api/v1/discover?genres=science-fiction,crime&sort=rating&year_from=1990", bearer);
  const person = await same(client, "find_person", { q: "keanu" }, "GET", "/api/v1/search?q=keanu&type=person", bearer);
  console.log(`find_person: ${person.isError ? "tool error " + person.content[0].text : "a result page"}`);
  const records = [{ title: "The Matrix", year: 1999 }, { title: "Nothing Like It At All", year: 1901 }];
  await same(client, "resolve_titles", { records }, "POST", "/api/v1/resolve", bearer, { records });
  await same(client, "get_title", { id: "00000000-0000-4000-8000-000000000999" },
    "GET", "/api/v1/content/00000000-0000-4000-8000-000000000999", bearer);

  // The user tools change what REST then shows.
  let result = await client.callTool({ name: "add_to_watchlist", arguments: { content_id: otherId } });
  assert.ok(!result.isError, JSON.stringify(result.content));
  let list = await rest("GET", "/api/v1/me/watchlist", bearer);
  assert.ok(list.body.results.some((item) => item.content_id === otherId), "added: in the REST watchlist");
  await same(client, "get_watchlist", {}, "GET", "/api/v1/me/watchlist", bearer);
  result = await client.callTool({ name: "set_progress", arguments: { content_id: otherId, position_s: 600, duration_s: 8160 } });
  assert.ok(!result.isError, JSON.stringify(result.content));
  const progress = await rest("GET", `/api/v1/me/progress/${otherId}`, bearer);
  assert.equal(progress.status, 200);
  assert.equal(progress.body.position_s, 600);
  result = await client.callTool({ name: "remove_from_watchlist", arguments: { content_id: otherId } });
  assert.ok(!result.isError, JSON.stringify(result.content));
  list = await rest("GET", "/api/v1/me/watchlist", bearer);
  assert.ok(!list.body.results.some((item) => item.content_id === otherId), "removed: not in the REST watchlist");
  result = await client.callTool({ name: "add_to_watchlist", arguments: { content_id: "not-a-uuid" } });
  assert.equal(result.isError, true);
  const refused = await rest("PUT", "/api/v1/me/watchlist/not-a-uuid", bearer);
  assert.equal(JSON.parse(result.content[0].text).error.code, refused.body.error.code);

  // Resources: a title by template, the caller's watchlist.
  const templates = await client.listResourceTemplates();
  assert.equal(templates.resourceTemplates[0].uriTemplate, "mediagateway://title/{id}");
  const resources = await client.listResources();
  assert.ok(resources.resources.some((r) => r.uri === "mediagateway://me/watchlist"));
  const read = await client.readResource({ uri: `mediagateway://title/${titleId}` });
  assert.deepEqual(JSON.parse(read.contents[0].text), (await rest("GET", `/api/v1/content/${titleId}`, bearer)).body);
  const mine = await client.readResource({ uri: "mediagateway://me/watchlist" });
  assert.deepEqual(JSON.parse(mine.contents[0].text), (await rest("GET", "/api/v1/me/watchlist?per_page=100", bearer)).body);
  await rpcError(client.readResource({ uri: "mediagateway://nothing/here" }), -32002, "unknown resource");
  await rpcError(client.readResource({ uri: "mediagateway://title/00000000-0000-4000-8000-000000000999" }), -32002,
    "a title that does not exist");

  // Protocol errors.
  await rpcError(client.request({ method: "no/such/method", params: {} }, EmptyResultSchema), -32601, "unknown method");
  await rpcError(client.callTool({ name: "no_such_tool", arguments: {} }), -32602, "unknown tool");
  await rpcError(client.callTool({ name: "search_titles", arguments: { colour: "red" } }), -32602, "unknown argument");
  await rpcError(client.callTool({ name: "search_titles", arguments: { per_page: "many" } }), -32602, "wrong type");
  await rpcError(client.callTool({ name: "search_titles", arguments: { genres: [1, 2] } }), -32602, "wrong item type");
  await rpcError(client.callTool({ name: "get_title", arguments: {} }), -32602, "missing required argument");
  // A value the REST route refuses is a tool error with its code.
  await same(client, "search_titles", { q: "matrix", mode: "psychic" }, "GET", "/api/v1/search?q=matrix&mode=psychic", bearer);

  const session = { "Mcp-Session-Id": transport.sessionId, "MCP-Protocol-Version": "2025-06-18", ...bearer };
  let answer = await raw("{\"jsonrpc\":\"2.0\",\"id\":1,", session);
  assert.equal(answer.status, 400);
  assert.equal(answer.json.error.code, -32700);
  assert.equal(answer.json.id, null);
  for (const bad of [{ jsonrpc: "2.0", id: 2 }, { jsonrpc: "1.0", id: 3, method: "ping" }, [{ jsonrpc: "2.0", id: 4, method: "ping" }],
    { jsonrpc: "2.0", id: null, method: "ping" }, { jsonrpc: "2.0", id: 5, method: 7 }]) {
    answer = await raw(bad, session);
    assert.equal(answer.status, 400, JSON.stringify(bad));
    assert.equal(answer.json.error.code, -32600, JSON.stringify(bad));
  }
  answer = await raw({ jsonrpc: "2.0", id: 6, method: "tools/call", params: [1] }, session);
  assert.equal(answer.json.error.code, -32602);
  assert.equal(answer.json.id, 6);
  answer = await raw({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } }, session);
  assert.equal(answer.status, 202);
  // tools/call as SSE when the client takes it, else JSON.
  const call = { jsonrpc: "2.0", id: "c1", method: "tools/call", params: { name: "get_title", arguments: { id: titleId } } };
  answer = await raw(call, session);
  assert.ok(answer.type.startsWith("text/event-stream"), answer.type);
  assert.equal(answer.json.id, "c1");
  assert.equal(answer.json.result.structuredContent.id, titleId);
  answer = await raw(call, { ...session, Accept: "application/json" });
  assert.ok(answer.type.startsWith("application/json"), answer.type);
  assert.equal(answer.json.result.structuredContent.id, titleId);
  answer = await raw({ jsonrpc: "2.0", id: 7, method: "ping" }, { ...session, "MCP-Protocol-Version": "1999-01-01" });
  assert.equal(answer.status, 400);
  answer = await raw({ jsonrpc: "2.0", id: 8, method: "ping" }, bearer);
  assert.equal(answer.status, 400, "no Mcp-Session-Id");
  answer = await raw({ jsonrpc: "2.0", id: 9, method: "ping" }, { ...bearer, "Mcp-Session-Id": "0123456789abcdef0123456789abcdef" });
  assert.equal(answer.status, 404, "an unknown session");
  answer = await raw({ jsonrpc: "2.0", id: 10, method: "ping" }, { "Mcp-Session-Id": transport.sessionId });
  assert.equal(answer.status, 404, "another caller's session");

  // Any gateway serves any session (it is kept in Redis).
  answer = await raw(call, session, second);
  assert.equal(answer.status, 200);
  assert.equal(answer.json.result.structuredContent.id, titleId);

  // Revisions: the client's when known, else the newest; Origin as MG_CORS_ORIGINS says.
  const init = (version) => ({ jsonrpc: "2.0", id: 0, method: "initialize",
    params: { protocolVersion: version, capabilities: {}, clientInfo: { name: "raw", version: "0" } } });
  answer = await raw(init("2025-06-18"));
  assert.equal(answer.json.result.protocolVersion, "2025-06-18");
  assert.match(answer.headers.get("mcp-session-id"), /^[0-9a-f]{32}$/);
  answer = await raw(init("2024-11-05"));
  assert.equal(answer.json.result.protocolVersion, "2025-11-25");
  answer = await raw(init("2025-11-25"), { Origin: "http://evil.example" });
  assert.equal(answer.status, 403);
  answer = await raw(init("2025-11-25"), { Origin: allowedOrigin });
  assert.equal(answer.status, 200);
  answer = await raw(init("2025-11-25"), { "Content-Type": "text/plain" });
  assert.equal(answer.status, 415);
  const get = await fetch(base + "/mcp", { headers: { Accept: "text/event-stream", "Mcp-Session-Id": transport.sessionId, ...bearer } });
  assert.equal(get.status, 405, "no server-initiated stream");
  await get.text();

  // Figures, printed and never asserted: one tool call against the REST call it makes.
  const rounds = 50;
  let started = performance.now();
  for (let i = 0; i < rounds; i++)
    await client.callTool({ name: "get_title", arguments: { id: titleId } });
  const viaMcp = (performance.now() - started) / rounds;
  started = performance.now();
  for (let i = 0; i < rounds; i++)
    await rest("GET", `/api/v1/content/${titleId}`, bearer);
  const viaRest = (performance.now() - started) / rounds;
  console.log(`figures: get_title via /mcp ${viaMcp.toFixed(2)} ms a call, GET /api/v1/content/{id} ` +
    `${viaRest.toFixed(2)} ms (${rounds} sequential calls each)`);

  // DELETE ends the session: later messages and a second DELETE are 404.
  const ended = transport.sessionId;
  await transport.terminateSession();
  await client.close();
  answer = await raw({ jsonrpc: "2.0", id: 11, method: "ping" }, { ...bearer, "Mcp-Session-Id": ended });
  assert.equal(answer.status, 404, "an ended session");
  const again = await fetch(base + "/mcp", { method: "DELETE", headers: { ...bearer, "Mcp-Session-Id": ended } });
  assert.equal(again.status, 404);

  // Anonymous: every tool listed, the public ones work, the user ones answer UNAUTHORIZED.
  const anonymous = await connect({});
  const names = (await anonymous.client.listTools()).tools.map((t) => t.name);
  assert.deepEqual(names.sort(), [...TOOLS].sort());
  await same(anonymous.client, "get_title", { id: titleId }, "GET", `/api/v1/content/${titleId}`, {});
  for (const [tool, args] of [["get_watchlist", {}], ["add_to_watchlist", { content_id: titleId }],
    ["remove_from_watchlist", { content_id: titleId }], ["set_progress", { content_id: titleId, position_s: 1 }]]) {
    const refusal = await anonymous.client.callTool({ name: tool, arguments: args });
    assert.equal(refusal.isError, true, tool);
    assert.equal(JSON.parse(refusal.content[0].text).error.code, "UNAUTHORIZED", tool);
  }
  await anonymous.transport.terminateSession();
  await anonymous.client.close();
  console.log("ok: /mcp with the MCP TypeScript SDK client");
}

main().catch((error) => {
  console.error("FAIL:", error);
  process.exit(1);
});
