"""The apiserver over HTTP: the Kubernetes REST surface real kubectl and the
official Python client use, served by aiohttp inside each apiserver replica.

HTTP is decoded into the same :class:`Request` the Ray transport carries and
run through the same handler, so both transports answer alike. Only the
wire concerns live here: paths → (group, version, resource, namespace, name,
subresource), methods → verbs, bodies by Content-Type (3 MiB at most),
Tables by Accept, discovery and health documents, ``Warning`` headers, and
watch streams (chunked, one JSON event per line, bookmarks, timeoutSeconds).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from kubeapi import errors, openapi, protobuf
from kubeapi.registry import (AGGREGATED_DISCOVERY_CONTENT_TYPE, aggregated_discovery, api_group_list,
                              api_resource_list, api_versions, by_plural)
from kubeapi.table import table, wants_table

from .auth import Authorizer, TokenAuthenticator, UserInfo
from .handler import KubeletStream, Request
from .server import APIServer, watch_cursor
from .streams import exec_websocket, follow_logs, offered_protocol, wants_websocket

log = logging.getLogger("raykube.http")

MAX_BODY = 3 * 1024 * 1024
VERSION_INFO = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "raykube",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
                "compiler": "gc", "platform": "linux/amd64"}
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
JSON = "application/json"
MIN_REQUEST_TIMEOUT = 1800  # seconds; a watch without timeoutSeconds lasts 1-2x this, as upstream


@dataclass
class RequestInfo:
    group: str
    version: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def _not_found() -> errors.ApiError:
    return errors.ApiError(404, "NotFound", "the server could not find the requested resource")


def _method_not_allowed() -> errors.ApiError:
    """A method no route takes at this path (upstream's generic 405, as for a
    POST to an item or a PUT to a collection)."""
    return errors.ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource", errors.StatusDetails())


def is_resource_path(path: str) -> bool:
    """Below a group-version: ``/api/v1/<...>`` or ``/apis/<group>/<version>/<...>``."""
    parts = [p for p in path.split("/") if p]
    return (parts[:1] == ["api"] and len(parts) >= 3) or (parts[:1] == ["apis"] and len(parts) >= 4)


def parse_resource_path(path: str) -> RequestInfo:
    """``/api/v1/namespaces/ns/pods/x/log`` → RequestInfo; 404 if no resource is there."""
    parts = [p for p in path.split("/") if p]
    if not is_resource_path(path):
        raise _not_found()
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        group, version, rest = parts[1], parts[2], parts[3:]

    def known(plural: str) -> bool:
        try:
            by_plural(group, version, plural)
            return True
        except LookupError:
            return False

    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and known(rest[2]):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3 or not known(rest[0]):
        raise _not_found()
    return RequestInfo(group, version, rest[0], namespace,
                       rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)


def _query(request: web.Request) -> dict[str, Any]:
    """First value of each parameter; repeated ones (dryRun, command) as lists."""
    out: dict[str, Any] = {}
    for k in request.query.keys():
        vals = request.query.getall(k)
        out[k] = vals if len(vals) > 1 or k in ("dryRun", "command") else vals[0]
    return out


def _truthy(v: Any) -> bool:
    return str(v).lower() in ("true", "1")


def _rv_meta(obj: dict) -> dict:
    """A one-object Table's metadata: the object's resourceVersion, as upstream."""
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return {"resourceVersion": rv} if rv else {}


def status_response(e: errors.ApiError) -> web.Response:
    return web.Response(status=e.code, text=json.dumps(e.status()), content_type=JSON)


def json_response(body: Any, code: int = 200, content_type: str = JSON,
                  warnings: list[str] | None = None) -> web.Response:
    resp = web.Response(status=code, body=json.dumps(body).encode(), headers={"Content-Type": content_type})
    for w in warnings or ():
        resp.headers.add("Warning", '299 - "' + w.replace('"', '\\"') + '"')
    return resp


def _decode_body(raw: bytes, content_type: str, *, patch: bool) -> Any:
    """The request body by its media type; 400 on malformed, 415 on unknown types (and on
    protobuf bodies of kinds :mod:`kubeapi.protobuf` has no schema for)."""
    if not raw:
        return None
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == protobuf.PROTOBUF and not patch:
        try:
            return protobuf.decode(raw)
        except protobuf.UnsupportedKind as e:
            gv = e.api_version or "<none>"
            raise errors.ApiError(
                415, errors.Reason.UNSUPPORTED_MEDIA_TYPE,
                f"the body of the request was in an unknown format - {protobuf.PROTOBUF} is accepted only "
                f"for {', '.join(protobuf.supported_kinds())}, not {gv}/{e.kind or '<none>'}; "
                "send it as application/json or application/yaml") from None
        except protobuf.ProtobufError as e:
            raise errors.bad_request(f"couldn't decode the protobuf body: {e}") from None
    yaml_like = ctype in ("application/yaml", "application/apply-patch+yaml")
    if not yaml_like and ctype not in ("", JSON, *PATCH_TYPES):
        raise errors.unsupported_media_type(ctype)
    try:
        if yaml_like:
            return yaml.safe_load(raw.decode())
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        what = "error decoding patch" if patch else "couldn't get version/kind; json parse error"
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise errors.bad_request(f"{what}: {first}") from None


class HTTPFront:
    """Serves one :class:`APIServer` over HTTP."""

    def __init__(self, server: APIServer, authenticator: TokenAuthenticator | None = None, *,
                 bookmark_interval: float = 60.0, server_address: str = "127.0.0.1:6443") -> None:
        self.server = server
        self.authenticator = authenticator or TokenAuthenticator()
        self.bookmark_interval = bookmark_interval
        self.server_address = server_address
        self._runner: web.AppRunner | None = None
        self._openapi_cache: dict[str, bytes] = {}
        self.port = 0

    @property
    def authorizer(self) -> Authorizer:
        return self.server.authorizer

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._entry)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0,
                    ssl_context: ssl.SSLContext | None = None) -> int:
        """Listen (TLS with ``ssl_context``); returns the bound port (``port=0``
        picks a free one)."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 - the bound port
        self.port = sockets[0].getsockname()[1] if sockets else port
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ dispatch
    async def _entry(self, request: web.Request) -> web.StreamResponse:
        try:
            user = await self.authenticator.authenticate(request.headers.get("Authorization"))
            return await self._dispatch(request, user)
        except errors.ApiError as e:
            return status_response(e)
        except web.HTTPRequestEntityTooLarge:
            return status_response(errors.request_entity_too_large(f"limit is {MAX_BODY}"))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # noqa: BLE001 - a bug must still answer as a Status
            log.exception("internal error serving %s %s", request.method, request.path)
            return status_response(errors.internal(f"{type(e).__name__}: {e}"))

    async def _dispatch(self, request: web.Request, user: UserInfo) -> web.StreamResponse:
        path = "/" + request.path.strip("/")
        if is_resource_path(path):
            return await self._resource(request, parse_resource_path(path), user)
        return await self._non_resource(request, path, user)

    async def _non_resource(self, request: web.Request, path: str, user: UserInfo) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise _method_not_allowed()
        if not self.authorizer.allow_path(user, path):
            raise errors.forbidden_access(user.name, "get", path=path)
        accept = request.headers.get("Accept", "")
        if path == "/version":
            return json_response(VERSION_INFO)
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return await self._health(request, path)
        if path in ("/api", "/apis"):
            if "as=APIGroupDiscoveryList" in accept:
                return json_response(aggregated_discovery(path[1:]),
                                     content_type=AGGREGATED_DISCOVERY_CONTENT_TYPE)
            return json_response(api_versions(self.server_address) if path == "/api" else api_group_list())
        if path == "/openapi/v2" or path == "/openapi/v3" or path.startswith("/openapi/v3/"):
            return await self._openapi(path)
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise _not_found()
        if parts[0] == "apis" and len(parts) == 2:
            for g in api_group_list()["groups"]:
                if g["name"] == parts[1]:
                    return json_response(dict(g, kind="APIGroup", apiVersion="v1"))
            raise _not_found()
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            try:
                return json_response(api_resource_list(group, version))
            except LookupError:
                raise _not_found() from None
        raise _not_found()

    async def _openapi(self, path: str) -> web.Response:
        """The OpenAPI documents, built once (off the event loop) and kept encoded."""
        if path not in self._openapi_cache:
            def build() -> bytes:
                if path == "/openapi/v2":
                    return json.dumps(openapi.v2_document()).encode()
                if path == "/openapi/v3":
                    return json.dumps(openapi.v3_root()).encode()
                parts = path[len("/openapi/v3/"):].split("/")
                group, version = ("", parts[1]) if parts[0] == "api" and len(parts) == 2 else \
                    (parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else ("", "")
                try:
                    return json.dumps(openapi.v3_document(group, version)).encode()
                except KeyError:
                    raise _not_found() from None
            self._openapi_cache[path] = await asyncio.to_thread(build)
        return web.Response(body=self._openapi_cache[path], headers={"Content-Type": JSON})

    async def _health(self, request: web.Request, path: str) -> web.Response:
        name, _, only = path[1:].partition("/")
        checks: dict[str, bool] = {"ping": True, "log": True}
        if name != "livez":
            checks["etcd"] = await self.server.etcd_ok()
            checks["informer-sync"] = self.server.caches_synced()
        if only:
            if only not in checks:
                raise _not_found()
            checks = {only: checks[only]}
        ok = all(checks.values())
        if "verbose" in request.query or not ok:
            lines = [f"[+]{k} ok" if v else f"[-]{k} failed: reason withheld" for k, v in checks.items()]
            lines.append(f"{name} check passed" if ok else f"{name} check failed")
            return web.Response(status=200 if ok else 500, text="\n".join(lines) + "\n",
                                content_type="text/plain")
        return web.Response(text="ok", content_type="text/plain")

    # ------------------------------------------------------------ resources
    async def _resource(self, request: web.Request, info: RequestInfo, user: UserInfo) -> web.StreamResponse:
        q = _query(request)
        method = request.method
        if method == "GET" and info.name is None and _truthy(q.get("watch")):
            return await self._watch(request, info, q, user)
        streams = True
        if info.subresource == "exec" and info.resource == "pods":
            # only WebSocket streams are served: the handler checks the rest and starts nothing otherwise
            streams = wants_websocket(request) and bool(offered_protocol(request))
            method = "POST"   # a WebSocket upgrade is a GET, authorized as create (as upstream)
        if method in ("GET", "HEAD"):
            verb = "get" if info.name else "list"
        elif method == "POST":
            verb = "create"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH":
            verb = "patch"
        elif method == "DELETE":
            verb = "delete" if info.name else "deletecollection"
        else:
            raise _method_not_allowed()
        if (verb == "create" and info.name and not info.subresource) or \
                (verb in ("update", "patch") and not info.name):
            raise _method_not_allowed()
        ctype = request.headers.get("Content-Type", "")
        patch_type = None
        if verb == "patch":
            patch_type = PATCH_TYPES.get(ctype.split(";")[0].strip().lower())
            if patch_type is None:
                raise errors.unsupported_media_type(ctype, list(PATCH_TYPES))
        if verb in ("create", "update", "patch") and not q.get("fieldManager"):
            # as upstream: a write without a manager is owned by its client's name
            q["fieldManager"] = (request.headers.get("User-Agent") or "unknown").split("/")[0][:128]
        raw = await request.read() if request.can_read_body else b""
        body = _decode_body(raw, ctype, patch=verb == "patch")
        r = await self.server.handler.handle(Request(
            verb, info.group, info.version, info.resource, info.namespace, info.name,
            info.subresource, body, patch_type,
            {k: (v[0] if isinstance(v, list) and k != "command" else v) for k, v in q.items()},
            user.name, user.groups, streams))
        self.server.requests += 1
        out = r.body
        if isinstance(out, str):  # pods/log
            return web.Response(text=out, status=r.code, content_type="text/plain")
        if isinstance(out, KubeletStream):
            call = self.server.handler.kubelets
            assert call is not None
            if out.kind == "exec":
                return await exec_websocket(request, out, call)
            return await follow_logs(request, out, call)
        if r.code == 200 and verb in ("get", "list") and wants_table(request.headers.get("Accept")):
            res = by_plural(info.group, info.version, info.resource)
            include = q.get("includeObject", "Metadata")
            if include not in ("None", "Metadata", "Object"):
                raise errors.bad_request(f"includeObject must be None, Metadata or Object, not {include!r}")
            if verb == "list":
                out = table(res, out.get("items") or [], list_meta=out.get("metadata"), include_object=include)
            else:
                out = table(res, [out], list_meta=_rv_meta(out), include_object=include)
        return json_response(out, r.code, warnings=r.warnings)

    async def _watch(self, request: web.Request, info: RequestInfo, q: dict, user: UserInfo) -> web.StreamResponse:
        try:
            timeout = float(q["timeoutSeconds"]) if "timeoutSeconds" in q else \
                MIN_REQUEST_TIMEOUT * (1 + random.random())
        except ValueError:
            raise errors.bad_request(f"invalid timeoutSeconds: {q['timeoutSeconds']!r}") from None
        bookmarks = _truthy(q.get("allowWatchBookmarks"))
        opened = await self.server.open_watch(
            info.group, info.version, info.resource, info.namespace, q.get("resourceVersion"),
            q.get("labelSelector"), q.get("fieldSelector"), bookmarks, 30.0, user)
        if opened is None:
            raise errors.service_unavailable("the watch cache is not ready yet; retry")
        cache, w, cursor = opened
        as_table = wants_table(request.headers.get("Accept"))
        res = by_plural(info.group, info.version, info.resource)
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON,
                                                        "Transfer-Encoding": "chunked"})
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        first_table = True
        sent_rv = cursor
        try:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    break
                events = await w.next(min(left, self.bookmark_interval))
                cursor = watch_cursor(cache, w, cursor, events)
                if not events and bookmarks and cursor > sent_rv:
                    events = [cache.bookmark_event(cursor)]
                lines = []
                for ev in events:
                    if as_table and ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        ev = {"type": ev["type"], "object": table(res, [ev["object"]],
                                                                  list_meta=_rv_meta(ev["object"]),
                                                                  column_definitions=first_table)}
                        first_table = False
                    lines.append(json.dumps(ev))
                if lines:
                    sent_rv = cursor
                    await resp.write(("\n".join(lines) + "\n").encode())
                if w.closed and not w.pending():
                    break
            if bookmarks and cursor > sent_rv:  # tell a reconnecting client where it got to
                await resp.write((json.dumps(cache.bookmark_event(cursor)) + "\n").encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            w.close()
        try:
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp

