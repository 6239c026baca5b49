"""The Endpoints controller: given Services and pods in the listers, the
Endpoints it writes; and the helpers it shares with the EndpointSlice one."""
from __future__ import annotations

from typing import Any

import pytest

from actors.controllers.endpoints import (EndpointsController, find_port, repack_subsets, services_to_update,
                                          truncate_subsets)
from kubeapi.informer import Indexer
from kubeapi.models.base import format_time

from .ctrl_fakes import Recorder, run

NOW = 1_700_000_000.0
HTTP = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}


def svc(name: str = "web", *, selector: dict | None = None, ports: list | None = None, labels: dict | None = None,
        uid: str = "svc-uid", **spec: Any) -> dict:
    s = {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": "3",
                      "creationTimestamp": format_time(NOW - 1000)},
         "spec": {"selector": {"app": "web"} if selector is None else selector,
                  "ports": [HTTP] if ports is None else ports, **spec}}
    if labels:
        s["metadata"]["labels"] = labels
    return s


def pod(name: str, ip: str | None = "", *, ready: bool = True, labels: dict | None = None, node: str = "n1",
        phase: str = "Running", ports: list | None = None, deleting: bool = False, ready_at: float = NOW - 50,
        rv: str = "5", **spec: Any) -> dict:
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": rv,
                      "labels": {"app": "web"} if labels is None else labels},
         "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx", "ports": ports or []}], **spec},
         "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                    "lastTransitionTime": format_time(ready_at)}]}}
    if ip is not None:
        p["status"]["podIP"] = ip or f"10.0.0.{sum(map(ord, name)) % 250 + 1}"
    if deleting:
        p["metadata"]["deletionTimestamp"] = format_time(NOW)
    return p


def addr(p: dict, **extra: Any) -> dict:
    return {"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
            "targetRef": {"kind": "Pod", "namespace": "ns", "name": p["metadata"]["name"],
                          "uid": p["metadata"]["uid"]}, **extra}


def controller(services: list[dict], pods: list[dict], endpoints: list[dict] = ()):
    si, pi, ei = Indexer(), Indexer(), Indexer()
    for o in services:
        si.add(o)
    for p in pods:
        pi.add(p)
    for e in endpoints:
        ei.add(e)
    api = Recorder(*services, *pods, *endpoints)
    return EndpointsController(si, pi, ei, api, clock=lambda: 0.0), api


def queued(c: EndpointsController) -> list[str]:
    """Empty the controller's queue; the keys it held."""
    out = []
    while (key := c.queue.core.get()) is not None:
        out.append(key)
        c.queue.core.done(key)
    return out


def written(api: Recorder) -> dict:
    (action,) = [a for a in api.actions if a[0] in ("create", "update")]
    return action[-1]


# ----------------------------------------------------------- who is where
def test_ready_pods_are_addresses_unready_ones_not_ready_and_the_rest_left_out():
    ready, unready = pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)
    others = [pod("no-ip", None), pod("done", "10.0.0.3", phase="Succeeded"),
              pod("failed", "10.0.0.4", phase="Failed"),
              pod("going", "10.0.0.5", deleting=True), pod("stranger", "10.0.0.6", labels={"app": "db"})]
    c, api = controller([svc(labels={"team": "x"})], [ready, unready, *others])
    run(c.sync("ns/web"))
    assert api.verbs("create")[0][3] == {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "ns", "labels": {"team": "x"},
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": format_time(NOW - 1000)}},
        "subsets": [{"addresses": [addr(ready)], "notReadyAddresses": [addr(unready)],
                     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}


def test_publish_not_ready_addresses_makes_unready_and_terminating_pods_ready():
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False), pod("c", "10.0.0.3", deleting=True),
            pod("no-ip", None), pod("done", "10.0.0.9", phase="Succeeded")]
    c, api = controller([svc(publishNotReadyAddresses=True)], pods)
    run(c.sync("ns/web"))
    (subset,) = written(api)["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert "notReadyAddresses" not in subset


def test_named_target_ports_resolve_per_pod_and_pods_lacking_the_name_are_skipped_for_that_port():
    ports = [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"},
             {"name": "metrics", "port": 9090, "protocol": "TCP"}]  # no targetPort: the service port
    a = pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080}])
    b = pod("b", "10.0.0.2", ports=[{"name": "web", "containerPort": 8081}])
    bare = pod("c", "10.0.0.3")
    c, api = controller([svc(ports=ports)], [a, b, bare])
    run(c.sync("ns/web"))
    got = {tuple((p["name"], p["port"]) for p in s["ports"]): [x["ip"] for x in s["addresses"]]
           for s in written(api)["subsets"]}
    assert got == {(("http", 8080),): ["10.0.0.1"], (("http", 8081),): ["10.0.0.2"],
                   (("metrics", 9090),): ["10.0.0.1", "10.0.0.2", "10.0.0.3"]}


