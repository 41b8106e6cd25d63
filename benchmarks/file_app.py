"""The GET baseline: a bare Starlette app serving one file with ``FileResponse``.

Run by ``benchmarks/ingest.py`` under the same uvicorn settings as Chute, so the ratio
shows what Chute's catalog lookup and blob streaming cost over serving a plain file.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route


async def serve_file(request: Request) -> FileResponse:
    return FileResponse(os.environ["BENCH_FILE"])


app = Starlette(routes=[Route("/file", serve_file)])
