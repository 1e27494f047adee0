from pydantic import Field

from .base_model import BaseModel
from .enums import JobStatus


class ReleaseJob(BaseModel):
    release_job: "ReleaseJobReleaseJob" = Field(alias="releaseJob")


class ReleaseJobReleaseJob(BaseModel):
    id: str
    status: JobStatus


ReleaseJob.model_rebuild()
