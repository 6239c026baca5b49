"""The long-running images: ``nginx`` (a static server on port 80), ``pause``
(the sandbox's infra container) and ``python`` (the real interpreter in a
process; in the simulation only ``-m http.server``, anything else idles)."""
from __future__ import annotations

import asyncio
import mimetypes
import os
import posixpath
import sys
import time
from typing import Callable
from urllib.parse import unquote, urlsplit

from .base import Context, HTTPHandler, forever, program

NGINX_ROOT = "/usr/share/nginx/html"
NGINX_WELCOME = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

# (client, method, path, status, size, user agent) -> None
AccessLog = Callable[[str, str, str, int, int, str], None]


def _page(status: int, title: str, server: str) -> bytes:
    return (f"<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {title}</h1></center>\r\n<hr><center>{server}</center>\r\n"
            "</body>\r\n</html>\r\n").encode()


def static_handler(ctx: Context, root: str, *, server: str, index: bytes | None,
                   access_log: AccessLog, healthz: bool = False) -> HTTPHandler:
    """Serve the context's files under ``root``; ``index`` answers ``/`` when
    there is no ``index.html``; ``healthz`` adds a 200 ``/healthz``."""
    async def handler(method: str, path: str, headers: dict[str, str], body: bytes,
                      client: str) -> tuple[int, dict[str, str], bytes]:
        route = unquote(urlsplit(path).path or "/")
        status, data, ctype = 200, b"", "text/html"
        if healthz and route == "/healthz":
            data, ctype = b"ok\n", "text/plain"
        else:
            rel = posixpath.normpath("/" + route)
            if route.endswith("/"):
                rel = posixpath.join(rel, "index.html")
            try:
                data = ctx.read_file(root.rstrip("/") + rel)
                ctype = mimetypes.guess_type(rel)[0] or "application/octet-stream"
            except OSError:
                if route == "/" and index is not None:
                    data = index
                else:
                    status, data = 404, _page(404, "Not Found", server)
        if method not in ("GET", "HEAD"):
            status, data, ctype = 405, _page(405, "Not Allowed", server), "text/html"
        ip = client.rsplit(":", 1)[0]
        access_log(ip, method, path, status, len(data), headers.get("User-Agent", "-"))
        return status, {"Content-Type": ctype, "Server": server}, b"" if method == "HEAD" else data
    return handler


# ------------------------------------------------------------------ nginx
def _nginx_time(ctx: Context) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(ctx.now()))


