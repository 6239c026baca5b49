"""The apiserver's HTTP front: the REST surface kubectl and client libraries
use, served over a real socket on 127.0.0.1 by an in-process APIServer."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import aiohttp
import pytest
import yaml

from actors import pki
from actors.apiserver.auth import TokenAuthenticator, UserInfo
from actors.apiserver.http import MAX_BODY, HTTPFront
from actors.apiserver.server import APIServer
from actors.apiserver.storage import LocalKV
from kubeapi import errors

SCENARIO_TIMEOUT = 60.0

ADMIN_TOKEN = "admin-token"
USER_TOKEN = "alice-token"
AUTHN = {ADMIN_TOKEN: UserInfo("kubernetes-admin", ("system:masters",)),
         USER_TOKEN: UserInfo("alice", ("developers",))}

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
DISCOVERY_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
DISCOVERY_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"

PODS = "/api/v1/namespaces/ns/pods"
NOT_FOUND = "the server could not find the requested resource"
POD_COLUMNS = [("Name", "string", "name", 0), ("Ready", "string", "", 0), ("Status", "string", "", 0),
               ("Restarts", "string", "", 0), ("Age", "string", "", 0), ("IP", "string", "", 1),
               ("Node", "string", "", 1), ("Nominated Node", "string", "", 1),
               ("Readiness Gates", "string", "", 1)]
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


# --------------------------------------------------------------------------- harness
@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class Client:
    """Requests to the front; every call carries the admin token unless told otherwise."""

    def __init__(self, session: aiohttp.ClientSession, base: str, server: APIServer) -> None:
        self.session = session
        self.base = base
        self.server = server

    def _headers(self, token: str | None, accept: str | None, ctype: str | None,
                 extra: dict | None) -> dict:
        h = {}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if accept is not None:
            h["Accept"] = accept
        if ctype is not None:
            h["Content-Type"] = ctype
        h.update(extra or {})
        return h

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = ADMIN_TOKEN,
                   accept: str | None = None, ctype: str | None = None, data: bytes | None = None,
                   headers: dict | None = None) -> Reply:
        if body is not None:
            data = json.dumps(body).encode()
            ctype = ctype or "application/json"
        async with self.session.request(method, self.base + path, data=data,
                                        headers=self._headers(token, accept, ctype, headers)) as r:
            return Reply(r.status, r.headers, await r.read())

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, body, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> Reply:
        return await self.call("PUT", path, body, **kw)

    async def patch(self, path: str, body: Any, ctype: str, **kw: Any) -> Reply:
        return await self.call("PATCH", path, body, ctype=ctype, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.call("DELETE", path, **kw)

    def stream(self, path: str, *, token: str | None = ADMIN_TOKEN, accept: str | None = None):
        """An open GET whose body is read as it arrives (a watch)."""
        return self.session.get(self.base + path, headers=self._headers(token, accept, None, None))


def run(scenario: Callable[[Client], Awaitable[Any]], *, authorization_mode: str = "Default",
        server_ssl=None, client_ssl=None, **server_kw: Any) -> Any:
    """Start an APIServer and its front on a free port, run ``scenario``, tear both down."""
    async def main() -> Any:
        server = APIServer(LocalKV(), authorization_mode=authorization_mode, **server_kw)
        front = HTTPFront(server, TokenAuthenticator(dict(AUTHN), server.authenticate_service_account))
        try:
            while not server.caches_synced():
                await asyncio.sleep(0.01)
            port = await front.start("127.0.0.1", 0, ssl_context=server_ssl)
            assert port > 0
            scheme = "https" if server_ssl is not None else "http"
            connector = aiohttp.TCPConnector(ssl=client_ssl) if client_ssl is not None else None
            async with aiohttp.ClientSession(connector=connector) as session:
                return await scenario(Client(session, f"{scheme}://127.0.0.1:{port}", server))
        finally:
            await front.stop()
            await server.close()

    return asyncio.run(asyncio.wait_for(main(), SCENARIO_TIMEOUT))


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A failure Status body, as the apiserver sends it."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def pod(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}


async def seed(c: Client, *pods: dict) -> dict[str, dict]:
    """Namespace ``ns`` and ``pods`` in it; the created objects by name."""
    r = await c.post("/api/v1/namespaces", {"metadata": {"name": "ns"}})
    assert r.status == 201, r.text
    out = {}
    for p in pods:
        r = await c.post(PODS, p)
        assert r.status == 201, r.text
        out[p["metadata"]["name"]] = r.json
    return out


def rv(obj: dict) -> str:
    return obj["metadata"]["resourceVersion"]


def names(listed: dict) -> list[str]:
    return [i["metadata"]["name"] for i in listed["items"]]


async def read_events(resp: aiohttp.ClientResponse) -> list[dict]:
    """The rest of a watch stream, one JSON event per line, up to its end."""
    return [json.loads(line) async for line in resp.content if line.strip()]


# --------------------------------------------------------------------------- version and health
def test_version():
    r = run(lambda c: c.get("/version", token=None))
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json["major"] == "1" and r.json["minor"] == "32"
    assert r.json["gitVersion"] == "v1.32.0" and r.json["platform"] == "linux/amd64"


READYZ_VERBOSE = "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]informer-sync ok\nreadyz check passed\n"


@pytest.mark.parametrize("path,code,text", [
    ("/healthz", 200, "ok"),
    ("/livez", 200, "ok"),
    ("/readyz", 200, "ok"),
    ("/readyz/", 200, "ok"),
    ("/readyz/etcd", 200, "ok"),
    ("/readyz/informer-sync", 200, "ok"),
    ("/livez/ping", 200, "ok"),
    ("/readyz?verbose", 200, READYZ_VERBOSE),
    ("/readyz?verbose=true", 200, READYZ_VERBOSE),
    ("/livez?verbose", 200, "[+]ping ok\n[+]log ok\nlivez check passed\n"),
    ("/healthz?verbose", 200, "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]informer-sync ok\nhealthz check passed\n"),
    ("/readyz/etcd?verbose", 200, "[+]etcd ok\nreadyz check passed\n"),
])
def test_health_checks(path, code, text):
    r = run(lambda c: c.get(path, token=None))
    assert (r.status, r.text) == (code, text)
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("path", ["/readyz/nope", "/livez/etcd", "/healthz/nope/deeper"])
def test_unknown_health_check_is_404(path):
    r = run(lambda c: c.get(path, token=None))
    assert r.status == 404
    assert r.json == status(404, "NotFound", NOT_FOUND)


def test_readyz_fails_while_storage_does_not_answer():
    async def scenario(c: Client):
        async def down(timeout: float = 2.0) -> bool:
            return False
        c.server.etcd_ok = down
        return [await c.get(p, token=None) for p in ("/readyz", "/readyz/etcd", "/readyz/ping", "/livez")]

    readyz, etcd, ping, livez = run(scenario)
    assert (readyz.status, readyz.text) == (
        500, "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]informer-sync ok\nreadyz check failed\n")
    assert (etcd.status, etcd.text) == (500, "[-]etcd failed: reason withheld\nreadyz check failed\n")
    assert (ping.status, ping.text) == (200, "ok")
    assert (livez.status, livez.text) == (200, "ok")


# --------------------------------------------------------------------------- discovery
def test_aggregated_discovery_of_the_core_group():
    r = run(lambda c: c.get("/api", accept=DISCOVERY_ACCEPT))
    assert r.status == 200
    assert r.headers["Content-Type"] == DISCOVERY_TYPE
    doc = r.json
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    assert [i["metadata"]["name"] for i in doc["items"]] == [""]
    (v1,) = doc["items"][0]["versions"]
    assert (v1["version"], v1["freshness"]) == ("v1", "Current")
    by_name = {r["resource"]: r for r in v1["resources"]}
    pods = by_name["pods"]
    assert pods["scope"] == "Namespaced" and pods["singularResource"] == "pod"
    assert pods["responseKind"] == {"group": "", "version": "", "kind": "Pod"}
    assert pods["verbs"] == ALL_VERBS and pods["shortNames"] == ["po"]
    assert {s["subresource"] for s in pods["subresources"]} >= {"status", "binding", "log"}
    assert by_name["namespaces"]["scope"] == "Cluster"


def test_aggregated_discovery_of_the_named_groups():
    r = run(lambda c: c.get("/apis", accept=DISCOVERY_ACCEPT))
    assert r.status == 200 and r.headers["Content-Type"] == DISCOVERY_TYPE
    groups = {i["metadata"]["name"]: i for i in r.json["items"]}
    assert "" not in groups and {"apps", "batch", "coordination.k8s.io"} <= set(groups)
    (apps_v1,) = groups["apps"]["versions"]
    deployments = next(x for x in apps_v1["resources"] if x["resource"] == "deployments")
    # the group and version are left empty when they are the containing group-version's
    assert deployments["responseKind"] == {"group": "", "version": "", "kind": "Deployment"}
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


@pytest.mark.parametrize("path,expected", [
    ("/api", {"kind": "APIVersions", "versions": ["v1"],
              "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
    ("/apis/apps", {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
                    "kind": "APIGroup", "apiVersion": "v1"}),
])
def test_legacy_discovery_documents(path, expected):
    r = run(lambda c: c.get(path, accept="application/json"))
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json == expected


def test_legacy_group_list():
    r = run(lambda c: c.get("/apis"))
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    doc = r.json
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupList", "v1")
    apps = next(g for g in doc["groups"] if g["name"] == "apps")
    assert apps == {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}
    assert all(g["name"] for g in doc["groups"])  # the core group is not listed here


def test_resource_list_of_core_v1():
    r = run(lambda c: c.get("/api/v1"))
    assert r.status == 200
    doc = r.json
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == "v1"
    assert "apiVersion" not in doc  # omitted on the core list, as upstream
    rows = {x["name"]: x for x in doc["resources"]}
    assert rows["pods"] == {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                            "verbs": ALL_VERBS, "shortNames": ["po"], "categories": ["all"]}
    assert rows["pods/status"] == {"name": "pods/status", "singularName": "", "namespaced": True,
                                   "kind": "Pod", "verbs": ["get", "patch", "update"]}
    assert rows["namespaces"]["namespaced"] is False


def test_resource_list_of_apps_v1():
    r = run(lambda c: c.get("/apis/apps/v1"))
    assert r.status == 200
    doc = r.json
    assert (doc["kind"], doc["apiVersion"], doc["groupVersion"]) == ("APIResourceList", "v1", "apps/v1")
    rows = {x["name"]: x for x in doc["resources"]}
    assert rows["deployments"]["kind"] == "Deployment" and rows["deployments"]["shortNames"] == ["deploy"]
    assert rows["deployments/scale"] == {"name": "deployments/scale", "singularName": "", "namespaced": True,
                                         "group": "autoscaling", "version": "v1", "kind": "Scale",
                                         "verbs": ["get", "patch", "update"]}


@pytest.mark.parametrize("path", ["/apis/nope/v1", "/apis/nope", "/apis/apps/v2", "/api/v2", "/nope", "/"])
def test_unknown_discovery_paths_are_404(path):
    r = run(lambda c: c.get(path))
    assert r.status == 404
    assert r.json == status(404, "NotFound", NOT_FOUND)


# --------------------------------------------------------------------------- OpenAPI
def test_openapi_v3_root_and_group_versions():
    async def scenario(c: Client):
        root = await c.get("/openapi/v3")
        docs = {gv: await c.get(root.json["paths"][gv]["serverRelativeURL"]) for gv in ("api/v1", "apis/apps/v1")}
        return root, docs

    root, docs = run(scenario)
    assert root.status == 200
    for gv in ("api/v1", "apis/apps/v1"):
        assert root.json["paths"][gv]["serverRelativeURL"].startswith(f"/openapi/v3/{gv}?hash=")
        assert docs[gv].status == 200 and docs[gv].json["openapi"].startswith("3.")
    cases = [("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", {"group": "", "version": "v1", "kind": "Pod"}),
             ("apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
              {"group": "apps", "version": "v1", "kind": "Deployment"})]
    for gv, path, gvk in cases:
        patch = docs[gv].json["paths"][path]["patch"]
        assert patch["x-kubernetes-group-version-kind"] == gvk
        assert patch["x-kubernetes-action"] == "patch"
        assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
        assert {MERGE, JSON_PATCH, STRATEGIC} <= set(patch["requestBody"]["content"])


def test_openapi_v2_is_swagger():
    r = run(lambda c: c.get("/openapi/v2"))
    assert r.status == 200
    doc = r.json
    assert doc["swagger"] == "2.0" and doc["info"] == {"title": "Kubernetes", "version": "v1.32.0"}
    assert "/api/v1/namespaces/{namespace}/pods" in doc["paths"]
    assert "/apis/apps/v1/namespaces/{namespace}/deployments/{name}" in doc["paths"]


def test_openapi_of_an_unknown_group_version_is_404():
    r = run(lambda c: c.get("/openapi/v3/apis/nope/v1"))
    assert r.status == 404 and r.json == status(404, "NotFound", NOT_FOUND)


# --------------------------------------------------------------------------- authentication and authorization
def _forbidden(user: str, verb: str, resource: str, group: str = "", namespace: str = "", name: str = "") -> dict:
    qualified = f"{resource}.{group}" if group else resource
    subject = f'{qualified} "{name}"' if name else qualified
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    details = {k: v for k, v in (("name", name), ("group", group), ("kind", resource)) if v}
    return status(403, "Forbidden", f'{subject} is forbidden: User "{user}" cannot {verb} resource '
                                    f'"{resource}" in API group "{group}" {scope}', details)


def _forbidden_path(user: str, path: str) -> dict:
    return status(403, "Forbidden", f'forbidden: User "{user}" cannot get path "{path}"', {})


UNAUTHORIZED = status(401, "Unauthorized", "Unauthorized")


@pytest.mark.parametrize("method,path,headers,code,expected", [
    # anonymous: only /version and the health checks
    ("GET", "/api/v1/namespaces", {}, 403, _forbidden("system:anonymous", "list", "namespaces")),
    ("GET", "/version", {}, 200, None),
    ("GET", "/healthz", {}, 200, None),
    ("GET", "/api", {}, 403, _forbidden_path("system:anonymous", "/api")),
    ("GET", "/openapi/v3", {}, 403, _forbidden_path("system:anonymous", "/openapi/v3")),
    ("GET", PODS, {}, 403, _forbidden("system:anonymous", "list", "pods", namespace="ns")),
    ("GET", PODS + "?watch=true", {}, 403, _forbidden("system:anonymous", "watch", "pods", namespace="ns")),
    # bad credentials are refused everywhere
    ("GET", "/api/v1/namespaces", {"Authorization": "Bearer wrong"}, 401, UNAUTHORIZED),
    ("GET", "/version", {"Authorization": "Bearer wrong"}, 401, UNAUTHORIZED),
    ("GET", "/api/v1/namespaces", {"Authorization": "Bearer "}, 401, UNAUTHORIZED),
    ("GET", "/api/v1/namespaces", {"Authorization": f"Basic {ADMIN_TOKEN}"}, 401, UNAUTHORIZED),
    # system:masters may do everything
    ("GET", "/api/v1/namespaces", {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 200, None),
    ("GET", "/api/v1/namespaces", {"Authorization": f"bearer {ADMIN_TOKEN}"}, 200, None),
    ("GET", "/apis/apps/v1/deployments", {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 200, None),
    # other authenticated users read discovery and OpenAPI, nothing else
    ("GET", "/api", {"Authorization": f"Bearer {USER_TOKEN}"}, 200, None),
    ("GET", "/apis/apps/v1", {"Authorization": f"Bearer {USER_TOKEN}"}, 200, None),
    ("GET", "/openapi/v3", {"Authorization": f"Bearer {USER_TOKEN}"}, 200, None),
    ("GET", "/api/v1/namespaces", {"Authorization": f"Bearer {USER_TOKEN}"}, 403,
     _forbidden("alice", "list", "namespaces")),
    ("GET", PODS + "/web", {"Authorization": f"Bearer {USER_TOKEN}"}, 403,
     _forbidden("alice", "get", "pods", namespace="ns", name="web")),
    ("DELETE", PODS + "/web", {"Authorization": f"Bearer {USER_TOKEN}"}, 403,
     _forbidden("alice", "delete", "pods", namespace="ns", name="web")),
    ("GET", "/apis/apps/v1/namespaces/ns/deployments", {"Authorization": f"Bearer {USER_TOKEN}"}, 403,
     _forbidden("alice", "list", "deployments", "apps", namespace="ns")),
])
def test_authentication_and_authorization(method, path, headers, code, expected):
    async def scenario(c: Client):
        await seed(c, pod("web"))
        return await c.call(method, path, token=None, headers=headers)

    r = run(scenario)
    assert r.status == code, r.text
    if expected is not None:
        assert r.json == expected


def test_forbidden_create_names_the_verb():
    async def scenario(c: Client):
        await seed(c)
        return await c.post(PODS, pod("web"), token=USER_TOKEN), await c.get(PODS + "/web")

    denied, after = run(scenario)
    assert denied.status == 403
    assert denied.json == _forbidden("alice", "create", "pods", namespace="ns")
    assert after.status == 404  # nothing was written


def test_always_allow_lets_anonymous_in():
    async def scenario(c: Client):
        created = await c.post("/api/v1/namespaces", {"metadata": {"name": "open"}}, token=None)
        return created, await c.get("/api/v1/namespaces", token=None), await c.get("/api", token=None)

    created, listed, api = run(scenario, authorization_mode="AlwaysAllow")
    assert created.status == 201
    assert listed.status == 200 and names(listed.json) == ["open"]
    assert api.status == 200 and api.json["kind"] == "APIVersions"


# --------------------------------------------------------------------------- CRUD
def test_create_get_and_already_exists():
    async def scenario(c: Client):
        ns = await c.post("/api/v1/namespaces", {"metadata": {"name": "ns"}})
        created = await c.post(PODS, pod("web"))
        got = await c.get(PODS + "/web")
        again = await c.post(PODS, pod("web"))
        missing_ns = await c.post("/api/v1/namespaces/nope/pods", pod("web"))
        missing = await c.get(PODS + "/ghost")
        return ns, created, got, again, missing_ns, missing

    ns, created, got, again, missing_ns, missing = run(scenario)
    assert ns.status == 201 and ns.json["kind"] == "Namespace" and ns.json["status"] == {"phase": "Active"}
    assert created.status == 201 and created.headers["Content-Type"] == "application/json"
    assert (created.json["kind"], created.json["metadata"]["namespace"]) == ("Pod", "ns")
    assert created.json["status"]["phase"] == "Pending"
    assert got.status == 200 and got.json["metadata"]["uid"] == created.json["metadata"]["uid"]
    assert rv(got.json) == rv(created.json)
    assert again.status == 409
    assert again.json == status(409, "AlreadyExists", 'pods "web" already exists', {"name": "web", "kind": "pods"})
    assert missing_ns.status == 404
    assert missing_ns.json == status(404, "NotFound", 'namespaces "nope" not found',
                                     {"name": "nope", "kind": "namespaces"})
    assert missing.json == status(404, "NotFound", 'pods "ghost" not found', {"name": "ghost", "kind": "pods"})


@pytest.mark.parametrize("query,expected", [
    ("", ["api", "db", "web"]),
    ("?labelSelector=app%3Dweb", ["web"]),
    ("?labelSelector=app+in+(api,db)", ["api", "db"]),
    ("?labelSelector=app!%3Dweb", ["api", "db"]),
    ("?labelSelector=tier", ["db"]),
    ("?fieldSelector=metadata.name%3Ddb", ["db"]),
    ("?fieldSelector=status.phase%3DRunning", []),
    ("?fieldSelector=status.phase%3DPending&labelSelector=app%3Dapi", ["api"]),
    ("?resourceVersion=0", ["api", "db", "web"]),
])
def test_list_with_selectors(query, expected):
    async def scenario(c: Client):
        await seed(c, pod("web"), pod("api"), pod("db", app="db", tier="data"))
        return await c.get(PODS + query)

    r = run(scenario)
    assert r.status == 200, r.text
    assert r.json["kind"] == "PodList" and r.json["apiVersion"] == "v1"
    assert names(r.json) == expected


def test_list_pages_with_limit_and_continue():
    async def scenario(c: Client):
        await seed(c, pod("a"), pod("b"), pod("c"), pod("d"), pod("e"))
        first = await c.get(PODS + "?limit=2")
        second = await c.get(PODS + "?limit=2&continue=" + first.json["metadata"]["continue"])
        third = await c.get(PODS + "?limit=2&continue=" + second.json["metadata"]["continue"])
        return first, second, third

    first, second, third = run(scenario)
    assert [names(p.json) for p in (first, second, third)] == [["a", "b"], ["c", "d"], ["e"]]
    assert "continue" not in third.json["metadata"]
    # every page is a snapshot at the first page's revision
    assert rv(first.json) == rv(second.json) == rv(third.json)


def test_put_replaces_and_a_stale_resource_version_conflicts():
    async def scenario(c: Client):
        created = (await seed(c, pod("web")))["web"]
        fresh = dict(created, metadata=dict(created["metadata"], labels={"app": "web", "v": "2"}))
        updated = await c.put(PODS + "/web", fresh)
        stale = await c.put(PODS + "/web", dict(created, metadata=dict(created["metadata"], labels={"v": "3"})))
        renamed = await c.put(PODS + "/web", dict(updated.json, metadata=dict(updated.json["metadata"], name="x")))
        return created, updated, stale, renamed, await c.get(PODS + "/web")

    created, updated, stale, renamed, final = run(scenario)
    assert updated.status == 200 and updated.json["metadata"]["labels"] == {"app": "web", "v": "2"}
    assert int(rv(updated.json)) > int(rv(created))
    assert stale.status == 409
    assert stale.json == status(
        409, "Conflict", 'Operation cannot be fulfilled on pods "web": the object has been modified; '
        "please apply your changes to the latest version and try again", {"name": "web", "kind": "pods"})
    assert renamed.status == 400
    assert renamed.json == status(400, "BadRequest",
                                  "the name of the object (x) does not match the name on the URL (web)")
    assert final.json["metadata"]["labels"] == {"app": "web", "v": "2"}
    assert rv(final.json) == rv(updated.json)


@pytest.mark.parametrize("ctype,body,labels,image", [
    (MERGE, {"metadata": {"labels": {"tier": "front"}}}, {"app": "web", "tier": "front"}, "nginx:1.25"),
    (MERGE + "; charset=utf-8", {"metadata": {"labels": {"app": None}}}, None, "nginx:1.25"),
    (JSON_PATCH, [{"op": "add", "path": "/metadata/labels/tier", "value": "front"}],
     {"app": "web", "tier": "front"}, "nginx:1.25"),
    (JSON_PATCH, [{"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.27"}],
     {"app": "web"}, "nginx:1.27"),
    (STRATEGIC, {"metadata": {"labels": {"tier": "front"}},
                 "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}},
     {"app": "web", "tier": "front"}, "nginx:1.27"),
])
def test_patch_types(ctype, body, labels, image):
    async def scenario(c: Client):
        created = (await seed(c, pod("web")))["web"]
        patched = await c.patch(PODS + "/web", body, ctype)
        return created, patched, await c.get(PODS + "/web")

    created, patched, got = run(scenario)
    assert patched.status == 200, patched.text
    assert int(rv(patched.json)) > int(rv(created))
    for obj in (patched.json, got.json):
        assert obj["metadata"].get("labels") == labels
        (container,) = obj["spec"]["containers"]
        # a strategic patch merges the container by name: its defaults stay
        assert (container["name"], container["image"]) == ("c", image)
        assert container["terminationMessagePath"] == "/dev/termination-log"


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", "application/yaml",
                                   "application/vnd.kubernetes.protobuf", ""])
def test_patch_with_an_unsupported_content_type_is_415(ctype):
    async def scenario(c: Client):
        await seed(c, pod("web"))
        return await c.call("PATCH", PODS + "/web", data=b'{"metadata":{"labels":{"a":"b"}}}', ctype=ctype)

    r = run(scenario)
    assert r.status == 415
    assert r.json == status(415, "UnsupportedMediaType",
                            "the body of the request was in an unknown format - accepted media types include: "
                            "application/json-patch+json, application/merge-patch+json, "
                            "application/strategic-merge-patch+json, application/apply-patch+yaml")


def test_delete():
    async def scenario(c: Client):
        await seed(c, pod("web"), pod("api"))
        deleted = await c.delete(PODS + "/web")
        return deleted, await c.get(PODS + "/web"), await c.delete(PODS + "/web"), await c.get(PODS)

    deleted, got, again, listed = run(scenario)
    assert deleted.status == 200
    assert (deleted.json["kind"], deleted.json["metadata"]["name"]) == ("Pod", "web")
    assert got.status == 404 and again.status == 404
    assert again.json == status(404, "NotFound", 'pods "web" not found', {"name": "web", "kind": "pods"})
    assert names(listed.json) == ["api"]


def test_delete_collection_by_label():
    async def scenario(c: Client):
        await seed(c, pod("web"), pod("api"), pod("web2", app="web"))
        gone = await c.delete(PODS + "?labelSelector=app%3Dweb")
        return gone, await c.get(PODS)

    gone, left = run(scenario)
    assert gone.status == 200 and names(gone.json) == ["web", "web2"]
    assert names(left.json) == ["api"]


def test_dry_run_create_stores_nothing():
    async def scenario(c: Client):
        await seed(c)
        dry = await c.post(PODS + "?dryRun=All", pod("dry"))
        return dry, await c.get(PODS + "/dry"), await c.get(PODS)

    dry, got, listed = run(scenario)
    assert dry.status == 201 and dry.json["metadata"]["name"] == "dry"
    assert dry.json["spec"]["restartPolicy"] == "Always"  # defaulted as a real create would be
    assert got.status == 404 and names(listed.json) == []


# --------------------------------------------------------------------------- Tables
def _columns(t: dict) -> list[tuple]:
    return [(c["name"], c["type"], c["format"], c["priority"]) for c in t["columnDefinitions"]]


def test_pod_list_as_table():
    async def scenario(c: Client):
        made = await seed(c, pod("web"), pod("api"))
        return made, await c.get(PODS, accept=TABLE), await c.get(PODS)

    made, t, plain = run(scenario)
    assert t.status == 200 and t.headers["Content-Type"] == "application/json"
    doc = t.json
    assert (doc["kind"], doc["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert doc["metadata"] == {"resourceVersion": rv(plain.json)}
    assert _columns(doc) == POD_COLUMNS
    assert [r["cells"][0] for r in doc["rows"]] == ["api", "web"]
    for row in doc["rows"]:
        name = row["cells"][0]
        assert row["cells"][1:4] == ["0/1", "Pending", "0"]
        assert row["cells"][4].endswith("s")  # an age, in seconds this young
        assert row["cells"][5:] == ["<none>"] * 4
        assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": made[name]["metadata"]}


@pytest.mark.parametrize("include,expect", [
    ("", "metadata"), ("?includeObject=Metadata", "metadata"), ("?includeObject=Object", "object"),
    ("?includeObject=None", "none"),
])
def test_single_get_as_table(include, expect):
    async def scenario(c: Client):
        made = await seed(c, pod("web"))
        return made["web"], await c.get(PODS + "/web" + include, accept=TABLE)

    created, t = run(scenario)
    assert t.status == 200
    doc = t.json
    assert doc["kind"] == "Table" and doc["metadata"] == {"resourceVersion": rv(created)}
    assert _columns(doc) == POD_COLUMNS
    (row,) = doc["rows"]
    assert row["cells"][0] == "web"
    if expect == "metadata":
        assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": created["metadata"]}
    elif expect == "object":
        assert row["object"] == created
    else:
        assert "object" not in row


def test_table_of_namespaces_and_a_bad_include_object():
    async def scenario(c: Client):
        await seed(c)
        return await c.get("/api/v1/namespaces", accept=TABLE), \
            await c.get("/api/v1/namespaces?includeObject=Everything", accept=TABLE)

    t, bad = run(scenario)
    assert [c[0] for c in _columns(t.json)] == ["Name", "Status", "Age"]
    assert [r["cells"][:2] for r in t.json["rows"]] == [["ns", "Active"]]
    assert bad.status == 400
    assert bad.json == status(400, "BadRequest",
                              "includeObject must be None, Metadata or Object, not 'Everything'")


# --------------------------------------------------------------------------- bad input
STRICT_MESSAGE = 'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.foo"'


def _with_unknown_field() -> dict:
    p = pod("odd")
    p["spec"]["foo"] = 1
    return p


@pytest.mark.parametrize("method,path,kw,code,expected", [
    ("POST", PODS, {"data": b" " * (MAX_BODY + 1), "ctype": "application/json"}, 413,
     status(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")),
    ("POST", PODS, {"data": b'{"metadata": ', "ctype": "application/json"}, 400,
     status(400, "BadRequest", "couldn't get version/kind; json parse error: "
                               "Expecting value: line 1 column 14 (char 13)")),
    ("POST", PODS, {"data": b"{bad", "ctype": "application/json"}, 400,
     status(400, "BadRequest", "couldn't get version/kind; json parse error: "
                               "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)")),
    ("POST", PODS, {"data": b"name=web", "ctype": "application/x-www-form-urlencoded"}, 415,
     status(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                                         "types include: application/json, application/yaml")),
    ("GET", "/api/v1/frobs", {}, 404, status(404, "NotFound", NOT_FOUND)),
    ("GET", "/api/v1/namespaces/ns/frobs", {}, 404, status(404, "NotFound", NOT_FOUND)),
    ("GET", "/apis/apps/v1/namespaces/ns/frobs/x", {}, 404, status(404, "NotFound", NOT_FOUND)),
    ("GET", PODS + "/web/status/extra", {}, 404, status(404, "NotFound", NOT_FOUND)),
    ("POST", PODS + "/web", {"body": pod("web")}, 405,
     status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})),
    ("PUT", PODS, {"body": pod("web")}, 405,
     status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})),
    ("PATCH", PODS, {"body": {"metadata": {"labels": {"a": "b"}}}, "ctype": MERGE}, 405,
     status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})),
    ("POST", "/version", {"body": {}}, 405,
     status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})),
    ("POST", PODS + "?fieldValidation=Strict", {"body": _with_unknown_field()}, 400,
     status(400, "BadRequest", STRICT_MESSAGE)),
    ("POST", PODS, {"body": dict(pod("x"), apiVersion="apps/v1")}, 400,
     status(400, "BadRequest", "the API version in the data (apps/v1) does not match the expected API version (v1)")),
    ("POST", PODS, {"body": dict(pod("x"), metadata={"name": "x", "namespace": "other"})}, 400,
     status(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the "
                               "request")),
])
def test_bad_requests(method, path, kw, code, expected):
    async def scenario(c: Client):
        await seed(c, pod("web"))
        r = await c.call(method, path, **kw)
        return r, await c.get(PODS)

    r, listed = run(scenario)
    assert r.status == code, r.text
    assert r.json == expected
    assert names(listed.json) == ["web"]  # nothing was written


@pytest.mark.parametrize("query,code,warnings", [
    ("", 201, ['299 - "unknown field \\"spec.foo\\""']),
    ("?fieldValidation=Warn", 201, ['299 - "unknown field \\"spec.foo\\""']),
    ("?fieldValidation=Ignore", 201, []),
    ("?fieldValidation=Strict", 400, []),
])
def test_unknown_fields_by_field_validation(query, code, warnings):
    async def scenario(c: Client):
        await seed(c)
        return await c.post(PODS + query, _with_unknown_field())

    r = run(scenario)
    assert r.status == code
    assert r.headers.getall("Warning", []) == warnings
    if code == 201:
        assert "foo" not in r.json["spec"]


def _length_delimited(field: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([field << 3 | 2, len(payload)]) + payload


def test_protobuf_body_of_a_kind_without_a_schema_is_415():
    type_meta = _length_delimited(1, b"v1") + _length_delimited(2, b"Frob")
    body = b"k8s\x00" + _length_delimited(1, type_meta) + _length_delimited(2, b"")

    async def scenario(c: Client):
        await seed(c)
        return await c.post(PODS, data=body, ctype="application/vnd.kubernetes.protobuf"), await c.get(PODS)

    r, listed = run(scenario)
    assert r.status == 415
    assert (r.json["kind"], r.json["reason"], r.json["code"]) == ("Status", "UnsupportedMediaType", 415)
    assert r.json["message"].startswith("the body of the request was in an unknown format - ")
    assert names(listed.json) == []


def test_yaml_bodies():
    pod_yaml = yaml.safe_dump(pod("web")).encode()

    async def scenario(c: Client):
        ns = await c.post("/api/v1/namespaces", data=b"metadata:\n  name: ns\n", ctype="application/yaml")
        created = await c.post(PODS, data=pod_yaml, ctype="application/yaml")
        return ns, created, await c.get(PODS + "/web")

    ns, created, got = run(scenario)
    assert ns.status == 201 and ns.json["metadata"]["name"] == "ns"
    assert created.status == 201 and created.headers["Content-Type"] == "application/json"
    assert got.status == 200 and got.json["spec"]["containers"][0]["image"] == "nginx:1.25"


# --------------------------------------------------------------------------- watch
def _summary(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]


def test_watch_streams_changes_in_order_until_its_timeout():
    async def scenario(c: Client):
        await seed(c)
        start = rv((await c.get(PODS)).json)
        async with c.stream(f"{PODS}?watch=true&resourceVersion={start}&timeoutSeconds=2") as resp:
            head = (resp.status, resp.headers["Content-Type"])
            created = await c.post(PODS, pod("web"))
            patched = await c.patch(PODS + "/web", {"metadata": {"labels": {"tier": "front"}}}, MERGE)
            await c.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
            elsewhere = await c.post("/api/v1/namespaces/other/pods", pod("elsewhere"))
            deleted = await c.delete(PODS + "/web")
            events = await read_events(resp)
        return head, created.json, patched.json, elsewhere.json, deleted, events

    head, created, patched, elsewhere, deleted, events = run(scenario)
    assert head == (200, "application/json")
    assert deleted.status == 200
    assert _summary(events) == [("ADDED", "web"), ("MODIFIED", "web"), ("DELETED", "web")]
    added, modified, gone = (e["object"] for e in events)
    assert rv(added) == rv(created) and rv(modified) == rv(patched)
    assert modified["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert int(rv(gone)) > int(rv(elsewhere))  # the deletion's own revision
    assert all(e["object"]["kind"] == "Pod" for e in events)


def test_watch_bookmark_ends_the_stream():
    async def scenario(c: Client):
        await seed(c)
        start = rv((await c.get(PODS)).json)
        url = f"{PODS}?watch=true&resourceVersion={start}&timeoutSeconds=2&allowWatchBookmarks=true" \
              "&labelSelector=app%3Dweb"
        async with c.stream(url) as resp:
            created = await c.post(PODS, pod("web"))
            first = json.loads(await resp.content.readline())
            unseen = await c.post(PODS, pod("db"))  # moves the revision, not for this watch
            rest = await read_events(resp)
        return created.json, first, unseen.json, rest

    created, first, unseen, rest = run(scenario)
    assert (first["type"], rv(first["object"])) == ("ADDED", rv(created))
    assert rest == [{"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                                                    "metadata": {"resourceVersion": rv(unseen)}}}]


def test_watch_as_table():
    async def scenario(c: Client):
        await seed(c)
        start = rv((await c.get(PODS)).json)
        async with c.stream(f"{PODS}?watch=true&resourceVersion={start}&timeoutSeconds=2", accept=TABLE) as resp:
            made = [(await c.post(PODS, pod(n))).json for n in ("web", "api")]
            made.append((await c.patch(PODS + "/web", {"metadata": {"labels": {"v": "2"}}}, MERGE)).json)
            events = await read_events(resp)
        return made, events

    made, events = run(scenario)
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "MODIFIED"]
    for i, (ev, obj) in enumerate(zip(events, made)):
        t = ev["object"]
        assert (t["kind"], t["apiVersion"]) == ("Table", "meta.k8s.io/v1")
        assert t["metadata"] == {"resourceVersion": rv(obj)}
        (row,) = t["rows"]
        assert row["cells"][0] == obj["metadata"]["name"]
        assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": obj["metadata"]}
        if i == 0:
            assert _columns(t) == POD_COLUMNS
        else:
            assert not t.get("columnDefinitions")


def test_watch_from_zero_starts_with_the_current_state():
    async def scenario(c: Client):
        await seed(c, pod("web"), pod("api"))
        async with c.stream(f"{PODS}?watch=true&resourceVersion=0&timeoutSeconds=2") as resp:
            await c.post(PODS, pod("db"))
            return await read_events(resp)

    events = run(scenario)
    assert _summary(events) == [("ADDED", "api"), ("ADDED", "web"), ("ADDED", "db")]


def test_watch_from_a_compacted_resource_version_gets_410():
    async def scenario(c: Client):
        ns = (await c.post("/api/v1/namespaces", {"metadata": {"name": "ns"}})).json
        made = [(await c.post(PODS, pod(n))).json for n in ("a", "b", "c")]
        async with c.stream(f"{PODS}?watch=true&resourceVersion={rv(ns)}&timeoutSeconds=2") as resp:
            return ns, made, resp.status, await read_events(resp)

    ns, made, code, events = run(scenario, cache_capacity=2)
    assert code == 200
    assert events == [{"type": "ERROR", "object": status(
        410, "Expired", f"too old resource version: {rv(ns)} ({rv(made[0])})")}]


@pytest.mark.parametrize("query,message", [
    ("labelSelector=app+in+(web", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("fieldSelector=spec.bogus%3Dx", "field label not supported: spec.bogus"),
    ("timeoutSeconds=soon", "invalid timeoutSeconds: 'soon'"),
])
def test_watch_with_bad_parameters_is_400(query, message):
    async def scenario(c: Client):
        await seed(c)
        return await c.get(f"{PODS}?watch=true&{query}")

    r = run(scenario)
    assert r.status == 400
    assert r.json == status(400, "BadRequest", message)


# --------------------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def ca() -> pki.CertKey:
    return pki.new_ca()


def test_tls_with_the_cluster_ca(ca):
    served = pki.serving_cert(ca, ["127.0.0.1", "localhost"])

    async def scenario(c: Client):
        assert c.base.startswith("https://")
        return await c.get("/version", token=None), await c.get("/api/v1/namespaces")

    version, listed = run(scenario, server_ssl=pki.server_ssl_context(served),
                          client_ssl=pki.client_ssl_context(ca.cert_pem))
    assert version.status == 200 and version.json["minor"] == "32"
    assert listed.status == 200 and listed.json["kind"] == "NamespaceList"


@pytest.mark.parametrize("case", ["untrusted-ca", "wrong-host"])
def test_tls_handshake_fails_without_trust(ca, case):
    if case == "untrusted-ca":
        served, trusted = pki.serving_cert(ca, ["127.0.0.1"]), pki.new_ca()
    else:
        served, trusted = pki.serving_cert(ca, ["10.0.0.1", "kubernetes.default.svc"]), ca

    async def scenario(c: Client):
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await c.get("/version", token=None)
        return True

    assert run(scenario, server_ssl=pki.server_ssl_context(served),
               client_ssl=pki.client_ssl_context(trusted.cert_pem))


def test_a_service_account_token_authenticates_until_its_pod_is_gone():
    async def scenario(c: Client):
        await seed(c, pod("web"))
        sa = await c.post("/api/v1/namespaces/ns/serviceaccounts", {"metadata": {"name": "robot"}})
        assert sa.status == 201, sa.text
        web = (await c.get(PODS + "/web")).json
        tr = await c.post("/api/v1/namespaces/ns/serviceaccounts/robot/token", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web",
                                        "uid": web["metadata"]["uid"]}}})
        assert tr.status == 201, tr.text
        token = tr.json["status"]["token"]
        discovery = await c.get("/api", token=token)
        pods = await c.get(PODS, token=token)
        forged = await c.get("/api", token=token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
        await c.delete(PODS + "/web")
        after = await c.get("/api", token=token)
        return discovery, pods, forged, after

    discovery, pods, forged, after = run(scenario)
    assert discovery.status == 200  # authenticated: may read discovery
    assert pods.status == 403 and pods.json["message"].startswith(
        'pods is forbidden: User "system:serviceaccount:ns:robot" cannot list resource "pods"')
    assert forged.status == 401 and after.status == 401  # a bad signature; the bound pod deleted


def test_pod_logs_come_from_the_kubelet_as_plain_text():
    calls = []

    async def kubelets(actor, node, call, args, opts):
        calls.append((actor, node, call, args, opts))
        if args[2] == "nope":
            raise errors.bad_request("container nope is not valid for pod web")
        return "one\ntwo\n"

    async def scenario(c: Client):
        await seed(c, pod("web"), pod("pending"))
        await c.post("/api/v1/nodes", {"metadata": {"name": "n1", "annotations": {"raykube.io/kubelet": "kubelet-n1"}}})
        await c.post(PODS + "/web/binding", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
                                             "target": {"kind": "Node", "name": "n1"}})
        return (await c.get(PODS + "/web/log?tailLines=1&timestamps=true"),
                await c.get(PODS + "/web/log?container=nope"), await c.get(PODS + "/pending/log"),
                await c.get(PODS + "/web/log?tailLines=x"))

    ok, bad, unbound, invalid = run(scenario, kubelets=kubelets)
    assert ok.status == 200 and ok.text == "one\ntwo\n" and ok.headers["Content-Type"].startswith("text/plain")
    assert calls[0] == ("kubelet-n1", "n1", "logs", ("ns", "web", ""),
                        {"previous": False, "tail": 1, "timestamps": True, "since": ""})
    assert bad.status == 400 and bad.json["message"] == "container nope is not valid for pod web"
    assert unbound.status == 400 and unbound.json["message"] == "pod pending does not have a host assigned"
    assert invalid.status == 422
