"""The shape of ``[functions.<name>]`` in chute.toml: Lambda-style functions.

A function is AWS Lambda's unit: a handler (``module.func``) in a folder or zip of code,
run with a memory size and a timeout in an execution environment of its own, with
layers laid out as Lambda lays them. Defaults are Lambda's (128 MB, 3 seconds).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Function names as Lambda allows them (letters, digits, ``-`` and ``_``, up to 64).
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: ``module.func`` or ``dir/module.func``: a dot before the function's name is required.
HANDLER = re.compile(r"^[^\s.][^\s]*\.[A-Za-z_][A-Za-z0-9_]*$")
#: Lambda's bounds on memory (MB) and timeout (seconds).
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
MAX_TIMEOUT_SECONDS = 900
#: The form of a destination's ARN (which services Chute has: ``chute.pipelines.bucket_rules``).
DESTINATION_ARN = r"^arn:(aws[a-z-]*:(sqs|sns|lambda)|chute:(queue|topic|function)):\S+$"


class FunctionPermission(BaseModel):
    """What a function's credentials may reach: a bucket, optionally a key prefix."""

    model_config = ConfigDict(extra="forbid")

    bucket: str
    prefix: str = ""
    access: Literal["read", "write"] = "read"


class FunctionConfig(BaseModel):
    """How a function runs: its handler, limits, environment and rights (its code and
    layers are :class:`ConfiguredFunction`'s in chute.toml, blobs through the Lambda API)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    handler: str
    description: str = Field(default="", max_length=256)
    #: The execution role's ARN, as given to the Lambda API; the grants of the access key
    #: named like the role (``arn:aws:iam::ACCOUNT:role/NAME``) are the function's too.
    role: str | None = None
    #: Lambda's runtime name; Chute runs the Python it has (and says so if it differs).
    runtime: str = "python3.12"
    memory_mb: int = Field(default=MIN_MEMORY_MB, ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)
    timeout_seconds: float = Field(default=3.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    #: The size of ``/tmp`` in MB, as Lambda's ``EphemeralStorage`` (512 to 10,240).
    ephemeral_storage_mb: int = Field(default=512, ge=512, le=10240)
    environment: dict[str, str] = Field(default_factory=dict)
    #: Most environments running at once; none means as many as the pool allows.
    reserved_concurrency: int | None = Field(default=None, ge=0)
    permissions: list[FunctionPermission] = Field(default_factory=list)
    #: Asynchronous invocations (events, ``InvocationType: Event``) that fail are
    #: retried this many times, as Lambda's ``MaximumRetryAttempts`` (0 to 2)...
    maximum_retry_attempts: int = Field(default=2, ge=0, le=2)
    #: ...first after this many seconds, then twice as long (Lambda: one minute)...
    retry_delay_seconds: float = Field(default=60.0, ge=0, le=3600)
    #: ...and an event older than this is not run again (``MaximumEventAgeInSeconds``).
    maximum_event_age_seconds: int = Field(default=21600, ge=60, le=21600)
    #: Where a record of each asynchronous invocation that succeeded, or failed for
    #: good, goes (Lambda's destinations): the ARN of a standard SQS queue, an SNS topic
    #: (a webhook target) or a function.
    on_success: str | None = Field(default=None, pattern=DESTINATION_ARN, max_length=350)
    on_failure: str | None = Field(default=None, pattern=DESTINATION_ARN, max_length=350)

    @field_validator("handler")
    @classmethod
    def _check_handler(cls, value: str) -> str:
        if not HANDLER.match(value):
            raise ValueError(f"handler {value!r} must be MODULE.FUNCTION (or DIR/MODULE.FUNCTION)")
        return value

    @field_validator("runtime")
    @classmethod
    def _check_runtime(cls, value: str) -> str:
        if not re.fullmatch(r"python3\.\d{1,2}", value):
            raise ValueError(f"runtime {value!r} is not a Python runtime (python3.X)")
        return value


class ConfiguredFunction(FunctionConfig):
    """``[functions.NAME]``: a function and where its code and layers are."""

    #: A folder or a ``.zip`` holding the handler's module.
    code: Path
    #: Folders or zips laid out as Lambda layers, later ones over earlier ones.
    layers: list[Path] = Field(default_factory=list, max_length=5)

    def runtime_config(self) -> FunctionConfig:
        """How it runs, without where its files are."""
        return FunctionConfig(**self.model_dump(exclude={"code", "layers"}))


def check_function_name(name: str) -> str:
    """``name`` if Lambda would accept it as a function name; ``ValueError`` if not."""
    if not FUNCTION_NAME.match(name):
        raise ValueError("use 1-64 letters, digits, '-' or '_'")
    return name
