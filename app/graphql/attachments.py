"""Attachment and report types: what a finished job produced."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from app.errors import BadUserInput
from app.graphql.context import Info
from app.graphql.enums import describe_values
from app.graphql.node import Node
from app.graphql.scalars import JSON
from app.links import public_base
from app.services.attachments import download_path


@strawberry.type(description="A file: submitted for analysis, or produced by an analyzer.")
class Attachment(Node):
    id: strawberry.ID = strawberry.field(description="Unique identifier of the attachment.")
    name: str = strawberry.field(description="File name as submitted.")
    size: int = strawberry.field(description="Size in bytes.")
    content_type: str = strawberry.field(description="MIME type as submitted.")
    sha256: str = strawberry.field(description="SHA-256 of the content, lower-case hex.")
    sha1: str = strawberry.field(description="SHA-1 of the content, lower-case hex.")
    md5: str = strawberry.field(description="MD5 of the content, lower-case hex.")
    organization: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: Any) -> Attachment:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            size=row.size,
            content_type=row.content_type,
            sha256=row.sha256,
            sha1=row.sha1,
            md5=row.md5,
            organization=row.organization_id,
        )

    @strawberry.field(description="[sha256, sha1, md5], as Cortex lists them.")
    def hashes(self) -> list[str]:
        return [self.sha256, self.sha1, self.md5]

    @strawberry.field(
        description="A signed link that downloads the content without an API key until it "
        "expires. Served by this API."
    )
    def download_url(
        self,
        info: Info,
        expires_in: Annotated[
            int,
            strawberry.argument(description="Seconds until the link expires (1 to 86,400)."),
        ] = 300,
    ) -> str:
        maximum = info.context.settings.download_url_max_seconds
        if not 1 <= expires_in <= maximum:
            raise BadUserInput(
                f"`expiresIn` must be between 1 and {maximum} seconds", argument="expiresIn"
            )
        expires = math.ceil(datetime.now(UTC).timestamp()) + expires_in
        path = download_path(info.context.signer, self.organization, self.id, expires)
        return public_base(info.context.request, info.context.settings) + path


@strawberry.enum(description="How worrying a taxonomy entry is.")
class TaxonomyLevel(Enum):
    INFO = "INFO"
    SAFE = "SAFE"
    SUSPICIOUS = "SUSPICIOUS"
    MALICIOUS = "MALICIOUS"


describe_values(
    TaxonomyLevel,
    {
        "INFO": "Information only: no verdict.",
        "SAFE": "Judged harmless.",
        "SUSPICIOUS": "Worth a closer look.",
        "MALICIOUS": "Judged harmful.",
    },
)


@strawberry.type(description="One short verdict of a report, as Cortex taxonomies are.")
class Taxonomy:
    level: TaxonomyLevel = strawberry.field(description="How worrying the finding is.")
    namespace: str = strawberry.field(description='Who says it, e.g. "VT".')
    predicate: str = strawberry.field(description='What is measured, e.g. "GetReport".')
    value: str = strawberry.field(description='The finding, e.g. "12/70".')


@strawberry.type(description="The short form of a report.")
class ReportSummary:
    taxonomies: list[Taxonomy] = strawberry.field(description="Verdicts, in analyzer order.")


@strawberry.type(description="An observable an analyzer found while running a job.")
class Artifact:
    data_type: str = strawberry.field(description='Kind of observable: "ip", "domain", "file"…')
    data: str | None = strawberry.field(description="The observable; null for a file.")
    tlp: int = strawberry.field(description="Traffic Light Protocol level, 0 (white) to 3 (red).")
    message: str | None = strawberry.field(description="Free text from the analyzer.")
    tags: list[str] = strawberry.field(description="Labels given by the analyzer.")
    attachment_id: strawberry.Private[str | None]

    @strawberry.field(description="The file, for a file artifact.")
    async def attachment(self, info: Info) -> Attachment | None:
        if self.attachment_id is None:
            return None
        row = await info.context.loaders.attachment_by_id.load(self.attachment_id)
        return Attachment.from_row(row) if row else None


@strawberry.type(description="What an analyzer reported when its job finished.")
class Report:
    success: bool = strawberry.field(description="Whether the analyzer ran to completion.")
    summary: ReportSummary = strawberry.field(description="Short verdicts (taxonomies).")
    error_message: str | None = strawberry.field(description="Why the analyzer failed.")
    created_at: datetime = strawberry.field(description="When the report was written.")
    job_id: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: Any) -> Report:
        taxonomies = [
            Taxonomy(
                level=TaxonomyLevel(t["level"]),
                namespace=t["namespace"],
                predicate=t["predicate"],
                value=t["value"],
            )
            for t in row.taxonomies
        ]
        return cls(
            success=row.success,
            summary=ReportSummary(taxonomies=taxonomies),
            error_message=row.error_message,
            created_at=row.created_at,
            job_id=row.job_id,
        )

    @strawberry.field(
        description="The full report as the analyzer wrote it. Can be large: "
        "it is read only when asked for."
    )
    async def full(self, info: Info) -> JSON | None:
        row = await info.context.loaders.report_full_by_job_id.load(self.job_id)
        return row.full if row else None

    @strawberry.field(description="Observables the analyzer found, in the order it found them.")
    async def artifacts(self, info: Info) -> list[Artifact]:
        rows = await info.context.loaders.artifacts_by_job_id.load(self.job_id) or []
        return [
            Artifact(
                data_type=r.data_type,
                data=r.data,
                tlp=r.tlp,
                message=r.message,
                tags=list(r.tags),
                attachment_id=r.attachment_id,
            )
            for r in rows
        ]
