"""The client's walks follow a listing's markers page after page and stop at its last
page; the server is an ``httpx.MockTransport`` serving canned pages."""

from __future__ import annotations

from typing import Any

import httpx

from chute.cli.client import ChuteClient


def serving(pages: list[dict[str, Any]], asked: list[httpx.QueryParams]) -> ChuteClient:
    """A client whose server answers each request with the next of ``pages``."""
    answers = iter(pages)

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params)
        return httpx.Response(200, json=next(answers))

    return ChuteClient("http://chute.test", http_transport=httpx.MockTransport(answer))


def version_page(key: str | None, version: str | None) -> dict[str, Any]:
    return {
        "versions": [],
        "common_prefixes": [],
        "is_truncated": key is not None,
        "next_key_marker": key,
        "next_version_id_marker": version,
    }


def object_page(truncated: bool, token: str | None) -> dict[str, Any]:
    return {
        "objects": [],
        "common_prefixes": [],
        "is_truncated": truncated,
        "next_continuation_token": token,
    }


def test_walk_versions_follows_both_markers_to_the_last_page() -> None:
    asked: list[httpx.QueryParams] = []
    pages = [version_page("a", "v1"), version_page("b", None), version_page(None, None)]
    with serving(pages, asked) as client:
        walked = list(client.walk_versions("bk", prefix="p/", delimiter="/", max_keys=2))
    assert len(walked) == 3
    markers = [(q.get("key_marker"), q.get("version_id_marker")) for q in asked]
    assert markers == [(None, None), ("a", "v1"), ("b", None)]
    assert {(q["prefix"], q["delimiter"], q["max_keys"]) for q in asked} == {("p/", "/", "2")}


def test_walk_objects_follows_tokens_and_stops_without_one() -> None:
    asked: list[httpx.QueryParams] = []
    pages = [object_page(True, "t1"), object_page(True, None), object_page(False, None)]
    with serving(pages, asked) as client:
        walked = list(client.walk_objects("bk", delimiter="/"))
    assert len(walked) == 2
    assert [q.get("continuation_token") for q in asked] == [None, "t1"]
    assert all(q["delimiter"] == "/" for q in asked)


def test_walks_ask_nothing_until_iterated() -> None:
    asked: list[httpx.QueryParams] = []
    with serving([object_page(False, None)], asked) as client:
        pages = client.walk_objects("bk")
        assert asked == []
        assert len(list(pages)) == 1
