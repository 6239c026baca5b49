"""busybox's applets as Kubernetes examples use them: ``sleep``, ``echo``,
``cat``, ``wget -qO-``, ``date``, file touching for exec probes
(``touch``/``rm``), ``test``/``[``. Its shell is in :mod:`.shell`."""
from __future__ import annotations

import errno
import os
import posixpath
import socket
import time
from http import HTTPStatus

from netsim.pods import split_url

from .base import Context, SubContext, forever, program, to_bytes

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """busybox sleep's argument: ``N``, ``N.M``, with an s/m/h/d suffix."""
    mult = 1
    if text and text[-1] in _UNITS:
        text, mult = text[:-1], _UNITS[text[-1]]
    value = float(text)
    if value < 0 or value != value:
        raise ValueError(text)
    return value * mult


@program("sleep")
async def sleep(ctx: Context, argv: list[str]) -> int:
    if not argv:
        ctx.stderr("sleep: missing operand\n")
        return 1
    if any(a in ("inf", "infinity") for a in argv):
        await forever()
    try:
        total = sum(parse_duration(a) for a in argv)
    except ValueError:
        ctx.stderr(f"sleep: invalid number '{argv[0]}'\n")
        return 1
    await ctx.sleep(total)
    return 0


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "r": "\r", "v": "\v", "f": "\f"}


def _unescape(text: str) -> tuple[str, bool]:
    """echo -e's escapes; the flag says ``\\c`` stopped the output."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "c":
                return "".join(out), True
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
                i += 2
                continue
        out.append(c)
        i += 1
    return "".join(out), False


@program("echo")
async def echo(ctx: Context, argv: list[str]) -> int:
    newline, escapes = True, False
    while argv and len(argv[0]) > 1 and argv[0][0] == "-" and set(argv[0][1:]) <= {"n", "e", "E"}:
        flags = argv.pop(0)[1:]
        newline = newline and "n" not in flags
        escapes = ("e" in flags) or (escapes and "E" not in flags)
    text = " ".join(argv)
    if escapes:
        text, stop = _unescape(text)
        newline = newline and not stop
    ctx.stdout(text + ("\n" if newline else ""))
    return 0


def file_error(e: OSError) -> str:
    return os.strerror(e.errno) if e.errno else str(e)


@program("cat")
async def cat(ctx: Context, argv: list[str]) -> int:
    code = 0
    for path in argv or ["-"]:
        if path == "-":
            while chunk := await ctx.stdin.read():
                ctx.stdout(chunk)
            continue
        try:
            ctx.stdout(ctx.read_file(path))
        except OSError as e:
            ctx.stderr(f"cat: can't open '{path}': {file_error(e)}\n")
            code = 1
    return code


@program("true")
async def true(ctx: Context, argv: list[str]) -> int:
    return 0


@program("false")
async def false(ctx: Context, argv: list[str]) -> int:
    return 1


@program("env")
async def env(ctx: Context, argv: list[str]) -> int:
    """``env`` prints the environment; ``env K=V cmd...`` runs cmd with it changed."""
    values = dict(ctx.env)
    if argv and argv[0] in ("-i", "-"):
        values = {}
        argv = argv[1:]
    while argv and "=" in argv[0] and not argv[0].startswith("="):
        k, v = argv.pop(0).split("=", 1)
        values[k] = v
    if not argv:
        ctx.stdout("".join(f"{k}={v}\n" for k, v in values.items()))
        return 0
    return await SubContext(ctx, env=values).run(argv)


@program("printenv")
async def printenv(ctx: Context, argv: list[str]) -> int:
    if not argv:
        ctx.stdout("".join(f"{k}={v}\n" for k, v in ctx.env.items()))
        return 0
    found = [ctx.env[k] for k in argv if k in ctx.env]
    ctx.stdout("".join(v + "\n" for v in found))
    return 0 if len(found) == len(argv) else 1


@program("hostname")
async def hostname(ctx: Context, argv: list[str]) -> int:
    if argv and argv[0] in ("-i", "-I"):
        ip = getattr(ctx, "ip", "")
        ctx.stdout(f"{ip}\n")
        return 0
    ctx.stdout(ctx.hostname + "\n")
    return 0


@program("date")
async def date(ctx: Context, argv: list[str]) -> int:
    """UTC, as containers have no zone files: ``Thu Nov 27 00:56:00 UTC 2025``;
    ``+FORMAT`` takes strftime's % codes."""
    t = time.gmtime(ctx.now())
    fmt = next((a[1:] for a in argv if a.startswith("+")), "%a %b %e %H:%M:%S UTC %Y")
    ctx.stdout(time.strftime(fmt, t) + "\n")
    return 0


