"""The ``chute`` command against a real server.

Most tests run the command in-process with typer's CliRunner (fast; the server is still a
real process). A few run the installed ``chute`` entry point, for what only a real process
shows: binary stdin and stdout, Ctrl-C ending ``events --follow``. That ``serve`` refuses a
broken configuration, which needs no server, is in ``tests/unit/cli/commands``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from chute.cli.client import ChuteClient
from chute.cli.main import app
from tests.e2e.conftest import CLIENT_ENV, LiveServer, root_signer, wait_until

CHUTE = str(Path(sys.executable).parent / "chute")
MiB = 1024 * 1024


@dataclass
class Cli:
    """The ``chute`` command, run in-process against one server."""

    url: str

    def run(self, *args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(app, ["--url", self.url, *args], input=input)

    def ok(self, *args: str, input: bytes | None = None) -> Result:
        result = self.run(*args, input=input)
        assert result.exit_code == 0, (
            f"exit {result.exit_code}: {result.exception!r}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def error(self, *args: str) -> str:
        """Run a command that must fail with a server error; returns its stderr."""
        result = self.run(*args)
        assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
        assert result.stderr.startswith("error: "), result.stderr
        return result.stderr


@pytest.fixture
def cli(live_server: LiveServer) -> Cli:
    return Cli(live_server.url)


@pytest.fixture
def bucket(cli: Cli, request: pytest.FixtureRequest) -> str:
    name = "cli-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    cli.ok("mb", name)
    return name


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def listing_lines(stdout: str) -> tuple[list[str], list[str]]:
    """``(prefixes, names)`` from human ``ls`` output (names without spaces)."""
    prefixes, names = [], []
    for line in stdout.splitlines():
        fields = line.split()
        if fields[0] == "PRE":
            prefixes.append(fields[1])
        else:
            names.append(fields[-1])
    return prefixes, names


def event_names(page: dict[str, Any]) -> list[str]:
    return [event["record"]["eventName"] for event in page["events"]]


def chute_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CHUTE_")}
    env.update(CLIENT_ENV, **extra)
    return env


# --- objects -----------------------------------------------------------------------------


def test_put_get_round_trip_is_byte_exact(cli: Cli, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(9 * MiB + 123)
    key = "dir with space/ünï cødé ✓.bin"
    source = write(tmp_path / "source.bin", data)

    written = cli.json("put", str(source), f"{bucket}/{key}")
    assert (written["key"], written["size"]) == (key, len(data))
    assert written["sha256"] == hashlib.sha256(data).hexdigest()
    assert written["etag"] == hashlib.md5(data).hexdigest()

    cli.ok("get", f"{bucket}/{key}", str(tmp_path / "copy.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert cli.ok("get", f"{bucket}/{key}").stdout_bytes == data
    assert cli.ok("get", f"{bucket}/{key}", "-").stdout_bytes == data
    (tmp_path / "folder").mkdir()
    cli.ok("get", f"{bucket}/{key}", str(tmp_path / "folder"))
    assert (tmp_path / "folder" / "ünï cødé ✓.bin").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.bin", "folder", "source.bin"]


def test_put_human_output_and_stdin(cli: Cli, bucket: str) -> None:
    data = b"\x00\r\n\xff binary \n"
    result = cli.ok("put", "-", f"{bucket}/piped.bin", input=data)
    assert result.stdout.startswith(f"uploaded {bucket}/piped.bin ({len(data)} B, version ")
    assert cli.ok("get", f"{bucket}/piped.bin").stdout_bytes == data


def test_content_type_and_metadata(cli: Cli, bucket: str, tmp_path: Path) -> None:
    notes = write(tmp_path / "notes.txt", b"hello")
    cli.ok("put", str(notes), f"{bucket}/guessed", "--meta", "Owner=ann", "--meta", "stage=raw")
    current = cli.json("stat", f"{bucket}/guessed")["current"]
    assert current["content_type"].startswith("text/plain")
    assert current["metadata"] == {"owner": "ann", "stage": "raw"}

    cli.ok("put", str(notes), f"{bucket}/given", "--content-type", "application/x-chute-test")
    assert cli.json("stat", f"{bucket}/given")["current"]["content_type"] == (
        "application/x-chute-test"
    )


def test_dot_segments_are_refused_not_resolved(cli: Cli, bucket: str, tmp_path: Path) -> None:
    source = write(tmp_path / "f", b"x")
    assert "InvalidKey" in cli.error("put", str(source), f"{bucket}/a/../b")
    assert cli.json("ls", bucket, "--recursive")["objects"] == []


def test_missing_key_creates_no_file(cli: Cli, bucket: str, tmp_path: Path) -> None:
    assert cli.error("get", f"{bucket}/nothing", str(tmp_path / "out")).startswith(
        "error: NoSuchKey: "
    )
    assert list(tmp_path.iterdir()) == []


# --- listings ----------------------------------------------------------------------------


def test_ls_shows_prefixes_unless_recursive(cli: Cli, bucket: str, tmp_path: Path) -> None:
    source = write(tmp_path / "f.txt", b"data")
    keys = ["a/1.txt", "a/2.txt", "b/c/3.txt", "top.txt"]
    for key in keys:
        cli.ok("put", str(source), f"{bucket}/{key}")

    assert listing_lines(cli.ok("ls", bucket).stdout) == (["a/", "b/"], ["top.txt"])
    assert listing_lines(cli.ok("ls", f"{bucket}/a/").stdout) == ([], ["1.txt", "2.txt"])
    assert listing_lines(cli.ok("ls", f"{bucket}/b/").stdout) == (["c/"], [])
    assert listing_lines(cli.ok("ls", bucket, "--recursive").stdout) == ([], keys)

    level = cli.json("ls", bucket)
    assert level["common_prefixes"] == ["a/", "b/"]
    assert [o["key"] for o in level["objects"]] == ["top.txt"]
    fields = {"key", "size", "etag", "sha256", "version_id", "last_modified", "content_type"}
    assert fields <= set(level["objects"][0])
    everything = cli.json("ls", f"{bucket}/", "-r")
    assert [o["key"] for o in everything["objects"]] == keys
    assert everything["common_prefixes"] == []


def test_listing_follows_continuation_tokens(live_server: LiveServer, bucket: str) -> None:
    keys = [f"dir{i}/k" for i in range(3)] + [f"k{i}" for i in range(4)]
    with ChuteClient(live_server.url, auth=root_signer()) as client:
        for key in keys:
            client.put_object(bucket, key, io.BytesIO(b"x"), size=1)
        pages = list(client.walk_objects(bucket, max_keys=2))
        folders = list(client.walk_objects(bucket, delimiter="/", max_keys=2))
    assert len(pages) == 4
    assert [o.key for page in pages for o in page.objects] == keys
    assert [p for page in folders for p in page.common_prefixes] == ["dir0/", "dir1/", "dir2/"]
    assert [o.key for page in folders for o in page.objects] == keys[3:]


def test_ls_lists_buckets(cli: Cli, bucket: str) -> None:
    listed = {b["name"]: b for b in cli.json("ls")["buckets"]}
    assert listed[bucket]["versioning"] == "unversioned"
    assert "created_at" in listed[bucket]
    assert bucket in cli.ok("ls").stdout


# --- buckets and versions ----------------------------------------------------------------


def test_versioning_versions_and_delete_markers(cli: Cli, bucket: str, tmp_path: Path) -> None:
    assert cli.json("versioning", bucket) == {"bucket": bucket, "status": "unversioned"}
    assert cli.json("versioning", bucket, "enable")["status"] == "enabled"
    first = cli.json("put", str(write(tmp_path / "v1", b"one")), f"{bucket}/doc")
    second = cli.json("put", str(write(tmp_path / "v2", b"two")), f"{bucket}/doc")

    versions = cli.json("ls", bucket, "--versions")["versions"]
    assert [v["version_id"] for v in versions] == [second["version_id"], first["version_id"]]
    assert [v["is_latest"] for v in versions] == [True, False]

    assert "delete marker" in cli.ok("rm", f"{bucket}/doc").stdout
    assert cli.error("get", f"{bucket}/doc").startswith("error: NoSuchKey: ")
    old = cli.ok("get", f"{bucket}/doc", "--version-id", first["version_id"])
    assert old.stdout_bytes == b"one"

    detail = cli.json("stat", f"{bucket}/doc")
    assert detail["current"] is None
    assert detail["versions"][0]["delete_marker"] is True
    assert event_names(detail)[-1] == "ObjectRemoved:DeleteMarkerCreated"
    assert "delete marker" in cli.ok("stat", f"{bucket}/doc").stdout
    assert cli.json("versioning", bucket, "suspend")["status"] == "suspended"


def test_mb_with_versioning(cli: Cli, request: pytest.FixtureRequest) -> None:
    name = "cli-v-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    created = cli.json("mb", name, "--versioning")
    assert (created["name"], created["versioning"]) == (name, "enabled")
    assert cli.error("mb", name).startswith("error: BucketAlreadyExists: ")
    assert cli.ok("rb", name).stdout == f"removed bucket {name}\n"


def test_rb_refuses_a_non_empty_bucket(cli: Cli, bucket: str, tmp_path: Path) -> None:
    cli.ok("put", str(write(tmp_path / "f", b"x")), f"{bucket}/f")
    assert cli.error("rb", bucket).startswith("error: BucketNotEmpty: ")
    cli.ok("rm", f"{bucket}/f")
    cli.ok("rb", bucket)
    assert bucket not in {b["name"] for b in cli.json("ls")["buckets"]}


def test_unknown_bucket(cli: Cli, tmp_path: Path) -> None:
    assert cli.error("ls", "no-such-bucket-here").startswith("error: NoSuchBucket: ")
    source = str(write(tmp_path / "f", b"x"))
    assert cli.error("put", source, "no-such-bucket-here/k").startswith("error: NoSuchBucket: ")


# --- stat and events ---------------------------------------------------------------------


def test_stat_shows_versions_and_events(cli: Cli, bucket: str, tmp_path: Path) -> None:
    cli.ok("put", str(write(tmp_path / "a", b"first")), f"{bucket}/report.csv")
    cli.ok("put", str(write(tmp_path / "b", b"second!")), f"{bucket}/report.csv")

    detail = cli.json("stat", f"{bucket}/report.csv")
    assert (detail["bucket"], detail["key"]) == (bucket, "report.csv")
    assert detail["current"]["size"] == len(b"second!")
    assert detail["current"]["sha256"] == hashlib.sha256(b"second!").hexdigest()
    assert [v["version_id"] for v in detail["versions"]] == [detail["current"]["version_id"]]
    assert event_names(detail) == ["ObjectCreated:Put", "ObjectCreated:Put"]

    human = cli.ok("stat", f"{bucket}/report.csv").stdout
    assert f"{bucket}/report.csv" in human
    assert "ObjectCreated:Put" in human
    assert hashlib.sha256(b"second!").hexdigest() in human


def test_status_of_a_missing_version(cli: Cli, bucket: str, tmp_path: Path) -> None:
    cli.ok("put", str(write(tmp_path / "f", b"x")), f"{bucket}/k")
    assert "status: none" in cli.ok("status", f"{bucket}/k").stdout
    refused = cli.error("status", f"{bucket}/k", "--version-id", "nope")
    assert refused == "error: NoSuchVersion: no version 'nope' of key 'k'\n"


def test_events_show_put_then_delete(cli: Cli, bucket: str, tmp_path: Path) -> None:
    cli.ok("put", str(write(tmp_path / "f", b"x")), f"{bucket}/e1")
    cli.ok("rm", f"{bucket}/e1")

    page = cli.json("events", "--bucket", bucket)
    assert event_names(page) == ["ObjectCreated:Put", "ObjectRemoved:Delete"]
    assert page["next_cursor"] == page["events"][-1]["id"]
    assert page["events"][0]["record"]["s3"]["object"]["key"] == "e1"
    later = cli.json("events", "--bucket", bucket, "--after", str(page["events"][0]["id"]))
    assert event_names(later) == ["ObjectRemoved:Delete"]

    human = cli.ok("events", "--bucket", bucket).stdout
    assert "ObjectCreated:Put" in human
    assert "ObjectRemoved:Delete" in human


# --- processing --------------------------------------------------------------------------


def test_jobs_and_dead_list_the_same_way(cli: Cli, bucket: str) -> None:
    """This server has no pipelines, hence no jobs; both commands still answer."""
    empty: dict[str, Any] = {"jobs": [], "next_cursor": None}
    assert cli.json("jobs", "--in", bucket, "--state", "dead") == empty
    assert cli.json("dead", "--in", bucket, "--pipeline", "p") == empty
    columns = ["id", "pipeline", "step", "object", "state", "attempt", "error"]
    for command in ("jobs", "dead"):
        table = cli.ok(command, "--in", bucket).stdout
        assert all(column in table.splitlines()[1].split() for column in columns), table


@pytest.mark.parametrize(
    "args",
    [
        ["events", "--after", "9" * 22],
        ["jobs", "--cursor", "9" * 22],
        ["jobs", "--since", "9999-12-31T23:59:59-23:59"],
        ["dead", "--cursor", "9" * 22],
    ],
)
def test_out_of_range_values_are_refused_by_the_server(cli: Cli, args: list[str]) -> None:
    assert cli.error(*args).startswith("error: InvalidArgument: ")


# --- the installed entry point -----------------------------------------------------------


def test_entry_point_pipes_binary_data(live_server: LiveServer, bucket: str) -> None:
    data = bytes(range(256)) * 4096 + b"\r\n\x00\x1a"
    env = chute_env(CHUTE_URL=live_server.url)
    put = subprocess.run(
        [CHUTE, "put", "-", f"{bucket}/bin/piped"], input=data, env=env, capture_output=True
    )
    assert put.returncode == 0, put.stderr
    got = subprocess.run([CHUTE, "get", f"{bucket}/bin/piped"], env=env, capture_output=True)
    assert got.returncode == 0, got.stderr
    assert got.stdout == data
    assert got.stderr == b""


def test_events_follow_prints_new_events_until_interrupted(
    live_server: LiveServer, bucket: str, tmp_path: Path
) -> None:
    output = tmp_path / "events.jsonl"

    def keys_seen() -> list[str]:
        lines = output.read_text().split("\n")[:-1]  # the last part is "" or a line being written
        return [json.loads(line)["record"]["s3"]["object"]["key"] for line in lines]

    with ChuteClient(live_server.url, auth=root_signer()) as client:
        client.put_object(bucket, "before", io.BytesIO(b"1"), size=1)
        with output.open("wb") as sink:
            follower = subprocess.Popen(
                [CHUTE, "events", "--follow", "--json", "--bucket", bucket],
                env=chute_env(CHUTE_URL=live_server.url),
                stdout=sink,
                stderr=subprocess.PIPE,
            )
        try:
            wait_until(lambda: keys_seen() == ["before"])
            client.put_object(bucket, "after", io.BytesIO(b"2"), size=1)
            wait_until(lambda: keys_seen() == ["before", "after"])
            follower.send_signal(signal.SIGINT)
            _, stderr = follower.communicate(timeout=15)
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.communicate()
    assert follower.returncode == 0, stderr