@program("nginx")
async def nginx(ctx: Context, argv: list[str]) -> int:
    """nginx with the image's default config: port 80, ``/usr/share/nginx/html``,
    access log on stdout, notices on stderr; SIGTERM is a clean exit (0).
    ``-g 'daemon off;'`` is accepted and changes nothing."""
    version = ctx.env.get("NGINX_VERSION", "1.27.2")
    if "-v" in argv or "-V" in argv:
        ctx.stderr(f"nginx version: nginx/{version}\n")
        return 0
    if "-t" in argv or "-T" in argv:
        ctx.stderr("nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
                   "nginx: configuration file /etc/nginx/nginx.conf test is successful\n")
        return 0
    server = f"nginx/{version}"

    def access(ip: str, method: str, path: str, status: int, size: int, agent: str) -> None:
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ctx.now()))
        ctx.stdout(f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "-" "{agent}" "-"\n')

    handler = static_handler(ctx, NGINX_ROOT, server=server, index=NGINX_WELCOME,
                             access_log=access, healthz=True)
    for note in ("using the \"epoll\" event method", f"nginx/{version}", "start worker processes"):
        ctx.stderr(f"{_nginx_time(ctx)} [notice] 1#1: {note}\n")
    try:
        await ctx.serve_http(80, handler)
    except OSError as e:
        why = f"{e.errno}: {os.strerror(e.errno)}" if e.errno else str(e)
        ctx.stderr(f"{_nginx_time(ctx)} [emerg] 1#1: bind() to 0.0.0.0:80 failed ({why})\n"
                   f"nginx: [emerg] bind() to 0.0.0.0:80 failed ({why})\n")
        return 1
    except asyncio.CancelledError:
        ctx.stderr(f"{_nginx_time(ctx)} [notice] 1#1: signal 15 (SIGTERM) received, exiting\n"
                   f"{_nginx_time(ctx)} [notice] 1#1: exit\n")
        return 0
    return 0


# ------------------------------------------------------------------ pause
@program("pause")
async def pause(ctx: Context, argv: list[str]) -> int:
    """The infra container: waits; SIGTERM is a clean exit (0)."""
    if "-v" in argv:
        ctx.stdout("pause.c v3.10\n")
        return 0
    try:
        await forever()
    except asyncio.CancelledError:
        ctx.stderr("Shutting down, got signal: Terminated\n")
        return 0
    return 0


# ------------------------------------------------------------------ python
def _http_server_args(argv: list[str]) -> tuple[int, str] | None:
    """(port, directory) when ``argv`` is ``-m http.server [opts] [PORT]``."""
    if argv[:2] != ["-m", "http.server"] and argv[:1] != ["-mhttp.server"]:
        return None
    rest = argv[2:] if argv[0] == "-m" else argv[1:]
    port, directory, i = 8000, "", 0
    while i < len(rest):
        a = rest[i]
        i += 1
        if a in ("-b", "--bind", "-d", "--directory", "-p", "--protocol"):
            if a in ("-d", "--directory") and i < len(rest):
                directory = rest[i]
            i += 1
        elif a.startswith("--directory="):
            directory = a.split("=", 1)[1]
        elif a.isdigit():
            port = int(a)
    return port, directory


async def _simulated_http_server(ctx: Context, port: int, directory: str) -> int:
    root = posixpath.join(ctx.cwd, directory) if directory else ctx.cwd

    def access(ip: str, method: str, path: str, status: int, size: int, agent: str) -> None:
        stamp = time.strftime("%d/%b/%Y %H:%M:%S", time.gmtime(ctx.now()))
        ctx.stderr(f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} -\n')

    listing = ("<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<title>Directory listing for /</title>\n</head>\n<body>\n"
               "<h1>Directory listing for /</h1>\n<hr>\n<ul>\n</ul>\n<hr>\n</body>\n</html>\n").encode()
    handler = static_handler(ctx, root, server="SimpleHTTP/0.6 Python/3", index=listing, access_log=access)
    ctx.stdout(f"Serving HTTP on 0.0.0.0 port {port} (http://0.0.0.0:{port}/) ...\n")
    try:
        await ctx.serve_http(port, handler)
    except OSError as e:
        ctx.stderr(f"OSError: [Errno {e.errno}] {os.strerror(e.errno) if e.errno else e}\n")
        return 1
    return 0


async def _real_python(ctx: Context, argv: list[str]) -> int:
    """Run the interpreter this package runs on, with the container's env and
    directory, its output through the context; a termination is passed on."""
    args = list(argv)
    bind_ip = getattr(ctx, "bind_ip", "127.0.0.1")
    if _http_server_args(args) is not None and not any(a in ("-b", "--bind") or a.startswith("--bind=")
                                                       for a in args):
        args += ["--bind", bind_ip]   # its own pod address, not every address of the host
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=dict(ctx.env), cwd=ctx.cwd)

    async def pump(stream: asyncio.StreamReader | None, write: Callable[[bytes], None]) -> None:
        while stream is not None and (chunk := await stream.read(65536)):
            write(chunk)

    try:
        await asyncio.gather(pump(proc.stdout, ctx.stdout), pump(proc.stderr, ctx.stderr))
        code = await proc.wait()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.terminate()
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=10.0)
        except asyncio.TimeoutError:
            proc.kill()
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
    return 128 - code if code < 0 else code


@program("python", "python3")
async def python(ctx: Context, argv: list[str]) -> int:
    if not getattr(ctx, "simulated", False):
        return await _real_python(ctx, argv)
    if argv[:1] in (["-V"], ["--version"]):
        ctx.stdout(f"Python {ctx.env.get('PYTHON_VERSION', '3.12.7')}\n")
        return 0
    server = _http_server_args(argv)
    if server is not None:
        return await _simulated_http_server(ctx, *server)
    if not argv:
        return 0   # the REPL with no stdin ends at once
    ctx.stderr("python: scripts do not run in the simulated runtime; idling until stopped\n")
    await forever()
    return 0
