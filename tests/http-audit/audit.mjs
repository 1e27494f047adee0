// The graphql-http audit suite (GraphQL-over-HTTP spec conformance) against a live jobql.
// Usage: node tests/http-audit/audit.mjs URL API_KEY — prints the results as JSON.
// jobql answers 401 to every request without a key, so each audit request carries one.
import { auditServer } from 'graphql-http';

const [url, key] = process.argv.slice(2);
if (!url || !key) {
  console.error('usage: node tests/http-audit/audit.mjs URL API_KEY');
  process.exit(2);
}

function fetchWithKey(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: fetchWithKey });
const summary = await Promise.all(
  results.map(async (result) => ({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.reason ?? null,
    body: result.response ? await result.response.text() : null,
  })),
);
console.log(JSON.stringify(summary, null, 2));
