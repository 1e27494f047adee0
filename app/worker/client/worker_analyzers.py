from typing import Optional

from pydantic import Field

from .base_model import BaseModel


class WorkerAnalyzers(BaseModel):
    analyzers: "WorkerAnalyzersAnalyzers"


class WorkerAnalyzersAnalyzers(BaseModel):
    nodes: list["WorkerAnalyzersAnalyzersNodes"]
    page_info: "WorkerAnalyzersAnalyzersPageInfo" = Field(alias="pageInfo")


class WorkerAnalyzersAnalyzersNodes(BaseModel):
    id: str
    name: str
    definition_id: str = Field(alias="definitionId")
    data_types: list[str] = Field(alias="dataTypes")
    enabled: bool


class WorkerAnalyzersAnalyzersPageInfo(BaseModel):
    has_next_page: bool = Field(alias="hasNextPage")
    end_cursor: Optional[str] = Field(alias="endCursor")


WorkerAnalyzers.model_rebuild()
WorkerAnalyzersAnalyzers.model_rebuild()
