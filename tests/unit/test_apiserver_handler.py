"""The apiserver request pipeline over an in-process store."""
from __future__ import annotations

import asyncio
import random

from actors.apiserver.handler import APIHandler, Request
from actors.apiserver.storage import LocalKV, ObjectStore


def handler(authorizer=None) -> APIHandler:
    store = ObjectStore(LocalKV(), clock=lambda: 1_700_000_000.0, rng=random.Random(3))
    return APIHandler(store, authorizer) if authorizer else APIHandler(store)


def call(h: APIHandler, *reqs: Request):
    async def go():
        return [await h.handle(r) for r in reqs]
    out = asyncio.run(go())
    return out if len(out) > 1 else out[0]


def ns_create(name: str) -> Request:
    return Request("create", "", "v1", "namespaces", body={"metadata": {"name": name}})


def pod_body(name: str = "web", **spec_extra) -> dict:
    spec = {"containers": [{"name": "c", "image": "nginx:1.25"}], **spec_extra}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": spec}


def pod_create(body: dict, ns: str = "team", **query) -> Request:
    return Request("create", "", "v1", "pods", namespace=ns, body=body, query=query)


def test_create_applies_defaults_admission_and_stores():
    h = handler()
    ns, created = call(h, ns_create("team"), pod_create(pod_body()))
    assert ns.code == 201 and ns.body["spec"]["finalizers"] == ["kubernetes"]
    assert created.code == 201, created.body
    spec = created.body["spec"]
    assert spec["restartPolicy"] == "Always" and spec["dnsPolicy"] == "ClusterFirst"
    assert spec["serviceAccountName"] == "default" and spec["terminationGracePeriodSeconds"] == 30
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert created.body["metadata"]["namespace"] == "team"
    got = call(h, Request("get", "", "v1", "pods", namespace="team", name="web"))
    assert got.code == 200 and got.body["metadata"]["resourceVersion"] == created.body["metadata"]["resourceVersion"]


def test_namespace_lifecycle_and_validation_errors():
    h = handler()
    missing = call(h, pod_create(pod_body(), ns="nope"))
    assert missing.code == 404 and missing.body["message"] == 'namespaces "nope" not found'
    call(h, ns_create("team"))
    bad = call(h, pod_create({"metadata": {"name": "x"}, "spec": {"containers": []}}))
    assert bad.code == 422 and bad.body["reason"] == "Invalid"
    assert any(c["field"] == "spec.containers" for c in bad.body["details"]["causes"])
    port = pod_body("p")
    port["spec"]["containers"][0]["ports"] = [{"containerPort": 70000}]
    bad_port = call(h, pod_create(port))
    assert bad_port.code == 422
    assert "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and " \
           "65535, inclusive" in bad_port.body["message"]


def test_field_validation_modes_and_type_errors():
    h = handler()
    call(h, ns_create("team"))
    typo = pod_body()
    typo["spec"]["containers"][0]["imagePullPolizy"] = "Always"
    strict = call(h, pod_create(typo, fieldValidation="Strict"))
    assert strict.code == 400
    assert 'unknown field "spec.containers[0].imagePullPolizy"' in strict.body["message"]
    warn = call(h, pod_create(typo))
    assert warn.code == 201 and warn.warnings == ['unknown field "spec.containers[0].imagePullPolizy"']
    assert "imagePullPolizy" not in warn.body["spec"]["containers"][0]
    wrong = pod_body("w")
    wrong["spec"]["containers"][0]["ports"] = [{"containerPort": "eighty"}]
    assert call(h, pod_create(wrong)).code == 400
    mismatch = dict(pod_body("m"), kind="Service")
    assert call(h, pod_create(mismatch)).code == 400
    other_ns = pod_body("o")
    other_ns["metadata"]["namespace"] = "elsewhere"
    r = call(h, pod_create(other_ns))
    assert r.code == 400 and "does not match the namespace" in r.body["message"]
    assert call(h, pod_create(pod_body("x"), fieldValidation="Loud")).code == 400


