"""Defaulting and validation of apps/batch/coordination/discovery/rbac objects: upstream's defaults,
paths, reasons and messages."""
from __future__ import annotations

import copy
from typing import Any

import pytest

import kubeapi.validation  # noqa: F401  (registers the workload defaulters/validators)
from kubeapi.defaults import DEFAULTERS, apply_defaults
from kubeapi.field import ErrorType
from kubeapi.models import apps, batch, coordination, discovery, rbac
from kubeapi.validation import VALIDATORS, validate
from kubeapi.validation_apps import PERCENT_MSG

MODELS = {"Deployment": apps.Deployment, "ReplicaSet": apps.ReplicaSet, "DaemonSet": apps.DaemonSet,
          "StatefulSet": apps.StatefulSet, "Job": batch.Job, "Lease": coordination.Lease,
          "EndpointSlice": discovery.EndpointSlice, "Role": rbac.Role, "ClusterRole": rbac.ClusterRole,
          "RoleBinding": rbac.RoleBinding, "ClusterRoleBinding": rbac.ClusterRoleBinding}

NONNEG = "must be greater than or equal to 0"
MISMATCH = "`selector` does not match template `labels`"


def parse(kind: str, data: dict[str, Any]) -> Any:
    obj = MODELS[kind].from_json(data)
    apply_defaults(kind, obj)
    return obj


def template(restart: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "nginx", "image": "nginx:1.25",
                                            "ports": [{"containerPort": 80}]}]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": {"app": "web"} if labels is None else labels}, "spec": spec}


def workload(kind: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}, "template": template()}
    if kind == "StatefulSet":
        base["serviceName"] = "web"
    base.update(spec)
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": base}


def job(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}, "template": template("Never")}
    base.update(spec)
    return {"metadata": {"name": "pi", "namespace": "default"}, "spec": base}


def set_path(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    keys = dotted.split(".")
    cur = data
    for k in keys[:-1]:
        cur = cur.setdefault(k, {})
    cur[keys[-1]] = value
    return data


def errors(kind: str, data: dict[str, Any]) -> list[tuple[str, ErrorType, str]]:
    return [(e.field, e.type, e.error()) for e in validate(kind, parse(kind, data))]


def test_registration_on_import() -> None:
    for kind in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "EndpointSlice",
                 "RoleBinding", "ClusterRoleBinding"):
        assert kind in DEFAULTERS
    for kind in MODELS:
        assert kind in VALIDATORS


# --------------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------------

