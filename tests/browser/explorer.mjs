// Drives the jobql explorer in Debian's Chromium: loads GET /graphql, checks that every request
// stays on the page's origin and that the CSP was never violated, runs the editor's query with
// the run button, checks that the result pane shows jobs, saves screenshots, then opens the
// schema documentation and the settings dialog. With JOBQL_ANALYZE_KEY it then runs a
// jobUpdates subscription in the editor, submits a job over HTTP, and waits for its event in
// the result pane; and runs it again with a refused key, which the pane must say.
//
// Usage: node tests/browser/explorer.mjs
//   JOBQL_URL         base URL of a live `jobql serve --demo` (required), e.g. http://127.0.0.1:8123
//   JOBQL_DEMO_KEY    the demo key the headers editor must show (optional)
//   JOBQL_ANALYZE_KEY a key that may submit jobs: runs the subscription checks (optional)
//   JOBQL_PASTE_KEY   instead of the above, for a server without --demo: paste this key into
//                     the Headers tab, see the schema load, and check that a reload keeps it
//                     only once "Persist headers" is on
//   SCREENSHOTS       comma-separated PNG paths to write (optional)
//   CHROMIUM          browser executable (default /usr/bin/chromium)
// Prints one JSON line with what it saw; exits 1 with a reason on the first failed check.
import { mkdtempSync, rmSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

const baseUrl = process.env.JOBQL_URL;
const demoKey = process.env.JOBQL_DEMO_KEY || "";
const analyzeKey = process.env.JOBQL_ANALYZE_KEY || "";
const pasteKey = process.env.JOBQL_PASTE_KEY || "";
const screenshots = (process.env.SCREENSHOTS || "").split(",").filter(Boolean);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT_MS = 30_000;

// The flags this machine needs: no sandbox as root, and no background traffic to outside hosts.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function fail(message) {
  throw new Error(message);
}

function watchRequests(context, origin) {
  const seen = [];
  const foreign = [];
  context.on("request", (request) => {
    const url = request.url();
    seen.push(`${request.method()} ${url}`);
    // data: URLs never leave the browser; everything else must be same-origin.
    if (!url.startsWith("data:") && new URL(url).origin !== origin) foreign.push(url);
  });
  return { seen, foreign };
}

async function openExplorer(page, origin) {
  // Collect CSP violations in the page itself: they prove the policy held, not just the network.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (event) => {
      window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  const response = await page.goto(`${origin}/graphql`, { waitUntil: "load" });
  if (!response || response.status() !== 200) fail(`GET /graphql answered ${response?.status()}`);
  const type = response.headers()["content-type"] || "";
  if (!type.startsWith("text/html")) fail(`GET /graphql is ${type}, not the explorer page`);
  await page.locator(".graphiql-container").waitFor({ timeout: TIMEOUT_MS });
  await page.locator(".graphiql-query-editor .CodeMirror").waitFor({ timeout: TIMEOUT_MS });
}

async function editorText(page, selector) {
  // CodeMirror 5 keeps the whole document on its instance; the DOM holds only visible lines.
  return page.evaluate((sel) => {
    const editor = document.querySelector(sel);
    return editor && editor.CodeMirror ? editor.CodeMirror.getValue() : null;
  }, selector);
}

