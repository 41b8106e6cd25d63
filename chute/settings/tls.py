"""The shape of ``[tls]`` in chute.toml: serving HTTPS."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator


class TlsSettings(BaseModel):
    """The certificate the server presents; both files or neither (plain HTTP)."""

    model_config = ConfigDict(extra="forbid")

    #: PEM certificate chain, the server's certificate first.
    cert_file: Path | None = None
    #: PEM private key of that certificate.
    key_file: Path | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set both tls.cert_file and tls.key_file, or neither")
        for path in (self.cert_file, self.key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"{path} is not a file")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None