def test_update_conflict_status_subresource_and_patches():
    h = handler()
    call(h, ns_create("team"))
    first = call(h, pod_create(pod_body())).body
    newer = dict(first, metadata=dict(first["metadata"], labels={"app": "web", "v": "2"}))
    up = call(h, Request("update", "", "v1", "pods", namespace="team", name="web", body=newer))
    assert up.code == 200 and up.body["metadata"]["labels"]["v"] == "2"
    stale = call(h, Request("update", "", "v1", "pods", namespace="team", name="web", body=first))
    assert stale.code == 409 and stale.body["reason"] == "Conflict"
    status = dict(up.body, status={"phase": "Running"})
    st = call(h, Request("update", "", "v1", "pods", namespace="team", name="web",
                         subresource="status", body=status))
    assert st.code == 200 and st.body["status"]["phase"] == "Running"
    merge = call(h, Request("patch", "", "v1", "pods", namespace="team", name="web", patch_type="merge",
                            body={"metadata": {"labels": {"tier": "front"}}}))
    assert merge.code == 200 and merge.body["metadata"]["labels"] == {"app": "web", "v": "2", "tier": "front"}
    assert merge.body["status"]["phase"] == "Running"
    failing = call(h, Request("patch", "", "v1", "pods", namespace="team", name="web", patch_type="json",
                              body=[{"op": "test", "path": "/metadata/name", "value": "other"}]))
    assert failing.code == 422
    immutable = call(h, Request("patch", "", "v1", "pods", namespace="team", name="web", patch_type="merge",
                                body={"spec": {"restartPolicy": "Never"}}))
    assert immutable.code == 422 and "pod updates may not change fields" in immutable.body["message"]


def test_list_selectors_delete_and_errors():
    h = handler()
    call(h, ns_create("team"))
    for n in ("a", "b", "c"):
        call(h, pod_create(pod_body(n)))
    lst = call(h, Request("list", "", "v1", "pods", namespace="team", query={"labelSelector": "app in (a,c)"}))
    assert lst.code == 200 and [p["metadata"]["name"] for p in lst.body["items"]] == ["a", "c"]
    bad_sel = call(h, Request("list", "", "v1", "pods", namespace="team", query={"labelSelector": "app in (a"}))
    assert bad_sel.code == 400
    bad_field = call(h, Request("list", "", "v1", "pods", namespace="team", query={"fieldSelector": "spec.color=red"}))
    assert bad_field.code == 400 and "field label not supported" in bad_field.body["message"]
    deleted = call(h, Request("delete", "", "v1", "pods", namespace="team", name="b"))
    assert deleted.code == 200 and deleted.body["metadata"]["name"] == "b"
    assert call(h, Request("get", "", "v1", "pods", namespace="team", name="b")).code == 404
    assert call(h, Request("get", "", "v1", "widgets", namespace="team", name="b")).code == 404
    assert call(h, Request("list", "", "v1", "pods", namespace="team", subresource="exec")).code == 405
    assert call(h, Request("get", "", "v1", "pods", namespace="team", name="a", subresource="nope")).code == 404
    logs = call(h, Request("get", "", "v1", "pods", namespace="team", name="a", subresource="log"))
    assert logs.code == 503 and logs.body["message"] == \
        "pods/log is served by the kubelet, and none runs yet: pod a is not scheduled to a node"
    dry = call(h, pod_create(pod_body("dry"), dryRun="All"))
    assert dry.code == 201 and call(h, Request("get", "", "v1", "pods", namespace="team", name="dry")).code == 404


def test_authorizer_denial_is_forbidden():
    h = handler(authorizer=lambda req: req.verb != "delete")
    call(h, ns_create("team"))
    call(h, pod_create(pod_body()))
    r = call(h, Request("delete", "", "v1", "pods", namespace="team", name="web", user="alice"))
    assert r.code == 403
    assert r.body["message"].startswith('pods "web" is forbidden: User "alice" cannot delete resource "pods"')


