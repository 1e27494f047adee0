from pydantic import Field

from .base_model import BaseModel
from .enums import JobStatus


class CompleteJob(BaseModel):
    complete_job: "CompleteJobCompleteJob" = Field(alias="completeJob")


class CompleteJobCompleteJob(BaseModel):
    id: str
    status: JobStatus


CompleteJob.model_rebuild()
