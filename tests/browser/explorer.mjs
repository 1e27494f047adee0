// Drives the jobql explorer in Debian's Chromium: loads GET /graphql, checks that every request
// stays on the page's origin and that the CSP was never violated, runs the editor's query with
// the run button, checks that the result pane shows jobs, saves screenshots, then opens the
// schema documentation and the settings dialog.
//
// Usage: node tests/browser/explorer.mjs
//   JOBQL_URL         base URL of a live `jobql serve --demo` (required), e.g. http://127.0.0.1:8123
//   JOBQL_DEMO_KEY    the demo key the headers editor must show (optional)
//   SCREENSHOTS       comma-separated PNG paths to write (optional)
//   CHROMIUM          browser executable (default /usr/bin/chromium)
// Prints one JSON line with what it saw; exits 1 with a reason on the first failed check.
import { mkdtempSync, rmSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

const baseUrl = process.env.JOBQL_URL;
const demoKey = process.env.JOBQL_DEMO_KEY || "";
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

async function saveScreenshots(page) {
  for (const path of screenshots) {
    mkdirSync(dirname(path), { recursive: true });
    await page.screenshot({ path });
  }
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
    const editors = await checkEditors(page);
    const jobs = await runQuery(page);
    await saveScreenshots(page);
    await browseDocsAndSettings(page);
    const violations = await page.evaluate(() => window.__cspViolations);
    if (violations.length) fail(`CSP violations: ${violations.join("; ")}`);
    if (requests.foreign.length) fail(`requests left the origin: ${requests.foreign.join(", ")}`);
    if (errors.length) fail(`errors in the page: ${errors.join("; ")}`);
    console.log(JSON.stringify({ ok: true, jobs, requests: requests.seen, headers: editors.headers }));
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`explorer browser test FAILED: ${error.message}`);
  process.exit(1);
});
