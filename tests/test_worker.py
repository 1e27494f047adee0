"""`jobql worker` end to end: a real uvicorn, the real worker subprocess, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.services.sweeper import sweep
from tests.live_server import free_port, jobql_command, server_env
from tests.served import serve
from tests.support import Env

WORKER_KEYS = {
    "demo": "jq_demoworker_worker-key-for-the-demo-organization-only",
    "acme": "jq_acmeworker_worker-key-for-the-acme-organization-only",
}
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
LEASE_SECONDS = 6  # heartbeats every 2 s: a cancel reaches the worker within that
CLAIM_WAIT_SECONDS = 1  # stopping waits for the claim in flight: keep it short here
WAIT_SECONDS = 60.0  # generous: two cores are shared by every test run on the machine

SUBMIT = """
mutation Submit($input: SubmitJobInput!) { submitJob(input: $input) { job { id status } } }
"""
JOB = """
query Job($id: ID!) {
  job(id: $id) {
    id status attempt
    report {
      success errorMessage full
      summary { taxonomies { level namespace predicate value } }
      artifacts { dataType data tlp }
    }
    events { status previousStatus actor }
  }
}
"""
CANCEL = 'mutation Cancel($id: ID!) { cancelJob(id: $id, reason: "stop") { id status } }'


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for(self, text: str, timeout: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.returncode is not None:
                pytest.fail(f"the worker exited ({self.process.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} from the worker in {timeout}s:\n{self.output()}")
            await asyncio.sleep(0.1)

    async def terminate(self, timeout: float = 30) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)


@contextlib.asynccontextmanager
async def worker(
    url: str, log: Path, *args: str, org: str = "demo"
) -> AsyncIterator[WorkerProcess]:
    """`jobql worker` against `url`, logging to `log`; at the end SIGTERM (SIGKILL if stuck)."""
    command = [str(jobql_command()), "worker", "--url", url, "--key", WORKER_KEYS[org]]
    command += ["--lease-seconds", str(LEASE_SECONDS), "--worker-id", f"test-{log.stem}"]
    command += ["--wait-seconds", str(CLAIM_WAIT_SECONDS), *args]
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=out, stderr=out, env=server_env()
        )
    running = WorkerProcess(process, log)
    try:
        yield running
    finally:
        if process.returncode is None:
            try:
                await running.terminate()
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
async def url(env: Env) -> AsyncIterator[str]:
    async with serve(env) as served:
        yield served


async def analyzer_id(env: Env, name: str, key: str = "demo.read") -> str:
    data = await env.data("{ analyzers(first: 100) { nodes { id name } } }", key=key)
    return next(a["id"] for a in data["analyzers"]["nodes"] if a["name"] == name)


async def submit(env: Env, analyzer: str, data_type: str, **fields: Any) -> str:
    key = fields.pop("key", "demo.analyze")
    body = {"analyzerId": analyzer, "dataType": data_type, **fields}
    found = await env.data(SUBMIT, {"input": body}, key=key)
    return str(found["submitJob"]["job"]["id"])


async def job(env: Env, job_id: str, key: str = "demo.read") -> dict[str, Any]:
    found: dict[str, Any] = (await env.data(JOB, {"id": job_id}, key=key))["job"]
    return found


async def wait_status(
    env: Env, job_id: str, *statuses: str, key: str = "demo.read"
) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = await job(env, job_id, key)
        if found["status"] in statuses:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {found['status']}, not {statuses}")
        await asyncio.sleep(0.1)


def taxonomies(found: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (t["level"], t["namespace"], t["predicate"], t["value"])
        for t in found["report"]["summary"]["taxonomies"]
    ]


async def test_worker_runs_observable_jobs_to_real_reports(
    env: Env, url: str, tmp_path: Path
) -> None:
    classifier = await analyzer_id(env, "Observable_Classifier")
    ip = await submit(env, classifier, "ip", data="10.1.2.3")
    link = await submit(env, classifier, "url", data="https://bank.example@evil.example/x?a=1")
    bad = await submit(env, classifier, "ip", data="not-an-ip")
    async with worker(url, tmp_path / "w.log") as running:
        done = await wait_status(env, ip, "SUCCESS", "FAILURE")
        assert done["status"] == "SUCCESS", done
        assert done["report"]["success"] is True
        assert taxonomies(done) == [("INFO", "Classifier", "IP", "IPv4 private")]
        assert done["report"]["full"]["class"] == "private"
        assert [e["status"] for e in done["events"]] == ["WAITING", "IN_PROGRESS", "SUCCESS"]

        done = await wait_status(env, link, "SUCCESS", "FAILURE")
        assert ("SUSPICIOUS", "Classifier", "Userinfo", "evil.example") in taxonomies(done)
        assert done["report"]["artifacts"] == [
            {"dataType": "domain", "data": "evil.example", "tlp": 2}
        ]

        failed = await wait_status(env, bad, "SUCCESS", "FAILURE")
        assert failed["status"] == "FAILURE"
        assert failed["report"]["errorMessage"] == "not an IP address: 'not-an-ip'"
        await running.wait_for(f"job {ip} finished: SUCCESS")
    assert running.process.returncode == 0


async def test_worker_downloads_a_file_job_and_finds_eicar(
    env: Env, url: str, tmp_path: Path
) -> None:
    found = await env.data(
        "query($sha: String!) { jobs(first: 1, filter: {attachmentSha256: {eq: $sha}}) "
        "{ nodes { attachment { id } } } }",
        {"sha": EICAR_SHA256},
    )
    eicar = found["jobs"]["nodes"][0]["attachment"]["id"]
    file_info = await analyzer_id(env, "File_Info")
    job_id = await submit(env, file_info, "file", attachmentId=eicar)
    async with worker(url, tmp_path / "w.log"):
        done = await wait_status(env, job_id, "SUCCESS", "FAILURE")
    assert done["status"] == "SUCCESS", done
    assert ("MALICIOUS", "FileInfo", "EICAR", "EICAR-Test-File") in taxonomies(done)
    assert done["report"]["full"]["sha256"] == EICAR_SHA256
    assert done["report"]["full"]["md5"] == "44d88612fea8a8f36de82e1278abb02f"


async def test_cancel_reaches_the_running_worker(env: Env, url: str, tmp_path: Path) -> None:
    classifier = await analyzer_id(env, "Observable_Classifier")
    slow = await submit(env, classifier, "ip", data="8.8.8.8", parameters={"sleepSeconds": 120})
    async with worker(url, tmp_path / "w.log") as running:
        await running.wait_for(f"job {slow} claimed")
        await wait_status(env, slow, "IN_PROGRESS")
        await env.data(CANCEL, {"id": slow}, key="demo.analyze")
        await running.wait_for(f"job {slow} stopped: the lease is CANCELLED")
        # The worker goes on with other work, and never reports the cancelled job.
        quick = await submit(env, classifier, "ip", data="1.1.1.1")
        assert (await wait_status(env, quick, "SUCCESS"))["report"]["success"]
        assert f"job {slow} finished" not in running.output()
    cancelled = await job(env, slow)
    assert cancelled["status"] == "CANCELLED" and cancelled["report"] is None


async def test_sigterm_releases_the_lease_without_spending_the_attempt(
    env: Env, url: str, tmp_path: Path
) -> None:
    classifier = await analyzer_id(env, "Observable_Classifier")
    slow = await submit(env, classifier, "ip", data="9.9.9.9", parameters={"sleepSeconds": 120})
    async with worker(url, tmp_path / "first.log") as first:
        await first.wait_for(f"job {slow} claimed: Observable_Classifier on ip 9.9.9.9 (attempt 1)")
        await wait_status(env, slow, "IN_PROGRESS")
        assert await first.terminate() == 0
        assert f"job {slow} released" in first.output()
    released = await job(env, slow)
    assert released["status"] == "WAITING" and released["report"] is None
    assert [e["status"] for e in released["events"]] == ["WAITING", "IN_PROGRESS", "WAITING"]
    # The next worker gets the same job at the same attempt: the release spent none.
    async with worker(url, tmp_path / "second.log") as second:
        await second.wait_for(
            f"job {slow} claimed: Observable_Classifier on ip 9.9.9.9 (attempt 1)"
        )
        assert await second.terminate() == 0
    assert (await job(env, slow))["status"] == "WAITING"


async def test_a_lost_lease_stops_the_job_and_reports_nothing(
    env: Env, url: str, tmp_path: Path
) -> None:
    classifier = await analyzer_id(env, "Observable_Classifier")
    slow = await submit(env, classifier, "ip", data="4.4.4.4", parameters={"sleepSeconds": 120})
    async with worker(url, tmp_path / "w.log") as running:
        await running.wait_for(f"job {slow} claimed")
        await wait_status(env, slow, "IN_PROGRESS")
        running.process.send_signal(signal.SIGSTOP)  # a worker that hangs: no more heartbeats
        try:
            # The server's sweeper, one pass as if the lease had run out (no attempt is left).
            later = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS + 1)
            assert (await sweep(env.app.state.db, later)).timed_out == 1
        finally:
            running.process.send_signal(signal.SIGCONT)
        await running.wait_for(f"job {slow} stopped: the lease is LOST")
        assert f"job {slow} finished" not in running.output()
    timed_out = await job(env, slow)
    assert timed_out["status"] == "TIMEOUT"


async def test_a_worker_runs_its_own_organization_only(env: Env, url: str, tmp_path: Path) -> None:
    demo_job = await submit(
        env, await analyzer_id(env, "Observable_Classifier"), "ip", data="8.8.4.4"
    )
    acme_classifier = await analyzer_id(env, "Observable_Classifier", key="acme.read")
    acme_job = await submit(env, acme_classifier, "ip", data="8.8.4.4", key="acme.analyze")
    async with worker(url, tmp_path / "acme.log", org="acme") as running:
        done = await wait_status(env, acme_job, "SUCCESS", key="acme.read")
        assert done["report"]["success"]
        assert demo_job not in running.output()
    assert (await job(env, demo_job))["status"] == "WAITING"


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("jq_demoread_read-key-for-the-demo-organization-only", "the server refuses the claims"),
        ("jq_nosuchkey_not-a-key-of-anyone", "HTTP 401 from"),
    ],
)
async def test_worker_refuses_a_key_without_the_worker_role(
    url: str, tmp_path: Path, key: str, says: str
) -> None:
    log = tmp_path / "w.log"
    command = [str(jobql_command()), "worker", "--url", url, "--key", key]
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=out, stderr=out, env=server_env()
        )
        assert await asyncio.wait_for(process.wait(), WAIT_SECONDS) == 2
    output = log.read_text()
    assert says in output and "Traceback" not in output, output


async def test_worker_names_an_unknown_analyzer(url: str, tmp_path: Path) -> None:
    async with worker(url, tmp_path / "w.log", "--analyzers", "File_Info,Nope") as running:
        assert await asyncio.wait_for(running.process.wait(), WAIT_SECONDS) == 2
        assert "no built-in analyzer Nope in this organization" in running.output()


def test_worker_help_lists_its_flags() -> None:
    shown = subprocess.run(
        [str(jobql_command()), "worker", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--url",
        "--key",
        "--analyzers",
        "--concurrency",
        "--lease-seconds",
        "--no-control",
    ):
        assert flag in shown


def test_demo_stops_the_worker_before_the_server(tmp_path: Path) -> None:
    """Ctrl-C on `jobql demo`: the worker hands its job back while the server still answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [str(jobql_command()), "demo", "--port", str(port)],
            cwd=tmp_path,
            env=server_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, signalled as a terminal's Ctrl-C would
        )
    try:
        wait_for_text(log, "worker demo-worker runs")
        classifier = "8ed30746079d705924cb"  # the demo's, as the README gives it
        body = {
            "query": SUBMIT,
            "variables": {
                "input": {
                    "analyzerId": classifier,
                    "dataType": "ip",
                    "data": "10.9.9.9",
                    "parameters": {"sleepSeconds": 120},
                }
            },
        }
        headers = {
            "Authorization": "Bearer jq_demoanalyze_analyze-key-for-the-demo-organization-only"
        }
        answer = httpx.post(f"{base}/graphql", json=body, headers=headers, timeout=30).json()
        job_id = answer["data"]["submitJob"]["job"]["id"]
        wait_for_text(log, f"job {job_id} claimed")
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    output = log.read_text(errors="replace")
    assert f"job {job_id} released" in output, output
    assert output.index(f"job {job_id} released") < output.index("Shutting down")
    with sqlite3.connect(tmp_path / "jobql.db") as db:
        found = db.execute("SELECT status, attempt FROM job WHERE id = ?", (job_id,)).fetchall()
    assert found == [("WAITING", 0)]  # back in the queue, the attempt given back


def wait_for_text(log: Path, text: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            pytest.fail(f"no {text!r} in {timeout}s:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
