"""agnhost, Kubernetes' e2e test image: one binary, a subcommand per behaviour.

Implemented: ``serve-hostname``, ``netexec``, ``pause``, ``liveness``,
``fail N`` (this project's: exits with N after N seconds), ``consume-memory``
and ``consume-cpu``. Flags take Go's forms (``--port=1``, ``--port 1``,
``-port 1``)."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from .base import Context, HTTPHandler, capture, forever, program, serve

Response = tuple[int, dict[str, str], bytes]
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class UsageError(Exception):
    """Bad flags or arguments: the subcommand prints it and exits 1."""


@dataclass
class Flag:
    default: object
    kind: type


def parse_flags(args: list[str], spec: dict[str, Flag]) -> tuple[dict[str, object], list[str]]:
    """Go flag parsing: (values by name, positional arguments)."""
    values = {name: f.default for name, f in spec.items()}
    positional: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            positional.extend(args[i:])
            break
        if not a.startswith("-") or a == "-":
            positional.append(a)
            continue
        name, eq, value = a.lstrip("-").partition("=")
        if name not in spec:
            raise UsageError(f"unknown flag: {a}")
        kind = spec[name].kind
        if kind is bool and not eq:
            values[name] = True
            continue
        if not eq:
            if i >= len(args):
                raise UsageError(f"flag needs an argument: {a}")
            value = args[i]
            i += 1
        try:
            if kind is bool:
                values[name] = value.lower() in ("1", "t", "true")
            elif kind is float:
                values[name] = parse_go_duration(value)
            else:
                values[name] = kind(value)
        except ValueError:
            raise UsageError(f"invalid argument {value!r} for {a}") from None
    return values, positional


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Seconds of a Go duration ("1m30s", "250ms") or of a bare number."""
    try:
        return float(text)
    except ValueError:
        pass
    total, num = 0.0, ""
    i = 0
    while i < len(text):
        if text[i].isdigit() or text[i] == ".":
            num += text[i]
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "h", "m", "s") if text.startswith(u, i)), None)
        if unit is None or not num:
            raise ValueError(text)
        total += float(num) * _GO_UNITS[unit]
        num = ""
        i += len(unit)
    if num:
        raise ValueError(text)
    return total


def log(ctx: Context, message: str) -> None:
    """A Go ``log.Printf`` line on stderr, stamped with the context's clock."""
    ctx.stderr(time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(ctx.now())) + f" {message}\n")


