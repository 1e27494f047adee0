from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import WorkerSignalKind


class WorkerControl(BaseModel):
    worker_control: "WorkerControlWorkerControl" = Field(alias="workerControl")


class WorkerControlWorkerControl(BaseModel):
    kind: WorkerSignalKind
    job_id: Optional[str] = Field(alias="jobId")
    analyzer_id: Optional[str] = Field(alias="analyzerId")


WorkerControl.model_rebuild()
