from datetime import datetime
from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import LeaseState


class Heartbeat(BaseModel):
    heartbeat: list["HeartbeatHeartbeat"]


class HeartbeatHeartbeat(BaseModel):
    job_id: str = Field(alias="jobId")
    state: LeaseState
    lease_expires_at: Optional[datetime] = Field(alias="leaseExpiresAt")


Heartbeat.model_rebuild()
