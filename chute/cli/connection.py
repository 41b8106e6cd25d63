"""How a command reaches the server: the options every command shares (``--url``, the
access key, the region it is signed for, the CA bundle for HTTPS), and :func:`connect`,
which opens a client to it and ends the command with exit 1 on any failure."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from chute.cli.client import ChuteClient, ChuteClientError
from chute.cli.client.signing import SigV4Signer
from chute.cli.credentials import find_credentials
from chute.cli.output import fail
from chute.errors import CredentialsError

DEFAULT_URL = "http://127.0.0.1:9000"
DEFAULT_REGION = "us-east-1"

ServerUrl = Annotated[
    str, typer.Option(envvar="CHUTE_URL", help="The Chute server (http:// or https://).")
]
AccessKeyOption = Annotated[
    str | None,
    typer.Option(
        "--access-key", help="Access key id to sign with (else CHUTE_ACCESS_KEY; see below)."
    ),
]
SecretKeyOption = Annotated[
    str | None,
    typer.Option("--secret-key", help="Its secret (else CHUTE_SECRET_KEY)."),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        envvar="CHUTE_PROFILE",
        help="A profile of the AWS credentials file (AWS_SHARED_CREDENTIALS_FILE or "
        "~/.aws/credentials) to sign with.",
    ),
]
RegionOption = Annotated[
    str,
    typer.Option(envvar="CHUTE_REGION", help="The server's region, which requests are signed for."),
]
CaBundleOption = Annotated[
    Path | None,
    typer.Option(
        envvar="CHUTE_CA_BUNDLE",
        exists=True,
        dir_okay=False,
        help="PEM certificates to trust for an https URL (default: the system's, or "
        "SSL_CERT_FILE).",
    ),
]


@dataclass(frozen=True)
class Connection:
    """Where the commands go and how they sign, from the app's options."""

    url: str = DEFAULT_URL
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    profile: str | None = None
    region: str = DEFAULT_REGION
    ca_bundle: Path | None = None

    def client(self) -> ChuteClient:
        """A client that signs with the access key found (see :mod:`chute.cli.credentials`)."""
        key = find_credentials(self.url, self.access_key, self.secret_key, self.profile)
        auth = SigV4Signer(key, self.region) if key is not None else None
        verify: ssl.SSLContext | bool = True
        if self.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(self.ca_bundle))
        return ChuteClient(self.url, auth=auth, verify=verify)


@contextmanager
def connect(ctx: typer.Context) -> Iterator[ChuteClient]:
    """A client for the server the app's options name (its callback keeps them in
    ``ctx.obj``); its errors end the command with exit 1."""
    connection: Connection = ctx.obj
    signed = False
    try:
        with connection.client() as client:
            signed = client.signed
            yield client
    except CredentialsError as exc:
        fail(exc.message)
    except ChuteClientError as exc:
        hint = ""
        if exc.code == "AccessDenied" and not signed:
            hint = " (no access key found: set CHUTE_ACCESS_KEY and CHUTE_SECRET_KEY)"
        fail(f"{exc.code}: {exc.message}{hint}")
    except OSError as exc:
        fail(str(exc))
