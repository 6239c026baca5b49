"""The CRI log format both runtimes write and the kubelet reads: one entry
per line, ``<RFC 3339 nano time> <stdout|stderr> <F|P> <text>``, a line
longer than ``MAX_LOG_LINE`` split into partial (P) entries."""
from __future__ import annotations

from datetime import datetime, timezone

MAX_LOG_LINE = 16 * 1024    # containerd's max_container_log_line_size: longer lines split as partials


def rfc3339nano(ns: int) -> str:
    """A Unix-nanosecond time as the CRI log timestamp (UTC, nine fraction digits)."""
    sec, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(sec, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"


def cri_log_lines(timestamp: str, stream: str, text: str) -> list[str]:
    """One write chunk as CRI log lines: every newline-terminated line is full
    (``F``); a trailing fragment, or a piece of an over-long line, is partial
    (``P``) so a reader joins it with what follows."""
    out: list[str] = []
    parts = text.split("\n")
    last = len(parts) - 1
    for i, line in enumerate(parts):
        if i == last and line == "":
            break                                   # the chunk ended with a newline
        while len(line) > MAX_LOG_LINE:
            out.append(f"{timestamp} {stream} P {line[:MAX_LOG_LINE]}")
            line = line[MAX_LOG_LINE:]
        tag = "P" if i == last else "F"
        out.append(f"{timestamp} {stream} {tag} {line}")
    return out


def render_log(lines: list[str], tail: int | None, timestamps: bool, since: str = "") -> str:
    """CRI log lines (``<time> <stream> <F|P> <text>``) as ``kubectl logs`` prints
    them: partial lines joined, the last ``tail`` lines, times in front on request,
    only those stamped at or after ``since`` (an :func:`rfc3339nano` time) if given."""
    out: list[str] = []
    pending = ""
    for line in lines:
        parts = line.split(" ", 3)
        if len(parts) < 3 or (since and parts[0] < since):
            continue
        stamp, tag, text = parts[0], parts[2], parts[3] if len(parts) > 3 else ""
        pending += text
        if tag == "P":
            continue
        out.append(f"{stamp} {pending}" if timestamps else pending)
        pending = ""
    if pending:
        out.append(pending)
    if tail is not None and tail >= 0:
        out = out[len(out) - tail:] if tail else []
    return "".join(f"{line}\n" for line in out)