@program("touch")
async def touch(ctx: Context, argv: list[str]) -> int:
    code = 0
    for path in (a for a in argv if not a.startswith("-")):
        try:
            try:
                ctx.read_file(path)
            except FileNotFoundError:
                ctx.write_file(path, b"")
        except OSError as e:
            ctx.stderr(f"touch: {path}: {file_error(e)}\n")
            code = 1
    return code


@program("rm")
async def rm(ctx: Context, argv: list[str]) -> int:
    force = any(a.startswith("-") and "f" in a for a in argv)
    code = 0
    for path in (a for a in argv if not a.startswith("-")):
        try:
            ctx.remove_file(path)
        except FileNotFoundError:
            if not force:
                ctx.stderr(f"rm: can't remove '{path}': No such file or directory\n")
                code = 1
        except OSError as e:
            ctx.stderr(f"rm: can't remove '{path}': {file_error(e)}\n")
            code = 1
    return code


@program("mkdir")
async def mkdir(ctx: Context, argv: list[str]) -> int:
    """Directories exist implicitly (files create their parents): nothing to do."""
    return 0


# ------------------------------------------------------------------ test / [
def path_status(ctx: Context, path: str) -> tuple[bool, bool, int]:
    """(exists, is a regular file, size) of ``path``."""
    try:
        return True, True, len(ctx.read_file(path))
    except IsADirectoryError:
        return True, False, 0
    except OSError:
        return False, False, 0


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise _TestError(f"invalid number '{text}'") from None


class _TestError(Exception):
    pass


_INT_OPS = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__,
            "-le": int.__le__, "-gt": int.__gt__, "-ge": int.__ge__}


def _evaluate(ctx: Context, args: list[str]) -> bool:
    if not args:
        return False
    if args[0] == "!":
        return not _evaluate(ctx, args[1:])
    for i, a in enumerate(args):
        if a in ("-a", "-o") and 0 < i < len(args) - 1:
            left, right = _evaluate(ctx, args[:i]), _evaluate(ctx, args[i + 1:])
            return (left and right) if a == "-a" else (left or right)
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, val = args
        if op == "-n":
            return val != ""
        if op == "-z":
            return val == ""
        exists, regular, size = path_status(ctx, val)
        if op in ("-e", "-r", "-w", "-x"):
            return exists
        if op == "-f":
            return regular
        if op == "-d":
            return exists and not regular
        if op == "-s":
            return size > 0
        raise _TestError(f"{op}: unary operator expected")
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        if op in _INT_OPS:
            return _INT_OPS[op](_int(left), _int(right))
    raise _TestError("syntax error")


@program("test", "[")
async def test(ctx: Context, argv: list[str]) -> int:
    if argv and argv[-1] == "]":
        argv = argv[:-1]
    try:
        return 0 if _evaluate(ctx, argv) else 1
    except _TestError as e:
        ctx.stderr(f"sh: {e}\n")
        return 2


# ------------------------------------------------------------------ wget
class _Usage(Exception):
    pass


