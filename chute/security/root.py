"""The root key at server start: made once, shown once.

On a fresh catalog the first server to start makes the root key (full rights) and
prints it once, and writes it for clients on this machine to find: ``root-credentials``
in the data folder, mode 0600, in the AWS credentials file form (profile ``chute``), so
``AWS_SHARED_CREDENTIALS_FILE`` can point at it. Later starts print nothing.

An operator may choose the root key instead: ``CHUTE_ROOT_ACCESS_KEY`` and
``CHUTE_ROOT_SECRET_KEY``. Changing them later rotates it (the old root key stops
working); a ``root-credentials`` file holding other credentials is then removed, as it
would only mislead.
"""

from __future__ import annotations

import configparser
import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from chute.errors import ConfigError
from chute.security.keys import KeyService
from chute.security.records import RootKey, RootOrigin

log = logging.getLogger(__name__)

ACCESS_KEY_VARIABLE: Final = "CHUTE_ROOT_ACCESS_KEY"
SECRET_KEY_VARIABLE: Final = "CHUTE_ROOT_SECRET_KEY"
#: The profile of ``root-credentials`` (``chute --profile chute``, ``aws --profile chute``).
PROFILE: Final = "chute"


def root_from_environment(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The root key an operator chose, if any; both variables or neither."""
    key_id, secret = environ.get(ACCESS_KEY_VARIABLE), environ.get(SECRET_KEY_VARIABLE)
    if not key_id and not secret:
        return None
    if not (key_id and secret):
        raise ConfigError([f"set both {ACCESS_KEY_VARIABLE} and {SECRET_KEY_VARIABLE}, or neither"])
    return key_id, secret


def start_root(keys: KeyService, credentials_file: Path, environ: Mapping[str, str]) -> RootKey:
    """Make sure a root key exists (see the module); show a generated one once."""
    root = keys.ensure_root(root_from_environment(environ))
    if root.origin is RootOrigin.GENERATED:
        write_credentials(credentials_file, root)
        log.warning(
            "\n\n    Chute made its root access key (full rights). It is shown this once:\n\n"
            "        access key id:     %s\n        secret access key: %s\n\n"
            "    It is also in %s (mode 0600), where the chute command on this machine\n"
            "    finds it. Make keys with fewer rights for everything else: chute keys create\n",
            root.key_id,
            root.secret,
            credentials_file,
        )
    elif root.origin is not RootOrigin.STORED:
        log.info("root access key %s set from %s", root.key_id, ACCESS_KEY_VARIABLE)
    if root.origin is not RootOrigin.GENERATED:
        _remove_if_stale(credentials_file, root)
    return root


def write_credentials(path: Path, root: RootKey) -> None:
    """Write ``root`` to ``path`` as an AWS credentials file readable by its owner only,
    whole or not at all."""
    text = (
        "# Chute's root access key (full rights), written once by the server that made it.\n"
        f"[{PROFILE}]\naws_access_key_id = {root.key_id}\n"
        f"aws_secret_access_key = {root.secret}\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _remove_if_stale(path: Path, root: RootKey) -> None:
    if not path.is_file():
        return
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
        held = (
            parser.get(PROFILE, "aws_access_key_id"),
            parser.get(PROFILE, "aws_secret_access_key"),
        )
    except (configparser.Error, UnicodeDecodeError):
        held = None
    if held != (root.key_id, root.secret):
        path.unlink(missing_ok=True)
        log.info("removed %s: it held credentials that are not the root key's", path)
