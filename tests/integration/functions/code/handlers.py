"""Handlers written as for AWS Lambda, for the execution environment's tests."""

import json
import os
import subprocess
import sys
import time

IMPORTS = {"count": 0}
IMPORTS["count"] += 1
print("imported handlers")


def context(event, context):
    """What a handler sees of Lambda: its context object and reserved variables."""
    print("event:", json.dumps(event))
    return {
        "imports": IMPORTS["count"],
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": repr(context.identity),
        "client_context": repr(context.client_context),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "environ": dict(os.environ),
        "cwd": os.getcwd(),
    }


def fail(event, context):
    raise ValueError(f"no good: {event['why']}")


def sleep(event, context):
    time.sleep(event["seconds"])
    return "woke"


def allocate(event, context):
    hog = bytearray(event["mib"] * 1024 * 1024)
    for offset in range(0, len(hog), 4096):
        hog[offset] = 1
    time.sleep(5)
    return len(hog)


def exit_hard(event, context):
    os._exit(3)


def unserialisable(event, context):
    return {"when": object()}


def large(event, context):
    return "x" * (7 * 1024 * 1024)


def scratch(event, context):
    """Writes /tmp as handlers do, and lists what it finds there."""
    with open("/tmp/written-by-handler", "w") as out:
        out.write(event.get("text", "hello"))
    return sorted(os.listdir("/tmp"))


def daemon(event, context):
    """Leaves a child behind in a session of its own, as a careless handler might."""
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    return child.pid


def alive(event, context):
    try:
        os.kill(event["pid"], 0)
    except ProcessLookupError:
        return False
    return True


def which(event, context):
    import shutil

    import layered  # type: ignore[import-not-found]  # from a layer, or the code

    return {
        "layered": layered.NAME,
        "tool": shutil.which("layer-tool"),
        "ld": os.environ.get("LD_LIBRARY_PATH"),
    }


def fill(event, context):
    """Writes /tmp until it is full (or a gigabyte is written)."""
    written = 0
    try:
        with open("/tmp/filler", "wb") as out:
            while written < 1024 * 1024 * 1024:
                out.write(b"\0" * (1024 * 1024))
                written += 1024 * 1024
                out.flush()
    except OSError as exc:
        return {"written": written, "error": exc.strerror}
    finally:
        os.remove("/tmp/filler")
    return {"written": written, "error": None}


def chatty(event, context):
    """Prints ``lines`` numbered lines in one write, then a NUL character (which
    PostgreSQL's text cannot hold)."""
    print("\n".join(f"chatty line {n:07d}" for n in range(event["lines"])))
    print("a NUL: \0 end")
    return event["lines"]


def endless(event, context):
    """Writes ``size`` characters and no newline."""
    sys.stdout.write("y" * event["size"])
    sys.stdout.flush()
    return "done"
