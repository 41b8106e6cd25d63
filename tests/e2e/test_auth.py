"""Access keys against real server processes: deny by default, the root key made and
shown once, secrets and the key file at rest, the ``chute`` command with no key typed,
with ``CHUTE_ACCESS_KEY``, and managing keys; a key disabled on one server stops working
on another sharing its catalog within ``auth.cache_seconds``."""

from __future__ import annotations

import configparser
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.e2e.conftest import CLIENT_ENV, ROOT_AUTH, LiveServer, start_server, wait_until

API = "/_/api/v1"
CHUTE = str(Path(sys.executable).parent / "chute")
#: A server that makes its own root key: none given in the environment.
NO_ROOT = {"CHUTE_ROOT_ACCESS_KEY": None, "CHUTE_ROOT_SECRET_KEY": None}


def chute(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed command, with no CHUTE_* variables but ``env``."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("CHUTE_")}
    clean.update(env or {})
    return subprocess.run(
        [CHUTE, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=60
    )


def test_anonymous_requests_are_denied(live_server: LiveServer) -> None:
    answer = httpx.get(f"{live_server.url}{API}/buckets")
    assert (answer.status_code, answer.json()["code"]) == (403, "AccessDenied")
    assert httpx.put(f"{live_server.url}{API}/buckets/anon").status_code == 403
    assert httpx.get(f"{live_server.url}{API}/health").status_code == 200
    assert httpx.get(f"{live_server.url}{API}/buckets", headers=ROOT_AUTH).status_code == 200


def test_a_fresh_server_shows_its_root_key_once_and_the_cli_finds_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "chute-data"  # where a chute started in tmp_path looks
    with start_server(data_dir, NO_ROOT) as server:
        found = re.findall(r"access key id: +(\S+)\s+secret access key: +(\S+)", server.log())
        assert len(found) == 1, server.log()
        key_id, secret = found[0]
        assert re.fullmatch(r"CK[A-Z0-9]{18}", key_id)
        assert len(secret) == 40
        assert server.log().count(secret) == 1
        credentials = data_dir / "root-credentials"
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(credentials)
        assert dict(parser["chute"]) == {
            "aws_access_key_id": key_id,
            "aws_secret_access_key": secret,
        }
        assert stat.S_IMODE((data_dir / "master.key").stat().st_mode) == 0o600

        made = chute("--url", server.url, "mb", "zero-config", cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        source = tmp_path / "hello.txt"
        source.write_text("hello")
        put = chute("--url", server.url, "put", str(source), "zero-config/hello.txt", cwd=tmp_path)
        assert put.returncode == 0, put.stderr
        # Elsewhere, with no key to find, the command is refused and says why.
        refused = chute("--url", server.url, "ls", "zero-config", cwd=tmp_path / "..")
        assert refused.returncode == 1
        assert "AccessDenied" in refused.stderr
        assert "CHUTE_ACCESS_KEY" in refused.stderr

    engine = sa.create_engine(f"sqlite:///{data_dir / 'catalog.db'}")
    with engine.connect() as conn:
        (row,) = conn.execute(sa.text("SELECT id, secret FROM access_keys")).all()
    engine.dispose()
    assert row[0] == key_id
    assert secret.encode() not in bytes(row[1])
    assert secret.encode() not in (data_dir / "catalog.db").read_bytes()

    with start_server(data_dir, NO_ROOT) as again:
        assert secret not in again.log()
        assert "secret access key" not in again.log()
        listed = chute("--url", again.url, "ls", "zero-config", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert "hello.txt" in listed.stdout


def test_a_limited_key_through_the_cli(live_server: LiveServer, tmp_path: Path) -> None:
    root = {"CHUTE_URL": live_server.url, **CLIENT_ENV}
    assert chute("mb", "limited", cwd=tmp_path, env=root).returncode == 0
    made = chute(
        "keys", "create", "--name", "uploader", "--bucket", "limited", "--prefix", "up/",
        "--access", "read", "--access", "write", "--json", cwd=tmp_path, env=root,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["grants"] == [
        {"access": ["read", "write"], "buckets": ["limited"], "prefixes": ["up/"], "queues": []}
    ]
    mine = {
        "CHUTE_URL": live_server.url,
        "CHUTE_ACCESS_KEY": key["id"],
        "CHUTE_SECRET_KEY": key["secret"],
    }
    source = tmp_path / "f.txt"
    source.write_text("data")
    inside = chute("put", str(source), "limited/up/f.txt", cwd=tmp_path, env=mine)
    assert inside.returncode == 0, inside.stderr
    outside = chute("put", str(source), "limited/down/f.txt", cwd=tmp_path, env=mine)
    assert outside.returncode == 1
    assert outside.stderr.startswith("error: AccessDenied")
    managing = chute("keys", "ls", cwd=tmp_path, env=mine)
    assert (managing.returncode, managing.stderr.split(":")[1].strip()) == (1, "AccessDenied")

    listed = chute("keys", "ls", cwd=tmp_path, env=root)
    assert key["id"] in listed.stdout
    assert key["secret"] not in listed.stdout
    assert chute("keys", "disable", key["id"], cwd=tmp_path, env=root).returncode == 0
    disabled = chute("put", str(source), "limited/up/g.txt", cwd=tmp_path, env=mine)
    assert "InvalidAccessKeyId" in disabled.stderr
    assert chute("keys", "enable", key["id"], cwd=tmp_path, env=root).returncode == 0
    assert chute("put", str(source), "limited/up/g.txt", cwd=tmp_path, env=mine).returncode == 0
    assert chute("keys", "rm", key["id"], cwd=tmp_path, env=root).returncode == 0
    gone = chute("ls", "limited/up/", cwd=tmp_path, env=mine)
    assert "InvalidAccessKeyId" in gone.stderr


def test_a_wrong_secret_through_the_cli(live_server: LiveServer, tmp_path: Path) -> None:
    env = {**CLIENT_ENV, "CHUTE_SECRET_KEY": "not-the-secret-of-this-key-000000000000"}
    wrong = chute("--url", live_server.url, "ls", cwd=tmp_path, env=env)
    assert wrong.stderr.startswith("error: SignatureDoesNotMatch")


def test_a_key_disabled_on_one_server_stops_on_another_within_the_cache_bound(
    tmp_path: Path,
) -> None:
    """Two servers on one catalog and one key file, as when scaled out."""
    first_dir = tmp_path / "first"
    env: dict[str, str | None] = {"CHUTE_AUTH__CACHE_SECONDS": "2", "CHUTE_WORKER__PROCESSES": "1"}
    with start_server(first_dir, env) as first:
        shared = {
            **env,
            "CHUTE_DATABASE_URL": f"sqlite:///{first_dir / 'catalog.db'}",
            "CHUTE_AUTH__KEY_FILE": str(first_dir / "master.key"),
        }
        with start_server(tmp_path / "second", shared) as second:
            made = httpx.post(
                f"{first.url}{API}/keys",
                headers=ROOT_AUTH,
                json={"name": "k", "grants": [{"access": ["read"]}]},
            ).json()
            mine = {"authorization": f"Bearer {made['id']}:{made['secret']}"}
            assert httpx.get(f"{second.url}{API}/buckets", headers=mine).status_code == 200
            disabled = httpx.post(f"{first.url}{API}/keys/{made['id']}/disable", headers=ROOT_AUTH)
            assert disabled.json()["enabled"] is False
            started = time.monotonic()
            assert httpx.get(f"{first.url}{API}/buckets", headers=mine).status_code == 403

            def refused() -> bool:
                answer = httpx.get(f"{second.url}{API}/buckets", headers=mine)
                return answer.status_code == 403

            wait_until(refused, timeout=10)
            assert time.monotonic() - started < 2 + 3  # the bound, and slack for a busy machine
