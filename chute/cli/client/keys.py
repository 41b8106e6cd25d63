"""Access key endpoints of the client: make, list, describe, disable, enable, remove."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from chute.api.rest.models.keys import CreateKey, GrantView, KeyList, KeyView, NewKeyView
from chute.cli.client.transport import Transport, request_body


def key_path(key_id: str) -> str:
    return "/keys/" + quote(key_id, safe="")


class KeyEndpoints(Transport):
    """Access keys (admins only)."""

    def create_key(
        self, name: str, grants: list[GrantView], *, expires_at: datetime | None = None
    ) -> NewKeyView:
        """A new key; the answer holds its secret, shown this once."""
        body = request_body(CreateKey(name=name, grants=grants, expires_at=expires_at))
        return self._json(NewKeyView, "POST", "/keys", json=body)

    def list_keys(self) -> list[KeyView]:
        return self._json(KeyList, "GET", "/keys").keys

    def get_key(self, key_id: str) -> KeyView:
        return self._json(KeyView, "GET", key_path(key_id))

    def disable_key(self, key_id: str) -> KeyView:
        return self._json(KeyView, "POST", key_path(key_id) + "/disable")

    def enable_key(self, key_id: str) -> KeyView:
        return self._json(KeyView, "POST", key_path(key_id) + "/enable")

    def remove_key(self, key_id: str) -> None:
        self._request("DELETE", key_path(key_id))
