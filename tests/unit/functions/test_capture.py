"""An invocation's log is captured within bounds: its start and its end are kept, what
lies between is replaced by one marker line, and an endless line is cut."""

from __future__ import annotations

from chute.functions.capture import LogCapture


def size(lines: list[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


def test_a_log_within_the_limit_is_kept_whole() -> None:
    capture = LogCapture(limit=1000, tail=300)
    lines = ["START RequestId: r", *(f"line {n}" for n in range(50)), "END RequestId: r"]
    capture.extend(lines)
    assert capture.lines() == lines
    assert not capture.truncated


def test_past_the_limit_the_start_and_the_end_are_kept_with_a_marker() -> None:
    capture = LogCapture(limit=1000, tail=300)
    capture.append("START RequestId: r")
    capture.extend(f"printed line number {n:05d}" for n in range(10_000))
    capture.extend(["END RequestId: r", "REPORT RequestId: r\tDuration: 1.00 ms"])
    kept = capture.lines()
    assert capture.truncated
    assert kept[0] == "START RequestId: r"
    assert kept[1] == "printed line number 00000"
    assert kept[-2:] == ["END RequestId: r", "REPORT RequestId: r\tDuration: 1.00 ms"]
    assert kept[-3] == "printed line number 09999"
    (marker,) = [line for line in kept if line.startswith("[chute:")]
    between = kept.index(marker)
    assert kept[between - 1] < kept[between + 1]  # in order across the cut
    assert f"{capture.cut_lines} lines ({capture.cut_bytes} bytes) cut here" in marker
    assert size(kept) - size([marker]) <= 1000
    # Nothing is lost but what the marker counts.
    assert len(kept) - 1 + capture.cut_lines == 10_000 + 3


def test_a_long_line_is_cut() -> None:
    capture = LogCapture(limit=10_000, tail=3000, max_line=100)
    capture.append("é" * 500)  # 1,000 bytes
    (line,) = capture.lines()
    assert line == "é" * 50 + " [chute: 450 characters of this line cut]"
    assert not capture.truncated  # cut within itself: no line was dropped


def test_output_is_split_into_lines_as_it_arrives() -> None:
    capture = LogCapture()
    for chunk in ["first li", "ne\r\nsecond\n", "\n", "third, unfinished"]:
        capture.write(chunk)
    assert capture.lines() == ["first line", "second", ""]
    capture.flush()
    capture.flush()  # nothing more pending
    assert capture.lines() == ["first line", "second", "", "third, unfinished"]


def test_an_endless_line_is_held_within_the_cap_and_cut_once() -> None:
    capture = LogCapture(limit=10_000, tail=3000, max_line=100)
    for _ in range(1000):
        capture.write("x" * 64)  # 64,000 characters, never a newline
    capture.write("\nnext")
    capture.flush()
    assert capture.lines() == ["x" * 100 + " [chute: 63900 characters of this line cut]", "next"]


def test_once_a_line_misses_the_head_later_lines_follow_it() -> None:
    capture = LogCapture(limit=100, tail=60, max_line=50)
    capture.extend(["a" * 30, "b" * 30, "c"])  # b does not fit the head's 40 bytes
    assert capture.lines() == ["a" * 30, "b" * 30, "c"]