DEFAULT_CASES = [
    ("Deployment", workload("Deployment"), "spec.replicas", 1),
    ("Deployment", workload("Deployment"), "spec.strategy",
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    ("Deployment", workload("Deployment", strategy={"type": "Recreate"}), "spec.strategy", {"type": "Recreate"}),
    ("Deployment", workload("Deployment", strategy={"rollingUpdate": {"maxSurge": 2}}), "spec.strategy",
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2}}),
    ("Deployment", workload("Deployment"), "spec.revisionHistoryLimit", 10),
    ("Deployment", workload("Deployment"), "spec.progressDeadlineSeconds", 600),
    ("Deployment", workload("Deployment", replicas=0), "spec.replicas", 0),
    ("Deployment", workload("Deployment"), "spec.template.spec.restartPolicy", "Always"),
    ("Deployment", workload("Deployment"), "spec.template.spec.dnsPolicy", "ClusterFirst"),
    ("Deployment", workload("Deployment"), "spec.template.spec.containers.0.imagePullPolicy", "IfNotPresent"),
    ("Deployment", workload("Deployment"), "spec.template.spec.containers.0.ports.0.protocol", "TCP"),
    ("ReplicaSet", workload("ReplicaSet"), "spec.replicas", 1),
    ("ReplicaSet", workload("ReplicaSet"), "spec.template.spec.terminationGracePeriodSeconds", 30),
    ("DaemonSet", workload("DaemonSet"), "spec.updateStrategy",
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    ("DaemonSet", workload("DaemonSet", updateStrategy={"type": "OnDelete"}), "spec.updateStrategy",
     {"type": "OnDelete"}),
    ("DaemonSet", workload("DaemonSet"), "spec.revisionHistoryLimit", 10),
    ("StatefulSet", workload("StatefulSet"), "spec.replicas", 1),
    ("StatefulSet", workload("StatefulSet"), "spec.podManagementPolicy", "OrderedReady"),
    ("StatefulSet", workload("StatefulSet"), "spec.updateStrategy",
     {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    ("StatefulSet", workload("StatefulSet"), "spec.revisionHistoryLimit", 10),
    ("StatefulSet", workload("StatefulSet"), "spec.persistentVolumeClaimRetentionPolicy",
     {"whenDeleted": "Retain", "whenScaled": "Retain"}),
    ("Job", job(), "spec.parallelism", 1),
    ("Job", job(), "spec.completions", 1),
    ("Job", job(parallelism=3), "spec.completions", None),
    ("Job", job(completions=5), "spec.parallelism", 1),
    ("Job", job(), "spec.backoffLimit", 6),
    ("Job", job(completionMode="Indexed", completions=2, backoffLimitPerIndex=1), "spec.backoffLimit", 2**31 - 1),
    ("Job", job(), "spec.completionMode", "NonIndexed"),
    ("Job", job(), "spec.suspend", False),
    ("Job", job(), "spec.manualSelector", None),
    ("Job", job(), "spec.podReplacementPolicy", "TerminatingOrFailed"),
    ("Job", job(), "metadata.labels", {"app": "web"}),
    ("Job", job(template=template()), "spec.template.spec.restartPolicy", "Always"),
    ("EndpointSlice", {"metadata": {"name": "s", "namespace": "d"}, "addressType": "IPv4", "endpoints": [],
                       "ports": [{"port": 80}]}, "ports", [{"name": "", "protocol": "TCP", "port": 80}]),
    ("RoleBinding", {"metadata": {"name": "b", "namespace": "d"}, "roleRef": {"apiGroup": "", "kind": "Role", "name": "r"},
                     "subjects": [{"kind": "User", "name": "alice"}]}, "roleRef",
     {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}),
    ("RoleBinding", {"metadata": {"name": "b", "namespace": "d"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                     "subjects": [{"kind": "Group", "name": "devs"}]}, "subjects.0.apiGroup",
     "rbac.authorization.k8s.io"),
]


def _get(data: Any, dotted: str) -> Any:
    for k in dotted.split("."):
        if data is None:
            return None
        data = data[int(k)] if isinstance(data, list) else data.get(k)
    return data


@pytest.mark.parametrize(("kind", "data", "path", "expected"), DEFAULT_CASES,
                         ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(DEFAULT_CASES)])
def test_defaults(kind: str, data: dict[str, Any], path: str, expected: Any) -> None:
    assert _get(parse(kind, data).to_json(), path) == expected


def test_defaults_need_validation_import_only() -> None:
    # apply_defaults is what the API server calls; the registration came from importing kubeapi.validation.
    d = apps.Deployment.from_json(workload("Deployment"))
    assert d.spec.replicas is None
    apply_defaults("Deployment", d)
    assert d.spec.replicas == 1


# --------------------------------------------------------------------------------------------
# Valid objects
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"])
def test_valid_workloads(kind: str) -> None:
    assert errors(kind, workload(kind)) == []


def test_valid_job() -> None:
    assert errors("Job", job()) == []
    assert errors("Job", job(completionMode="Indexed", completions=3, parallelism=3)) == []


def test_valid_statefulset_claim_template_mount() -> None:
    data = workload("StatefulSet", volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {}}])
    data["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/d"}]
    assert errors("StatefulSet", data) == []
    data["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["name"] = "other"
    assert [e[0] for e in errors("StatefulSet", data)] == \
        ["spec.template.spec.containers[0].volumeMounts[0].name"]


# --------------------------------------------------------------------------------------------
# Invalid workloads
# --------------------------------------------------------------------------------------------

D = "Deployment"
BAD_CASES: list[tuple[str, dict[str, Any], str, ErrorType, str]] = [
    (D, workload(D, selector={}), "spec.selector", ErrorType.INVALID,
     "spec.selector: Invalid value: {}: empty selector is invalid for deployment"),
    (D, workload(D, selector={"matchLabels": {"app": "other"}}), "spec.template.metadata.labels",
     ErrorType.INVALID, 'spec.template.metadata.labels: Invalid value: {"app":"web"}: ' + MISMATCH),
    (D, workload(D, selector={"matchExpressions": [{"key": "app", "operator": "Bogus", "values": ["x"]}]}),
     "spec.selector.matchExpressions[0].operator", ErrorType.INVALID,
     'spec.selector.matchExpressions[0].operator: Invalid value: "Bogus": not a valid selector operator'),
    (D, workload(D, selector={"matchExpressions": [{"key": "app", "operator": "In"}]}),
     "spec.selector.matchExpressions[0].values", ErrorType.REQUIRED,
     "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is "
     "'In' or 'NotIn'"),
    (D, workload(D, replicas=-1), "spec.replicas", ErrorType.INVALID,
     f"spec.replicas: Invalid value: -1: {NONNEG}"),
    (D, workload(D, strategy={"type": "Bogus"}), "spec.strategy", ErrorType.NOT_SUPPORTED,
     'spec.strategy: Unsupported value: {"type":"Bogus"}: supported values: "Recreate", "RollingUpdate"'),
    (D, workload(D, strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}),
     "spec.strategy.rollingUpdate", ErrorType.FORBIDDEN,
     "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"),
    (D, workload(D, strategy={"rollingUpdate": {"maxUnavailable": "abc"}}),
     "spec.strategy.rollingUpdate.maxUnavailable", ErrorType.INVALID,
     f'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "abc": {PERCENT_MSG}'),
    (D, workload(D, strategy={"rollingUpdate": {"maxSurge": -2}}),
     "spec.strategy.rollingUpdate.maxSurge", ErrorType.INVALID,
     f"spec.strategy.rollingUpdate.maxSurge: Invalid value: -2: {NONNEG}"),
    (D, workload(D, strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}),
     "spec.strategy.rollingUpdate.maxUnavailable", ErrorType.INVALID,
     'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0'),
    (D, workload(D, strategy={"rollingUpdate": {"maxUnavailable": "101%"}}),
     "spec.strategy.rollingUpdate.maxUnavailable", ErrorType.INVALID,
     'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "101%": must not be greater than 100%'),
    (D, workload(D, revisionHistoryLimit=-1), "spec.revisionHistoryLimit", ErrorType.INVALID,
     f"spec.revisionHistoryLimit: Invalid value: -1: {NONNEG}"),
    (D, workload(D, minReadySeconds=600), "spec.progressDeadlineSeconds", ErrorType.INVALID,
     "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"),
    (D, workload(D, template=template("Never")), "spec.template.spec.restartPolicy", ErrorType.NOT_SUPPORTED,
     'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'),
    (D, set_path(workload(D), "spec.template.spec.containers", []), "spec.template.spec.containers",
     ErrorType.REQUIRED, "spec.template.spec.containers: Required value"),
    (D, set_path(workload(D), "metadata.name", "Bad_Name"), "metadata.name", ErrorType.INVALID, ""),
    ("ReplicaSet", workload("ReplicaSet", selector={}), "spec.selector", ErrorType.INVALID,
     "spec.selector: Invalid value: {}: empty selector is invalid for deployment"),
    ("ReplicaSet", workload("ReplicaSet", replicas=-3), "spec.replicas", ErrorType.INVALID,
     f"spec.replicas: Invalid value: -3: {NONNEG}"),
    ("ReplicaSet", workload("ReplicaSet", template=template("OnFailure")), "spec.template.spec.restartPolicy",
     ErrorType.NOT_SUPPORTED,
     'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"'),
    ("ReplicaSet", workload("ReplicaSet", selector={"matchLabels": {"app": "x"}}),
     "spec.template.metadata.labels", ErrorType.INVALID,
     'spec.template.metadata.labels: Invalid value: {"app":"web"}: ' + MISMATCH),
    ("DaemonSet", workload("DaemonSet", selector={}), "spec.selector", ErrorType.INVALID,
     "spec.selector: Invalid value: {}: empty selector is invalid for daemonset"),
    ("DaemonSet", workload("DaemonSet", updateStrategy={"rollingUpdate": {"maxUnavailable": 0}}),
     "spec.updateStrategy.rollingUpdate.maxUnavailable", ErrorType.REQUIRED,
     "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"),
    ("DaemonSet", workload("DaemonSet", updateStrategy={"rollingUpdate": {"maxSurge": 1}}),
     "spec.updateStrategy.rollingUpdate.maxSurge", ErrorType.INVALID,
     "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero"),
    ("DaemonSet", workload("DaemonSet", updateStrategy={"type": "Bogus"}), "spec.updateStrategy",
     ErrorType.NOT_SUPPORTED,
     'spec.updateStrategy: Unsupported value: {"type":"Bogus"}: supported values: "RollingUpdate", "OnDelete"'),
    ("DaemonSet", workload("DaemonSet", template=template("Never")), "spec.template.spec.restartPolicy",
     ErrorType.NOT_SUPPORTED,
     'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'),
    ("StatefulSet", workload("StatefulSet", selector={}), "spec.selector", ErrorType.INVALID,
     "spec.selector: Invalid value: {}: empty selector is invalid for statefulset"),
    ("StatefulSet", workload("StatefulSet", podManagementPolicy="Random"), "spec.podManagementPolicy",
     ErrorType.INVALID, "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"),
    ("StatefulSet", workload("StatefulSet", updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 1}}),
     "spec.updateStrategy.rollingUpdate", ErrorType.INVALID,
     "spec.updateStrategy.rollingUpdate: Invalid value: {\"partition\":1}: only allowed for updateStrategy "
     "'RollingUpdate'"),
    ("StatefulSet", workload("StatefulSet", updateStrategy={"rollingUpdate": {"partition": -1}}),
     "spec.updateStrategy.rollingUpdate.partition", ErrorType.INVALID,
     f"spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: {NONNEG}"),
    ("StatefulSet", workload("StatefulSet", serviceName="Web_Svc"), "spec.serviceName", ErrorType.INVALID, ""),
    ("StatefulSet", workload("StatefulSet", persistentVolumeClaimRetentionPolicy={"whenDeleted": "Keep"}),
     "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", ErrorType.NOT_SUPPORTED,
     'spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "Keep": supported values: '
     '"Retain", "Delete"'),
    ("StatefulSet", workload("StatefulSet", template=template("Never")), "spec.template.spec.restartPolicy",
     ErrorType.NOT_SUPPORTED,
     'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'),
    # Jobs
    ("Job", job(template=template()), "spec.template.spec.restartPolicy", ErrorType.REQUIRED,
     'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'),
    ("Job", job(parallelism=-1), "spec.parallelism", ErrorType.INVALID,
     f"spec.parallelism: Invalid value: -1: {NONNEG}"),
    ("Job", job(completions=-1), "spec.completions", ErrorType.INVALID,
     f"spec.completions: Invalid value: -1: {NONNEG}"),
    ("Job", job(backoffLimit=-1), "spec.backoffLimit", ErrorType.INVALID,
     f"spec.backoffLimit: Invalid value: -1: {NONNEG}"),
    ("Job", job(activeDeadlineSeconds=-5), "spec.activeDeadlineSeconds", ErrorType.INVALID,
     f"spec.activeDeadlineSeconds: Invalid value: -5: {NONNEG}"),
    ("Job", job(completionMode="Sometimes"), "spec.completionMode", ErrorType.NOT_SUPPORTED,
     'spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"'),
    ("Job", job(completionMode="Indexed", parallelism=2), "spec.completions", ErrorType.REQUIRED,
     "spec.completions: Required value: when completion mode is Indexed"),
    ("Job", job(podReplacementPolicy="Sometimes"), "spec.podReplacementPolicy", ErrorType.NOT_SUPPORTED,
     'spec.podReplacementPolicy: Unsupported value: "Sometimes": supported values: "Failed", '
     '"TerminatingOrFailed"'),
    ("Job", job(selector={"matchLabels": {"app": "x"}}), "spec.template.metadata.labels", ErrorType.INVALID,
     'spec.template.metadata.labels: Invalid value: {"app":"web"}: ' + MISMATCH),
    ("Job", job(selector={}), "spec.selector", ErrorType.REQUIRED, "spec.selector: Required value"),
    ("Job", set_path(job(), "spec.template.spec.containers", []), "spec.template.spec.containers",
     ErrorType.REQUIRED, "spec.template.spec.containers: Required value"),
]


