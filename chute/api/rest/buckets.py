"""Bucket endpoints: create, list, inspect, delete, versioning."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from chute.api.rest.deps import object_service
from chute.api.rest.views import bucket_view
from chute.catalog import Versioning

router = APIRouter(tags=["buckets"])


class CreateBucket(BaseModel):
    """Optional body of a bucket creation."""

    versioning: Literal["unversioned", "enabled"] = "unversioned"


class VersioningState(BaseModel):
    """A bucket's versioning state."""

    status: Literal["unversioned", "enabled", "suspended"]


@router.get("/buckets", summary="List buckets")
async def list_buckets(request: Request) -> JSONResponse:
    buckets = await run_in_threadpool(object_service(request).list_buckets)
    return JSONResponse({"buckets": [bucket_view(b) for b in buckets]})


@router.put("/buckets/{bucket}", status_code=201, summary="Create a bucket")
async def create_bucket(
    request: Request, bucket: str, body: CreateBucket | None = None
) -> JSONResponse:
    versioning = Versioning((body or CreateBucket()).versioning)
    created = await run_in_threadpool(object_service(request).create_bucket, bucket, versioning)
    return JSONResponse(bucket_view(created), status_code=201)


@router.get("/buckets/{bucket}", summary="Describe a bucket")
async def get_bucket(request: Request, bucket: str) -> JSONResponse:
    found = await run_in_threadpool(object_service(request).get_bucket, bucket)
    return JSONResponse(bucket_view(found))


@router.delete("/buckets/{bucket}", status_code=204, summary="Delete an empty bucket")
async def delete_bucket(request: Request, bucket: str) -> Response:
    await run_in_threadpool(object_service(request).delete_bucket, bucket)
    return Response(status_code=204)


@router.get("/buckets/{bucket}/versioning", summary="Get a bucket's versioning state")
async def get_versioning(request: Request, bucket: str) -> JSONResponse:
    found = await run_in_threadpool(object_service(request).get_bucket, bucket)
    return JSONResponse({"status": found.versioning.value})


@router.put("/buckets/{bucket}/versioning", summary="Enable or suspend versioning")
async def set_versioning(request: Request, bucket: str, body: VersioningState) -> JSONResponse:
    service = object_service(request)
    updated = await run_in_threadpool(service.set_versioning, bucket, Versioning(body.status))
    return JSONResponse({"status": updated.versioning.value})
