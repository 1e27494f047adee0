"""A bare worker process for the race tests: claims until the queue is empty, writes what it got.

python -m tests.claimer URL KEY ANALYZER OUT [--batch N] [--lease S] [--wait S] [--hold]
    [--no-complete]

Each claimed job id goes to OUT, one line per job, flushed at once (so a process killed with
SIGKILL leaves what it had). `--hold` stops after the first claim and sleeps, never
heartbeating: a worker that hangs or dies mid-job.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import httpx

CLAIM = """mutation($input: ClaimJobsInput!) { claimJobs(input: $input) {
  retryAfterSeconds leases { leaseToken job { id } } } }"""
COMPLETE = """mutation($lease: LeaseRef!) { completeJob(lease: $lease, report: {taxonomies: [
  {level: SAFE, namespace: "Race", predicate: "Ran", value: "once"}]}) { id } }"""


def post(client: httpx.Client, query: str, variables: dict[str, Any]) -> Any:
    """The answer's body; a busy server (503) is asked again after its Retry-After."""
    while True:
        response = client.post("/graphql", json={"query": query, "variables": variables})
        if response.status_code != 503:
            return response.json()
        time.sleep(float(response.headers.get("Retry-After", "1")))


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("url", "key", "analyzer", "out"):
        parser.add_argument(name)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--lease", type=int, default=60)
    parser.add_argument("--wait", type=int, default=0, help="waitSeconds of each claim")
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--no-complete", action="store_true")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.key}"}
    worker = f"claimer-{os.getpid()}"
    with (
        httpx.Client(base_url=args.url, headers=headers, timeout=30) as client,
        open(args.out, "a", buffering=1) as out,
    ):
        empty = 0
        while empty < 3:
            claim_input = {
                "workerId": worker,
                "analyzerIds": [args.analyzer],
                "max": args.batch,
                "leaseSeconds": args.lease,
                "waitSeconds": args.wait,
            }
            body = post(client, CLAIM, {"input": claim_input})
            if "errors" in body:
                print(body["errors"], file=sys.stderr)
                return 1
            leases = body["data"]["claimJobs"]["leases"]
            retry_after = body["data"]["claimJobs"]["retryAfterSeconds"]
            for lease in leases:
                out.write(lease["job"]["id"] + "\n")
            if args.hold and leases:
                time.sleep(3600)
            # Held back by a limit is not empty: there is work, later.
            empty = 0 if leases or retry_after else empty + 1
            if not args.no_complete:
                for lease in leases:
                    ref = {"jobId": lease["job"]["id"], "leaseToken": lease["leaseToken"]}
                    done = post(client, COMPLETE, {"lease": ref})
                    if "errors" in done:
                        print(done["errors"], file=sys.stderr)
                        return 1
            if not leases:
                time.sleep(retry_after or 0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