@pytest.mark.parametrize(("kind", "data", "path", "etype", "message"), BAD_CASES,
                         ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(BAD_CASES)])
def test_invalid(kind: str, data: dict[str, Any], path: str, etype: ErrorType, message: str) -> None:
    errs = errors(kind, data)
    hits = [e for e in errs if e[0] == path and e[1] is etype]
    assert hits, errs
    if message:
        assert message in [h[2] for h in hits], errs


def test_missing_selector_is_required() -> None:
    for kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        obj = parse(kind, workload(kind))
        obj.spec.selector = None
        errs = validate(kind, obj)
        assert "spec.selector: Required value" in errs.messages(), errs.messages()
    j = parse("Job", job())
    j.spec.selector = None
    assert "spec.selector: Required value" in validate("Job", j).messages()


def test_deployment_error_aggregate_is_exact() -> None:
    errs = validate(D, parse(D, workload(D, replicas=-1, revisionHistoryLimit=-2)))
    assert errs.aggregate() == (f"[spec.replicas: Invalid value: -1: {NONNEG}, "
                                f"spec.revisionHistoryLimit: Invalid value: -2: {NONNEG}]")


# --------------------------------------------------------------------------------------------
# Updates
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "DaemonSet"])
def test_selector_immutable(kind: str) -> None:
    old = parse(kind, workload(kind))
    same = parse(kind, workload(kind, replicas=5) if kind != "DaemonSet" else workload(kind, minReadySeconds=3))
    assert validate(kind, same, old) == []
    labels = {"app": "web", "tier": "fe"}
    new = parse(kind, workload(kind, selector={"matchLabels": labels}, template=template(labels=labels)))
    errs = validate(kind, new, old)
    assert [(e.field, e.type) for e in errs] == [("spec.selector", ErrorType.INVALID)]
    assert errs[0].error() == 'spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"fe"}}: ' \
                              "field is immutable"


