"""Access key endpoints: make a key (its secret is in that answer only), list, describe,
disable, enable and remove keys. Admins only (full rights on every bucket)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from chute.api.rest.deps import key_service, request_context
from chute.api.rest.errors import error_responses
from chute.api.rest.models.keys import CreateKey, KeyList, KeyView, NewKeyView
from chute.api.rest.params import Text
from chute.errors import AccessDenied, InvalidArgument, InvalidBucketName, NoSuchAccessKey

router = APIRouter(tags=["keys"])

_KEY = "/keys/{key_id}"
_KEY_ERRORS = error_responses(AccessDenied, InvalidArgument, NoSuchAccessKey)


@router.post(
    "/keys",
    status_code=201,
    summary="Make an access key",
    responses=error_responses(AccessDenied, InvalidArgument, InvalidBucketName),
)
async def create_key(request: Request, body: CreateKey) -> NewKeyView:
    """A new key with the grants given. The answer holds its secret: it is shown this
    once, and cannot be read back."""
    grants = [grant.to_grant() for grant in body.grants]
    new = await run_in_threadpool(
        key_service(request).create, request_context(request), body.name, grants, body.expires_at
    )
    return NewKeyView.of_new(new)


@router.get("/keys", summary="List access keys", responses=error_responses(AccessDenied))
async def list_keys(request: Request) -> KeyList:
    found = await run_in_threadpool(key_service(request).list, request_context(request))
    return KeyList(keys=[KeyView.of(info) for info in found])


@router.get(_KEY, summary="Describe an access key", responses=_KEY_ERRORS)
async def get_key(request: Request, key_id: Text) -> KeyView:
    info = await run_in_threadpool(key_service(request).get, request_context(request), key_id)
    return KeyView.of(info)


@router.delete(_KEY, status_code=204, summary="Remove an access key", responses=_KEY_ERRORS)
async def remove_key(request: Request, key_id: Text) -> Response:
    await run_in_threadpool(key_service(request).remove, request_context(request), key_id)
    return Response(status_code=204)


@router.post(f"{_KEY}/disable", summary="Disable an access key", responses=_KEY_ERRORS)
async def disable_key(request: Request, key_id: Text) -> KeyView:
    """The key stops working at once in this server, and within ``auth.cache_seconds``
    in every other server sharing the catalog."""
    info = await run_in_threadpool(key_service(request).disable, request_context(request), key_id)
    return KeyView.of(info)


@router.post(f"{_KEY}/enable", summary="Enable an access key again", responses=_KEY_ERRORS)
async def enable_key(request: Request, key_id: Text) -> KeyView:
    info = await run_in_threadpool(key_service(request).enable, request_context(request), key_id)
    return KeyView.of(info)
