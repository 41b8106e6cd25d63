"""What a function is, wherever it was defined: its configuration, where its code and
layers are, and a revision that changes with every update.

A :class:`Function` is plain data (a frozen pydantic model), so it travels in a queued
job's options to a worker process on any machine: a worker needs no catalog to run one.
Code is a folder or zip on this machine (chute.toml) or a zip in the blob store (the
Lambda API), named by its location and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from chute.access import Access, Grant
from chute.errors import InvalidParameterValue, ResourceNotFound
from chute.names import ACCOUNT
from chute.settings import ConfiguredFunction, FunctionConfig

#: Environments one function may run at once in a process when it reserves none.
DEFAULT_CONCURRENCY = 10


class CodeSource(BaseModel):
    """Where a function's code or a layer's files are: a ``path`` (a folder or zip on
    this machine) or a ``blob`` (a zip in the blob store, by its location)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str | None = None
    blob: str | None = None
    sha256: str = ""
    size: int = 0


class Function(BaseModel):
    """A function: see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    arn: str
    config: FunctionConfig
    code: CodeSource
    layers: tuple[CodeSource, ...] = ()
    #: The layer version ARNs it was given (the Lambda API's), in order.
    layer_arns: tuple[str, ...] = ()
    revision: str
    #: Made through the Lambda API (in the catalog), not in chute.toml.
    managed: bool = False
    last_modified: datetime | None = None
    #: The grants of the access key named like its role (:meth:`Grant.to_json`'s form).
    role_grants: tuple[dict[str, Any], ...] = ()

    @property
    def grants(self) -> list[Grant]:
        """What the function's credentials may reach: its ``permissions`` and its role's."""
        own = [
            Grant(frozenset({Access(p.access)}), (p.bucket,), (p.prefix,))
            for p in self.config.permissions
        ]
        return own + [Grant.from_json(grant) for grant in self.role_grants]

    @property
    def concurrency(self) -> int:
        reserved = self.config.reserved_concurrency
        return DEFAULT_CONCURRENCY if reserved is None else reserved


class FunctionSource(Protocol):
    """Where the functions are known: chute.toml, the catalog, or both."""

    def function(self, name: str) -> Function | None:
        """The function called ``name``, if there is one."""

    def functions(self) -> list[Function]:
        """Every function, by name."""


def function_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"


#: A function named as Lambda takes it: a name, a partial ARN (``ACCOUNT:function:NAME``)
#: or an ARN, with an optional qualifier (Lambda's FunctionName pattern).
_FUNCTION_NAME = re.compile(
    r"(arn:aws[a-zA-Z-]*:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d:)?(\d{12}:)?(function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)


def name_of(name_or_arn: str) -> str:
    """A function's name from its name, its ARN or a partial ARN (``ACCOUNT:function:NAME``),
    with ``$LATEST`` as the only qualifier there is (versions and aliases are not
    published here): ``InvalidParameterValue`` for what Lambda would not take, and
    ``ResourceNotFound`` for another qualifier."""
    found = _FUNCTION_NAME.fullmatch(name_or_arn)
    if found is None or len(name_or_arn) > MAX_NAME_OR_ARN:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{name_or_arn[:200]}' at 'functionName' "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: "
            + _FUNCTION_NAME.pattern
        )
    qualifier = found["qualifier"]
    if qualifier not in (None, "$LATEST"):
        raise ResourceNotFound(f"Function not found: {name_or_arn}")
    return found["name"]


#: Longest FunctionName Lambda takes (a qualified ARN).
MAX_NAME_OR_ARN = 170


def configured(name: str, config: ConfiguredFunction, region: str) -> Function:
    """A ``[functions.NAME]`` of chute.toml; its revision follows its settings."""
    runtime = config.runtime_config()
    revision = hashlib.sha256(
        json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()[:32]
    return Function(
        name=name,
        arn=function_arn(region, name),
        config=runtime,
        code=CodeSource(path=str(config.code)),
        layers=tuple(CodeSource(path=str(layer)) for layer in config.layers),
        revision=revision,
    )


class ConfiguredFunctions:
    """The functions of chute.toml."""

    def __init__(self, configs: Mapping[str, ConfiguredFunction], region: str) -> None:
        self._functions = {
            name: configured(name, config, region) for name, config in sorted(configs.items())
        }

    def function(self, name: str) -> Function | None:
        return self._functions.get(name)

    def functions(self) -> list[Function]:
        return list(self._functions.values())