def test_statefulset_update_forbidden_fields() -> None:
    old = parse("StatefulSet", workload("StatefulSet"))
    assert validate("StatefulSet", parse("StatefulSet", workload("StatefulSet", replicas=3)), old) == []
    new = parse("StatefulSet", workload("StatefulSet", serviceName="other"))
    errs = validate("StatefulSet", new, old)
    assert [(e.field, e.type) for e in errs] == [("spec", ErrorType.FORBIDDEN)]
    assert "updates to statefulset spec for fields other than 'replicas'" in errs[0].error()


def test_job_update_immutables() -> None:
    old = parse("Job", job())
    assert validate("Job", parse("Job", job()), old) == []
    new = parse("Job", job(selector={"matchLabels": {"app": "web", "x": "y"}},
                           template=template("Never", {"app": "web", "x": "y"})))
    fields = {e.field for e in validate("Job", new, old)}
    assert {"spec.selector", "spec.template"} <= fields
    new = parse("Job", job(completionMode="Indexed"))
    assert "spec.completionMode" in {e.field for e in validate("Job", new, old)}


# --------------------------------------------------------------------------------------------
# Lease, EndpointSlice
# --------------------------------------------------------------------------------------------

def lease(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "node-1", "namespace": "kube-node-lease"}, "spec": spec}


