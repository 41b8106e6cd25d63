"""Which access key the ``chute`` command signs with, first found wins:

1. ``--access-key`` and ``--secret-key``;
2. ``CHUTE_ACCESS_KEY`` and ``CHUTE_SECRET_KEY``;
3. a profile of an AWS credentials file, when one is named (``--profile`` or
   ``CHUTE_PROFILE``): ``AWS_SHARED_CREDENTIALS_FILE``, or ``~/.aws/credentials``. Only
   when named: the ``AWS_*`` variables and default profile usually hold AWS's keys, which
   a Chute server should never be sent;
4. for a server on this machine (a loopback URL), the root key a local server wrote to
   ``root-credentials`` in its data folder: ``CHUTE_DATA_DIR``, else ``data_dir`` of the
   configuration (``CHUTE_CONFIG``, else ``./chute.toml``), else ``./chute-data``. So
   ``make run``, then ``chute put`` in the same folder, needs no key typed.

Nothing found: the requests go unsigned (and a server with authentication on refuses
them).
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from chute.cli.client.signing import AccessKey
from chute.errors import CredentialsError

#: The profile the server writes its root key under in ``root-credentials``.
ROOT_PROFILE = "chute"
ROOT_CREDENTIALS_FILE = "root-credentials"
DEFAULT_DATA_DIR = "chute-data"
DEFAULT_CONFIG = "chute.toml"


def find_credentials(
    url: str,
    access_key: str | None = None,
    secret_key: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> AccessKey | None:
    """The access key to sign requests to ``url`` with, or ``None`` (see the module)."""
    env = os.environ if environ is None else environ
    given = _pair(access_key, secret_key, "--access-key and --secret-key", "flags")
    if given is None:
        given = _pair(
            env.get("CHUTE_ACCESS_KEY"),
            env.get("CHUTE_SECRET_KEY"),
            "CHUTE_ACCESS_KEY and CHUTE_SECRET_KEY",
            "the environment",
        )
    if given is None and profile:
        given = _profile(_shared_credentials_file(env), profile)
    if given is None and is_loopback(url):
        given = _local_root(env)
    return given


def is_loopback(url: str) -> bool:
    """Whether ``url`` names a server on this machine."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_data_dir(environ: Mapping[str, str], cwd: Path | None = None) -> Path:
    """The data folder a server started here with the same environment would use."""
    here = cwd or Path.cwd()
    if environ.get("CHUTE_DATA_DIR"):
        return here / environ["CHUTE_DATA_DIR"]
    config = Path(environ.get("CHUTE_CONFIG") or here / DEFAULT_CONFIG)
    try:
        with (here / config).open("rb") as f:
            data_dir = tomllib.load(f).get("data_dir")
    except (OSError, tomllib.TOMLDecodeError):
        data_dir = None
    return here / (data_dir if isinstance(data_dir, str) else DEFAULT_DATA_DIR)


def _pair(key: str | None, secret: str | None, names: str, source: str) -> AccessKey | None:
    if not key and not secret:
        return None
    if not (key and secret):
        raise CredentialsError(f"give both {names}, or neither")
    return AccessKey(key, secret, source)


def _shared_credentials_file(environ: Mapping[str, str]) -> Path:
    named = environ.get("AWS_SHARED_CREDENTIALS_FILE")
    return Path(named).expanduser() if named else Path.home() / ".aws" / "credentials"


def _profile(path: Path, profile: str) -> AccessKey:
    found = _read_profile(path, profile)
    if found is None:
        raise CredentialsError(f"no profile [{profile}] with both keys in {path}")
    return found


def _local_root(environ: Mapping[str, str]) -> AccessKey | None:
    path = local_data_dir(environ) / ROOT_CREDENTIALS_FILE
    return _read_profile(path, ROOT_PROFILE) if path.is_file() else None


def _read_profile(path: Path, profile: str) -> AccessKey | None:
    """``aws_access_key_id`` and ``aws_secret_access_key`` of ``[profile]`` in the AWS
    credentials file ``path``; ``None`` if the file or the profile is missing."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path} is not an AWS credentials file: {exc}") from None
    if not parser.has_section(profile):
        return None
    section = parser[profile]
    key, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
    if not (key and secret):
        return None
    return AccessKey(key.strip(), secret.strip(), f"profile {profile} in {path}")
