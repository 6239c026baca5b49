"""Defaulting and validation of core/v1 objects: upstream's defaults, paths, reasons and messages."""
from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from kubeapi import validation
from kubeapi.defaults import DEFAULTERS, apply_defaults, image_pull_policy_for
from kubeapi.field import ErrorType
from kubeapi.models import ConfigMap, Endpoints, Event, Namespace, Node, Pod, Secret, Service, ServiceAccount
from kubeapi.validation import VALIDATORS, validate

MODELS = {"Pod": Pod, "Service": Service, "Namespace": Namespace, "ConfigMap": ConfigMap, "Secret": Secret,
          "Node": Node, "ServiceAccount": ServiceAccount, "Endpoints": Endpoints, "Event": Event}

PORT_RANGE = "must be between 1 and 65535, inclusive"
PROTOCOLS = 'supported values: "SCTP", "TCP", "UDP"'
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                  "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def parse(kind: str, data: dict[str, Any]) -> Any:
    obj = MODELS[kind].from_json(data)
    apply_defaults(kind, obj)
    return obj


def pod_json(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "web-config"}}],
            "containers": [{
                "name": "nginx", "image": "nginx:1.25",
                "ports": [{"name": "http", "containerPort": 80}],
                "env": [{"name": "MODE", "value": "prod"}],
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                              "limits": {"cpu": "500m", "memory": "128Mi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
            }],
        },
    }
    base["spec"].update(spec)
    return base


def svc_json(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    base["spec"].update(spec)
    return base


def ctr(**fields: Any) -> dict[str, Any]:
    return {"name": "c", "image": "busybox", **fields}


def only(errs: validation.ErrorList) -> tuple[str, ErrorType, str]:
    assert len(errs) == 1, errs.messages()
    e = errs[0]
    return e.field, e.type, e.error()


# --------------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("image, policy", [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.25", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ("registry:5000/nginx", "Always"),
    ("registry:5000/nginx:1.0", "IfNotPresent"),
])
def test_image_pull_policy_by_tag(image: str, policy: str) -> None:
    assert image_pull_policy_for(image) == policy
    pod = parse("Pod", {"metadata": {"name": "p"}, "spec": {"containers": [ctr(image=image)]}})
    assert pod.spec.containers[0].image_pull_policy == policy


def test_explicit_pull_policy_kept() -> None:
    pod = parse("Pod", {"spec": {"containers": [ctr(image="nginx", imagePullPolicy="Never")]}})
    assert pod.spec.containers[0].image_pull_policy == "Never"


def test_pod_defaults() -> None:
    pod = parse("Pod", pod_json(initContainers=[ctr(name="init", ports=[{"containerPort": 9}])]))
    spec = pod.to_json()["spec"]
    expected = {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler", "securityContext": {}, "enableServiceLinks": True,
                "serviceAccountName": "default", "priority": 0}
    assert {k: spec[k] for k in expected} == expected
    c = spec["containers"][0]
    assert (c["terminationMessagePath"], c["terminationMessagePolicy"]) == ("/dev/termination-log", "File")
    assert c["ports"][0]["protocol"] == "TCP"
    assert c["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                                   "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                                   "failureThreshold": 3}
    init = spec["initContainers"][0]
    assert (init["imagePullPolicy"], init["ports"][0]["protocol"]) == ("Always", "TCP")
    assert init["terminationMessagePolicy"] == "File"


def test_pod_defaults_keep_explicit_values_and_service_account_flag() -> None:
    pod = Pod.from_json(pod_json(restartPolicy="Never", terminationGracePeriodSeconds=0, enableServiceLinks=False))
    apply_defaults("Pod", pod, service_account=False)
    assert pod.spec.restart_policy == "Never"
    assert pod.spec.termination_grace_period_seconds == 0
    assert pod.spec.enable_service_links is False
    assert pod.spec.service_account_name is None


