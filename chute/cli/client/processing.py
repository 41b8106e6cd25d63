"""Processing endpoints of the client: an object's status, jobs and dead letters,
redrive, reprocess, metadata search and the configured pipelines."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chute.api.rest.models.jobs import JobDetail, JobPage, Redriven
from chute.api.rest.models.pipelines import PipelineList, Reprocessed
from chute.api.rest.models.status import FoundPage, ProcessingStatus
from chute.cli.client.transport import Transport, bucket_path, object_path, present


class ProcessingEndpoints(Transport):
    """What the pipelines did with objects, and the means to make them do it again."""

    def object_status(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> ProcessingStatus:
        """An object's processing status, steps, outputs and extracted metadata."""
        params = present(version_id=version_id)
        path = object_path(bucket, key, kind="status")
        return self._json(ProcessingStatus, "GET", path, params=params)

    def list_jobs(self, *, dead: bool = False, **filters: Any) -> JobPage:
        """A page of jobs (``dead``: dead letters); filters as the API names them."""
        params = present(**filters)
        return self._json(JobPage, "GET", "/dead" if dead else "/jobs", params=params)

    def get_job(self, job_id: int) -> JobDetail:
        """One job and every attempt it had."""
        return self._json(JobDetail, "GET", f"/jobs/{job_id}")

    def redrive(self, **selection: Any) -> Redriven:
        """Redrive dead jobs: ``job_ids``, filters, or ``all=True``."""
        return self._json(Redriven, "POST", "/dead/redrive", json=present(**selection))

    def reprocess(
        self, pipeline: str, bucket: str, *, key: str | None = None, prefix: str | None = None
    ) -> Reprocessed:
        """Run ``pipeline`` again on one object (``key``) or every object under ``prefix``."""
        body = {"bucket": bucket, "key": key, "prefix": prefix}
        path = f"/pipelines/{quote(pipeline, safe='')}/reprocess"
        return self._json(Reprocessed, "POST", path, json=body)

    def find(
        self,
        bucket: str,
        where: list[str],
        *,
        prefix: str = "",
        after: str | None = None,
        limit: int = 100,
    ) -> FoundPage:
        """Objects whose extracted metadata matches every ``FIELD=VALUE``."""
        params = present(where=where, prefix=prefix, after=after, limit=limit)
        return self._json(FoundPage, "GET", f"{bucket_path(bucket)}/metadata", params=params)

    def pipelines(self) -> PipelineList:
        """The server's configured pipelines."""
        return self._json(PipelineList, "GET", "/pipelines")
