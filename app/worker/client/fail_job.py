from pydantic import Field

from .base_model import BaseModel
from .enums import JobStatus


class FailJob(BaseModel):
    fail_job: "FailJobFailJob" = Field(alias="failJob")


class FailJobFailJob(BaseModel):
    id: str
    status: JobStatus


FailJob.model_rebuild()
