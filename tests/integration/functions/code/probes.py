"""A handler that tries what a hostile function would, and says what happened."""

import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any


def attempt(action: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "value": action()}
    except Exception as exc:  # what failed, and how
        return {"ok": False, "error": type(exc).__name__}


def read(path: str) -> str:
    with open(path, "rb") as file:
        return file.read().decode("latin-1")


def write(path: str) -> str:
    with open(path, "w") as file:
        file.write("mine now")
    return path


def run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PermissionError(done.stderr.strip())
    return done.stdout


def kill_others() -> list[int]:
    killed = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                os.kill(int(name), signal.SIGKILL)
                killed.append(int(name))
            except OSError:
                pass
    return killed


def probe(event: dict[str, str], context: Any) -> dict[str, Any]:
    secret = event["secret"]
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    return {
        "uid": os.getuid(),
        "read_secret": attempt(lambda: read(secret)),
        "list_data": attempt(lambda: os.listdir(event["data"])),
        "write_code": attempt(lambda: write(os.path.join(task_root, "probes.py"))),
        "write_tmp": attempt(lambda: write("/tmp/mine")),
        "unmount_tmp": attempt(lambda: run("umount", "-l", "/tmp")),
        "unmount_data": attempt(lambda: run("umount", "-l", event["data"])),
        "kill_others": attempt(kill_others),
    }
