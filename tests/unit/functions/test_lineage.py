"""The trace header's lineage, as Lambda's recursive loop detection reads it."""

from __future__ import annotations

import pytest

from chute.functions.lineage import MAX_CHAIN, chain_of, loop_stopped, trace_header


def test_a_trace_header_carries_its_chain_back() -> None:
    header = trace_header("thumbs", 3)
    assert header.startswith("Root=1-")
    assert ";Sampled=0;Lineage=" in header
    assert chain_of(header) == 3
    # boto3 sends it quoted only where X-Ray's characters need it: the same text.
    assert chain_of(f"Root=1-5759e988-bd862e3fe1be46a994272793;{header.split(';', 1)[1]}") == 3


@pytest.mark.parametrize(
    "header",
    [None, "", "Root=1-5759e988-bd862e3fe1be46a994272793", "Lineage=zz:4", "Lineage=ab:",
     "XLineage=ab:4", "Lineage=ab:1234567"],
)  # fmt: skip
def test_a_header_without_a_lineage_is_no_chain(header: str | None) -> None:
    assert chain_of(header) == 0


def test_a_forged_depth_says_no_more_than_past_the_limit() -> None:
    assert chain_of("Root=1-1-1;Lineage=0:999999") == MAX_CHAIN + 1


def test_the_reason_names_the_function_and_the_limit() -> None:
    reason = loop_stopped("thumbs", MAX_CHAIN + 1)
    assert reason.startswith("recursive loop detected: invoking 'thumbs' would make 17")
    assert f"more than {MAX_CHAIN}" in reason
