"""The queue's promises under real processes: servers and workers race, and some are killed.

Two `jobql serve` processes share the test's database; workers are separate Python processes
(tests/claimer.py) that claim through HTTP. Nothing here is argued: each claim is counted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.blobs import STAGING_PREFIX, BlobStore
from app.db.ids import new_id
from app.db.models import job_events, job_queue, jobs, reports
from app.services.sweeper import ABANDONED_UPLOAD_SECONDS
from tests.live_server import free_port, jobql_command, read_logs, server_env, stop, wait_until_up
from tests.mutation_support import database
from tests.queue_support import new_analyzer, worker_key
from tests.support import KEYS, Env

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def servers(env: Env, workdir: Path, count: int = 2, **settings: str) -> Iterator[list[str]]:
    """`count` `jobql serve` processes over the test's database; their base URLs."""
    with serving(env, workdir, count, **settings) as (urls, _):
        yield urls


@contextlib.contextmanager
def serving(
    env: Env, workdir: Path, count: int = 2, **settings: str
) -> Iterator[tuple[list[str], list[subprocess.Popen[bytes]]]]:
    """As `servers`, with the processes too: (base URLs, processes)."""
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    variables = server_env() | {
        "JOBQL_DATABASE_URL": env.settings.database_url,
        "JOBQL_BLOB_DIR": str(env.settings.blob_dir),
        "JOBQL_SECRET_KEY": env.settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
        "JOBQL_RATE_LIMIT_PER_SECOND": "0",
        **{f"JOBQL_{k.upper()}": v for k, v in settings.items()},
    }
    try:
        for n in range(count):
            port = free_port()
            command = [jobql_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
            with (workdir / f"server{n}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(command, cwd=workdir, env=variables, stdout=log, stderr=log)
                )
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            wait_until_up(url, process, workdir)
        yield urls, processes
    finally:
        for process in processes:
            stop(process)


def claimer(url: str, key: str, analyzer: str, out: Path, *more: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.claimer", url, key, analyzer, str(out), *more]
    return subprocess.Popen(command, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})


async def queue_jobs(env: Env, analyzer: str, count: int, max_attempts: int = 1) -> list[str]:
    """`count` WAITING jobs with their queue rows, written as a submission writes them."""
    now = datetime.now(UTC)
    ids = [new_id() for _ in range(count)]
    job_rows = [_job_row(job_id, analyzer, now) | {"max_attempts": max_attempts} for job_id in ids]
    queue_rows = [
        {
            "job_id": job_id,
            "organization_id": "demo",
            "analyzer_id": analyzer,
            "priority": 1,
            "enqueued_at": now,
            "available_at": now,
            "state": "QUEUED",
            "cancel_requested": False,
        }
        for job_id in ids
    ]
    async with database(env).write() as conn:
        await conn.execute(jobs.insert(), job_rows)
        await conn.execute(job_queue.insert(), queue_rows)
    return ids


def _job_row(job_id: str, analyzer: str, now: datetime) -> dict[str, Any]:
    return {
        "id": job_id,
        "organization_id": "demo",
        "analyzer_id": analyzer,
        "analyzer_name": "Race_1_0",
        "analyzer_definition_id": "Race_1_0",
        "data_type": "ip",
        "status": "WAITING",
        "data": f"10.0.{job_id[:2]}.1",
        "parameters": {},
        "message": "",
        "tlp": 2,
        "pap": 2,
        "created_at": now,
        "created_by": "race@demo",
    }


async def _scalar(env: Env, query: Any) -> Any:
    async with database(env).read() as conn:
        return await conn.scalar(query)


@pytest.mark.parametrize("claimers", [32])
async def test_racing_claimers_take_each_job_exactly_once(
    env: Env, tmp_path: Path, claimers: int
) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    ids = await queue_jobs(env, analyzer, 10_000)
    with servers(env, tmp_path) as urls:
        outs = [tmp_path / f"claims{n}.txt" for n in range(claimers)]
        running = [
            claimer(urls[n % len(urls)], key, analyzer, out, "--no-complete")
            for n, out in enumerate(outs)
        ]
        codes = [process.wait(timeout=600) for process in running]
    assert codes == [0] * claimers, read_logs(tmp_path)
    claimed = Counter(line for out in outs for line in out.read_text().split())
    assert set(claimed) == set(ids)  # nothing left
    assert max(claimed.values()) == 1  # nothing twice
    left = select(func.count()).where(
        job_queue.c.analyzer_id == analyzer, job_queue.c.state == "QUEUED"
    )
    assert await _scalar(env, left) == 0
    starts = select(func.count()).where(
        job_events.c.status == "IN_PROGRESS", job_events.c.job_id.in_(ids[:500])
    )
    assert await _scalar(env, starts) == 500  # one start event each


async def test_a_killed_worker_s_jobs_come_back_and_end_once(env: Env, tmp_path: Path) -> None:
    analyzer = await new_analyzer(env, max_attempts=2)
    key = await worker_key(env)
    ids = await queue_jobs(env, analyzer, 20, max_attempts=2)
    with servers(env, tmp_path, sweep_interval_seconds="0.5") as urls:
        doomed = claimer(urls[0], key, analyzer, tmp_path / "doomed.txt", "--hold", "--lease", "2")
        deadline = time.monotonic() + 30
        while not (tmp_path / "doomed.txt").exists() or not (tmp_path / "doomed.txt").read_text():
            assert time.monotonic() < deadline, "the doomed worker claimed nothing"
            time.sleep(0.1)
        time.sleep(0.3)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        held = (tmp_path / "doomed.txt").read_text().split()
        survivor = claimer(urls[1], key, analyzer, tmp_path / "survivor.txt", "--wait", "4")
        assert survivor.wait(timeout=120) == 0
    assert held and set(held) <= set(ids)
    redone = set((tmp_path / "survivor.txt").read_text().split())
    assert redone == set(ids)  # the killed worker's jobs came back and ran again
    done = select(func.count()).where(jobs.c.id.in_(ids), jobs.c.status == "SUCCESS")
    assert await _scalar(env, done) == len(ids)
    one_report_each = select(func.count()).where(reports.c.job_id.in_(ids))
    assert await _scalar(env, one_report_each) == len(ids)
    second = select(func.count()).where(jobs.c.id.in_(held), jobs.c.attempt == 2)
    assert await _scalar(env, second) == len(held)


async def test_a_rate_limit_holds_across_processes(env: Env, tmp_path: Path) -> None:
    analyzer = await new_analyzer(env, rate=4, rate_unit="SECOND")
    key = await worker_key(env)
    ids = await queue_jobs(env, analyzer, 24)
    with servers(env, tmp_path) as urls:
        running = [
            claimer(urls[n % 2], key, analyzer, tmp_path / f"rate{n}.txt", "--batch", "3")
            for n in range(4)
        ]
        assert [p.wait(timeout=120) for p in running] == [0] * 4
    query = select(jobs.c.start_date).where(jobs.c.id.in_(ids)).order_by(jobs.c.start_date)
    async with database(env).read() as conn:
        starts = list((await conn.execute(query)).scalars())
    assert len(starts) == len(ids) and all(starts)  # none failed, all ran
    for i in range(len(starts) - 4):  # never a fifth start within one second
        assert (starts[i + 4] - starts[i]).total_seconds() >= 1.0


async def test_upload_files_of_a_killed_server_are_swept_later(env: Env, tmp_path: Path) -> None:
    """A server SIGKILLed mid-upload leaves its staging file; a later server's sweeper removes it
    once it is older than any live upload can be, and leaves a recent one alone."""
    store = BlobStore(env.settings.blob_dir)
    head = (
        "POST /attachments HTTP/1.1\r\nHost: jobql.test\r\nContent-Length: 5000000\r\n"
        f"Authorization: Bearer {KEYS['demo.analyze']}\r\n"
        'Content-Disposition: attachment; filename="cut.bin"\r\n\r\n'
    )
    with serving(env, tmp_path, count=1) as (urls, (process,)):
        host, port = urls[0].removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as client:
            client.sendall(head.encode() + os.urandom(2_000_000))
            _until(lambda: bool(store.staging_files()), "the server never began to stage the body")
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    (orphan,) = store.staging_files()
    old = time.time() - ABANDONED_UPLOAD_SECONDS - 60
    os.utime(orphan, (old, old))
    recent = env.settings.blob_dir / f"{STAGING_PREFIX}recent"
    recent.write_bytes(b"an upload still in progress")
    with servers(env, tmp_path, count=1, sweep_interval_seconds="0.2"):
        _until(lambda: not orphan.exists(), "the abandoned upload file was never removed")
    assert recent.exists()


def _until(condition: Any, failure: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)
