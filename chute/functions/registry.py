"""Functions and layers made through the Lambda API, beside those of chute.toml.

:class:`FunctionRegistry` is the :class:`~chute.functions.definitions.FunctionSource` of
a running Chute: chute.toml's functions (read-only here) and the catalog's, which
CreateFunction, UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction,
AddPermission and PublishLayerVersion change. A function's zip is kept as a registered
store blob (so a worker on any machine can fetch it), its configuration as data, and
every change gives it a new revision. Reads are cached for a second: other processes
see a change within that.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chute.blobs.records import BlobRecord
from chute.blobs.staging import StagedBlob
from chute.catalog import Catalog, CatalogSession, StoredFunction, StoredLayerVersion
from chute.clock import Clock
from chute.context import RequestContext
from chute.errors import (
    AccessDenied,
    ChuteError,
    InvalidParameterValue,
    ResourceNotFound,
)
from chute.functions.definitions import (
    CodeSource,
    ConfiguredFunctions,
    Function,
    function_arn,
)
from chute.functions.package import MAX_ENTRIES, MAX_UNZIPPED_BYTES, check_entries
from chute.names import ACCOUNT
from chute.objects.service import ObjectService
from chute.settings import FunctionConfig
from chute.settings.functions import check_function_name

#: Largest zip a function's code or a layer may be (Lambda's direct upload limit).
MAX_ZIP_BYTES = 50 * 1024 * 1024
#: How long a read of the catalog's functions is trusted.
CACHE_SECONDS = 1.0
_LAYER_ARN = f"arn:aws:lambda:{{region}}:{ACCOUNT}:layer:{{name}}:{{version}}"


class ResourceConflict(ChuteError):
    """The resource already exists, or another operation is in progress."""

    code = "ResourceConflictException"
    status = 409


class FunctionRegistry:
    """chute.toml's functions and the catalog's; see the module docstring."""

    def __init__(
        self,
        catalog: Catalog,
        objects: ObjectService,
        configured: ConfiguredFunctions,
        region: str,
        clock: Clock,
        pipelines: Iterable[str] = (),
    ) -> None:
        self.catalog = catalog
        self.objects = objects
        self.configured = configured
        self.region = region
        self.clock = clock
        #: Names functions may not take: notification rules name pipelines the same way.
        self.pipelines = frozenset(pipelines)
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, Function]] | None = None

    # --- FunctionSource -----------------------------------------------------------------

    def function(self, name: str) -> Function | None:
        return self.configured.function(name) or self._managed().get(name)

    def functions(self) -> list[Function]:
        found = {f.name: f for f in self.configured.functions()}
        for name, function in self._managed().items():
            found.setdefault(name, function)
        return [found[name] for name in sorted(found)]

    def _managed(self) -> dict[str, Function]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        with self.catalog.read() as session:
            rows = session.functions.every()
            functions = {row.name: self._definition(session, row) for row in rows}
        with self._lock:
            self._cache = (now, functions)
        return functions

    def _forget(self) -> None:
        with self._lock:
            self._cache = None

    def _definition(self, session: CatalogSession, row: StoredFunction) -> Function:
        layers = tuple(self._layer_source(session, arn) for arn in row.layers)
        return Function(
            name=row.name,
            arn=function_arn(self.region, row.name),
            config=FunctionConfig(**row.config),
            code=_blob_source(session, row.code_blob_id, row.code_sha256, row.code_size),
            layers=layers,
            layer_arns=tuple(row.layers),
            revision=row.revision,
            managed=True,
            last_modified=row.updated_at,
            role_grants=tuple(_role_grants(session, row.config.get("role"), self.clock())),
        )

    def _layer_source(self, session: CatalogSession, arn: str) -> CodeSource:
        name, version = _layer_of(arn)
        layer = session.functions.layer_version(name, version)
        if layer is None:
            return CodeSource()  # deleted since: the function fails to start, saying so
        return _blob_source(session, layer.blob_id, layer.sha256, layer.size)

    # --- functions ----------------------------------------------------------------------

    def create(
        self,
        context: RequestContext,
        name: str,
        config: dict[str, Any],
        code: bytes,
        layers: Sequence[str] = (),
    ) -> Function:
        """CreateFunction: a function of ``config`` (FunctionConfig's fields) running
        ``code`` (a zip) with ``layers`` (layer version ARNs)."""
        _require_admin(context)
        _check_name(name)
        parsed = _config(config)
        if self.configured.function(name) is not None:
            raise ResourceConflict(f"Function already exist: {name} (it is in chute.toml)")
        if name in self.pipelines:
            raise ResourceConflict(f"{name} is the name of a pipeline in chute.toml")
        staged = self._stage(code)
        moment = self.clock()

        def work(session: CatalogSession) -> tuple[None, list[BlobRecord]]:
            self._check_layers(session, layers)
            self.objects.writes.register(session, staged, reserved=True)
            row = StoredFunction(
                name=name,
                config=parsed.model_dump(mode="json"),
                code_blob_id=staged.info.blob_id,
                code_sha256=staged.info.sha256,
                code_size=staged.info.size,
                layers=list(layers),
                revision=_revision(),
                policy=[],
                created_at=moment,
                updated_at=moment,
            )
            if not session.functions.add(row):
                raise ResourceConflict(f"Function already exist: {name}")
            return None, []

        self.objects.writes.commit(work, staged)
        self._forget()
        return self._require(name)

    def update_code(self, context: RequestContext, name: str, code: bytes) -> Function:
        """UpdateFunctionCode: a new zip; the old one is freed."""
        _require_admin(context)
        self._not_configured(name)
        staged = self._stage(code)

        def work(session: CatalogSession) -> tuple[None, list[BlobRecord]]:
            row = _existing(session, name)
            self.objects.writes.register(session, staged, reserved=True)
            session.functions.update(
                name,
                code_blob_id=staged.info.blob_id,
                code_sha256=staged.info.sha256,
                code_size=staged.info.size,
                revision=_revision(),
                updated_at=self.clock(),
            )
            return None, session.blobs.release([row.code_blob_id])

        self.objects.writes.commit(work, staged)
        self._forget()
        return self._require(name)

    def update_configuration(
        self,
        context: RequestContext,
        name: str,
        changes: dict[str, Any],
        layers: Sequence[str] | None = None,
    ) -> Function:
        """UpdateFunctionConfiguration (and PutFunctionEventInvokeConfig): some of the
        configuration's fields changed, and the layers if given."""
        _require_admin(context)
        self._not_configured(name)

        def work(session: CatalogSession) -> None:
            row = _existing(session, name)
            parsed = _config({**row.config, **changes})
            values: dict[str, Any] = {"config": parsed.model_dump(mode="json")}
            if layers is not None:
                self._check_layers(session, layers)
                values["layers"] = list(layers)
            session.functions.update(name, **values, revision=_revision(), updated_at=self.clock())

        self.catalog.run_write(work)
        self._forget()
        return self._require(name)

    def delete(self, context: RequestContext, name: str) -> None:
        """DeleteFunction: the function goes, and its zip."""
        _require_admin(context)
        self._not_configured(name)

        def work(session: CatalogSession) -> tuple[None, list[BlobRecord]]:
            row = session.functions.remove(name)
            if row is None:
                raise _not_found(self.region, name)
            return None, session.blobs.release([row.code_blob_id])

        self.objects.writes.commit(work, None)
        self._forget()

    # --- resource-based policy ------------------------------------------------------------

    def add_permission(
        self, context: RequestContext, name: str, statement: dict[str, Any]
    ) -> dict[str, Any]:
        """AddPermission: one more policy statement (its ``Sid`` unique)."""
        _require_admin(context)
        self._not_configured(name)

        def work(session: CatalogSession) -> None:
            row = _existing(session, name)
            if any(old.get("Sid") == statement["Sid"] for old in row.policy):
                raise ResourceConflict(
                    f"The statement id ({statement['Sid']}) provided already exists. Please "
                    "provide a new statement id, or remove the existing statement."
                )
            policy = [*row.policy, statement]
            session.functions.update(name, policy=policy, revision=_revision())

        self.catalog.run_write(work)
        self._forget()
        return statement

    def remove_permission(self, context: RequestContext, name: str, sid: str) -> None:
        _require_admin(context)
        self._not_configured(name)

        def work(session: CatalogSession) -> None:
            row = _existing(session, name)
            kept = [old for old in row.policy if old.get("Sid") != sid]
            if len(kept) == len(row.policy):
                raise ResourceNotFound("No policy is associated with the given resource.")
            session.functions.update(name, policy=kept, revision=_revision())

        self.catalog.run_write(work)
        self._forget()

    def policy(self, name: str) -> tuple[list[dict[str, Any]], str]:
        """The function's policy statements, and its revision."""
        with self.catalog.read() as session:
            row = session.functions.get(name)
        if row is None:
            if self.configured.function(name) is not None:
                raise ResourceNotFound("The resource you requested does not exist.")
            raise _not_found(self.region, name)
        if not row.policy:
            raise ResourceNotFound("The resource you requested does not exist.")
        return row.policy, row.revision

    # --- layers ---------------------------------------------------------------------------

    def publish_layer_version(
        self,
        context: RequestContext,
        name: str,
        code: bytes,
        description: str = "",
        runtimes: Sequence[str] = (),
    ) -> StoredLayerVersion:
        """PublishLayerVersion: the next version of layer ``name``."""
        _require_admin(context)
        _check_name(name)
        staged = self._stage(code)

        def work(session: CatalogSession) -> tuple[StoredLayerVersion, list[BlobRecord]]:
            self.objects.writes.register(session, staged, reserved=True)
            for _ in range(5):  # another process may publish the same number at once
                layer = StoredLayerVersion(
                    name=name,
                    version=session.functions.latest_layer_version(name) + 1,
                    blob_id=staged.info.blob_id,
                    sha256=staged.info.sha256,
                    size=staged.info.size,
                    description=description,
                    runtimes=list(runtimes),
                    created_at=self.clock(),
                )
                if session.functions.add_layer_version(layer):
                    return layer, []
            raise ResourceConflict(f"layer {name} is being published elsewhere; try again")

        return self.objects.writes.commit(work, staged)

    def layer_version(self, name: str, version: int) -> StoredLayerVersion:
        with self.catalog.read() as session:
            found = session.functions.layer_version(name, version)
        if found is None:
            raise ResourceNotFound("The resource you requested does not exist.")
        return found

    def layer_versions(self, name: str | None = None) -> list[StoredLayerVersion]:
        with self.catalog.read() as session:
            return session.functions.layer_versions(name)

    def delete_layer_version(self, context: RequestContext, name: str, version: int) -> None:
        """DeleteLayerVersion (its zip stays while a function still uses it, as on
        Lambda, where a deleted version keeps working for those that have it)."""
        _require_admin(context)

        def work(session: CatalogSession) -> tuple[None, list[BlobRecord]]:
            found = session.functions.remove_layer_version(name, version)
            return None, session.blobs.release([found.blob_id]) if found else []

        self.objects.writes.commit(work, None)

    def layer_arn(self, name: str, version: int) -> str:
        return _LAYER_ARN.format(region=self.region, name=name, version=version)

    # --- helpers --------------------------------------------------------------------------

    def _stage(self, code: bytes) -> StagedBlob:
        """Check ``code`` is a zip Chute can unpack, and take it in as a store blob."""
        check_zip(code)
        return self.objects.writes.stage([code], MAX_ZIP_BYTES, inline=False)

    def _check_layers(self, session: CatalogSession, layers: Iterable[str]) -> None:
        layers = list(layers)
        if len(layers) > 5:
            raise InvalidParameterValue("A function may have at most 5 layers")
        for arn in layers:
            name, version = _layer_of(arn)
            if session.functions.layer_version(name, version) is None:
                raise InvalidParameterValue(f"Layer version {arn} does not exist.")

    def _not_configured(self, name: str) -> None:
        if self.configured.function(name) is not None:
            raise InvalidParameterValue(
                f"Function {name} is defined in chute.toml: change it there"
            )

    def _require(self, name: str) -> Function:
        found = self.function(name)
        if found is None:
            raise _not_found(self.region, name)
        return found


def check_zip(code: bytes) -> None:
    """``code`` is a zip whose entries stay inside their folder and whose declared size
    is within Lambda's limit (unpacking counts the real bytes again)."""
    if len(code) > MAX_ZIP_BYTES:
        raise InvalidParameterValue(f"Unzipped code must be smaller than {MAX_ZIP_BYTES} bytes")
    try:
        with zipfile.ZipFile(io.BytesIO(code)) as bundle:
            entries = bundle.infolist()
    except zipfile.BadZipFile:
        raise InvalidParameterValue(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from None
    if len(entries) > MAX_ENTRIES:
        raise InvalidParameterValue(f"the zip holds over {MAX_ENTRIES} entries")
    check_entries(entries)
    if sum(entry.file_size for entry in entries) > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValue(
            f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
        )


def _blob_source(session: CatalogSession, blob_id: str, sha256: str, size: int) -> CodeSource:
    record = session.blobs.get(blob_id)
    location = record.location if record is not None else None
    return CodeSource(blob=location or blob_id, sha256=sha256, size=size)


def _role_grants(session: CatalogSession, role: str | None, now: datetime) -> list[dict[str, Any]]:
    """The grants of the usable access key named like ``role`` (the last part of
    ``arn:aws:iam::ACCOUNT:role/NAME``); none if there is no such key."""
    if not role:
        return []
    name = role.rsplit("/", 1)[-1]
    for key in session.keys.list():
        expired = key.expires_at is not None and key.expires_at <= now
        if key.name == name and key.enabled and not expired and not key.is_root:
            return list(key.grants)
    return []


def _existing(session: CatalogSession, name: str) -> StoredFunction:
    row = session.functions.get(name)
    if row is None:
        raise ResourceNotFound(f"Function not found: {name}")
    return row


def _not_found(region: str, name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Function not found: {function_arn(region, name)}")


def _config(values: dict[str, Any]) -> FunctionConfig:
    try:
        return FunctionConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidParameterValue(problems) from None
    except TypeError as exc:
        raise InvalidParameterValue(str(exc)) from None


def _check_name(name: str) -> None:
    try:
        check_function_name(name)
    except ValueError:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: "
            "[a-zA-Z0-9-_]+"
        ) from None


def _layer_of(arn: str) -> tuple[str, int]:
    """(name, version) of a layer version ARN (``arn:aws:lambda:R:A:layer:NAME:N``)."""
    parts = arn.split(":")
    if len(parts) != 8 or parts[5] != "layer" or not parts[7].isdigit():
        raise InvalidParameterValue(f"{arn} is not a layer version ARN")
    return parts[6], int(parts[7])


def _revision() -> str:
    return str(uuid.uuid4())


def _require_admin(context: RequestContext) -> None:
    if not context.permissions.is_admin:
        raise AccessDenied(f"{context.principal} may not manage functions")


def statement(
    sid: str, action: str, principal: str, source_arn: str | None, source_account: str | None
) -> dict[str, Any]:
    """A policy statement as Lambda writes it for AddPermission."""
    found: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": principal} if "." in principal else {"AWS": principal},
        "Action": action,
    }
    condition: dict[str, Any] = {}
    if source_arn:
        condition["ArnLike"] = {"AWS:SourceArn": source_arn}
    if source_account:
        condition["StringEquals"] = {"AWS:SourceAccount": source_account}
    if condition:
        found["Condition"] = condition
    return found


def allows_service(statements: Sequence[dict[str, Any]], service: str, source_arn: str) -> bool:
    """Whether a statement of a function's policy lets AWS service ``service``
    (``s3.amazonaws.com``) invoke it on behalf of resource ``source_arn`` (a bucket's
    ARN): its principal (the service, or ``*``), its action (``lambda:InvokeFunction``
    or a wildcard covering it), and its conditions (``ArnLike``/``ArnEquals`` on
    ``AWS:SourceArn``, ``StringEquals`` on ``AWS:SourceAccount``) if it has them."""
    return any(
        found.get("Effect", "Allow") == "Allow"
        and _names(found.get("Principal"), service)
        and _invokes(found.get("Action"))
        and _conditions_hold(found.get("Condition") or {}, source_arn)
        for found in statements
    )


def _names(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for kind in ("Service", "AWS"):
        given = principal.get(kind)
        values = given if isinstance(given, list) else [given]
        if "*" in values or (kind == "Service" and service in values):
            return True
    return False


def _invokes(action: Any) -> bool:
    actions = action if isinstance(action, list) else [action]
    return any(isinstance(one, str) and _arn_like("lambda:InvokeFunction", one) for one in actions)


def _conditions_hold(condition: dict[str, Any], source_arn: str) -> bool:
    for operator, test in (("ArnLike", _arn_like), ("ArnEquals", str.__eq__)):
        wanted = (condition.get(operator) or {}).get("AWS:SourceArn")
        if wanted is not None and not test(source_arn, wanted):
            return False
    account = (condition.get("StringEquals") or {}).get("AWS:SourceAccount")
    return account is None or account == ACCOUNT


def _arn_like(value: str, pattern: str) -> bool:
    """IAM's ``ArnLike``: ``*`` any run of characters, ``?`` any one; nothing else is
    special (``[`` is itself, unlike in ``fnmatch``)."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value, re.DOTALL) is not None


def policy_document(statements: list[dict[str, Any]], arn: str) -> str:
    """The policy GetPolicy answers, as a JSON string (Lambda's form)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": [{**s, "Resource": arn} for s in statements],
        }
    )