def query(path: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(path)
    return parts.path or "/", {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}


def text(status: int, body: str) -> Response:
    return status, dict(TEXT), body.encode()


# ------------------------------------------------------------------ subcommands
async def serve_hostname(ctx: Context, args: list[str]) -> int:
    flags, _ = parse_flags(args, {"port": Flag(9376, int), "http": Flag(True, bool),
                                  "tcp": Flag(False, bool), "udp": Flag(False, bool),
                                  "close": Flag(False, bool)})

    async def handler(method: str, path: str, headers: dict[str, str], body: bytes, client: str) -> Response:
        return text(200, ctx.hostname)

    log(ctx, f"Serving on port {flags['port']}.")
    await ctx.serve_http(int(flags["port"]), handler)  # type: ignore[arg-type]
    return 0


async def netexec(ctx: Context, args: list[str]) -> int:
    flags, _ = parse_flags(args, {"http-port": Flag(8080, int), "udp-port": Flag(8081, int),
                                  "sctp-port": Flag(-1, int), "delay-shutdown": Flag(0, int),
                                  "http-override": Flag("", str), "tls-cert-file": Flag("", str),
                                  "tls-private-key-file": Flag("", str)})
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    handler = netexec_handler(ctx, done)
    port = int(flags["http-port"])  # type: ignore[arg-type]
    log(ctx, f"Started HTTP server on port {port}")
    server = asyncio.ensure_future(serve(ctx, [(port, handler)], until=done))
    try:
        return await asyncio.shield(server)
    except asyncio.CancelledError:
        delay = int(flags["delay-shutdown"])  # type: ignore[call-overload]
        if delay > 0 and not server.done():
            # keep answering while the endpoints forget this pod, then go (exit 0)
            log(ctx, f"Sleeping {delay} seconds before terminating...")
            await ctx.sleep(delay)
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
            return 0
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        raise


def netexec_handler(ctx: Context, done: "asyncio.Future[int]") -> HTTPHandler:
    """netexec's endpoints; ``done`` resolves with the exit code /exit asks for."""
    def finish(code: int) -> None:
        if not done.done():
            # after the answer is on its way, as upstream answers before exiting
            asyncio.get_running_loop().call_soon(lambda: done.done() or done.set_result(code))

    async def handler(method: str, path: str, headers: dict[str, str], body: bytes, client: str) -> Response:
        route, q = query(path)
        if route == "/":
            return text(200, "NOW: " + time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ctx.now())))
        if route in ("/hostname", "/hostName"):
            return text(200, ctx.hostname)
        if route == "/echo":
            code = int(q["code"]) if q.get("code", "").isdigit() else 200
            return text(code, q.get("msg", ""))
        if route == "/clientip":
            return text(200, client)
        if route in ("/healthz", "/readyz"):
            return text(200, "ok")
        if route == "/exit":
            raw = q.get("code", "")
            if raw and not (raw.isdigit() and 0 <= int(raw) <= 127):
                return text(400, f"bad exit code {raw!r}: expected an integer in [0, 127]")
            finish(int(raw or 0))
            return text(200, "")
        if route == "/shutdown":
            finish(0)
            return text(200, "")
        if route == "/redirect":
            code = int(q["code"]) if q.get("code", "").isdigit() else 302
            return code, {"Location": q.get("location", "/")}, b""
        if route == "/dial":
            return await dial(ctx, q)
        if route == "/shell":
            cmd = q.get("shellCommand") or q.get("cmd", "")
            status, out, _ = await capture(ctx, ["sh", "-c", cmd], merge=True)
            result = {"output": out.decode(errors="replace")}
            if status != 0:
                result["error"] = f"exit status {status}"
            return (200 if status == 0 else 417), {"Content-Type": "application/json"}, json.dumps(result).encode()
        return text(404, "404 page not found\n")
    return handler


async def dial(ctx: Context, q: dict[str, str]) -> Response:
    """netexec's ``/dial``, as upstream's e2e network tests use it: ask
    ``host:port`` for ``request`` (over http) ``tries`` times, answering the
    responses and errors as JSON."""
    host, port, request = q.get("host", ""), q.get("port", ""), q.get("request", "")
    protocol, tries = q.get("protocol", "http"), q.get("tries", "1")
    if not host or not port.isdigit() or not tries.isdigit():
        return text(400, "host, port and tries are required: /dial?request=hostname&host=H&port=P&tries=N")
    if protocol != "http":
        return text(400, f"unsupported protocol {protocol!r}: only http is dialed here")
    responses, errors = [], []
    for _ in range(int(tries)):
        try:
            status, body = await ctx.http_request("GET", f"http://{host}:{port}/{request.lstrip('/')}", b"", 5.0)
        except OSError as e:
            errors.append(f"{type(e).__name__}: {e}")
            continue
        if status == 200:
            responses.append(body.decode(errors="replace"))
        else:
            errors.append(f"status {status}: {body.decode(errors='replace')}")
    return 200, {"Content-Type": "application/json"}, json.dumps({"responses": responses, "errors": errors}).encode()


async def pause(ctx: Context, args: list[str]) -> int:
    log(ctx, "Paused")
    try:
        await forever()
    except asyncio.CancelledError:
        log(ctx, "Shutting down after receiving signal: terminated.")
        return 0


async def liveness(ctx: Context, args: list[str]) -> int:
    """/healthz answers 200 for the first 10 s, then 500, as upstream's."""
    started = ctx.now()

    async def handler(method: str, path: str, headers: dict[str, str], body: bytes, client: str) -> Response:
        route, q = query(path)
        elapsed = ctx.now() - started
        if route == "/healthz":
            if elapsed > 10:
                return text(500, f"error: {elapsed:g}")
            return text(200, "ok")
        if route == "/redirect":
            return 302, {"Location": q.get("loc", "/healthz")}, b""
        return text(404, "404 page not found\n")

    await ctx.serve_http(8080, handler)
    return 0


async def fail(ctx: Context, args: list[str]) -> int:
    """``fail N``: exit with code N after N seconds."""
    flags, pos = parse_flags(args, {"exit-code": Flag(-1, int), "delay": Flag(-1.0, float)})
    if pos and not pos[0].lstrip("-").isdigit():
        raise UsageError(f"fail: not a number: {pos[0]!r}")
    n = int(pos[0]) if pos else 1
    code = flags["exit-code"] if flags["exit-code"] != -1 else n  # type: ignore[comparison-overlap]
    delay = flags["delay"] if flags["delay"] != -1.0 else float(n)  # type: ignore[comparison-overlap]
    log(ctx, f"Failing with exit code {code} in {delay:g}s")
    await ctx.sleep(float(delay))  # type: ignore[arg-type]
    return int(code)  # type: ignore[call-overload]


async def consume_memory(ctx: Context, args: list[str]) -> int:
    flags, pos = parse_flags(args, {"bytes": Flag(0, int), "megabytes": Flag(0, int),
                                    "duration": Flag(0.0, float)})
    nbytes = int(flags["bytes"]) + int(flags["megabytes"]) * 1024 * 1024  # type: ignore[call-overload]
    ctx.allocate(nbytes)
    log(ctx, f"Allocated {nbytes} bytes")
    if flags["duration"]:
        await ctx.sleep(float(flags["duration"]))  # type: ignore[arg-type]
        return 0
    await forever()
    return 0


SLICE = 0.1   # seconds of one busy/idle cycle of consume-cpu


async def consume_cpu(ctx: Context, args: list[str]) -> int:
    """Burn ``millicores`` for ``duration`` seconds: real busy slices that yield
    in a process; in the simulation only the time passes."""
    flags, _ = parse_flags(args, {"millicores": Flag(1000, int), "duration": Flag(10.0, float)})
    duration = float(flags["duration"])  # type: ignore[arg-type]
    share = min(max(int(flags["millicores"]), 0), 1000) / 1000  # type: ignore[call-overload]
    log(ctx, f"Consuming {flags['millicores']} millicores for {duration:g}s")
    if getattr(ctx, "simulated", False):
        await ctx.sleep(duration)
        return 0
    end = time.monotonic() + duration
    while (left := end - time.monotonic()) > 0:
        busy_until = time.monotonic() + min(SLICE * share, left)
        while time.monotonic() < busy_until:
            sum(i * i for i in range(200))
        await ctx.sleep(min(SLICE * (1 - share), max(0.0, end - time.monotonic())))
    return 0


SUBCOMMANDS: dict[str, Callable[[Context, list[str]], Awaitable[int]]] = {
    "serve-hostname": serve_hostname, "netexec": netexec, "pause": pause,
    "liveness": liveness, "fail": fail, "consume-memory": consume_memory,
    "consume-cpu": consume_cpu,
}


@program("agnhost")
async def agnhost(ctx: Context, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        ctx.stdout("Usage:\n  agnhost [command]\n\nAvailable Commands:\n"
                   + "".join(f"  {name}\n" for name in SUBCOMMANDS))
        return 0 if argv else 1
    sub = SUBCOMMANDS.get(argv[0])
    if sub is None:
        ctx.stderr(f'Error: unknown command "{argv[0]}" for "agnhost"\n')
        return 1
    try:
        return await sub(ctx, argv[1:])
    except UsageError as e:
        ctx.stderr(f"Error: {e}\n")
        return 1

