"""The demo contract: the repository's chute.toml, a real server, the real CLI. An image
put into inbox gets three thumbnails and its metadata, a CSV is validated and becomes
Parquet, and ``chute status inbox/KEY --json`` tells the object's processing status.
Also: jobs, dead letters, redrive and reprocess from the command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import pyvips

from tests.e2e.conftest import ROOT_AUTH, LiveServer, start_server, wait_until

REPO = Path(__file__).resolve().parents[2]
CHUTE = str(Path(sys.executable).parent / "chute")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"CHUTE_CONFIG": str(REPO / "chute.toml"), "CHUTE_WORKER__PROCESSES": "2"}
    with start_server(tmp_path_factory.mktemp("demo"), env) as server:
        yield server


def chute(server: LiveServer, *args: str) -> str:
    done = subprocess.run(
        [CHUTE, "--url", server.url, *args], capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def status(server: LiveServer, target: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(chute(server, "status", target, "--json"))
    return document


def settled(server: LiveServer, target: str) -> dict[str, Any]:
    wait_until(lambda: status(server, target)["status"] in ("succeeded", "dead"), timeout=60)
    return status(server, target)


def test_an_image_gets_thumbnails_and_metadata(demo: LiveServer, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    pyvips.Image.xyz(1200, 800)[0].cast("uchar").write_to_file(str(photo), Q=90)
    chute(demo, "put", str(photo), "inbox/holiday/photo.jpg")
    found = settled(demo, "inbox/holiday/photo.jpg")
    assert found["status"] == "succeeded"
    keys = sorted(output["key"] for output in found["outputs"])
    assert keys == [f"holiday/photo/thumb-{w}.webp" for w in (160, 320, 640)]
    assert found["metadata"]["mime"] == "image/jpeg"
    assert found["metadata"]["image"]["width"] == 1200
    steps = {step["step"]: step for run in found["runs"] for step in run["steps"]}
    assert set(steps) == {"metadata", "thumbnails"}
    assert chute(demo, "find", "inbox/holiday", "-w", "image.format=jpeg").split() == [
        "inbox/holiday/photo.jpg"
    ]
    thumb = httpx.get(
        f"{demo.url}/_/api/v1/buckets/processed/objects/holiday/photo/thumb-320.webp",
        headers=ROOT_AUTH,
    )
    image = pyvips.Image.new_from_buffer(thumb.content, "")
    assert (image.width, image.get("vips-loader")) == (320, "webpload_buffer")


def test_a_csv_is_validated_and_converted_to_parquet(demo: LiveServer, tmp_path: Path) -> None:
    table = tmp_path / "people.csv"
    table.write_text("id,name\n1,ada\n2,grace\n")
    chute(demo, "put", str(table), "inbox/people.csv")
    found = settled(demo, "inbox/people.csv")
    assert found["status"] == "succeeded"
    assert sorted(o["key"] for o in found["outputs"]) == [
        "people.parquet",
        "people.validation.json",
    ]
    data = httpx.get(
        f"{demo.url}/_/api/v1/buckets/processed/objects/people.parquet", headers=ROOT_AUTH
    ).content
    assert pq.read_table(io.BytesIO(data)).to_pylist() == [
        {"id": 1, "name": "ada"},
        {"id": 2, "name": "grace"},
    ]


def test_a_broken_csv_dies_and_can_be_redriven_from_the_cli(
    demo: LiveServer, tmp_path: Path
) -> None:
    table = tmp_path / "ragged.csv"
    table.write_text("id,name\n1,ada\n2\n")
    chute(demo, "put", str(table), "inbox/ragged.csv")
    found = settled(demo, "inbox/ragged.csv")
    assert found["status"] == "dead"
    dead = json.loads(chute(demo, "dead", "--in", "inbox/ragged", "--json"))
    (job,) = dead["jobs"]
    assert job["step"] == "parquet"
    assert "row 3" in job["error"]
    assert "redrove 1 dead jobs" in chute(demo, "redrive", str(job["id"]))
    wait_until(lambda: status(demo, "inbox/ragged.csv")["status"] == "dead", timeout=60)
    wait_until(
        lambda: (
            json.loads(chute(demo, "jobs", "--in", "inbox/ragged", "--state", "dead", "--json"))[
                "jobs"
            ][0]["attempt"]
            == 2
        ),
        timeout=60,
    )


def test_reprocess_runs_a_pipeline_again(demo: LiveServer, tmp_path: Path) -> None:
    table = tmp_path / "again.csv"
    table.write_text("id\n1\n")
    chute(demo, "put", str(table), "inbox/again.csv")
    assert settled(demo, "inbox/again.csv")["status"] == "succeeded"
    assert "started 1 runs of tables" in chute(demo, "reprocess", "tables", "inbox/again.csv")
    wait_until(lambda: len(status(demo, "inbox/again.csv")["runs"]) == 2, timeout=60)
    found = settled(demo, "inbox/again.csv")
    assert found["status"] == "succeeded"
    listing = chute(demo, "ls", "processed/again", "--json")
    assert sorted(o["key"] for o in json.loads(listing)["objects"]) == [
        "again.parquet",
        "again.validation.json",
    ]


def _error(found: dict[str, Any], step: str) -> str:
    steps = {s["step"]: s for run in found["runs"] for s in run["steps"]}
    error: str = steps[step]["error"]
    return error


def test_hostile_images_fail_clearly_and_the_pool_carries_on(
    demo: LiveServer, tmp_path: Path
) -> None:
    from tests.unit.processors.builtin.test_image import _png_bomb

    good = bytes(pyvips.Image.xyz(400, 300)[0].cast("uchar").jpegsave_buffer(Q=90))
    png = bytes(pyvips.Image.xyz(400, 300)[0].cast("uchar").pngsave_buffer())
    cases = {
        "truncated.jpg": (good[: len(good) // 2], "damaged or unsupported image"),
        "bomb.png": (_png_bomb(20_000), "over the limit of 100,000,000"),
        "empty.jpg": (b"", "empty file"),
    }
    for name, (data, _) in cases.items():
        (tmp_path / name).write_bytes(data)
        chute(demo, "put", str(tmp_path / name), f"inbox/hostile/{name}")
    (tmp_path / "really-a.png.jpg").write_bytes(png)
    chute(demo, "put", str(tmp_path / "really-a.png.jpg"), "inbox/hostile/png.jpg")
    for name, (_, reason) in cases.items():
        found = settled(demo, f"inbox/hostile/{name}")
        assert found["status"] == "dead", name
        assert reason in _error(found, "thumbnails"), name
    found = settled(demo, "inbox/hostile/png.jpg")
    assert found["status"] == "succeeded"
    assert found["metadata"]["mime"] == "image/png"
    assert found["metadata"]["type_mismatch"] is True
