"""The resource registry and the discovery documents kubectl reads (checked against upstream)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from kubeapi import registry
from kubeapi.registry import REGISTRY, by_kind, by_plural, resolve

NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
EXPECTED = {
    ("", "namespaces"), ("", "nodes"), ("", "pods"), ("", "services"), ("", "endpoints"),
    ("", "configmaps"), ("", "secrets"), ("", "serviceaccounts"), ("", "events"), ("", "bindings"),
    ("apps", "deployments"), ("apps", "replicasets"), ("apps", "daemonsets"), ("apps", "statefulsets"),
    ("discovery.k8s.io", "endpointslices"), ("coordination.k8s.io", "leases"),
    ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("batch", "jobs"), ("scheduling.k8s.io", "priorityclasses"),
}


def test_registry_has_exactly_the_resources_and_unique_identities() -> None:
    assert {(r.group, r.plural) for r in REGISTRY} == EXPECTED
    assert len({(r.group, r.version, r.kind) for r in REGISTRY}) == len(REGISTRY)


@pytest.mark.parametrize("name,plural,group", [
    ("pods", "pods", ""), ("pod", "pods", ""), ("po", "pods", ""), ("Pod", "pods", ""),
    ("svc", "services", ""), ("ns", "namespaces", ""), ("no", "nodes", ""), ("ep", "endpoints", ""),
    ("cm", "configmaps", ""), ("sa", "serviceaccounts", ""), ("ev", "events", ""),
    ("deploy", "deployments", "apps"), ("deployments.apps", "deployments", "apps"),
    ("deployment.v1.apps", "deployments", "apps"), ("rs", "replicasets", "apps"), ("ds", "daemonsets", "apps"),
    ("sts", "statefulsets", "apps"), ("statefulset", "statefulsets", "apps"), ("job", "jobs", "batch"),
    ("leases.coordination.k8s.io", "leases", "coordination.k8s.io"),
    ("clusterrolebinding", "clusterrolebindings", "rbac.authorization.k8s.io"),
    ("endpointslice", "endpointslices", "discovery.k8s.io"),
    ("pc", "priorityclasses", "scheduling.k8s.io"), ("priorityclass", "priorityclasses", "scheduling.k8s.io"),
])
def test_resolve_kubectl_names(name: str, plural: str, group: str) -> None:
    r = resolve(name)
    assert (r.plural, r.group) == (plural, group)


@pytest.mark.parametrize("name", ["nope", "deployments.batch", "pods.apps", "deploy.v2.apps", ""])
def test_resolve_unknown_raises_clear_lookup_error(name: str) -> None:
    with pytest.raises(LookupError, match=f'the server doesn\'t have a resource type "{name}"'):
        resolve(name)


def test_by_plural_and_by_kind() -> None:
    assert by_plural("apps", "v1", "deployments").kind == "Deployment"
    assert by_kind("", "v1", "Pod").plural == "pods"
    assert by_kind("rbac.authorization.k8s.io", "v1", "ClusterRole").namespaced is False
    with pytest.raises(LookupError, match='"deployments" in v1'):
        by_plural("", "v1", "deployments")
    with pytest.raises(LookupError, match='no matches for kind "Deployment" in version "apps/v2"'):
        by_kind("apps", "v2", "Deployment")


def test_group_version_and_group_resource() -> None:
    assert by_plural("", "v1", "pods").group_version == "v1"
    assert by_plural("apps", "v1", "deployments").group_version == "apps/v1"
    assert by_plural("apps", "v1", "deployments").group_resource == "deployments.apps"
    assert by_plural("", "v1", "pods").group_resource == "pods"


@pytest.mark.parametrize("group,plural,prefix", [
    ("", "pods", "/registry/pods"), ("", "services", "/registry/services/specs"),
    ("", "endpoints", "/registry/services/endpoints"), ("", "nodes", "/registry/minions"),
    ("", "namespaces", "/registry/namespaces"), ("", "events", "/registry/events"),
    ("coordination.k8s.io", "leases", "/registry/leases"), ("apps", "deployments", "/registry/deployments"),
    ("rbac.authorization.k8s.io", "clusterroles", "/registry/clusterroles"),
    ("discovery.k8s.io", "endpointslices", "/registry/endpointslices"),
])
def test_storage_prefixes(group: str, plural: str, prefix: str) -> None:
    assert by_plural(group, "v1", plural).storage_prefix == prefix


def test_keys() -> None:
    pods, nodes = by_plural("", "v1", "pods"), by_plural("", "v1", "nodes")
    assert pods.key("default", "web") == "/registry/pods/default/web"
    assert nodes.key(None, "n1") == "/registry/minions/n1"
    assert by_plural("", "v1", "services").key("kube-system", "dns") == "/registry/services/specs/kube-system/dns"
    assert pods.list_prefix("default") == "/registry/pods/default/"
    assert pods.list_prefix(None) == "/registry/pods/"
    with pytest.raises(ValueError, match="namespace is required"):
        pods.key("", "web")
    with pytest.raises(ValueError, match="cluster-scoped"):
        nodes.key("default", "n1")
    with pytest.raises(ValueError, match="name is required"):
        pods.key("default", "")


def _names(plural: str, group: str = "", wide: bool = True) -> list[tuple[str, int]]:
    r = by_plural(group, "v1", plural)
    return [(c.name.upper(), c.priority) for c in r.table_columns(wide)]


def test_upstream_column_lists() -> None:
    assert _names("pods") == [("NAME", 0), ("READY", 0), ("STATUS", 0), ("RESTARTS", 0), ("AGE", 0),
                              ("IP", 1), ("NODE", 1), ("NOMINATED NODE", 1), ("READINESS GATES", 1)]
    assert _names("deployments", "apps") == [("NAME", 0), ("READY", 0), ("UP-TO-DATE", 0), ("AVAILABLE", 0),
                                             ("AGE", 0), ("CONTAINERS", 1), ("IMAGES", 1), ("SELECTOR", 1)]
    assert _names("nodes") == [("NAME", 0), ("STATUS", 0), ("ROLES", 0), ("AGE", 0), ("VERSION", 0),
                               ("INTERNAL-IP", 1), ("EXTERNAL-IP", 1), ("OS-IMAGE", 1), ("KERNEL-VERSION", 1),
                               ("CONTAINER-RUNTIME", 1)]
    assert _names("services") == [("NAME", 0), ("TYPE", 0), ("CLUSTER-IP", 0), ("EXTERNAL-IP", 0),
                                  ("PORT(S)", 0), ("AGE", 0), ("SELECTOR", 1)]
    assert [n for n, _ in _names("pods", wide=False)] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


# Upstream prints LAST SEEN for events and CREATED AT for roles instead of an AGE.
NO_AGE = {"events": "Last Seen", "roles": "Created At", "clusterroles": "Created At"}


@pytest.mark.parametrize("r", REGISTRY, ids=lambda r: r.plural)
def test_every_resource_has_name_and_age_columns(r: registry.Resource) -> None:
    names = [c.name for c in r.columns]
    assert "Name" in names
    assert NO_AGE.get(r.plural, "Age") in names
    name_col = next(c for c in r.columns if c.name == "Name")
    assert name_col.format == "name"
    assert all(set(c.definition()) == {"name", "type", "format", "description", "priority"} for c in r.columns)


def test_cells_format_like_kubectl() -> None:
    pod = {"metadata": {"name": "web", "creationTimestamp": "2024-01-01T11:55:00Z"},
           "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
           "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
               {"name": "a", "ready": True, "restartCount": 2, "state": {"running": {}},
                "lastState": {"terminated": {"finishedAt": "2024-01-01T11:57:00Z"}}},
               {"name": "b", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
           ]}}
    cells = [c.cell(pod, NOW) for c in by_plural("", "v1", "pods").columns]
    assert cells == ["web", "1/2", "CrashLoopBackOff", "2 (3m ago)", "5m", "10.0.0.5", "n1", "<none>", "<none>"]
    svc = {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "clusterIP": "10.96.0.9",
           "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}], "selector": {"app": "web"}}}
    cells = [c.cell(svc, NOW) for c in by_plural("", "v1", "services").columns]
    assert cells == ["s", "NodePort", "10.96.0.9", "<none>", "80:30080/TCP", "<unknown>", "app=web"]


@pytest.mark.parametrize("seconds,text", [
    (-5, "<invalid>"), (0, "0s"), (119, "119s"), (300, "5m"), (301, "5m1s"), (3600, "60m"),
    (3 * 3600 + 60, "3h1m"), (10 * 3600, "10h"), (3 * 86400 + 3600, "3d1h"), (30 * 86400, "30d"),
    (3 * 365 * 86400 + 86400, "3y1d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert registry.human_duration(seconds) == text


POD_DISCOVERY = {
    "resource": "pods",
    "responseKind": {"group": "", "version": "", "kind": "Pod"},
    "scope": "Namespaced",
    "singularResource": "pod",
    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    "shortNames": ["po"],
    "categories": ["all"],
    "subresources": [
        {"subresource": "attach", "responseKind": {"group": "", "version": "", "kind": "PodAttachOptions"},
         "verbs": ["create", "get"]},
        {"subresource": "binding", "responseKind": {"group": "", "version": "", "kind": "Binding"},
         "verbs": ["create"]},
        {"subresource": "ephemeralcontainers", "responseKind": {"group": "", "version": "", "kind": "Pod"},
         "verbs": ["get", "patch", "update"]},
        {"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
         "verbs": ["create"]},
        {"subresource": "exec", "responseKind": {"group": "", "version": "", "kind": "PodExecOptions"},
         "verbs": ["create", "get"]},
        {"subresource": "log", "responseKind": {"group": "", "version": "", "kind": "Pod"}, "verbs": ["get"]},
        {"subresource": "portforward", "responseKind": {"group": "", "version": "", "kind": "PodPortForwardOptions"},
         "verbs": ["create", "get"]},
        {"subresource": "proxy", "responseKind": {"group": "", "version": "", "kind": "PodProxyOptions"},
         "verbs": ["create", "delete", "get", "patch", "update"]},
        {"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Pod"},
         "verbs": ["get", "patch", "update"]},
    ],
}


def test_aggregated_discovery_core() -> None:
    doc = registry.aggregated_discovery("api")
    assert (doc["kind"], doc["apiVersion"], doc["metadata"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2", {})
    [item] = doc["items"]
    assert item["metadata"] == {"name": ""}
    [v1] = item["versions"]
    assert (v1["version"], v1["freshness"]) == ("v1", "Current")
    resources = {r["resource"]: r for r in v1["resources"]}
    assert resources["pods"] == POD_DISCOVERY
    assert resources["nodes"]["scope"] == "Cluster" and "categories" not in resources["nodes"]
    assert "shortNames" not in resources["secrets"] and "subresources" not in resources["secrets"]
    assert resources["namespaces"]["verbs"] == ["create", "delete", "get", "list", "patch", "update", "watch"]
    assert resources["bindings"]["verbs"] == ["create"]
    json.dumps(doc)  # serialisable as is
    assert registry.AGGREGATED_DISCOVERY_CONTENT_TYPE == \
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def test_aggregated_discovery_apps_group() -> None:
    doc = registry.aggregated_discovery("apis")
    names = [i["metadata"]["name"] for i in doc["items"]]
    assert names == ["apps", "batch", "rbac.authorization.k8s.io", "scheduling.k8s.io", "coordination.k8s.io",
                     "discovery.k8s.io"]
    apps = doc["items"][0]
    status = {"get", "patch", "update"}
    assert [r["resource"] for r in apps["versions"][0]["resources"]] == \
        ["daemonsets", "deployments", "replicasets", "statefulsets"]
    deploy = apps["versions"][0]["resources"][1]
    assert deploy == {
        "resource": "deployments",
        "responseKind": {"group": "", "version": "", "kind": "Deployment"},
        "scope": "Namespaced",
        "singularResource": "deployment",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["deploy"],
        "categories": ["all"],
        "subresources": [
            {"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
             "verbs": ["get", "patch", "update"]},
            {"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Deployment"},
             "verbs": ["get", "patch", "update"]},
        ],
    }
    assert set(apps["versions"][0]["resources"][0]["subresources"][0]["verbs"]) == status  # daemonsets/status
    assert apps["versions"][0]["freshness"] == "Current"
    with pytest.raises(ValueError):
        registry.aggregated_discovery("apiz")


def test_legacy_api_versions_and_group_list() -> None:
    assert registry.api_versions("10.0.0.1:6443") == {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]}
    doc = registry.api_group_list()
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupList", "v1")
    apps = next(g for g in doc["groups"] if g["name"] == "apps")
    assert apps == {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}


def test_every_group_version_is_discoverable() -> None:
    listed = {v["groupVersion"] for g in registry.api_group_list()["groups"] for v in g["versions"]}
    core = set(registry.api_versions()["versions"])
    for r in REGISTRY:
        assert r.group_version in (core if not r.group else listed), r.group_version
        rows = registry.api_resource_list(r.group, r.version)["resources"]
        assert r.plural in {row["name"] for row in rows}


def test_api_resource_list_core() -> None:
    doc = registry.api_resource_list("", "v1")
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == "v1" and "apiVersion" not in doc
    rows = {row["name"]: row for row in doc["resources"]}
    assert rows["pods"] == {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                                      "watch"], "shortNames": ["po"], "categories": ["all"]}
    assert rows["pods/log"] == {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
                                "verbs": ["get"]}
    assert rows["pods/eviction"] == {"name": "pods/eviction", "singularName": "", "namespaced": True,
                                     "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}
    assert rows["serviceaccounts/token"]["group"] == "authentication.k8s.io"
    assert rows["bindings"]["verbs"] == ["create"]
    assert rows["nodes/status"]["namespaced"] is False
    names = [row["name"] for row in doc["resources"]]
    assert names == sorted(names)  # upstream sorts resource paths


def test_api_resource_list_apps_scale() -> None:
    doc = registry.api_resource_list("apps", "v1")
    assert (doc["apiVersion"], doc["groupVersion"]) == ("v1", "apps/v1")
    rows = {row["name"]: row for row in doc["resources"]}
    assert rows["deployments/scale"] == {"name": "deployments/scale", "singularName": "", "namespaced": True,
                                         "group": "autoscaling", "version": "v1", "kind": "Scale",
                                         "verbs": ["get", "patch", "update"]}
    assert "group" not in rows["deployments/status"]
    assert {"replicasets/scale", "statefulsets/scale"} <= rows.keys() and "daemonsets/scale" not in rows
    with pytest.raises(LookupError):
        registry.api_resource_list("apps", "v2")


def test_all_category_on_exactly_upstream_set() -> None:
    in_all = {r.plural for r in REGISTRY if "all" in r.categories}
    assert in_all == {"pods", "services", "deployments", "replicasets", "daemonsets", "statefulsets", "jobs"}


def test_subresource_lookup() -> None:
    pods = by_plural("", "v1", "pods")
    assert pods.subresource("exec").verbs == ("create", "get")
    with pytest.raises(LookupError, match="pods/nope"):
        pods.subresource("nope")
