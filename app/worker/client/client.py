from collections.abc import AsyncIterator
from typing import Any, Optional, Union

from .async_base_client import AsyncBaseClient
from .base_model import UNSET, UnsetType
from .claim_jobs import ClaimJobs
from .complete_job import CompleteJob
from .fail_job import FailJob
from .heartbeat import Heartbeat
from .input_types import ClaimJobsInput, LeaseRef, ReportInput
from .release_job import ReleaseJob
from .worker_analyzers import WorkerAnalyzers
from .worker_control import WorkerControl


def gql(q: str) -> str:
    return q


class JobqlWorkerClient(AsyncBaseClient):
    async def worker_analyzers(
        self, after: Union[Optional[str], UnsetType] = UNSET, **kwargs: Any
    ) -> WorkerAnalyzers:
        query = gql("""
            query WorkerAnalyzers($after: String) {
              analyzers(first: 100, after: $after) {
                nodes {
                  id
                  name
                  definitionId
                  dataTypes
                  enabled
                }
                pageInfo {
                  hasNextPage
                  endCursor
                }
              }
            }
            """)
        variables: dict[str, object] = {"after": after}
        response = await self.execute(
            query=query, operation_name="WorkerAnalyzers", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return WorkerAnalyzers.model_validate(data)

    async def claim_jobs(self, input: ClaimJobsInput, **kwargs: Any) -> ClaimJobs:
        query = gql("""
            mutation ClaimJobs($input: ClaimJobsInput!) {
              claimJobs(input: $input) {
                leases {
                  leaseToken
                  attempt
                  leaseExpiresAt
                  deadline
                  job {
                    id
                    analyzerId
                    analyzerName
                    dataType
                    data
                    parameters
                    tlp
                    attachment {
                      id
                      name
                      size
                      contentType
                      sha256
                      downloadUrl(expiresIn: 900)
                    }
                  }
                }
                retryAfterSeconds
              }
            }
            """)
        variables: dict[str, object] = {"input": input}
        response = await self.execute(
            query=query, operation_name="ClaimJobs", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return ClaimJobs.model_validate(data)

    async def complete_job(
        self, lease: LeaseRef, report: ReportInput, **kwargs: Any
    ) -> CompleteJob:
        query = gql("""
            mutation CompleteJob($lease: LeaseRef!, $report: ReportInput!) {
              completeJob(lease: $lease, report: $report) {
                id
                status
              }
            }
            """)
        variables: dict[str, object] = {"lease": lease, "report": report}
        response = await self.execute(
            query=query, operation_name="CompleteJob", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return CompleteJob.model_validate(data)

    async def fail_job(
        self, lease: LeaseRef, error_message: str, retryable: bool, **kwargs: Any
    ) -> FailJob:
        query = gql("""
            mutation FailJob($lease: LeaseRef!, $errorMessage: String!, $retryable: Boolean!) {
              failJob(lease: $lease, errorMessage: $errorMessage, retryable: $retryable) {
                id
                status
              }
            }
            """)
        variables: dict[str, object] = {
            "lease": lease,
            "errorMessage": error_message,
            "retryable": retryable,
        }
        response = await self.execute(
            query=query, operation_name="FailJob", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return FailJob.model_validate(data)

    async def heartbeat(self, leases: list[LeaseRef], **kwargs: Any) -> Heartbeat:
        query = gql("""
            mutation Heartbeat($leases: [LeaseRef!]!) {
              heartbeat(leases: $leases) {
                jobId
                state
                leaseExpiresAt
              }
            }
            """)
        variables: dict[str, object] = {"leases": leases}
        response = await self.execute(
            query=query, operation_name="Heartbeat", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return Heartbeat.model_validate(data)

    async def release_job(self, lease: LeaseRef, **kwargs: Any) -> ReleaseJob:
        query = gql("""
            mutation ReleaseJob($lease: LeaseRef!) {
              releaseJob(lease: $lease) {
                id
                status
              }
            }
            """)
        variables: dict[str, object] = {"lease": lease}
        response = await self.execute(
            query=query, operation_name="ReleaseJob", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return ReleaseJob.model_validate(data)

    async def worker_control(
        self, worker_id: str, **kwargs: Any
    ) -> AsyncIterator[WorkerControl]:
        query = gql("""
            subscription WorkerControl($workerId: String!) {
              workerControl(workerId: $workerId) {
                kind
                jobId
                analyzerId
              }
            }
            """)
        variables: dict[str, object] = {"workerId": worker_id}
        async for data in self.execute_ws(
            query=query, operation_name="WorkerControl", variables=variables, **kwargs
        ):
            yield WorkerControl.model_validate(data)
