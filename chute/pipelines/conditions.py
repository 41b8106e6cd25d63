"""Choice steps: a step's ``when`` condition, a JMESPath expression over what is known of
its run, decides whether the step runs or is skipped (AWS Step Functions' Choice state,
as a guard on one step).

:meth:`Condition.compile` runs when the configuration is loaded, so a syntax error, an
unknown function or a wrong number of arguments stops the start instead of failing
runs. The broker evaluates the condition as it claims the step's job, against the
document :func:`condition_document` builds::

    {"event": <the S3 event record that started the run>,
     "object": {"bucket", "key", "version_id", "size", "etag", "sha256",
                "content_type", "metadata": <the object's user metadata>},
     "metadata": <the metadata the steps upstream extracted, merged in the order they
                  were recorded>,
     "steps": {<each step upstream>: {"status": "succeeded" | "skipped",
                                     "metadata": {...}, "outputs": [<keys>]}}}

*Upstream* means the steps it ``needs``, directly or not: only they are sure to have
ended when it starts, so the condition sees the same document whenever it is claimed.
A true result in JMESPath's sense runs the step (``false``, ``null``, ``""``, ``[]`` and
``{}`` are false; ``0`` is true); any other skips it. An evaluation that raises (jmespath
raises ``TypeError`` ordering a string against a number, for instance) is a
:class:`~chute.errors.ConditionError`, which fails the step.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath.exceptions import (
    EmptyExpressionError,
    IncompleteExpressionError,
    JMESPathError,
    LexerError,
    ParseError,
)
from jmespath.functions import Functions

from chute.errors import ConditionError
from chute.queue.records import ClaimSource, Job, StepRun

#: The functions JMESPath offers, with their signatures, for checking calls at load.
_FUNCTIONS: dict[str, dict[str, Any]] = Functions().FUNCTION_TABLE


@dataclass(frozen=True)
class Condition:
    """A compiled ``when`` expression."""

    expression: str
    parsed: Any = field(repr=False, compare=False)

    @classmethod
    def compile(cls, expression: str) -> Condition:
        """Parse ``expression`` and check its function calls; ``ConditionError`` says
        what is wrong, in one line."""
        with warnings.catch_warnings():
            # jmespath warns of `text` (a literal that is not JSON) and takes it as a
            # string: refused here, as the JMESPath spec refuses it.
            warnings.simplefilter("error", PendingDeprecationWarning)
            try:
                parsed = jmespath.compile(expression)
            except JMESPathError as exc:
                raise ConditionError(f"not a JMESPath expression: {_syntax(exc)}") from None
            except PendingDeprecationWarning:
                raise ConditionError(
                    "a `literal` holds JSON: write a string as 'text' (or `\"text\"`)"
                ) from None
        _check_calls(parsed.parsed)
        return cls(expression, parsed)

    @property
    def unmet(self) -> str:
        """Why a step was skipped: the reason its attempt records."""
        return f"condition not met: {self.expression}"

    def holds(self, document: Mapping[str, Any]) -> bool:
        """Whether the expression is true of ``document`` (see the module docstring)."""
        try:
            result = self.parsed.search(document)
        except Exception as exc:
            raise ConditionError(
                f"condition {self.expression} could not be evaluated: {_runtime(exc)}"
            ) from None
        return truthy(result)


def truthy(value: object) -> bool:
    """JMESPath's truth: ``false``, ``null`` and empty strings, lists and objects are
    false, everything else (``0`` too) is true."""
    if value is None or value is False:
        return False
    return not (isinstance(value, str | list | dict) and not value)


def condition_document(
    source: ClaimSource, upstream: Sequence[tuple[Job, StepRun | None]]
) -> dict[str, Any]:
    """What a condition is evaluated against: the run's event and object, and the steps
    upstream of the step, each with its last attempt (``None``: none recorded)."""
    steps: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    for job, attempt in sorted(upstream, key=lambda pair: pair[1].id if pair[1] else 0):
        report = attempt.report if attempt is not None else {}
        metadata = report.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        outputs = report.get("outputs")
        merged.update(metadata)
        steps[job.step] = {
            "status": job.state.value,
            "metadata": metadata,
            "outputs": list(outputs) if isinstance(outputs, list) else [],
        }
    return {
        "event": json.loads(source.event_json),
        "object": {
            "bucket": source.bucket,
            "key": source.key,
            "version_id": source.version_id,
            "size": source.size,
            "etag": source.etag,
            "sha256": source.sha256,
            "content_type": source.content_type,
            "metadata": dict(source.user_metadata or {}),
        },
        "metadata": merged,
        "steps": steps,
    }


def _check_calls(node: object) -> None:
    """Refuse calls of functions JMESPath lacks, or with the wrong number of arguments
    (jmespath finds these only when it evaluates them). Walks jmespath's parse tree,
    nested dicts whose subexpressions are under ``children``."""
    if not isinstance(node, dict):
        return
    if node.get("type") == "function_expression":
        _check_call(str(node.get("value")), len(node.get("children", [])))
    for child in node.get("children", []):
        _check_calls(child)


def _check_call(name: str, given: int) -> None:
    function = _FUNCTIONS.get(name)
    if function is None:
        raise ConditionError(f"JMESPath has no function {name}()")
    signature = function["signature"]
    wanted = len(signature)
    if signature and signature[-1].get("variadic"):
        if given < wanted:
            raise ConditionError(f"{name}() takes at least {wanted} arguments, not {given}")
    elif given != wanted:
        raise ConditionError(f"{name}() takes {wanted} argument(s), not {given}")


def _syntax(exc: JMESPathError) -> str:
    """A parse error in one line (jmespath's own messages draw the expression and a
    caret under it)."""
    if isinstance(exc, EmptyExpressionError):
        return "it is empty"
    if isinstance(exc, IncompleteExpressionError):
        return "it ends too soon"
    if isinstance(exc, LexerError):
        return f"{exc.message} at column {exc.lexer_position + 1}"
    if isinstance(exc, ParseError):
        return f"{exc.msg} at column {exc.lex_position + 1} ({exc.token_value!r})"
    return str(exc).splitlines()[0]


def _runtime(exc: Exception) -> str:
    if isinstance(exc, TypeError) and "not supported between" in str(exc):
        return f"it orders values of different types ({exc})"
    return f"{type(exc).__name__}: {exc}"