def test_deployments_get_apps_defaults_and_selector_validation():
    h = handler()
    call(h, ns_create("team"))
    tmpl = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": tmpl}}
    ok = call(h, Request("create", "apps", "v1", "deployments", namespace="team", body=dep))
    assert ok.code == 201, ok.body
    spec = ok.body["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert ok.body["metadata"]["generation"] == 1
    bad = dict(dep, metadata={"name": "bad"},
               spec=dict(dep["spec"], selector={"matchLabels": {"app": "other"}}))
    r = call(h, Request("create", "apps", "v1", "deployments", namespace="team", body=bad))
    assert r.code == 422 and "does not match template" in r.body["message"]


def test_binding_sets_node_once():
    h = handler()
    call(h, ns_create("team"))
    created = call(h, pod_create(pod_body()))
    gen = created.body["metadata"]["generation"]
    bind = Request("create", "", "v1", "pods", namespace="team", name="web", subresource="binding",
                   body={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
                         "target": {"kind": "Node", "name": "n1"}})
    first = call(h, bind)
    assert first.code == 201 and first.body["status"] == "Success"
    got = call(h, Request("get", "", "v1", "pods", namespace="team", name="web")).body
    assert got["spec"]["nodeName"] == "n1" and got["metadata"]["generation"] == gen
    scheduled = [c for c in got["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert [(c["status"], c["lastTransitionTime"]) for c in scheduled] == [("True", "2023-11-14T22:13:20Z")]
    again = call(h, bind)
    assert again.code == 409 and 'already assigned to node "n1"' in again.body["message"]
    no_target = call(h, Request("create", "", "v1", "pods", namespace="team", name="web",
                                subresource="binding", body={"target": {}}))
    assert no_target.code == 422


def test_scale_subresource_reads_and_writes_replicas():
    h = handler()
    call(h, ns_create("team"))
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    call(h, Request("create", "apps", "v1", "deployments", namespace="team", body=dep))
    sc = call(h, Request("get", "apps", "v1", "deployments", namespace="team", name="web", subresource="scale"))
    assert sc.code == 200 and sc.body["kind"] == "Scale" and sc.body["spec"]["replicas"] == 1
    assert sc.body["status"]["selector"] == "app=web"
    patched = call(h, Request("patch", "apps", "v1", "deployments", namespace="team", name="web",
                              subresource="scale", patch_type="merge", body={"spec": {"replicas": 5}}))
    assert patched.code == 200 and patched.body["spec"]["replicas"] == 5
    dep_now = call(h, Request("get", "apps", "v1", "deployments", namespace="team", name="web")).body
    assert dep_now["spec"]["replicas"] == 5 and dep_now["metadata"]["generation"] == 2
    stale = dict(sc.body, spec={"replicas": 2})
    r = call(h, Request("update", "apps", "v1", "deployments", namespace="team", name="web",
                        subresource="scale", body=stale))
    assert r.code == 409
    neg = call(h, Request("patch", "apps", "v1", "deployments", namespace="team", name="web",
                          subresource="scale", patch_type="merge", body={"spec": {"replicas": -1}}))
    assert neg.code == 422
    assert call(h, Request("get", "", "v1", "pods", namespace="team", name="x", subresource="scale")).code == 404


def test_eviction_deletes_the_pod_gracefully():
    h = handler()
    call(h, ns_create("team"), pod_create(pod_body("free")), pod_create(pod_body("bound", nodeName="n1")))
    ev = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "free", "namespace": "team"}}
    r = call(h, Request("create", "", "v1", "pods", namespace="team", name="free", subresource="eviction", body=ev))
    assert r.code == 201 and r.body["status"] == "Success"
    assert call(h, Request("get", "", "v1", "pods", namespace="team", name="free")).code == 404
    ev2 = dict(ev, metadata={"name": "bound"}, deleteOptions={"gracePeriodSeconds": 5})
    r = call(h, Request("create", "", "v1", "pods", namespace="team", name="bound", subresource="eviction", body=ev2))
    assert r.code == 201
    marked = call(h, Request("get", "", "v1", "pods", namespace="team", name="bound")).body["metadata"]
    assert marked["deletionGracePeriodSeconds"] == 5 and "deletionTimestamp" in marked  # the kubelet finishes it
    wrong = call(h, Request("create", "", "v1", "pods", namespace="team", name="bound", subresource="eviction",
                            body=dict(ev2, metadata={"name": "other"})))
    assert wrong.code == 400


class FrozenCache:
    """A watch cache stuck at the moment ``snap`` was taken (a lagging one)."""

    def __init__(self) -> None:
        self.objects: dict[tuple, dict] = {}
        self.gets = 0

    def snap(self, obj: dict) -> None:
        m = obj["metadata"]
        self.objects[(m.get("namespace"), m["name"])] = obj

    def cached_list(self, res, namespace, ls, fs):
        return None

    def cached_get(self, res, namespace, name):
        self.gets += 1
        return self.objects.get((namespace, name))


def binding(name: str, node: str) -> Request:
    return Request("create", "", "v1", "pods", namespace="team", name=name, subresource="binding",
                   body={"target": {"kind": "Node", "name": node}})


def test_binding_starts_from_the_cache_and_survives_a_stale_copy():
    store = ObjectStore(LocalKV(), clock=lambda: 1_700_000_000.0)
    cache = FrozenCache()
    h = APIHandler(store, cache=cache)
    call(h, ns_create("team"))
    fresh = call(h, pod_create(pod_body("a"))).body
    cache.snap(fresh)
    assert call(h, binding("a", "n1")).code == 201 and cache.gets == 1
    # the cache still shows "a" unbound: the compare on its revision fails, storage answers
    again = call(h, binding("a", "n2"))
    assert again.code == 409 and 'already assigned to node "n1"' in again.body["message"]
    # a cached copy of an older pod of the same name (deleted and created again)
    old = call(h, pod_create(pod_body("b"))).body
    cache.snap(old)
    call(h, Request("delete", "", "v1", "pods", namespace="team", name="b"))
    call(h, pod_create(pod_body("b")))
    assert call(h, binding("b", "n3")).code == 201
    got = call(h, Request("get", "", "v1", "pods", namespace="team", name="b")).body
    assert got["spec"]["nodeName"] == "n3" and got["metadata"]["uid"] != old["metadata"]["uid"]
    assert "nodeName" not in cache.objects[("team", "b")]["spec"]  # the cached copy was not touched


class RacingKV(LocalKV):
    """Lets ``race`` run once right before the next compare-and-swap (another writer)."""

    race = None

    async def txn(self, compare, success, failure=None):
        race, self.race = self.race, None
        if race is not None:
            await race()
        return await super().txn(compare, success, failure)


def test_unconditional_writes_retry_a_race_and_conditional_ones_fail():
    kv = RacingKV()
    h = APIHandler(ObjectStore(kv, clock=lambda: 1_700_000_000.0))
    call(h, ns_create("team"))
    first = call(h, pod_create(pod_body())).body

    def other_writer(label: str):
        async def write():
            kv.race = None
            await h.handle(Request("patch", "", "v1", "pods", namespace="team", name="web", patch_type="merge",
                                   body={"metadata": {"labels": {label: "x"}}}))
        return write

    # a merge patch raced by another write is applied again to the newer object: both land
    kv.race = other_writer("racer")
    mine = call(h, Request("patch", "", "v1", "pods", namespace="team", name="web", patch_type="merge",
                           body={"metadata": {"labels": {"mine": "y"}}}))
    assert mine.code == 200 and {"racer", "mine"} <= set(mine.body["metadata"]["labels"])
    # a PUT without resourceVersion is unconditional: retried over the newer object
    put = dict(first, metadata={k: v for k, v in first["metadata"].items() if k != "resourceVersion"})
    put["metadata"]["labels"] = {"app": "web", "put": "1"}
    kv.race = other_writer("racer2")
    up = call(h, Request("update", "", "v1", "pods", namespace="team", name="web", body=put))
    assert up.code == 200 and up.body["metadata"]["labels"] == {"app": "web", "put": "1"}
    # with a resourceVersion it is a compare-and-swap: the race makes it 409
    cas = dict(up.body, metadata=dict(up.body["metadata"], labels={"app": "web", "cas": "1"}))
    kv.race = other_writer("racer3")
    lost = call(h, Request("update", "", "v1", "pods", namespace="team", name="web", body=cas))
    assert lost.code == 409
    # a patch that names a resourceVersion carries a precondition too
    stale = call(h, Request("patch", "", "v1", "pods", namespace="team", name="web", patch_type="merge",
                            body={"metadata": {"resourceVersion": first["metadata"]["resourceVersion"],
                                               "labels": {"late": "1"}}}))
    assert stale.code == 409
    now = call(h, Request("get", "", "v1", "pods", namespace="team", name="web")).body
    assert "late" not in now["metadata"]["labels"] and "cas" not in now["metadata"]["labels"]
    # server-side apply is a patch too: a race is applied again; a version in the configuration is a precondition
    config = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"applied": "yes"}}}
    kv.race = other_writer("racer4")
    applied = call(h, Request("patch", "", "v1", "pods", namespace="team", name="web", patch_type="apply",
                              body=config, query={"fieldManager": "me"}))
    assert applied.code == 200 and {"racer4", "applied"} <= set(applied.body["metadata"]["labels"])
    stale_config = dict(config, metadata=dict(config["metadata"], resourceVersion=first["metadata"]["resourceVersion"]))
    assert call(h, Request("patch", "", "v1", "pods", namespace="team", name="web", patch_type="apply",
                           body=stale_config, query={"fieldManager": "me"})).code == 409
    # a delete raced by a write is tried again; with a resourceVersion precondition it fails
    current = call(h, Request("get", "", "v1", "pods", namespace="team", name="web")).body
    kv.race = other_writer("racer5")
    guarded = call(h, Request("delete", "", "v1", "pods", namespace="team", name="web",
                              body={"preconditions": {"resourceVersion": current["metadata"]["resourceVersion"]}}))
    assert guarded.code == 409
    kv.race = other_writer("racer6")
    assert call(h, Request("delete", "", "v1", "pods", namespace="team", name="web")).code == 200
    assert call(h, Request("get", "", "v1", "pods", namespace="team", name="web")).code == 404


def test_generate_name_is_named_before_validation():
    h = handler()
    call(h, ns_create("team"))
    body = pod_body()
    body["metadata"] = {"generateName": "web-"}
    made = call(h, pod_create(body))
    assert made.code == 201 and made.body["metadata"]["name"].startswith("web-")
    assert len(made.body["metadata"]["name"]) == len("web-") + 5
    got = call(h, Request("get", "", "v1", "pods", namespace="team", name=made.body["metadata"]["name"]))
    assert got.code == 200 and got.body["metadata"]["generateName"] == "web-"
    body["metadata"] = {"generateName": "Web_"}
    bad = call(h, pod_create(body))
    assert bad.code == 422 and bad.body["details"]["causes"][0]["field"] == "metadata.generateName"
    body["metadata"] = {}
    nameless = call(h, pod_create(body))
    assert nameless.code == 422 and "name or generateName is required" in nameless.body["message"]
