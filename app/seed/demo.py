"""The demo data set: `seeds/demo.json` and `seeds/files/`, with dates relative to the load."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from app.auth import split_token
from app.blobs import BlobStore
from app.db.engine import Database
from app.db.ids import new_id
from app.db.models import (
    analyzers,
    api_keys,
    artifacts,
    attachments,
    job_events,
    job_queue,
    jobs,
    organizations,
    reports,
    users,
)
from app.seed.catalog import DEMO_STATUS_WEIGHTS, taxonomy
from app.worker.analyzers import BUILT_INS

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((SEEDS / "demo.json").read_text())
    return spec


def demo_keys() -> list[dict[str, Any]]:
    """The demo users with their keys, as `serve --demo` prints them."""
    return [u for u in load_spec()["users"] if not u.get("locked")]


async def is_empty(db: Database) -> bool:
    async with db.read() as conn:
        return not await conn.scalar(select(func.count()).select_from(organizations))


async def load_demo(db: Database, blobs: BlobStore, *, now: datetime | None = None) -> int:
    """Load the demo set into an empty database; returns how many jobs it wrote."""
    rows = DemoBuilder(load_spec(), blobs, now or datetime.now(UTC)).build()
    async with db.write() as conn:
        for table in (
            organizations,
            users,
            api_keys,
            analyzers,
            attachments,
            jobs,
            reports,
            artifacts,
            job_events,
            job_queue,
        ):
            if rows[table.name]:
                await conn.execute(insert(table), rows[table.name])
    return len(rows["job"])


@dataclass
class DemoBuilder:
    """Makes the rows; a fixed random seed keeps the set the same from one load to the next."""

    spec: dict[str, Any]
    blobs: BlobStore
    now: datetime
    rng: random.Random = field(default_factory=lambda: random.Random(2026))
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def build(self) -> dict[str, list[dict[str, Any]]]:
        for name in (
            "organization",
            "app_user",
            "api_key",
            "analyzer",
            "attachment",
            "job",
            "report",
            "artifact",
            "job_event",
            "job_queue",
        ):
            self.rows[name] = []
        for org in self.spec["organizations"]:
            self._organization(org)
        return self.rows

    def _organization(self, org: dict[str, Any]) -> None:
        created = self.now - timedelta(days=400)
        self.rows["organization"].append(
            {"id": org["id"], "name": org["name"], "created_at": created}
        )
        for user in (u for u in self.spec["users"] if u["organization"] == org["id"]):
            self._user(user, created)
        found = [self._analyzer(a, org["id"], created) for a in self.spec["analyzers"]]
        files = [self._attachment(a, org["id"], created) for a in self.spec["attachments"]]
        submitters = [
            u["login"]
            for u in self.spec["users"]
            if u["organization"] == org["id"] and "ANALYZE" in u["roles"]
        ]
        for _ in range(self.spec["jobCounts"][org["id"]]):
            self._job(org["id"], self.rng.choice(found), files, self.rng.choice(submitters))
        for name in self.spec.get("builtinAnalyzers", []):
            self._builtin(name, org["id"], created)

    def _user(self, user: dict[str, Any], created: datetime) -> None:
        key = split_token(user["key"])
        assert key is not None, f"malformed demo key of {user['login']}"
        self.rows["app_user"].append(
            {
                "login": user["login"],
                "organization_id": user["organization"],
                "name": user["name"],
                "roles": user["roles"],
                "locked": user.get("locked", False),
                "created_at": created,
            }
        )
        self.rows["api_key"].append(
            {
                "id": key.key_id,
                "user_login": user["login"],
                "secret_sha256": key.secret_sha256,
                "roles": user["roles"],
                "created_at": created,
            }
        )

    def _analyzer(self, spec: dict[str, Any], org: str, created: datetime) -> dict[str, Any]:
        row = {
            "id": new_id(self.rng),
            "organization_id": org,
            "name": spec["name"],
            "definition_id": spec["name"],
            "version": spec["version"],
            "description": spec["description"],
            "author": spec["author"],
            "license": spec["license"],
            "url": spec["url"],
            "data_types": spec["dataTypes"],
            "max_tlp": spec["maxTlp"],
            "job_cache_minutes": spec.get("jobCacheMinutes"),
            "enabled": True,
            "created_at": created,
        }
        self.rows["analyzer"].append(row)
        return {**row, "taxonomy": spec["taxonomy"]}

    def _builtin(self, name: str, org: str, created: datetime) -> None:
        """An analyzer that `jobql worker` runs (app/worker/analyzers), with no jobs yet.

        Its id comes from a random generator of its own: the demo's other rows stay as they were.
        """
        builtin = BUILT_INS[name]
        self.rows["analyzer"].append(
            {
                "id": new_id(random.Random(f"jobql-builtin:{org}:{name}")),
                "organization_id": org,
                "name": builtin.name,
                "definition_id": builtin.name,
                "version": builtin.version,
                "description": builtin.description,
                "author": "jobql",
                "license": "Apache-2.0",
                "url": None,
                "data_types": list(builtin.data_types),
                "max_tlp": 3,  # offline: nothing leaves the worker, so any TLP may go to it
                "job_cache_minutes": None,
                "enabled": True,
                "created_at": created,
            }
        )

    def _attachment(self, spec: dict[str, Any], org: str, created: datetime) -> dict[str, Any]:
        content = (SEEDS / "files" / spec["file"]).read_bytes()
        digests = self.blobs.put(content)
        row = {
            "id": new_id(self.rng),
            "organization_id": org,
            "name": spec["file"],
            "size": digests.size,
            "content_type": spec["contentType"],
            "sha256": digests.sha256,
            "sha1": digests.sha1,
            "md5": digests.md5,
            "created_at": created,
        }
        self.rows["attachment"].append(row)
        return row

    def _job(
        self, org: str, analyzer: dict[str, Any], files: list[dict[str, Any]], submitter: str
    ) -> None:
        rng = self.rng
        weights = DEMO_STATUS_WEIGHTS
        status = rng.choices(list(weights), weights=list(weights.values()))[0]
        data_type = rng.choice(analyzer["data_types"])
        active = status in ("WAITING", "IN_PROGRESS")
        age = rng.uniform(5, 3600) if active else rng.uniform(3600, 89 * 86400)
        created = self.now - timedelta(seconds=age)
        attachment = rng.choice(files) if data_type == "file" else None
        job = {
            "id": new_id(self.rng),
            "organization_id": org,
            "analyzer_id": analyzer["id"],
            "analyzer_name": analyzer["name"],
            "analyzer_definition_id": analyzer["definition_id"],
            "data_type": data_type,
            "status": status,
            "data": None if attachment else rng.choice(self.spec["observables"][data_type]),
            "attachment_id": attachment["id"] if attachment else None,
            "parameters": rng.choice([{}, {}, {"maxAge": 30}, {"force": True}]),
            "message": rng.choice(
                [
                    "",
                    "",
                    "",
                    "Auto-run by playbook Phishing-triage",
                    "Re-run after API key rotation",
                ]
            ),
            "tlp": rng.choices(range(4), weights=[15, 25, 45, 15])[0],
            "pap": rng.choices(range(4), weights=[20, 30, 40, 10])[0],
            "start_date": None,
            "end_date": None,
            "created_at": created,
            "created_by": submitter,
            "updated_at": None,
            "updated_by": None,
        }
        self._lifecycle(job, submitter)
        self.rows["job"].append(job)
        self._queue(job)

    def _queue(self, job: dict[str, Any]) -> None:
        """A queue row for each active job, as the server keeps them: WAITING jobs queued, the
        IN_PROGRESS ones held by the demo's (imaginary) Cortex worker for another day."""
        job["attempt"] = 0 if job["start_date"] is None else 1
        claimed = job["status"] == "IN_PROGRESS"
        job["lease_token"] = f"demo-{job['id']}" if claimed else None
        if job["status"] not in ("WAITING", "IN_PROGRESS"):
            return
        later = self.now + timedelta(days=1)
        self.rows["job_queue"].append(
            {
                "job_id": job["id"],
                "organization_id": job["organization_id"],
                "analyzer_id": job["analyzer_id"],
                "priority": 1,
                "enqueued_at": job["created_at"],
                "available_at": job["created_at"],
                "state": "CLAIMED" if claimed else "QUEUED",
                "worker_id": "cortex-worker" if claimed else None,
                "lease_token": job["lease_token"],
                "lease_seconds": 86400 if claimed else None,
                "lease_expires_at": later if claimed else None,
                "last_heartbeat_at": job["start_date"],
                "deadline": later if claimed else None,
                "cancel_requested": False,
            }
        )

    def _lifecycle(self, job: dict[str, Any], submitter: str) -> None:
        """Walk the job through its statuses, writing an event for each as the server would."""
        rng, at, previous = self.rng, job["created_at"], None
        steps = {
            "WAITING": [],
            "IN_PROGRESS": ["IN_PROGRESS"],
            "SUCCESS": ["IN_PROGRESS", "SUCCESS"],
            "FAILURE": ["IN_PROGRESS", "FAILURE"],
            "TIMEOUT": ["IN_PROGRESS", "TIMEOUT"],
            "CANCELLED": rng.choice([["CANCELLED"], ["IN_PROGRESS", "CANCELLED"]]),
            "DELETED": ["IN_PROGRESS", rng.choice(["SUCCESS", "FAILURE"]), "DELETED"],
        }[job["status"]]
        for status in ["WAITING", *steps]:
            actor, message = self._step(job, status, submitter)
            if status != "WAITING":
                at = min(at + timedelta(seconds=rng.uniform(1, 600)), self.now)
                job["updated_at"], job["updated_by"] = at, actor
            self.rows["job_event"].append(
                {
                    "job_id": job["id"],
                    "at": at,
                    "status": status,
                    "previous_status": previous,
                    "actor": actor,
                    "message": message,
                }
            )
            if status == "IN_PROGRESS":
                job["start_date"] = at
            elif status in ("SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED"):
                job["end_date"] = at
                self._report(job, status, at)
            previous = status

    def _step(self, job: dict[str, Any], status: str, submitter: str) -> tuple[str, str | None]:
        if status == "WAITING":
            return submitter, None
        if status == "CANCELLED":
            return submitter, self.rng.choice(["Wrong observable", "Duplicate submission", None])
        if status == "DELETED":
            return submitter, None
        return "cortex-worker", None

    def _report(self, job: dict[str, Any], status: str, at: datetime) -> None:
        if status == "CANCELLED":
            return
        success = status == "SUCCESS"
        error = (
            None
            if success
            else (
                "Timeout: the analyzer ran more than 30 minutes"
                if status == "TIMEOUT"
                else self.rng.choice(self.spec["failures"])
            )
        )
        analyzer = next(a for a in self.rows["analyzer"] if a["id"] == job["analyzer_id"])
        spec = next(s for s in self.spec["analyzers"] if s["name"] == analyzer["name"])
        taxonomies = [taxonomy(self.rng, *spec["taxonomy"])] if success else []
        if success and self.rng.random() < 0.3:
            taxonomies.append(taxonomy(self.rng, spec["taxonomy"][0], "Score"))
        full = (
            {
                "observable": job["data"] or job["attachment_id"],
                "analyzer": analyzer["name"],
                "results": [{"source": spec["taxonomy"][0], "hits": self.rng.randint(0, 70)}],
            }
            if success
            else {"errorMessage": error, "input": {"dataType": job["data_type"]}}
        )
        self.rows["report"].append(
            {
                "job_id": job["id"],
                "success": success,
                "taxonomies": taxonomies,
                "full": full,
                "error_message": error,
                "created_at": at,
            }
        )
        if success:
            self._artifacts(job)

    def _artifacts(self, job: dict[str, Any]) -> None:
        for _ in range(self.rng.choice([0, 0, 1, 2])):
            data_type = self.rng.choice(["ip", "domain", "url", "mail"])
            self.rows["artifact"].append(
                {
                    "job_id": job["id"],
                    "data_type": data_type,
                    "data": self.rng.choice(self.spec["observables"][data_type]),
                    "attachment_id": None,
                    "tlp": job["tlp"],
                    "message": "found in the report",
                    "tags": ["demo", f"from:{job['analyzer_name']}"],
                }
            )
        if job["attachment_id"] and self.rng.random() < 0.3:
            self.rows["artifact"].append(
                {
                    "job_id": job["id"],
                    "data_type": "file",
                    "data": None,
                    "attachment_id": job["attachment_id"],
                    "tlp": job["tlp"],
                    "message": "extracted sample",
                    "tags": ["extracted"],
                }
            )