@pytest.mark.parametrize("svc_port,container_ports,expected", [
    ({"port": 80, "targetPort": 8080}, [], 8080),
    ({"port": 80}, [], 80),
    ({"port": 80, "targetPort": "web"}, [{"name": "web", "containerPort": 3000}], 3000),
    ({"port": 80, "targetPort": "web"}, [{"name": "other", "containerPort": 3000}], None),
    # the protocol must match too
    ({"port": 53, "targetPort": "dns", "protocol": "UDP"}, [{"name": "dns", "containerPort": 5353}], None),
    ({"port": 53, "targetPort": "dns", "protocol": "UDP"},
     [{"name": "dns", "containerPort": 5353, "protocol": "UDP"}], 5353),
])
def test_find_port(svc_port, container_ports, expected):
    assert find_port(pod("a", ports=container_ports), svc_port) == expected


def test_find_port_looks_at_sidecar_init_containers_only():
    p = pod("a")
    p["spec"]["initContainers"] = [{"name": "once", "ports": [{"name": "x", "containerPort": 1}]},
                                   {"name": "side", "restartPolicy": "Always",
                                    "ports": [{"name": "y", "containerPort": 2}]}]
    assert find_port(p, {"port": 80, "targetPort": "x"}) is None
    assert find_port(p, {"port": 80, "targetPort": "y"}) == 2


