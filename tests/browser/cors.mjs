// A page of another origin calls jobql with fetch() in Chromium: the browser sends its own CORS
// preflight (Authorization and a JSON body make the request non-simple), and only a listed
// origin gets the answer. The pages come from a small HTTP server of this script's own on
// 127.0.0.1 and localhost: two origins, neither the API's.
//
// Usage: node tests/browser/cors.mjs
//   JOBQL_URL   base URL of a live jobql server (required)
//   JOBQL_KEY   an API key with the READ role (required)
//   PAGE_PORT   the port of the pages' server (default: any free one)
//   CHROMIUM    browser executable (default /usr/bin/chromium)
// Prints one JSON line: {origin: {ok, status, jobs, error}} for each page origin.
import { createServer } from "node:http";
import { chromium } from "playwright-core";

const baseUrl = process.env.JOBQL_URL;
const key = process.env.JOBQL_KEY;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const pages = createServer((_, response) => {
  response.writeHead(200, { "content-type": "text/html" });
  response.end("<!doctype html><title>frontend</title><p>frontend</p>");
});
await new Promise((resolve) => pages.listen(Number(process.env.PAGE_PORT || 0), "127.0.0.1", resolve));
const port = pages.address().port;
const origins = [`http://127.0.0.1:${port}`, `http://localhost:${port}`];

const browser = await chromium.launch({ executablePath, args: ARGS });
const seen = {};
try {
  for (const origin of origins) {
    const page = await browser.newPage();
    await page.goto(origin + "/");
    seen[origin] = await page.evaluate(async ({ url, key }) => {
      try {
        const response = await fetch(url + "/graphql", {
          method: "POST",
          headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
          body: JSON.stringify({ query: "{ jobs(first: 2) { edges { node { id } } } }" }),
        });
        const body = await response.json();
        return { ok: true, status: response.status, jobs: body.data.jobs.edges.length,
                 requestId: response.headers.get("x-request-id") };
      } catch (error) {
        return { ok: false, error: String(error) };
      }
    }, { url: baseUrl, key });
    await page.close();
  }
} finally {
  await browser.close();
  pages.close();
}
console.log(JSON.stringify(seen));
