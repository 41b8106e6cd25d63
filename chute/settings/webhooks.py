"""The shape of ``[webhooks.<name>]`` in chute.toml: named webhook targets.

A bucket notification configuration names one as an SNS topic
(``arn:aws:sns:REGION:ACCOUNT:NAME`` or ``arn:chute:topic:NAME``): the events it selects
are POSTed to the target's URLs as S3 event notification messages, signed per Standard
Webhooks, through the job queue with retries (see :mod:`chute.pipelines.bucket_rules`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chute.settings.pipelines import RetryConfig


class WebhookConfig(BaseModel):
    """A webhook target: where messages go, how they are signed, how hard to try."""

    # the secret never shows in a validation message
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    urls: list[str] = Field(min_length=1)
    #: ``whsec_`` secrets; several sign each message (for rotation).
    secret: list[str] | str = Field(repr=False)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    retry: RetryConfig = Field(
        default_factory=lambda: RetryConfig(max_attempts=8, base_delay=5.0, max_delay=3600.0)
    )

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        twice = sorted({url for url in value if value.count(url) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return value
