from datetime import datetime
from typing import Any, Optional

from pydantic import Field

from .base_model import BaseModel


class ClaimJobs(BaseModel):
    claim_jobs: "ClaimJobsClaimJobs" = Field(alias="claimJobs")


class ClaimJobsClaimJobs(BaseModel):
    leases: list["ClaimJobsClaimJobsLeases"]
    retry_after_seconds: Optional[int] = Field(alias="retryAfterSeconds")


class ClaimJobsClaimJobsLeases(BaseModel):
    lease_token: str = Field(alias="leaseToken")
    attempt: int
    lease_expires_at: datetime = Field(alias="leaseExpiresAt")
    deadline: datetime
    job: "ClaimJobsClaimJobsLeasesJob"


class ClaimJobsClaimJobsLeasesJob(BaseModel):
    id: str
    analyzer_id: str = Field(alias="analyzerId")
    analyzer_name: str = Field(alias="analyzerName")
    data_type: str = Field(alias="dataType")
    data: Optional[str]
    parameters: Any
    tlp: int
    attachment: Optional["ClaimJobsClaimJobsLeasesJobAttachment"]


class ClaimJobsClaimJobsLeasesJobAttachment(BaseModel):
    id: str
    name: str
    size: int
    content_type: str = Field(alias="contentType")
    sha_256: str = Field(alias="sha256")
    download_url: str = Field(alias="downloadUrl")


ClaimJobs.model_rebuild()
ClaimJobsClaimJobs.model_rebuild()
ClaimJobsClaimJobsLeases.model_rebuild()
ClaimJobsClaimJobsLeasesJob.model_rebuild()