@pytest.mark.parametrize(("spec", "expected"), [
    ({"holderIdentity": "node-1", "leaseDurationSeconds": 40, "leaseTransitions": 0}, []),
    ({"leaseDurationSeconds": 0}, ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]),
    ({"leaseTransitions": -1}, [f"spec.leaseTransitions: Invalid value: -1: {NONNEG}"]),
    ({"preferredHolder": "a"}, ["spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"]),
])
def test_lease(spec: dict[str, Any], expected: list[str]) -> None:
    assert validate("Lease", parse("Lease", lease(**spec))).messages() == expected


def slice_json(address_type: str = "IPv4", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"metadata": {"name": "web-abc", "namespace": "default"}, "addressType": address_type,
                            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}],
                            "ports": [{"name": "http", "port": 80}]}
    data.update(extra)
    return data


@pytest.mark.parametrize(("data", "expected"), [
    (slice_json(), []),
    (slice_json("IPv5"), ['addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"']),
    (slice_json(endpoints=[{"addresses": ["10.0.0.1"]}] * 1001),
     ["endpoints: Too many: 1001: must have at most 1000 items"]),
    (slice_json(endpoints=[{"addresses": []}]),
     ["endpoints[0].addresses: Required value: must contain at least 1 address"]),
    (slice_json(endpoints=[{"addresses": ["fe80::1"]}]),
     ['endpoints[0].addresses[0]: Invalid value: "fe80::1": must be a valid IPv4 address']),
    (slice_json(ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}]),
     ['ports[1].name: Duplicate value: "http"']),
    (slice_json(ports=[{"name": "http", "port": 80, "protocol": "ICMP"}]),
     ['ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"']),
    (slice_json(ports=[{"name": "http", "port": 70000}]),
     ["ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"]),
])
def test_endpoint_slice(data: dict[str, Any], expected: list[str]) -> None:
    assert validate("EndpointSlice", parse("EndpointSlice", data)).messages() == expected


