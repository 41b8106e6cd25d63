"""What the client's processing endpoints send: unset filters are left out, and an empty
list of job ids is sent as such, for the server to refuse rather than to read as
"every dead job"."""

from __future__ import annotations

import json
from typing import Any

import httpx

from chute.cli.client import ChuteClient


def recording(sent: list[httpx.Request], answer: dict[str, Any]) -> ChuteClient:
    def respond(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=answer)

    return ChuteClient("http://chute.test", http_transport=httpx.MockTransport(respond))


def test_redrive_leaves_out_unset_fields_but_keeps_an_empty_id_list() -> None:
    sent: list[httpx.Request] = []
    with recording(sent, {"redriven": 0}) as client:
        client.redrive(job_ids=[], pipeline=None, bucket="bk", all=True)
    assert json.loads(sent[0].content) == {"job_ids": [], "bucket": "bk", "all": True}


def test_list_jobs_sends_only_the_filters_given() -> None:
    sent: list[httpx.Request] = []
    with recording(sent, {"jobs": [], "next_cursor": None}) as client:
        client.list_jobs(dead=True, state=[], pipeline="p", since=None, limit=5)
        client.list_jobs(state=["dead", "failed"])
    assert (sent[0].url.path, str(sent[0].url.params)) == ("/_/api/v1/dead", "pipeline=p&limit=5")
    assert sent[1].url.params.get_list("state") == ["dead", "failed"]
