"""The key service over SQLite and PostgreSQL: secrets sealed at rest, admins only,
disabled keys refused within the cache's bound, one root key however many servers start."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from chute.access import EVERYTHING, Access, Grant, Permissions
from chute.catalog import Catalog
from chute.catalog.schema import access_keys
from chute.clock import FakeClock
from chute.context import RequestContext
from chute.errors import (
    AccessDenied,
    ClientError,
    ConfigError,
    InvalidArgument,
    NoSuchAccessKey,
    SecretUnreadable,
)
from chute.security.keys import KeyService
from chute.security.master_key import MasterKey
from chute.security.records import RootOrigin
from tests.context import CTX

READ_PHOTOS = Grant(frozenset({Access.READ}), ("photos",), ("public/",))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def keys(catalog: Catalog, master: MasterKey, clock: FakeClock) -> KeyService:
    return KeyService(catalog, master, clock, cache_seconds=5)


def raw_rows(catalog: Catalog) -> list[dict[str, Any]]:
    with catalog.engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.select(access_keys)).mappings()]


def test_a_new_key_is_shown_once_and_stored_sealed(keys: KeyService, catalog: Catalog) -> None:
    new = keys.create(CTX, "uploader", [READ_PHOTOS])
    assert len(new.info.id) == 20
    assert new.info.id.startswith("CK")
    assert new.info.id.isupper()
    assert new.info.id.isalnum()
    assert len(new.secret) == 40
    assert new.secret not in repr(new)
    (row,) = raw_rows(catalog)
    assert row["id"] == new.info.id
    assert new.secret.encode() not in bytes(row["secret"])
    assert new.secret not in str(row)
    listed = keys.list(CTX)
    assert [k.id for k in listed] == [new.info.id]
    assert listed[0].grants == (READ_PHOTOS,)
    assert not hasattr(listed[0], "secret")


def test_credentials_open_the_secret(keys: KeyService) -> None:
    new = keys.create(CTX, "reader", [READ_PHOTOS])
    found = keys.credentials(new.info.id)
    assert found is not None
    assert found.secret == new.secret
    assert found.permissions == Permissions((READ_PHOTOS,))
    assert found.enabled
    assert keys.credentials("CKNOSUCHKEY000000000") is None


def test_only_admins_manage_keys(keys: KeyService) -> None:
    new = keys.create(CTX, "reader", [READ_PHOTOS])
    writer = Grant(frozenset({Access.READ, Access.WRITE}))
    limited = RequestContext("someone", "127.0.0.1", permissions=Permissions((writer,)))
    admin_of_one = RequestContext(
        "other", "127.0.0.1", permissions=Permissions((Grant(frozenset({Access.ADMIN}), ("b",)),))
    )
    for context in (limited, admin_of_one, RequestContext("anonymous", "127.0.0.1")):
        with pytest.raises(AccessDenied):
            keys.create(context, "mine", [Grant(frozenset({Access.ADMIN}))])
        with pytest.raises(AccessDenied):
            keys.list(context)
        with pytest.raises(AccessDenied):
            keys.disable(context, new.info.id)
        with pytest.raises(AccessDenied):
            keys.remove(context, new.info.id)


def test_a_disabled_key_stops_working_within_the_cache_bound(
    catalog: Catalog, master: MasterKey, clock: FakeClock
) -> None:
    here = KeyService(catalog, master, clock, cache_seconds=5)
    elsewhere = KeyService(catalog, master, clock, cache_seconds=5)  # another process
    key_id = here.create(CTX, "k", [READ_PHOTOS]).info.id
    assert (found := elsewhere.credentials(key_id)) is not None
    assert found.enabled
    assert here.disable(CTX, key_id).enabled is False
    assert (found := here.credentials(key_id)) is not None
    assert not found.enabled
    clock.advance(4.9)
    assert (found := elsewhere.credentials(key_id)) is not None
    assert found.enabled
    clock.advance(0.2)
    assert (found := elsewhere.credentials(key_id)) is not None
    assert not found.enabled
    assert here.enable(CTX, key_id).enabled
    here.remove(CTX, key_id)
    assert here.credentials(key_id) is None
    with pytest.raises(NoSuchAccessKey):
        here.remove(CTX, key_id)
    with pytest.raises(NoSuchAccessKey):
        here.disable(CTX, key_id)


def test_a_key_made_elsewhere_works_at_once(
    catalog: Catalog, master: MasterKey, clock: FakeClock
) -> None:
    here = KeyService(catalog, master, clock)
    assert here.credentials("CKNOTYET") is None
    elsewhere = KeyService(catalog, master, clock)
    new = elsewhere.create(CTX, "k", [READ_PHOTOS])
    assert here.credentials(new.info.id) is not None


@pytest.mark.parametrize(
    ("name", "grants", "message"),
    [
        ("", [READ_PHOTOS], "name"),
        ("k", [], "at least one grant"),
        ("k", [Grant(frozenset({Access.READ}), ("Bad_Bucket",))], "bucket"),
        ("k", [Grant(frozenset({Access.READ}), ("*",), ("a\x00",))], "NUL"),
    ],
)
def test_a_bad_key_is_refused(
    keys: KeyService, name: str, grants: list[Grant], message: str
) -> None:
    with pytest.raises(ClientError, match=message):
        keys.create(CTX, name, grants)


def test_an_expiry_must_be_ahead(keys: KeyService, clock: FakeClock) -> None:
    with pytest.raises(InvalidArgument, match="future"):
        keys.create(CTX, "k", [READ_PHOTOS], expires_at=clock() - timedelta(seconds=1))
    new = keys.create(CTX, "k", [READ_PHOTOS], expires_at=clock() + timedelta(hours=1))
    found = keys.credentials(new.info.id)
    assert found is not None
    assert not found.expired(clock())
    assert found.expired(clock() + timedelta(hours=1))


def test_a_root_key_is_generated_once(keys: KeyService, catalog: Catalog) -> None:
    first = keys.ensure_root()
    assert first.origin is RootOrigin.GENERATED
    again = keys.ensure_root()
    assert (again.origin, again.key_id, again.secret) == (
        RootOrigin.STORED,
        first.key_id,
        first.secret,
    )
    (root,) = keys.list(CTX)
    assert root.is_root
    assert root.permissions == EVERYTHING
    found = keys.credentials(first.key_id)
    assert found is not None
    assert found.permissions.is_admin
    assert first.secret not in str(raw_rows(catalog))


def test_the_root_key_cannot_be_disabled_or_removed(keys: KeyService) -> None:
    root = keys.ensure_root()
    with pytest.raises(InvalidArgument, match="root"):
        keys.disable(CTX, root.key_id)
    with pytest.raises(InvalidArgument, match="root"):
        keys.remove(CTX, root.key_id)


def test_the_environment_sets_and_rotates_the_root_key(keys: KeyService) -> None:
    first = keys.ensure_root(("ROOTKEY1", "first-secret"))
    assert first.origin is RootOrigin.ENVIRONMENT
    assert keys.ensure_root(("ROOTKEY1", "first-secret")).origin is RootOrigin.STORED
    assert keys.ensure_root().origin is RootOrigin.STORED  # env unset later: kept
    rotated = keys.ensure_root(("ROOTKEY2", "second-secret"))
    assert rotated.origin is RootOrigin.ROTATED
    assert keys.credentials("ROOTKEY1") is None
    found = keys.credentials("ROOTKEY2")
    assert found is not None
    assert found.secret == "second-secret"
    assert keys.ensure_root(("ROOTKEY2", "third-secret")).origin is RootOrigin.ROTATED
    found = keys.credentials("ROOTKEY2")
    assert found is not None
    assert found.secret == "third-secret"
    assert [k.id for k in keys.list(CTX)] == ["ROOTKEY2"]


def test_an_environment_root_key_must_be_well_formed_and_free(keys: KeyService) -> None:
    with pytest.raises(ConfigError, match="8 to 128"):
        keys.ensure_root(("ROOTKEY1", "short"))
    with pytest.raises(ConfigError, match="letters, digits"):
        keys.ensure_root(("has:colon", "long-enough-secret"))
    other = keys.create(CTX, "k", [READ_PHOTOS])
    with pytest.raises(ConfigError, match="another access key"):
        keys.ensure_root((other.info.id, "long-enough-secret"))


def test_a_root_key_under_another_key_file_fails_loudly(
    keys: KeyService, catalog: Catalog, clock: FakeClock
) -> None:
    keys.ensure_root()
    stranger = KeyService(catalog, MasterKey.generate(), clock)
    with pytest.raises(SecretUnreadable, match=r"auth\.key_file"):
        stranger.ensure_root()
    # Given by the environment, the root key is sealed again under the new key file.
    assert stranger.ensure_root(("ROOTKEY9", "a-new-secret")).origin is RootOrigin.ROTATED


def test_servers_starting_at_once_make_one_root_key(
    catalog_url: str, master: MasterKey, clock: FakeClock
) -> None:
    catalogs = [Catalog(catalog_url) for _ in range(4)]  # a pool each, as processes have
    catalogs[0].migrate()
    roots = []
    barrier = threading.Barrier(len(catalogs))

    def start(catalog: Catalog) -> None:
        barrier.wait()
        roots.append(KeyService(catalog, master, clock).ensure_root())

    threads = [threading.Thread(target=start, args=(c,)) for c in catalogs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({root.key_id for root in roots}) == 1
    assert sorted(root.origin for root in roots) == sorted(
        [RootOrigin.GENERATED] + [RootOrigin.STORED] * 3
    )
    assert len(raw_rows(catalogs[0])) == 1
    for catalog in catalogs:
        catalog.close()