def test_endpoint_slice_address_type_immutable() -> None:
    old = parse("EndpointSlice", slice_json())
    new = parse("EndpointSlice", slice_json("IPv6", endpoints=[{"addresses": ["fd00::1"]}]))
    assert validate("EndpointSlice", new, old).messages() == ['addressType: Invalid value: "IPv6": field is immutable']


# --------------------------------------------------------------------------------------------
# RBAC
# --------------------------------------------------------------------------------------------

def role(*rules: dict[str, Any], cluster: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "system:reader"}
    if not cluster:
        meta["namespace"] = "default"
    return {"metadata": meta, "rules": list(rules)}


@pytest.mark.parametrize(("kind", "data", "expected"), [
    ("Role", role({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}), []),
    ("Role", role({"verbs": [], "apiGroups": [""], "resources": ["pods"]}),
     ["rules[0].verbs: Required value: verbs must contain at least one value"]),
    ("Role", role({"verbs": ["get"]}),
     ["rules[0].apiGroups: Required value: resource rules must supply at least one api group",
      "rules[0].resources: Required value: resource rules must supply at least one resource"]),
    ("Role", role({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}),
     ['rules[0].nonResourceURLs: Invalid value: ["/healthz"]: namespaced rules cannot apply to non-resource URLs']),
    ("ClusterRole", role({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, cluster=True), []),
    ("ClusterRole", role({"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]}, cluster=True),
     ['rules[0].nonResourceURLs: Invalid value: ["/x"]: rules cannot apply to both regular resources and '
      "non-resource URLs"]),
])
def test_roles(kind: str, data: dict[str, Any], expected: list[str]) -> None:
    assert validate(kind, parse(kind, data)).messages() == expected


def binding(ref_kind: str = "Role", subjects: list[dict[str, Any]] | None = None, cluster: bool = False,
            api_group: str = "rbac.authorization.k8s.io") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "b"}
    if not cluster:
        meta["namespace"] = "default"
    ref: dict[str, Any] = {"apiGroup": api_group, "kind": ref_kind, "name": "reader"}
    return {"metadata": meta, "roleRef": ref,
            "subjects": subjects if subjects is not None else [{"kind": "ServiceAccount", "name": "default"}]}


@pytest.mark.parametrize(("kind", "data", "expected"), [
    ("RoleBinding", binding(), []),
    ("RoleBinding", binding("ClusterRole"), []),
    ("RoleBinding", binding("Pod"), ['roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole"']),
    ("RoleBinding", binding(api_group="example.com"),
     ['roleRef.apiGroup: Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"']),
    ("RoleBinding", binding(subjects=[{"kind": "Robot", "name": "r2"}]),
     ['subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"']),
    ("RoleBinding", binding(subjects=[{"kind": "User", "name": "a", "apiGroup": "x"}]),
     ['subjects[0].apiGroup: Unsupported value: "x": supported values: "rbac.authorization.k8s.io"']),
    ("ClusterRoleBinding", binding("ClusterRole", cluster=True), ["subjects[0].namespace: Required value"]),
    ("ClusterRoleBinding",
     binding("ClusterRole", [{"kind": "ServiceAccount", "name": "d", "namespace": "kube-system"}], cluster=True), []),
    ("ClusterRoleBinding", binding("Role", [], cluster=True),
     ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"']),
])
def test_bindings(kind: str, data: dict[str, Any], expected: list[str]) -> None:
    assert validate(kind, parse(kind, data)).messages() == expected


def test_role_ref_immutable() -> None:
    old = parse("RoleBinding", binding())
    assert validate("RoleBinding", parse("RoleBinding", binding()), old) == []
    errs = validate("RoleBinding", parse("RoleBinding", binding("ClusterRole")), old)
    assert [(e.field, e.type, e.detail) for e in errs] == [("roleRef", ErrorType.INVALID, "cannot change roleRef")]