def test_requests_default_to_limits_per_resource() -> None:
    pod = parse("Pod", {"spec": {"containers": [
        ctr(resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m"}}),
        ctr(name="d", resources={"limits": {"cpu": "2"}}),
    ]}})
    assert pod.spec.containers[0].resources.requests == {"cpu": "100m", "memory": "1Gi"}
    assert pod.spec.containers[1].resources.requests == {"cpu": "2"}


def test_volume_defaults() -> None:
    pod = parse("Pod", pod_json(volumes=[
        {"name": "a", "secret": {"secretName": "s"}},
        {"name": "b", "configMap": {"name": "c"}},
        {"name": "c", "configMap": {"name": "c", "defaultMode": 256}},
        {"name": "d"},
    ]))
    vols = [v.to_json() for v in pod.spec.volumes]
    assert vols[0]["secret"]["defaultMode"] == 420
    assert vols[1]["configMap"]["defaultMode"] == 420
    assert vols[2]["configMap"]["defaultMode"] == 256
    assert vols[3] == {"name": "d", "emptyDir": {}}


@pytest.mark.parametrize("spec, expected", [
    ({"ports": [{"port": 80}], "selector": {"a": "b"}},
     {"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
      "ipFamilyPolicy": "SingleStack"}),
    ({"type": "NodePort", "ports": [{"port": 80}]},
     {"type": "NodePort", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"}),
    ({"type": "LoadBalancer", "ports": [{"port": 80}]},
     {"externalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": True}),
    ({"type": "ExternalName", "externalName": "example.com"},
     {"type": "ExternalName", "sessionAffinity": "None"}),
    ({"clusterIP": "None", "ports": [{"port": 80}]}, {"ipFamilyPolicy": "RequireDualStack"}),
    ({"sessionAffinity": "ClientIP", "ports": [{"port": 80}]},
     {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}}),
])
def test_service_defaults(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    out = parse("Service", {"metadata": {"name": "s"}, "spec": spec}).to_json()["spec"]
    assert {k: out.get(k) for k in expected} == expected


def test_service_defaults_external_name_has_no_policies() -> None:
    out = parse("Service", {"spec": {"type": "ExternalName", "externalName": "x.com"}}).to_json()["spec"]
    for key in ("ipFamilyPolicy", "internalTrafficPolicy", "externalTrafficPolicy"):
        assert key not in out


def test_service_port_defaults() -> None:
    svc = parse("Service", svc_json(ports=[{"port": 80}, {"name": "b", "port": 81, "targetPort": 8081}]))
    ports = [p.to_json() for p in svc.spec.ports]
    assert ports[0] == {"protocol": "TCP", "port": 80, "targetPort": 80}
    assert ports[1]["targetPort"] == 8081
    assert "externalTrafficPolicy" not in svc.to_json()["spec"]


def test_namespace_secret_and_other_defaults() -> None:
    ns = parse("Namespace", {"metadata": {"name": "team-a"}}).to_json()
    assert "finalizers" not in ns.get("spec", {})  # set on create, by the strategy
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert parse("Secret", {"metadata": {"name": "s"}}).type == "Opaque"
    assert parse("Secret", {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}).type == "kubernetes.io/tls"
    node = parse("Node", {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4"}}})
    assert node.status.allocatable == {"cpu": "4"}
    ep = parse("Endpoints", {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]})
    assert ep.subsets[0].ports[0].protocol == "TCP"
    sa = parse("ServiceAccount", {"metadata": {"name": "x"}})
    assert sa.to_json() == {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}}


def test_registries_are_per_kind_dicts() -> None:
    for kind in ("Pod", "Service", "Namespace", "Secret"):
        assert kind in DEFAULTERS
    for kind in MODELS:
        assert kind in VALIDATORS
    apply_defaults("NoSuchKind", object())  # unknown kinds: no defaults, no error


# --------------------------------------------------------------------------------------------
# Valid objects
# --------------------------------------------------------------------------------------------


def test_valid_realistic_pod_and_service() -> None:
    assert validate("Pod", parse("Pod", pod_json())).messages() == []
    assert validate("Service", parse("Service", svc_json())).messages() == []
    multi = svc_json(type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080},
                                             {"name": "https", "port": 443, "targetPort": 8443}])
    assert validate("Service", parse("Service", multi)).messages() == []


@pytest.mark.parametrize("kind, data", [
    ("Namespace", {"metadata": {"name": "team-a"}}),
    ("ConfigMap", {"metadata": {"name": "c", "namespace": "d"}, "data": {"app.conf": "x", "KEY_1": "y"}}),
    ("Secret", {"metadata": {"name": "s", "namespace": "d"}, "data": {"pw": base64.b64encode(b"x").decode()}}),
    ("ServiceAccount", {"metadata": {"name": "builder", "namespace": "d"}}),
    ("Node", {"metadata": {"name": "node-1"}, "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}}),
    ("Endpoints", {"metadata": {"name": "web", "namespace": "d"},
                   "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 8080}]}]}),
    ("Event", {"metadata": {"name": "e.1", "namespace": "d"},
               "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d"}, "reason": "Started"}),
])
def test_valid_other_kinds(kind: str, data: dict[str, Any]) -> None:
    assert validate(kind, parse(kind, data)).messages() == []


# --------------------------------------------------------------------------------------------
# Create validation: one bad input, one exact error
# --------------------------------------------------------------------------------------------

C0 = "spec.containers[0]"

POD_CASES = [
    # (description, spec overrides, field, reason, full message)
    ("no containers", {"containers": []}, "spec.containers", ErrorType.REQUIRED,
     "spec.containers: Required value"),
    ("bad container name", {"containers": [ctr(name="Web")]}, f"{C0}.name", ErrorType.INVALID,
     f'{C0}.name: Invalid value: "Web": {LABEL_MSG}'),
    ("duplicate container", {"containers": [ctr(name="a"), ctr(name="a")]}, "spec.containers[1].name",
     ErrorType.DUPLICATE, 'spec.containers[1].name: Duplicate value: "a"'),
    ("duplicate across init", {"initContainers": [ctr(name="a")], "containers": [ctr(name="a")]},
     f"{C0}.name", ErrorType.DUPLICATE, f'{C0}.name: Duplicate value: "a"'),
    ("no image", {"containers": [{"name": "c"}]}, f"{C0}.image", ErrorType.REQUIRED,
     f"{C0}.image: Required value"),
    ("port too big", {"containers": [ctr(ports=[{"containerPort": 70000}])]}, f"{C0}.ports[0].containerPort",
     ErrorType.INVALID, f"{C0}.ports[0].containerPort: Invalid value: 70000: {PORT_RANGE}"),
    ("port negative", {"containers": [ctr(ports=[{"containerPort": -1}])]}, f"{C0}.ports[0].containerPort",
     ErrorType.INVALID, f"{C0}.ports[0].containerPort: Invalid value: -1: {PORT_RANGE}"),
    ("port zero", {"containers": [ctr(ports=[{"containerPort": 0}])]}, f"{C0}.ports[0].containerPort",
     ErrorType.REQUIRED, f"{C0}.ports[0].containerPort: Required value"),
    ("host port", {"containers": [ctr(ports=[{"containerPort": 80, "hostPort": 65536}])]},
     f"{C0}.ports[0].hostPort", ErrorType.INVALID, f"{C0}.ports[0].hostPort: Invalid value: 65536: {PORT_RANGE}"),
    ("dup port name", {"containers": [ctr(ports=[{"name": "http", "containerPort": 80},
                                                 {"name": "http", "containerPort": 81}])]},
     f"{C0}.ports[1].name", ErrorType.DUPLICATE, f'{C0}.ports[1].name: Duplicate value: "http"'),
    ("port name digits", {"containers": [ctr(ports=[{"name": "8080", "containerPort": 80}])]},
     f"{C0}.ports[0].name", ErrorType.INVALID,
     f'{C0}.ports[0].name: Invalid value: "8080": must contain at least one letter (a-z)'),
    ("port name hyphens", {"containers": [ctr(ports=[{"name": "a--b", "containerPort": 80}])]},
     f"{C0}.ports[0].name", ErrorType.INVALID,
     f'{C0}.ports[0].name: Invalid value: "a--b": must not contain consecutive hyphens'),
    ("port name long", {"containers": [ctr(ports=[{"name": "abcdefghijklmnop", "containerPort": 80}])]},
     f"{C0}.ports[0].name", ErrorType.INVALID,
     f'{C0}.ports[0].name: Invalid value: "abcdefghijklmnop": must be no more than 15 characters'),
    ("protocol", {"containers": [ctr(ports=[{"containerPort": 80, "protocol": "HTTP"}])]},
     f"{C0}.ports[0].protocol", ErrorType.NOT_SUPPORTED,
     f'{C0}.ports[0].protocol: Unsupported value: "HTTP": {PROTOCOLS}'),
    ("env name with =", {"containers": [ctr(env=[{"name": "A=B", "value": "x"}])]}, f"{C0}.env[0].name",
     ErrorType.INVALID, f'{C0}.env[0].name: Invalid value: "A=B": a valid environment variable name must '
                        "consist only of printable ASCII characters other than '='"),
    ("env name empty", {"containers": [ctr(env=[{"name": ""}])]}, f"{C0}.env[0].name", ErrorType.REQUIRED,
     f"{C0}.env[0].name: Required value"),
    ("bad quantity", {"containers": [ctr(resources={"requests": {"cpu": "lots"}})]},
     f"{C0}.resources.requests[cpu]", ErrorType.INVALID,
     f"{C0}.resources.requests[cpu]: Invalid value: \"lots\": quantities must match the regular expression "
     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    ("request over limit", {"containers": [ctr(resources={"requests": {"cpu": "1"}, "limits": {"cpu": "500m"}})]},
     f"{C0}.resources.requests", ErrorType.INVALID,
     f'{C0}.resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m'),
    ("negative quantity", {"containers": [ctr(resources={"requests": {"memory": "-1Gi"}})]},
     f"{C0}.resources.requests[memory]", ErrorType.INVALID,
     f'{C0}.resources.requests[memory]: Invalid value: "-1Gi": must be greater than or equal to 0'),
    ("unknown resource", {"containers": [ctr(resources={"requests": {"gpu": "1"}})]},
     f"{C0}.resources.requests[gpu]", ErrorType.INVALID,
     f'{C0}.resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers'),
    ("extended resource mismatch", {"containers": [ctr(resources={"requests": {"example.com/gpu": "1"},
                                                                  "limits": {"example.com/gpu": "2"}})]},
     f"{C0}.resources.requests", ErrorType.INVALID,
     f'{C0}.resources.requests: Invalid value: "1": must be equal to example.com/gpu limit of 2'),
    ("restartPolicy", {"restartPolicy": "Sometimes"}, "spec.restartPolicy", ErrorType.NOT_SUPPORTED,
     'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
    ("dnsPolicy", {"dnsPolicy": "Google"}, "spec.dnsPolicy", ErrorType.NOT_SUPPORTED,
     'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", '
     '"ClusterFirst", "Default", "None"'),
    ("imagePullPolicy", {"containers": [ctr(imagePullPolicy="Sometimes")]}, f"{C0}.imagePullPolicy",
     ErrorType.NOT_SUPPORTED,
     f'{C0}.imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"'),
    ("dup volume", {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}],
                    "containers": [ctr()]},
     "spec.volumes[1].name", ErrorType.DUPLICATE, 'spec.volumes[1].name: Duplicate value: "v"'),
    ("two volume sources", {"volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}],
                            "containers": [ctr()]},
     "spec.volumes[0]", ErrorType.FORBIDDEN, "spec.volumes[0]: Forbidden: may not specify more than 1 volume type"),
    ("mount unknown volume", {"containers": [ctr(volumeMounts=[{"name": "data", "mountPath": "/d"}])]},
     f"{C0}.volumeMounts[0].name", ErrorType.NOT_FOUND, f'{C0}.volumeMounts[0].name: Not found: "data"'),
    ("negative grace", {"terminationGracePeriodSeconds": -5}, "spec.terminationGracePeriodSeconds",
     ErrorType.INVALID, "spec.terminationGracePeriodSeconds: Invalid value: -5: must be greater than or equal to 0"),
    ("zero deadline", {"activeDeadlineSeconds": 0}, "spec.activeDeadlineSeconds", ErrorType.INVALID,
     "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"),
    ("probe without handler", {"containers": [ctr(livenessProbe={"periodSeconds": 5})]},
     f"{C0}.livenessProbe", ErrorType.REQUIRED, f"{C0}.livenessProbe: Required value: must specify a handler type"),
    ("probe bad port", {"containers": [ctr(livenessProbe={"tcpSocket": {"port": 0}})]},
     f"{C0}.livenessProbe.tcpSocket.port", ErrorType.INVALID,
     f"{C0}.livenessProbe.tcpSocket.port: Invalid value: 0: {PORT_RANGE}"),
]


@pytest.mark.parametrize("spec, field, reason, message", [c[1:] for c in POD_CASES],
                         ids=[c[0] for c in POD_CASES])
def test_pod_create_errors(spec: dict[str, Any], field: str, reason: ErrorType, message: str) -> None:
    data = {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [ctr()], **spec}}
    assert only(validate("Pod", parse("Pod", data))) == (field, reason, message)


def test_strict_env_var_names() -> None:
    msgs = validation.env_var_name_errors("1ABC", relaxed=False)
    assert msgs == ["a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
                    "or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
                    "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"]
    assert validation.env_var_name_errors("..x", relaxed=False) == ["must not start with '..'"]
    assert validation.env_var_name_errors("MY_VAR.1", relaxed=False) == []
    assert validation.env_var_name_errors("1ABC", relaxed=True) == []


META_CASES = [
    ("Pod", {"name": "p"}, "metadata.namespace", ErrorType.REQUIRED, "metadata.namespace: Required value"),
    ("Pod", {"name": "p", "namespace": "Bad_NS"}, "metadata.namespace", ErrorType.INVALID,
     f'metadata.namespace: Invalid value: "Bad_NS": {LABEL_MSG}'),
    ("Pod", {"namespace": "d"}, "metadata.name", ErrorType.REQUIRED,
     "metadata.name: Required value: name or generateName is required"),
    ("Service", {"name": "1web", "namespace": "d"}, "metadata.name", ErrorType.INVALID,
     'metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters '
     "or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
     "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"),
    ("Namespace", {"name": "a.b"}, "metadata.name", ErrorType.INVALID,
     'metadata.name: Invalid value: "a.b": must not contain dots'),
    ("Namespace", {"name": "a", "namespace": "x"}, "metadata.namespace", ErrorType.FORBIDDEN,
     "metadata.namespace: Forbidden: not allowed on this type"),
    ("ConfigMap", {"name": "c", "namespace": "d", "labels": {"app": "a b"}}, "metadata.labels",
     ErrorType.INVALID, None),
    ("ConfigMap", {"name": "c", "namespace": "d", "annotations": {"bad key": "x"}}, "metadata.annotations",
     ErrorType.INVALID, None),
    ("ConfigMap", {"name": "c", "namespace": "d",
                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": ""}]},
     "metadata.ownerReferences.uid", ErrorType.INVALID,
     'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty'),
    ("ConfigMap", {"name": "c", "namespace": "d", "generateName": "Bad-"}, "metadata.generateName",
     ErrorType.INVALID, None),
    ("ConfigMap", {"name": "c", "namespace": "d", "finalizers": ["custom"]}, "metadata.finalizers",
     ErrorType.INVALID,
     'metadata.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified'),
]


@pytest.mark.parametrize("kind, meta, field, reason, message", META_CASES)
def test_metadata_errors(kind: str, meta: dict[str, Any], field: str, reason: ErrorType,
                         message: str | None) -> None:
    bodies = {"Pod": {"spec": {"containers": [ctr()]}}, "Service": {"spec": {"ports": [{"port": 80}]}}}
    obj = parse(kind, {"metadata": meta, **copy.deepcopy(bodies.get(kind, {}))})
    got = only(validate(kind, obj))
    assert got[:2] == (field, reason)
    if message is not None:
        assert got[2] == message


def test_config_map_key_in_data_and_binary_data() -> None:
    cm = parse("ConfigMap", {"metadata": {"name": "c", "namespace": "d"}, "data": {"k": "x"},
                             "binaryData": {"k": "eA=="}})
    assert validate("ConfigMap", cm).messages() == [
        'data[k]: Invalid value: "k": duplicate of key present in binaryData',
        'binaryData[k]: Invalid value: "k": duplicate of key present in data']


def test_empty_image_defaults_if_not_present() -> None:
    pod = parse("Pod", {"spec": {"containers": [{"name": "c"}]}})
    assert pod.spec.containers[0].image_pull_policy == "IfNotPresent"


def test_two_controller_owner_references() -> None:
    refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": n, "uid": n, "controller": True}
            for n in ("a", "b")]
    obj = parse("ConfigMap", {"metadata": {"name": "c", "namespace": "d", "ownerReferences": refs}})
    field, reason, msg = only(validate("ConfigMap", obj))
    assert (field, reason) == ("metadata.ownerReferences", ErrorType.INVALID)
    assert msg.endswith('Only one reference can have Controller set to true. Found "true" in references for '
                        "ReplicaSet/a and ReplicaSet/b")


SP = "spec.ports[0]"
SVC_CASES = [
    ("no ports", {"ports": []}, "spec.ports", ErrorType.REQUIRED, "spec.ports: Required value"),
    ("port range", {"ports": [{"port": 0, "targetPort": 8080}]}, f"{SP}.port", ErrorType.INVALID,
     f"{SP}.port: Invalid value: 0: {PORT_RANGE}"),
    ("names required", {"ports": [{"name": "a", "port": 80}, {"port": 81}]}, "spec.ports[1].name",
     ErrorType.REQUIRED, "spec.ports[1].name: Required value"),
    ("dup names", {"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}, "spec.ports[1].name",
     ErrorType.DUPLICATE, 'spec.ports[1].name: Duplicate value: "a"'),
    ("bad name", {"ports": [{"name": "Web", "port": 80}]}, f"{SP}.name", ErrorType.INVALID,
     f'{SP}.name: Invalid value: "Web": {LABEL_MSG}'),
    ("protocol", {"ports": [{"port": 80, "protocol": "ICMP"}]}, f"{SP}.protocol", ErrorType.NOT_SUPPORTED,
     f'{SP}.protocol: Unsupported value: "ICMP": {PROTOCOLS}'),
    ("target int", {"ports": [{"port": 80, "targetPort": 70000}]}, f"{SP}.targetPort", ErrorType.INVALID,
     f"{SP}.targetPort: Invalid value: 70000: {PORT_RANGE}"),
    ("target name", {"ports": [{"port": 80, "targetPort": "web_ui"}]}, f"{SP}.targetPort", ErrorType.INVALID,
     f'{SP}.targetPort: Invalid value: "web_ui": must contain only alpha-numeric characters (a-z, 0-9), '
     "and hyphens (-)"),
    ("type", {"type": "Magic"}, "spec.type", ErrorType.NOT_SUPPORTED,
     'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
     '"NodePort"'),
    ("nodePort on ClusterIP", {"ports": [{"port": 80, "nodePort": 30080}]}, f"{SP}.nodePort",
     ErrorType.FORBIDDEN, f"{SP}.nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
    ("nodePort range", {"type": "NodePort", "ports": [{"port": 80, "nodePort": 8080}]}, f"{SP}.nodePort",
     ErrorType.INVALID, f"{SP}.nodePort: Invalid value: 8080: provided port is not in the valid range. "
                        "The range of valid ports is 30000-32767"),
    ("sessionAffinity", {"sessionAffinity": "Sticky"}, "spec.sessionAffinity", ErrorType.NOT_SUPPORTED,
     'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"'),
    ("selector", {"selector": {"app": "-bad"}}, "spec.selector", ErrorType.INVALID, None),
    ("clusterIP", {"clusterIP": "10.0.0.300"}, "spec.clusterIPs[0]", ErrorType.INVALID,
     'spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
    ("externalName missing", {"type": "ExternalName", "ports": []}, "spec.externalName", ErrorType.REQUIRED,
     "spec.externalName: Required value"),
    ("headless NodePort", {"type": "NodePort", "clusterIP": "None"}, "spec.clusterIPs[0]", ErrorType.INVALID,
     'spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for NodePort services'),
    ("externalTrafficPolicy on ClusterIP", {"externalTrafficPolicy": "Local"}, "spec.externalTrafficPolicy",
     ErrorType.INVALID, 'spec.externalTrafficPolicy: Invalid value: "Local": may only be set when `type` is '
                        "'NodePort' or 'LoadBalancer'"),
]


@pytest.mark.parametrize("spec, field, reason, message", [c[1:] for c in SVC_CASES],
                         ids=[c[0] for c in SVC_CASES])
def test_service_create_errors(spec: dict[str, Any], field: str, reason: ErrorType, message: str | None) -> None:
    data = {"metadata": {"name": "s", "namespace": "d"}, "spec": {"ports": [{"port": 80}], **spec}}
    got = only(validate("Service", parse("Service", data)))
    assert got[:2] == (field, reason)
    if message is not None:
        assert got[2] == message


DATA_CASES = [
    ("ConfigMap", {"data": {"a b": "x"}}, "data[a b]", ErrorType.INVALID,
     f'data[a b]: Invalid value: "a b": {CONFIG_KEY_MSG}'),
    ("ConfigMap", {"data": {"..x": "x"}}, "data[..x]", ErrorType.INVALID,
     "data[..x]: Invalid value: \"..x\": must not start with '..'"),
    ("ConfigMap", {"data": {"big": "x" * (1024 * 1024 + 1)}}, "", ErrorType.TOO_LONG,
     ": Too long: may not be more than 1048576 bytes"),
    ("Secret", {"data": {"a/b": "eA=="}}, "data[a/b]", ErrorType.INVALID,
     f'data[a/b]: Invalid value: "a/b": {CONFIG_KEY_MSG}'),
    ("Secret", {"stringData": {"big": "x" * (1024 * 1024 + 1)}}, "data", ErrorType.TOO_LONG,
     "data: Too long: may not be more than 1048576 bytes"),
    ("Secret", {"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}, "data[tls.key]", ErrorType.REQUIRED,
     "data[tls.key]: Required value"),
    ("Secret", {"type": "kubernetes.io/service-account-token"},
     "metadata.annotations[kubernetes.io/service-account.name]", ErrorType.REQUIRED, None),
]


@pytest.mark.parametrize("kind, body, field, reason, message", DATA_CASES)
def test_config_map_and_secret_errors(kind: str, body: dict[str, Any], field: str, reason: ErrorType,
                                      message: str | None) -> None:
    got = only(validate(kind, parse(kind, {"metadata": {"name": "x", "namespace": "d"}, **body})))
    assert got[:2] == (field, reason)
    if message is not None:
        assert got[2] == message


OTHER_CASES = [
    ("Node", {"metadata": {"name": "n"}, "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}},
     "spec.taints[0].effect", ErrorType.NOT_SUPPORTED,
     'spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", '
     '"PreferNoSchedule", "NoExecute"'),
    ("Node", {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "x"}, "allocatable": {"cpu": "1"}}}, "status.capacity[cpu]",
     ErrorType.INVALID, None),
    ("Endpoints", {"metadata": {"name": "e", "namespace": "d"},
                   "subsets": [{"addresses": [{"ip": "not-an-ip"}]}]},
     "subsets[0].addresses[0].ip", ErrorType.INVALID,
     'subsets[0].addresses[0].ip: Invalid value: "not-an-ip": must be a valid IP address, '
     "(e.g. 10.9.8.7 or 2001:db8::ffff)"),
    ("Endpoints", {"metadata": {"name": "e", "namespace": "d"},
                   "subsets": [{"addresses": [{"ip": "127.0.0.1"}]}]},
     "subsets[0].addresses[0].ip", ErrorType.INVALID,
     'subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range '
     "(127.0.0.0/8, ::1/128)"),
    ("Endpoints", {"metadata": {"name": "e", "namespace": "d"},
                   "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 0}]}]},
     "subsets[0].ports[0].port", ErrorType.INVALID, f"subsets[0].ports[0].port: Invalid value: 0: {PORT_RANGE}"),
    ("Endpoints", {"metadata": {"name": "e", "namespace": "d"}, "subsets": [{}]}, "subsets[0]",
     ErrorType.REQUIRED, "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"),
    ("Event", {"metadata": {"name": "e", "namespace": "d"}, "involvedObject": {"kind": "Pod", "namespace": "x"}},
     "involvedObject.namespace", ErrorType.INVALID,
     'involvedObject.namespace: Invalid value: "x": does not match event.namespace'),
    ("ServiceAccount", {"metadata": {"name": "Builder", "namespace": "d"}}, "metadata.name", ErrorType.INVALID,
     None),
    ("Namespace", {"metadata": {"name": "n"}, "spec": {"finalizers": ["bad finalizer"]}}, "spec.finalizers",
     ErrorType.INVALID, None),
]


@pytest.mark.parametrize("kind, data, field, reason, message", OTHER_CASES)
def test_other_kind_errors(kind: str, data: dict[str, Any], field: str, reason: ErrorType,
                           message: str | None) -> None:
    got = only(validate(kind, parse(kind, data)))
    assert got[:2] == (field, reason)
    if message is not None:
        assert got[2] == message


# --------------------------------------------------------------------------------------------
# Updates
# --------------------------------------------------------------------------------------------


def _pod_update(mutate: Any) -> validation.ErrorList:
    old = parse("Pod", pod_json(activeDeadlineSeconds=600, tolerations=[{"key": "a", "operator": "Exists"}]))
    data = old.to_json()
    mutate(data)
    return validate("Pod", Pod.from_json(data), old)


@pytest.mark.parametrize("mutate", [
    lambda d: d["spec"]["containers"][0].update(image="nginx:1.26"),
    lambda d: d["spec"].update(activeDeadlineSeconds=300),
    lambda d: d["spec"]["tolerations"].append({"key": "b", "operator": "Exists", "effect": "NoSchedule"}),
    lambda d: d["metadata"]["labels"].update(tier="frontend"),
])
def test_pod_update_allowed(mutate: Any) -> None:
    assert _pod_update(mutate).messages() == []


@pytest.mark.parametrize("mutate", [
    lambda d: d["spec"].update(restartPolicy="Never"),
    lambda d: d["spec"]["containers"][0]["ports"][0].update(containerPort=81),
    lambda d: d["spec"].update(tolerations=[]),
    lambda d: d["spec"]["containers"].append(ctr(name="sidecar")),
])
def test_pod_update_forbidden(mutate: Any) -> None:
    field, reason, msg = only(_pod_update(mutate))
    assert (field, reason) == ("spec", ErrorType.FORBIDDEN)
    assert msg.startswith("spec: Forbidden: pod updates may not change fields other than "
                          "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                          "`spec.tolerations` (only additions to existing tolerations),"
                          "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
                          "negative)\n")


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["spec"].update(activeDeadlineSeconds=900), "spec.activeDeadlineSeconds: Invalid value: 900: "
                                                           "must be less than or equal to previous value"),
    (lambda d: d["spec"].pop("activeDeadlineSeconds"), "spec.activeDeadlineSeconds: Invalid value: null: "
                                                      "must not update from a positive integer to nil value"),
    (lambda d: d["spec"]["containers"][0].pop("image"), "spec.containers[0].image: Required value"),
    (lambda d: d["metadata"].update(name="other"), 'metadata.name: Invalid value: "other": field is immutable'),
    (lambda d: d["metadata"].update(namespace="x"), 'metadata.namespace: Invalid value: "x": field is immutable'),
])
def test_pod_update_errors(mutate: Any, expected: str) -> None:
    assert _pod_update(mutate).messages() == [expected]


def test_service_cluster_ip_immutable() -> None:
    old = parse("Service", svc_json(clusterIP="10.96.0.10"))
    new = parse("Service", svc_json(clusterIP="10.96.0.11"))
    assert only(validate("Service", new, old)) == (
        "spec.clusterIPs[0]", ErrorType.INVALID, 'spec.clusterIPs[0]: Invalid value: ["10.96.0.11"]: may not change once set')
    same = parse("Service", svc_json(clusterIP="10.96.0.10", ports=[{"name": "http", "port": 8080}]))
    assert validate("Service", same, old).messages() == []
    external = parse("Service", {"metadata": {"name": "web", "namespace": "default"},
                                 "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert validate("Service", external, old).messages() == []


@pytest.mark.parametrize("kind, data_key", [("ConfigMap", "data"), ("Secret", "data")])
def test_immutable_data(kind: str, data_key: str) -> None:
    value = "v" if kind == "ConfigMap" else "dg=="
    other = "w" if kind == "ConfigMap" else "dw=="
    old = parse(kind, {"metadata": {"name": "x", "namespace": "d"}, "immutable": True, data_key: {"k": value}})
    changed = parse(kind, {"metadata": {"name": "x", "namespace": "d"}, "immutable": True, data_key: {"k": other}})
    assert only(validate(kind, changed, old)) == (
        "data", ErrorType.FORBIDDEN, "data: Forbidden: field is immutable when `immutable` is set")
    unset = parse(kind, {"metadata": {"name": "x", "namespace": "d"}, data_key: {"k": value}})
    assert validate(kind, unset, old).messages() == [
        "immutable: Forbidden: field is immutable when `immutable` is set"]
    same = parse(kind, {"metadata": {"name": "x", "namespace": "d", "labels": {"a": "b"}}, "immutable": True,
                        data_key: {"k": value}})
    assert validate(kind, same, old).messages() == []
    mutable_old = parse(kind, {"metadata": {"name": "x", "namespace": "d"}, data_key: {"k": value}})
    assert validate(kind, changed, mutable_old).messages() == []


def test_secret_type_immutable() -> None:
    old = parse("Secret", {"metadata": {"name": "x", "namespace": "d"}})
    new = parse("Secret", {"metadata": {"name": "x", "namespace": "d"}, "type": "example.com/custom"})
    assert validate("Secret", new, old).messages() == [
        'type: Invalid value: "example.com/custom": field is immutable']
