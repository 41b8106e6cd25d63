"""What a processor sees of its input and outputs, apart from any queue: the context."""

from __future__ import annotations

import pytest

from chute.processors.base import local_context


def test_output_keys_follow_the_template() -> None:
    ctx = local_context(
        b"x", key="photos/2024/cat.tar.gz", output_template="{stem}/t-{width}.{ext}"
    )
    assert ctx.output_key(width=100) == "photos/2024/cat.tar/t-100.gz"
    ctx = local_context(b"x", key="photos/cat", output_template="{dir}/{base}-{step}")
    assert ctx.output_key() == "photos/cat-local"
    ctx = local_context(b"x", key="cat.jpg", output_template="{nope}")
    with pytest.raises(Exception, match="uses \\{nope\\}"):
        ctx.output_key()