async function checkEditors(page) {
  const query = await editorText(page, ".graphiql-query-editor .CodeMirror");
  if (!query || !query.includes("jobs(")) fail(`query editor has no jobs query: ${query}`);
  const headers = await editorText(page, ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror");
  if (demoKey && !(headers || "").includes(`Bearer ${demoKey}`)) {
    fail(`headers editor lacks the demo key: ${headers}`);
  }
  return { query, headers };
}

async function runQuery(page) {
  const answer = page.waitForResponse(
    // GraphiQL also POSTs its introspection query on load; wait for the editor's query only.
    (r) =>
      r.request().method() === "POST" &&
      new URL(r.url()).pathname === "/graphql" &&
      !(r.request().postData() || "").includes("IntrospectionQuery"),
    { timeout: TIMEOUT_MS },
  );
  await page.locator("button.graphiql-execute-button").click();
  const response = await answer;
  const body = await response.json();
  if (response.status() !== 200) fail(`POST /graphql answered ${response.status()}`);
  if (body.errors) fail(`the query failed: ${JSON.stringify(body.errors)}`);
  const nodes = body?.data?.jobs?.nodes || [];
  if (nodes.length === 0) fail("the query returned no jobs");
  // The pane, not only the wire: the analyst must see the jobs.
  const pane = page.locator(".graphiql-response .CodeMirror");
  await pane.getByText(nodes[0].id, { exact: false }).first().waitFor({ timeout: TIMEOUT_MS });
  const shown = await editorText(page, ".graphiql-response .CodeMirror");
  if (!shown.includes('"jobs"') || !shown.includes(nodes[0].id)) fail("result pane shows no jobs");
  return nodes.length;
}

async function browseDocsAndSettings(page) {
  // The schema documentation comes from introspection over the same origin; the settings
  // dialog adds a <style> element at run time, which the CSP must let through by its nonce.
  await page.locator('button[aria-label="Show Documentation Explorer"]').click();
  const docs = page.locator(".graphiql-doc-explorer");
  await docs.getByText("Root Types").waitFor({ timeout: TIMEOUT_MS });
  await docs.getByText("JobFilter", { exact: true }).first().waitFor({ timeout: TIMEOUT_MS });
  await page.locator('button[aria-label="Open settings dialog"]').click();
  await page.locator(".graphiql-dialog").waitFor({ timeout: TIMEOUT_MS });
  await page.keyboard.press("Escape");
  await page.locator(".graphiql-dialog").waitFor({ state: "detached", timeout: TIMEOUT_MS });
}

async function gql(query, variables, key) {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (response.status !== 200 || body.errors) fail(`${query} answered ${JSON.stringify(body)}`);
  return body.data;
}

async function setEditor(page, selector, text) {
  await page.evaluate(
    ([sel, value]) => document.querySelector(sel).CodeMirror.setValue(value),
    [selector, text],
  );
}

const QUERY_EDITOR = ".graphiql-query-editor .CodeMirror";
const HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror";
const RESPONSE = ".graphiql-response .CodeMirror";
// From a cursor taken before it starts, not from "HEAD": a job submitted before the server has
// set the subscription up is still delivered (replayed), so the check cannot race.
const subscriptionFrom = (cursor) => `subscription Watch {
  jobUpdates(after: "${cursor}") { cursor event { status jobId } job { id status data } }
}`;

// Starts the editor's subscription and resolves once the server acknowledged connection_init.
async function startSubscription(page) {
  const acked = page.waitForEvent("websocket", { timeout: TIMEOUT_MS }).then((ws) =>
    ws.waitForEvent("framereceived", {
      predicate: (frame) => String(frame.payload).includes('"connection_ack"'),
      timeout: TIMEOUT_MS,
    }).then(() => ws),
  );
  await page.locator("button.graphiql-execute-button").click();
  return acked;
}

async function submitJob() {
  const found = await gql("{ analyzers(first: 100) { nodes { id enabled dataTypes } } }", {}, analyzeKey);
  const analyzer = found.analyzers.nodes.find((a) => a.enabled && a.dataTypes.includes("ip"));
  if (!analyzer) fail("no enabled ip analyzer to submit to");
  // A fresh address each run, so no cached report answers instead of a new job.
  const data = `198.51.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;
  const input = { analyzerId: analyzer.id, dataType: "ip", data, parameters: { explorer: Date.now() } };
  const submitted = await gql(
    "mutation($input: SubmitJobInput!) { submitJob(input: $input) { job { id } } }",
    { input },
    analyzeKey,
  );
  return submitted.submitJob.job.id;
}

async function runSubscription(page) {
  const head = await gql('{ jobUpdates(after: "HEAD") { pageInfo { endCursor } } }', {}, analyzeKey);
  await setEditor(page, QUERY_EDITOR, subscriptionFrom(head.jobUpdates.pageInfo.endCursor));
  // GraphiQL takes the operation's name from the editor 100 ms after an edit (and stores it).
  await page.waitForFunction(() => localStorage.getItem("graphiql:operationName") === "Watch");
  const ws = await startSubscription(page);
  const url = new URL(ws.url());
  if (url.protocol !== "ws:" || url.pathname !== "/graphql") fail(`subscribed on ${ws.url()}`);
  const sent = [];
  ws.on("framesent", (frame) => sent.push(String(frame.payload)));
  const jobId = await submitJob();
  await page.locator(RESPONSE).getByText(jobId, { exact: false }).first().waitFor({ timeout: TIMEOUT_MS });
  const shown = await editorText(page, RESPONSE);
  if (!shown.includes('"jobUpdates"') || !shown.includes('"WAITING"')) fail(`pane: ${shown}`);
  // The run button is a stop button while the subscription runs: stopping closes the socket.
  const closed = ws.waitForEvent("close", { timeout: TIMEOUT_MS });
  await page.locator("button.graphiql-execute-button").click();
  await closed;
  return jobId;
}

// The key is read from the Headers tab at each run: a refused one shows in the pane at once.
async function runSubscriptionWithRefusedKey(page) {
  const headers = await editorText(page, HEADERS_EDITOR);
  await setEditor(page, HEADERS_EDITOR, '{"Authorization": "Bearer jq_nobody_not-a-key"}');
  const closed = page.waitForEvent("websocket", { timeout: TIMEOUT_MS }).then((ws) =>
    ws.waitForEvent("framesent", { timeout: TIMEOUT_MS }).then((frame) => {
      if (!String(frame.payload).includes("jq_nobody_not-a-key")) fail(`init: ${frame.payload}`);
    }),
  );
  await page.locator("button.graphiql-execute-button").click();
  await closed;
  const pane = page.locator(RESPONSE);
  await pane.getByText("refused the API key", { exact: false }).first().waitFor({ timeout: TIMEOUT_MS });
  await setEditor(page, HEADERS_EDITOR, headers);
}

const PLACEHOLDER = "Bearer <paste your API key here>";

async function showHeaders(page) {
  await page.locator(".graphiql-editor-tools").getByRole("button", { name: "Headers" }).click();
  await page.locator(HEADERS_EDITOR).waitFor({ timeout: TIMEOUT_MS });
}

async function reload(page) {
  await page.reload({ waitUntil: "load" });
  await page.locator(QUERY_EDITOR).waitFor({ timeout: TIMEOUT_MS });
  await showHeaders(page);
  return editorText(page, HEADERS_EDITOR);
}

// As a user pastes: into the focused editor, replacing what it held.
async function paste(page, text) {
  await page.locator(HEADERS_EDITOR).click();
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText(text);
}

async function schemaShown(page) {
  const docs = page.locator(".graphiql-doc-explorer");
  await docs.getByText("Root Types").waitFor({ timeout: TIMEOUT_MS });
  await docs.getByText("Query", { exact: true }).first().waitFor({ timeout: TIMEOUT_MS });
}

async function setPersistHeaders(page, on) {
  await page.locator('button[aria-label="Open settings dialog"]').click();
  await page.locator(on ? "#enable-persist-headers" : "#disable-persist-headers").click();
  await page.keyboard.press("Escape");
  await page.locator(".graphiql-dialog").waitFor({ state: "detached", timeout: TIMEOUT_MS });
}

async function remembered(page) {
  return page.evaluate((key) => JSON.stringify({ ...localStorage }).includes(key), pasteKey);
}

// Without --demo: the schema loads once a key is pasted (no refetch click), and a reload keeps
// the key only while "Persist headers" is on (off by default).
async function pasteKeyAndReload(page, requests) {
  await showHeaders(page);
  const first = await editorText(page, HEADERS_EDITOR);
  if (!first.includes(PLACEHOLDER)) fail(`headers editor does not hold the placeholder: ${first}`);
  await page.locator('button[aria-label="Show Documentation Explorer"]').click();
  const asked = requests.seen.filter((line) => line.startsWith("POST")).length;
  if (asked) fail(`the placeholder was sent to the server (${asked} POSTs)`);
  await paste(page, JSON.stringify({ Authorization: `Bearer ${pasteKey}` }));
  await schemaShown(page);
  const steps = { pasted: true };
  if ((await reload(page)).includes(pasteKey)) fail("the key survived a reload with Persist headers off");
  if (await remembered(page)) fail("the key is in localStorage with Persist headers off");
  await setPersistHeaders(page, true);
  await paste(page, JSON.stringify({ Authorization: `Bearer ${pasteKey}` }));
  // GraphiQL stores the headers 500 ms after an edit.
  await page.waitForFunction((key) => (localStorage.getItem("graphiql:headers") || "").includes(key), pasteKey);
  for (const round of [1, 2]) {
    const kept = await reload(page);
    if (!kept.includes(pasteKey)) fail(`reload ${round} with Persist headers on lost the key: ${kept}`);
    await page.locator('button[aria-label="Show Documentation Explorer"]').click();
    await schemaShown(page);
    await page.locator('button[aria-label="Hide Documentation Explorer"]').click();
  }
  steps.keptOverReloads = 2;
  await setPersistHeaders(page, false);
  // Past GraphiQL's 500 ms storage debounce: a store scheduled before "Off" must not bring the
  // key back.
  await page.waitForTimeout(1500);
  if (await remembered(page)) fail("turning Persist headers off left the key in localStorage");
  if ((await reload(page)).includes(pasteKey)) fail("the key survived a reload after Persist headers off");
  return steps;
}

async function saveScreenshots(page) {
  for (const path of screenshots) {
    mkdirSync(dirname(path), { recursive: true });
    await page.screenshot({ path });
  }
}

async function demoChecks(page) {
  const editors = await checkEditors(page);
  const jobs = await runQuery(page);
  await saveScreenshots(page);
  await browseDocsAndSettings(page);
  const subscribedJob = analyzeKey ? await runSubscription(page) : null;
  if (analyzeKey) await runSubscriptionWithRefusedKey(page);
  return { jobs, subscribedJob, headers: editors.headers };
}

async function main() {
  if (!baseUrl) fail("set JOBQL_URL to a live jobql server");
  if (!existsSync(executablePath)) fail(`no browser at ${executablePath}: apt-get install -y chromium`);
  const origin = new URL(baseUrl).origin;
  const profile = mkdtempSync(join(tmpdir(), "jobql-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1400, height: 860 },
  });
  const errors = [];
  try {
    const requests = watchRequests(context, origin);
    const page = context.pages()[0] || (await context.newPage());
    // WebSockets are not "request" events: watch them too (ws: and http: share the host).
    page.on("websocket", (ws) => {
      requests.seen.push(`WEBSOCKET ${ws.url()}`);
      if (new URL(ws.url()).host !== new URL(origin).host) requests.foreign.push(ws.url());
    });
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
    await openExplorer(page, origin);
    const seen = pasteKey ? await pasteKeyAndReload(page, requests) : await demoChecks(page);
    const violations = await page.evaluate(() => window.__cspViolations);
    if (violations.length) fail(`CSP violations: ${violations.join("; ")}`);
    if (requests.foreign.length) fail(`requests left the origin: ${requests.foreign.join(", ")}`);
    if (errors.length) fail(`errors in the page: ${errors.join("; ")}`);
    console.log(JSON.stringify({ ok: true, ...seen, requests: requests.seen }));
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`explorer browser test FAILED: ${error.message}`);
  process.exit(1);
});
