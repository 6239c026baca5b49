"""The HTTP transport of :class:`kubeapi.client.Client`: the Kubernetes REST API
over HTTPS with a bearer token, as any out-of-cluster client reaches it.

Watch polls are watch requests bounded by ``timeoutSeconds``; the server
ends each with a BOOKMARK at the revision it got to, which is the cursor the
next poll resumes from (bookmarks are passed on only if the caller asked).
"""
from __future__ import annotations

import base64
import json
import math
import ssl
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

PATCH_CONTENT_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
_METHODS = {"get": "GET", "list": "GET", "create": "POST", "update": "PUT", "patch": "PATCH",
            "delete": "DELETE", "deletecollection": "DELETE"}


def resource_url(group: str, version: str, resource: str, namespace: str | None = None,
                 name: str | None = None, subresource: str | None = None) -> str:
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{resource}"
    if name:
        path += f"/{quote(name, safe='')}"
    if subresource:
        path += f"/{subresource}"
    return path


def _warnings(headers: Any) -> list[str]:
    out = []
    for h in headers.getall("Warning", []):
        parts = h.split(" ", 2)  # 299 - "text"
        text = parts[2] if len(parts) == 3 else h
        out.append(text[1:-1].replace('\\"', '"') if text.startswith('"') and text.endswith('"') else text)
    return out


class HTTPTransport:
    """:class:`kubeapi.client.Transport` over HTTP(S)."""

    def __init__(self, server: str, *, token: str | None = None, ca_pem: bytes | None = None,
                 timeout: float = 60.0, max_connections: int = 100) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self._ssl: ssl.SSLContext | None = (ssl.create_default_context(cadata=ca_pem.decode())
                                           if ca_pem else None)
        self.timeout = timeout
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_kubeconfig(cls, path: str, **kw: Any) -> HTTPTransport:
        """The current context's server, CA and token from a kubeconfig file."""
        with open(path) as f:
            cfg = yaml.safe_load(f)
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in cfg.get("users") or [] if u["name"] == ctx.get("user")), {})
        ca = None
        if cluster.get("certificate-authority-data"):
            ca = base64.b64decode(cluster["certificate-authority-data"])
        elif cluster.get("certificate-authority"):
            with open(cluster["certificate-authority"], "rb") as f:
                ca = f.read()
        return cls(cluster["server"], token=user.get("token"), ca_pem=ca, **kw)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._session = aiohttp.ClientSession(
                headers=headers, connector=aiohttp.TCPConnector(ssl=self._ssl or True,
                                                                limit=self.max_connections))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, verb: str, group: str, version: str, resource: str,
                      namespace: str | None = None, name: str | None = None,
                      subresource: str | None = None, body: Any = None,
                      patch_type: str | None = None, query: dict | None = None) -> dict:
        url = self.server + resource_url(group, version, resource, namespace, name, subresource)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = PATCH_CONTENT_TYPES[patch_type] if verb == "patch" and patch_type \
                else "application/json"
        async with self._client().request(_METHODS[verb], url, params=query or None, data=data,
                                          headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
            raw = await resp.read()
            try:
                out = json.loads(raw) if raw else {}
            except ValueError:
                out = {"kind": "Status", "status": "Failure", "code": resp.status,
                       "message": raw.decode(errors="replace")[:500]}
            return {"code": resp.status, "body": out, "warnings": _warnings(resp.headers)}

    async def watch(self, group: str, version: str, resource: str, namespace: str | None,
                    resource_version: str, label_selector: str | None,
                    field_selector: str | None, timeout: float, allow_bookmarks: bool) -> dict:
        url = self.server + resource_url(group, version, resource, namespace)
        params = {"watch": "true", "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(max(1, math.ceil(timeout))),
                  "resourceVersion": resource_version or "0"}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        events: list[dict] = []
        cursor = resource_version or "0"
        async with self._client().get(url, params=params,
                                      timeout=aiohttp.ClientTimeout(total=timeout + self.timeout)) as resp:
            if resp.status != 200:
                return {"code": resp.status, "body": json.loads(await resp.read() or b"{}")}
            async for line in resp.content:
                if not line.strip():
                    continue
                ev = json.loads(line)
                if ev.get("type") != "ERROR":
                    cursor = ((ev.get("object") or {}).get("metadata") or {}).get("resourceVersion") or cursor
                if ev.get("type") != "BOOKMARK" or allow_bookmarks:
                    events.append(ev)
        return {"code": 200, "events": events, "resourceVersion": cursor}