def _wget_args(argv: list[str]) -> tuple[str, str | None, bool, float, bool]:
    """(url, output file or None for the default, quiet, timeout, spider)."""
    url, output, quiet, timeout, spider = "", None, False, 10.0, False
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--spider":
            spider = True
        elif a.startswith("--timeout="):
            timeout = float(a.split("=", 1)[1])
        elif a in ("-q", "--quiet"):
            quiet = True
        elif a.startswith("--output-document="):
            output = a.split("=", 1)[1]
        elif a.startswith("-") and len(a) > 1 and not a.startswith("--"):
            j = 1
            while j < len(a):
                f = a[j]
                if f == "q":
                    quiet = True
                elif f in ("O", "T"):
                    rest = a[j + 1:]
                    if not rest:
                        if i >= len(argv):
                            raise _Usage(f"option requires an argument -- '{f}'")
                        rest = argv[i]
                        i += 1
                    if f == "O":
                        output = rest
                    else:
                        timeout = float(rest)
                    break
                elif f not in "cs":  # continue / spider-ish flags busybox accepts
                    raise _Usage(f"unrecognized option '{a}'")
                j += 1
        else:
            url = a
    if not url:
        raise _Usage("missing URL")
    return url, output, quiet, timeout, spider


@program("wget")
async def wget(ctx: Context, argv: list[str]) -> int:
    try:
        url, output, quiet, timeout, spider = _wget_args(argv)
    except (_Usage, ValueError) as e:
        ctx.stderr(f"wget: {e}\nUsage: wget [-cqS] [--spider] [-O FILE] [-T SEC] URL...\n")
        return 1
    try:
        host, port, path = split_url(url)
    except OSError:
        ctx.stderr(f"wget: not an http or ftp url: {url}\n")
        return 1
    if not quiet:
        ctx.stderr(f"Connecting to {host}:{port} ({host}:{port})\n")
    try:
        status, body = await ctx.http_request("HEAD" if spider else "GET", url, b"", timeout)
    except TimeoutError:
        ctx.stderr("wget: download timed out\n")
        return 1
    except socket.gaierror:
        ctx.stderr(f"wget: bad address '{host}'\n")
        return 1
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        if e.errno == errno.ECONNREFUSED or isinstance(e, ConnectionRefusedError):
            reason = "Connection refused"
        shown = "127.0.0.1" if host == "localhost" else host   # busybox names the address it dialed
        ctx.stderr(f"wget: can't connect to remote host ({shown}): {reason}\n")
        return 1
    if not 200 <= status < 300:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        ctx.stderr(f"wget: server returned error: HTTP/1.1 {status} {phrase}\n".replace(" \n", "\n"))
        return 1
    if spider:
        if not quiet:
            ctx.stderr("remote file exists\n")
        return 0
    target = output if output is not None else (posixpath.basename(path.split("?", 1)[0]) or "index.html")
    if target == "-":
        ctx.stdout(body)
    else:
        try:
            ctx.write_file(target, to_bytes(body))
        except OSError as e:
            ctx.stderr(f"wget: can't open '{target}': {file_error(e)}\n")
            return 1
        if not quiet:
            ctx.stderr(f"saving to '{target}'\n'{target}' saved\n")
    return 0


# ------------------------------------------------------------------ nslookup
@program("nslookup")
async def nslookup(ctx: Context, argv: list[str]) -> int:
    """busybox's ``nslookup NAME``: the pod's resolver answers (its resolv.conf's
    nameserver, search domains and ndots), printed as busybox prints it."""
    names = [a for a in argv if not a.startswith("-")]
    if not names:
        ctx.stderr("Usage: nslookup [-type=QUERY_TYPE] HOST [DNS_SERVER]\n")
        return 1
    try:
        found = await ctx.lookup(names[0])
    except LookupError as e:
        text = str(e)
        server = text.rsplit("nameserver ", 1)[1].split()[0] if "nameserver " in text else ""
        if not server:
            ctx.stdout(";; connection timed out; no servers could be reached\n\n")
            return 1
        why = "SERVFAIL" if "SERVFAIL" in text else "NXDOMAIN"   # out of zone: what upstream resolvers say
        ctx.stdout(f"Server:\t\t{server}\nAddress:\t{server}:53\n\n** server can't find {names[0]}: {why}\n\n")
        return 1
    ctx.stdout(f"Server:\t\t{found.server}\nAddress:\t{found.server}:53\n\nName:\t{found.fqdn}\n"
               + "".join(f"Address: {ip}\n" for ip in found.ips) + "\n")
    return 0