def test_addresses_sharing_ports_pack_into_one_sorted_subset():
    ports = [{"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}, HTTP]
    pods = [pod("z", "10.0.0.9"), pod("y", "10.0.0.3", ready=False), pod("x", "10.0.0.1")]
    c, api = controller([svc(ports=ports)], pods)
    run(c.sync("ns/web"))
    assert written(api)["subsets"] == [{
        "addresses": [addr(pods[2]), addr(pods[0])], "notReadyAddresses": [addr(pods[1])],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                  {"name": "https", "port": 8443, "protocol": "TCP"}]}]


def test_repack_merges_duplicates_and_ready_wins():
    a = {"ip": "10.0.0.1", "targetRef": {"uid": "a"}}
    b = {"ip": "10.0.0.2", "targetRef": {"uid": "b"}}
    p80, p81 = {"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}
    got = repack_subsets([{"addresses": [a], "ports": [p80]}, {"notReadyAddresses": [a], "ports": [p80]},
                          {"addresses": [b], "ports": [p80, p81]}, {"addresses": [a], "ports": [p81]}])
    assert got == [{"addresses": [a, b], "ports": [p80, p81]}]
    # different readiness for the same ports still shares a subset
    assert repack_subsets([{"addresses": [a], "ports": [p80]}, {"notReadyAddresses": [b], "ports": [p80]}]) == \
        [{"addresses": [a], "notReadyAddresses": [b], "ports": [p80]}]


def test_hostname_only_when_the_pod_subdomain_names_the_service():
    named = pod("a", "10.0.0.1", hostname="db-0", subdomain="web")
    elsewhere = pod("b", "10.0.0.2", hostname="db-1", subdomain="other")
    c, api = controller([svc()], [named, elsewhere])
    run(c.sync("ns/web"))
    assert written(api)["subsets"][0]["addresses"] == [addr(named, hostname="db-0"), addr(elsewhere)]


def test_headless_service_is_labelled_and_may_publish_addresses_without_ports():
    a = pod("a", "10.0.0.1")
    c, api = controller([svc(ports=[], clusterIP="None")], [a])
    run(c.sync("ns/web"))
    ep = written(api)
    assert ep["metadata"]["labels"] == {"service.kubernetes.io/headless": ""}
    assert ep["subsets"] == [{"addresses": [addr(a)]}]
    # a non-headless Service without ports has no endpoints
    c, api = controller([svc(ports=[])], [a])
    run(c.sync("ns/web"))
    assert "subsets" not in written(api) or written(api)["subsets"] == []


def test_the_family_of_the_service_picks_the_pod_ip():
    p = pod("a", "10.0.0.1")
    p["status"]["podIPs"] = [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]
    c, api = controller([svc(ipFamilies=["IPv6"])], [p])
    run(c.sync("ns/web"))
    assert written(api)["subsets"][0]["addresses"][0]["ip"] == "fd00::1"


# ------------------------------------------------------------- capacity
def test_over_1000_addresses_are_truncated_not_ready_first_and_annotated():
    pods = [pod(f"r{i}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(998)] + \
        [pod(f"u{i}", f"10.2.0.{i + 1}", ready=False) for i in range(5)]
    c, api = controller([svc()], pods)
    run(c.sync("ns/web"))
    ep = written(api)
    (subset,) = ep["subsets"]
    assert (len(subset["addresses"]), len(subset["notReadyAddresses"])) == (998, 2)
    assert ep["metadata"]["annotations"]["endpoints.kubernetes.io/over-capacity"] == "truncated"
    # back under capacity: the annotation goes
    c, api = controller([svc()], pods[:10], [dict(ep, metadata=dict(ep["metadata"], resourceVersion="9"))])
    run(c.sync("ns/web"))
    assert "endpoints.kubernetes.io/over-capacity" not in written(api)["metadata"]["annotations"]


def test_truncation_shares_ready_addresses_by_subset_and_drops_not_ready_ones():
    def many(prefix: str, n: int) -> list[dict]:
        return [{"ip": f"{prefix}.{i}"} for i in range(n)]
    subsets = [{"addresses": many("10.0.0", 12), "notReadyAddresses": many("10.9.0", 1), "ports": [{"port": 1}]},
               {"addresses": many("10.0.1", 3), "ports": [{"port": 2}]},
               {"notReadyAddresses": many("10.9.1", 4), "ports": [{"port": 3}]}]
    assert truncate_subsets(subsets, capacity=10)
    # ceil(12/15*10) = 8, then the 2 left; the not-ready-only subset is gone
    assert [(len(s.get("addresses") or ()), len(s.get("notReadyAddresses") or ())) for s in subsets] == \
        [(8, 0), (2, 0)]
    assert not truncate_subsets([{"addresses": many("10.0.0", 3)}], capacity=3)


# ------------------------------------------------------ create/update/delete
def test_writes_only_when_something_changed_and_deletes_with_the_service():
    a, b = pod("a", "10.0.0.1"), pod("b", "10.0.0.2")
    c, api = controller([svc(labels={"team": "x"})], [a, b])
    run(c.sync("ns/web"))
    current = dict(written(api), metadata=dict(written(api)["metadata"], resourceVersion="7"))
    c.endpoints.add(current)
    api.actions.clear()
    run(c.sync("ns/web"))
    assert api.actions == []  # the same: no write
    c.pods.add(pod("b", "10.0.0.2", ready=False, ready_at=NOW - 5))
    run(c.sync("ns/web"))
    (update,) = api.verbs("update")
    ep = update[3]
    assert ep["metadata"]["resourceVersion"] == "7"  # compare-and-swap on what it read
    assert ep["subsets"][0]["notReadyAddresses"] == [addr(pod("b", "10.0.0.2"))]
    assert ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] == format_time(NOW - 5)
    api.actions.clear()
    c.services.add(svc(labels={"team": "y"}))
    run(c.sync("ns/web"))
    assert api.verbs("update")[0][3]["metadata"]["labels"] == {"team": "y"}
    c.services.delete_key("ns/web")
    api.actions.clear()
    run(c.sync("ns/web"))
    assert api.actions == [("delete", "endpoints", "ns", "web")]


def test_selector_less_and_external_name_services_are_left_alone():
    user_made = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "ns"},
                 "subsets": [{"addresses": [{"ip": "192.168.0.1"}]}]}
    for s in (svc(selector={}), svc(type="ExternalName", externalName="example.com")):
        c, api = controller([s], [pod("a", "10.0.0.1")], [user_made])
        run(c.sync("ns/web"))
        assert api.actions == []


def test_a_deleted_endpoints_is_queued_to_be_written_again_and_leftovers_are_queued():
    gone = {"kind": "Endpoints", "metadata": {"name": "gone", "namespace": "ns"}}
    lock = {"kind": "Endpoints", "metadata": {"name": "lock", "namespace": "ns",
                                              "annotations": {"control-plane.alpha.kubernetes.io/leader": "{}"}}}
    c, _ = controller([svc()], [], [gone, lock])
    c.on_endpoints_delete({"metadata": {"name": "web", "namespace": "ns"}})
    c.on_synced()
    assert sorted(queued(c)) == ["ns/gone", "ns/web"]


# --------------------------------------------------------------- handlers
@pytest.mark.parametrize("change,expected", [
    (lambda p: p, set()),  # a resync (same resourceVersion)
    (lambda p: _bump(p, annotations={"note": "x"}), set()),  # nothing the endpoints show
    (lambda p: _bump(p, ready=False), {"ns/web", "ns/all"}),
    (lambda p: _bump(p, labels={"app": "db", "all": "yes"}), {"ns/web", "ns/db"}),  # left one, joined one
    (lambda p: _bump(p, labels={"app": "db", "all": "yes"}, ready=False), {"ns/web", "ns/db", "ns/all"}),
])
def test_pod_updates_queue_the_services_concerned(change, expected):
    services = [svc(), svc("db", selector={"app": "db"}), svc("all", selector={"all": "yes"}),
                svc("plain", selector={})]
    c, _ = controller(services, [])
    old = pod("a", "10.0.0.1", labels={"app": "web", "all": "yes"})
    assert services_to_update(c.services, old, change(old)) == expected
    c.on_pod_update(old, change(old))
    assert set(queued(c)) == expected


def test_pod_add_and_delete_queue_matching_services_only():
    c, _ = controller([svc(), svc("db", selector={"app": "db"}), svc("plain", selector={})], [])
    c.on_pod_add(pod("a"))
    assert queued(c) == ["ns/web"]


def _bump(p: dict, *, ready: bool | None = None, labels: dict | None = None, annotations: dict | None = None) -> dict:
    new = pod(p["metadata"]["name"], p["status"]["podIP"], ready=True if ready is None else ready,
              labels=labels or p["metadata"]["labels"], rv="6")
    if annotations:
        new["metadata"]["annotations"] = annotations
    return new
