"""Unit tests for kubeapi.protobuf: Kubernetes protobuf bodies → the JSON objects they stand for.

Bodies are built with the small encoder below (Go's encoder writes every non-pointer string and
number even when empty; the helpers do the same where it matters), plus bodies real kubectl
v1.32 sent for ``kubectl create ...``, whose expected dicts are what ``kubectl create ...
--dry-run=client -o json`` prints for the same command (less its ``null`` members).
"""
from __future__ import annotations

import json
import random

import pytest

from actors.apiserver.http import _decode_body
from kubeapi import errors
from kubeapi.protobuf import MAGIC, ProtobufError, UnsupportedKind, decode, decode_message, supported_kinds

PB = "application/vnd.kubernetes.protobuf"


# --------------------------------------------------------------------------- a test-side encoder

def uvarint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # Go writes negative int32/int64 as 10-byte two's complement varints
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(num: int, wt: int) -> bytes:
    return uvarint(num << 3 | wt)


def vint(num: int, n: int | bool) -> bytes:
    return key(num, 0) + uvarint(int(n))


def ld(num: int, payload: bytes | str) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode()
    return key(num, 2) + uvarint(len(payload)) + payload


def msg(num: int, *parts: bytes) -> bytes:
    return ld(num, b"".join(parts))


def fixed64(num: int, n: int) -> bytes:
    return key(num, 1) + n.to_bytes(8, "little")


def fixed32(num: int, n: int) -> bytes:
    return key(num, 5) + n.to_bytes(4, "little")


def group(num: int, *parts: bytes) -> bytes:
    return key(num, 3) + b"".join(parts) + key(num, 4)


def smap(num: int, d: dict[str, str | bytes]) -> bytes:
    """map<string, string|bytes>, one entry message per key."""
    return b"".join(msg(num, ld(1, k), ld(2, v)) for k, v in d.items())


def qmap(num: int, d: dict[str, str]) -> bytes:
    """map<string, Quantity>."""
    return b"".join(msg(num, ld(1, k), msg(2, ld(1, v))) for k, v in d.items())


def ios_int(num: int, v: int) -> bytes:
    return msg(num, vint(1, 0), vint(2, v), ld(3, ""))


def ios_str(num: int, v: str) -> bytes:
    return msg(num, vint(1, 1), vint(2, 0), ld(3, v))


def ts(num: int, seconds: int, nanos: int = 0) -> bytes:
    return msg(num, vint(1, seconds), vint(2, nanos))


def meta(name: str = "", namespace: str = "", *, labels: dict | None = None, extra: bytes = b"") -> bytes:
    """ObjectMeta the way Go writes it: every non-pointer field, a zero creationTimestamp."""
    return (ld(1, name) + ld(2, "") + ld(3, namespace) + ld(4, "") + ld(5, "") + ld(6, "") + vint(7, 0)
            + ld(8, b"") + smap(11, labels or {}) + extra)


def envelope(api_version: str, kind: str, raw: bytes, *, content_type: str = "", encoding: str = "",
             extra: bytes = b"") -> bytes:
    return (MAGIC + msg(1, ld(1, api_version), ld(2, kind)) + ld(2, raw) + ld(3, encoding) + ld(4, content_type)
            + extra)


def obj(api_version: str, kind: str, *parts: bytes) -> bytes:
    return envelope(api_version, kind, b"".join(parts))


# --------------------------------------------------------------------------- bodies real kubectl sent

KUBECTL_BODIES = {
    "create namespace n1-pb": (
        "6b3873000a0f0a02763112094e616d657370616365121d0a150a056e312d706212001a0022002a0032003800420012001a02"
        "0a001a002200",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n1-pb"}, "spec": {}, "status": {}}),
    "create configmap c --from-literal=a=b --from-literal=k=v": (
        "6b3873000a0f0a0276311209436f6e6669674d617012250a130a016312001a02706222002a0032003800420012060a016112"
        "016212060a016b1201761a002200",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "pb"},
         "data": {"a": "b", "k": "v"}}),
    "create deployment web --image=nginx --replicas=3 --port=80": (
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412ba010a210a0377656212001a02706222002a00320038"
        "0042005a0a0a0361707012037765621286010803120c0a0a0a0361707012037765621a6c0a1c0a0012001a0022002a003200"
        "380042005a0a0a036170701203776562124c122e0a056e67696e7812056e67696e782a00320a0a001000185022002a004200"
        "6a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a002800"
        "38001a0c0800100018002000280038001a002200",
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": "pb", "labels": {"app": "web"}},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                                        "ports": [{"containerPort": 80}], "resources": {}}]}},
                  "strategy": {}},
         "status": {}}),
    "create deployment cmd --image=busybox -- sleep 3600": (
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412bf010a210a03636d6412001a02706222002a00320038"
        "0042005a0a0a036170701203636d64128b010801120c0a0a0a036170701203636d641a710a1c0a0012001a0022002a003200"
        "380042005a0a0a036170701203636d64125112330a0762757379626f78120762757379626f781a05736c6565701a04333630"
        "302a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022"
        "020a00280038001a0c0800100018002000280038001a002200",
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "cmd", "namespace": "pb", "labels": {"app": "cmd"}},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "cmd"}},
                  "template": {"metadata": {"labels": {"app": "cmd"}},
                               "spec": {"containers": [{"name": "busybox", "image": "busybox",
                                                        "command": ["sleep", "3600"], "resources": {}}]}},
                  "strategy": {}},
         "status": {}}),
    "create deployment zero --image=nginx --replicas=0": (
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b1010a230a047a65726f12001a02706222002a003200"
        "380042005a0b0a0361707012047a65726f127c0800120d0a0b0a0361707012047a65726f1a610a1d0a0012001a0022002a00"
        "3200380042005a0b0a0361707012047a65726f124012220a056e67696e7812056e67696e782a0042006a0072008001008801"
        "00900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018"
        "002000280038001a002200",
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "zero", "namespace": "pb", "labels": {"app": "zero"}},
         "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "zero"}},
                  "template": {"metadata": {"labels": {"app": "zero"}},
                               "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}},
                  "strategy": {}},
         "status": {}}),
    "create secret generic s --from-literal=u=admin --from-literal=p=s3cr=t --type=Opaque": (
        "6b3873000a0c0a027631120653656372657412360a130a017312001a02706222002a00320038004200120b0a017012067333"
        "63723d74120a0a0175120561646d696e1a064f70617175651a002200",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "pb"},
         "data": {"p": "czNjcj10", "u": "YWRtaW4="}, "type": "Opaque"}),
    "create service clusterip svc1 --tcp=80:8080 --tcp=443": (
        "6b3873000a0d0a0276311207536572766963651288010a230a047376633112001a02706222002a003200380042005a0b0a03"
        "617070120473766331125d0a1b0a0738302d38303830120354435018502207080010903f1a0028000a180a03343433120354"
        "435018bb032207080010bb031a002800120b0a036170701204737663311a002209436c757374657249503a00420052005a00"
        "600068001a020a001a002200",
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "svc1", "namespace": "pb", "labels": {"app": "svc1"}},
         "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                            {"name": "443", "protocol": "TCP", "port": 443, "targetPort": 443}],
                  "selector": {"app": "svc1"}, "type": "ClusterIP"},
         "status": {"loadBalancer": {}}}),
    "create job j1 --image=busybox -- echo hi": (
        "6b3873000a0f0a0862617463682f763112034a6f621286010a140a026a3112001a02706222002a0032003800420012643262"
        "0a100a0012001a0022002a00320038004200124e122b0a026a31120762757379626f781a046563686f1a0268692a0042006a"
        "007200800100880100900100a201001a054e65766572320042004a0052005800600068008201008a01009a0100c201001a08"
        "2000280030003a001a002200",
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j1", "namespace": "pb"},
         "spec": {"template": {"metadata": {},
                               "spec": {"containers": [{"name": "j1", "image": "busybox", "command": ["echo", "hi"],
                                                        "resources": {}}],
                                        "restartPolicy": "Never"}}},
         "status": {}}),
    "create rolebinding rb1 --role=r1 --user=bob --group=g --serviceaccount=pb:sa1": (
        "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c6542696e64696e6712"
        "ae010a150a0372623112001a02706222002a0032003800420012280a04557365721219726261632e617574686f72697a6174"
        "696f6e2e6b38732e696f1a03626f62220012270a0547726f75701219726261632e617574686f72697a6174696f6e2e6b3873"
        "2e696f1a01672200121b0a0e536572766963654163636f756e7412001a03736131220270621a250a19726261632e61757468"
        "6f72697a6174696f6e2e6b38732e696f1204526f6c651a0272311a002200",
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "rb1", "namespace": "pb"},
         "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"},
                      {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g"},
                      {"kind": "ServiceAccount", "name": "sa1", "namespace": "pb"}],
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}}),
    "create clusterrole agg-pb --aggregation-rule=a=b,c=d": (
        "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b436c7573746572526f6c6512"
        "2c0a160a066167672d706212001a0022002a003200380042001a120a100a060a01611201620a060a01631201641a002200",
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "agg-pb"},
         "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b", "c": "d"}}]}}),
}

TOKEN_REQUEST = bytes.fromhex(
    "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e52657175657374121a0a10"
    "0a0012001a0022002a0032003800420012001a040a0012001a002200")
EVENT = obj("events.k8s.io/v1", "Event", msg(1, ld(1, "e")))  # a kind without a schema here


@pytest.mark.parametrize("command", list(KUBECTL_BODIES))
def test_bodies_kubectl_sent(command: str) -> None:
    body, want = KUBECTL_BODIES[command]
    assert decode(bytes.fromhex(body)) == want


def test_a_kind_without_schema_is_unsupported_not_malformed() -> None:
    with pytest.raises(UnsupportedKind) as e:
        decode(EVENT)
    assert (e.value.api_version, e.value.kind) == ("events.k8s.io/v1", "Event")
    assert isinstance(e.value, ProtobufError)
    assert "Event" in str(e.value)


def test_token_requests_kubectl_create_token_sends() -> None:
    assert decode(TOKEN_REQUEST) == {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                     "metadata": {}, "spec": {}, "status": {"token": ""}}
    tr = obj("authentication.k8s.io/v1", "TokenRequest", msg(1, meta("robot", "ns")),
             msg(2, ld(1, "vault"), ld(1, "api"), vint(4, 1200), msg(3, ld(1, "Pod"), ld(2, "v1"), ld(3, "web"),
                                                                      ld(4, "uid-1"))))
    assert decode(tr)["spec"] == {"audiences": ["vault", "api"], "expirationSeconds": 1200,
                                  "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": "uid-1"}}


def test_supported_kinds() -> None:
    assert supported_kinds() == [
        "v1/Namespace", "v1/ConfigMap", "v1/Secret", "v1/ServiceAccount", "v1/Pod", "v1/Service",
        "apps/v1/Deployment", "batch/v1/Job", "authentication.k8s.io/v1/TokenRequest", "rbac.authorization.k8s.io/v1/Role",
        "rbac.authorization.k8s.io/v1/RoleBinding", "rbac.authorization.k8s.io/v1/ClusterRole",
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding"]


# --------------------------------------------------------------------------- kinds, built here

def test_namespace() -> None:
    body = obj("v1", "Namespace",
               msg(1, meta("team-a", labels={"env": "prod"})),
               msg(2, ld(1, "kubernetes"), ld(1, "example.com/cleanup")),
               msg(3, ld(1, "Terminating"),
                   msg(2, ld(1, "NamespaceDeletionContentFailure"), ld(2, "False"), ts(4, 1700000000, 5),
                       ld(5, "ContentDeleted"), ld(6, "")),
                   msg(2, ld(1, "Other"), ld(2, "True"), ld(4, b""), ld(5, ""), ld(6, "all good"))))
    assert decode(body) == {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team-a", "labels": {"env": "prod"}},
        "spec": {"finalizers": ["kubernetes", "example.com/cleanup"]},
        "status": {"phase": "Terminating", "conditions": [
            {"type": "NamespaceDeletionContentFailure", "status": "False",
             "lastTransitionTime": "2023-11-14T22:13:20Z", "reason": "ContentDeleted"},
            {"type": "Other", "status": "True", "message": "all good"}]},
    }


def test_namespace_with_nothing_sent_still_has_its_structs() -> None:
    assert decode(obj("v1", "Namespace")) == {"apiVersion": "v1", "kind": "Namespace", "metadata": {},
                                             "spec": {}, "status": {}}


def test_configmap_data_binary_data_and_immutable() -> None:
    body = obj("v1", "ConfigMap", msg(1, meta("cfg", "ns1")),
               vint(4, True),
               smap(2, {"app.conf": "a=1\nb=2\n", "empty": ""}),
               smap(3, {"logo.png": b"\x89PNG\x00\xff", "nothing": b""}))
    assert decode(body) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "ns1"},
        "immutable": True,
        "data": {"app.conf": "a=1\nb=2\n", "empty": ""},
        "binaryData": {"logo.png": "iVBORwD/", "nothing": ""},
    }


def test_a_pointer_bool_sent_false_stays() -> None:
    got = decode(obj("v1", "ConfigMap", msg(1, meta("c")), vint(4, False)))
    assert got == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "immutable": False}


def test_object_meta_every_field() -> None:
    owner = msg(13, ld(5, "apps/v1"), ld(1, "ReplicaSet"), ld(3, "web-abc"), ld(4, "uid-1"), vint(6, True),
                vint(7, False))
    owner_minimal = msg(13, ld(5, ""), ld(1, "Thing"), ld(3, "t"), ld(4, ""))
    m = (ld(1, "web-abc-xyz") + ld(2, "web-abc-") + ld(3, "default") + ld(4, "/ignored/selfLink") + ld(5, "u-1")
         + ld(6, "42") + vint(7, 3) + ts(8, 1700000000, 999) + ts(9, 1700000030) + vint(10, 30)
         + smap(11, {"app": "web", "pod-template-hash": "abc"}) + smap(12, {"note": "x: y"})
         + owner + owner_minimal + ld(14, "example.com/f1") + ld(14, "example.com/f2")
         + ld(15, "cluster-name-gone") + ld(17, b"\x0a\x03mgr"))
    assert decode_message("ObjectMeta", m) == {
        "name": "web-abc-xyz", "generateName": "web-abc-", "namespace": "default", "uid": "u-1",
        "resourceVersion": "42", "generation": 3, "creationTimestamp": "2023-11-14T22:13:20Z",
        "deletionTimestamp": "2023-11-14T22:13:50Z", "deletionGracePeriodSeconds": 30,
        "labels": {"app": "web", "pod-template-hash": "abc"}, "annotations": {"note": "x: y"},
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "uid-1", "controller": True,
             "blockOwnerDeletion": False},
            {"apiVersion": "", "kind": "Thing", "name": "t", "uid": ""}],
        "finalizers": ["example.com/f1", "example.com/f2"],
    }


CONTAINER = (
    ld(1, "app") + ld(2, "registry.example/app:1.2") + ld(3, "/bin/app") + ld(3, "--serve") + ld(4, "-v")
    + ld(4, "") + ld(5, "/srv")
    + msg(6, ld(1, "http"), vint(2, 0), vint(3, 8080), ld(4, "TCP"), ld(5, ""))
    + msg(6, ld(1, ""), vint(2, 9090), vint(3, 0), ld(4, "UDP"), ld(5, "0.0.0.0"))
    + msg(19, ld(1, "CFG_"), msg(2, msg(1, ld(1, "app-config")), vint(2, True)))
    + msg(19, ld(1, ""), msg(3, msg(1, ld(1, "app-secret"))))
    + msg(7, ld(1, "MODE"), ld(2, "fast"))
    + msg(7, ld(1, "EMPTY"), ld(2, ""))
    + msg(7, ld(1, "POD"), ld(2, ""), msg(3, msg(1, ld(1, "v1"), ld(2, "metadata.name"))))
    + msg(7, ld(1, "KEY"), msg(3, msg(3, msg(1, ld(1, "cm")), ld(2, "k"), vint(3, False))))
    + msg(7, ld(1, "PW"), msg(3, msg(4, msg(1, ld(1, "sec")), ld(2, "password"))))
    + msg(7, ld(1, "MEM"), msg(3, msg(2, ld(1, ""), ld(2, "limits.memory"), msg(3, ld(1, "1Mi")))))
    + msg(7, ld(1, "CPU"), msg(3, msg(2, ld(1, "app"), ld(2, "requests.cpu"), msg(3))))
    + msg(8, qmap(1, {"cpu": "500m", "memory": "128Mi"}), qmap(2, {"cpu": "250m"}))
    + msg(9, ld(1, "data"), vint(2, False), ld(3, "/data"), ld(4, ""), ld(6, ""))
    + msg(9, ld(1, "cfg"), vint(2, True), ld(3, "/etc/app"), ld(4, "app.conf"), ld(5, "None"), ld(6, ""))
    + msg(10, msg(1, msg(2, ld(1, "/healthz"), ios_int(2, 8080), ld(3, ""), ld(4, "HTTP"),
                         msg(5, ld(1, "X-Probe"), ld(2, "1")))),
          vint(2, 5), vint(3, 1), vint(4, 10), vint(5, 1), vint(6, 3))
    + msg(11, msg(1, msg(3, ios_str(1, "http"), ld(2, ""))), vint(2, 0), vint(3, 0), vint(4, 0), vint(5, 0),
          vint(6, 0))
    + msg(22, msg(1, msg(1, ld(1, "cat"), ld(1, "/tmp/ready"))), vint(6, 30), vint(7, 5))
    + msg(12, msg(2, msg(1, ld(1, "sleep"), ld(1, "5"))))
    + ld(13, "/dev/termination-log") + ld(20, "File") + ld(14, "IfNotPresent")
    + msg(15, msg(1, ld(1, "NET_ADMIN"), ld(2, "ALL")), vint(2, False), vint(4, 1000), vint(5, True),
          vint(6, True), vint(7, False), msg(11, ld(1, "RuntimeDefault")))
    + vint(16, False) + vint(17, False) + vint(18, True)
)

CONTAINER_JSON = {
    "name": "app", "image": "registry.example/app:1.2", "command": ["/bin/app", "--serve"], "args": ["-v", ""],
    "workingDir": "/srv",
    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
              {"hostPort": 9090, "containerPort": 0, "protocol": "UDP", "hostIP": "0.0.0.0"}],
    "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "app-config", "optional": True}},
                {"secretRef": {"name": "app-secret"}}],
    "env": [{"name": "MODE", "value": "fast"},
            {"name": "EMPTY"},
            {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
            {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k", "optional": False}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"containerName": "app", "resource": "requests.cpu",
                                                                "divisor": "0"}}}],
    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
    "volumeMounts": [{"name": "data", "mountPath": "/data"},
                     {"name": "cfg", "readOnly": True, "mountPath": "/etc/app", "subPath": "app.conf",
                      "mountPropagation": "None"}],
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP",
                                  "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                      "initialDelaySeconds": 5, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                      "failureThreshold": 3},
    "readinessProbe": {"tcpSocket": {"port": "http"}},
    "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 30,
                     "terminationGracePeriodSeconds": 5},
    "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    "imagePullPolicy": "IfNotPresent",
    "securityContext": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}, "privileged": False,
                        "runAsUser": 1000, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False, "seccompProfile": {"type": "RuntimeDefault"}},
    "tty": True,
}

POD_SPEC = (
    msg(1, ld(1, "data"), msg(2, msg(2, ld(1, ""), msg(2, ld(1, "1Gi")))))
    + msg(1, ld(1, "scratch"), msg(2, msg(2, ld(1, "Memory"))))
    + msg(1, ld(1, "cfg"), msg(2, msg(19, msg(1, ld(1, "app-config")),
                                      msg(2, ld(1, "app.conf"), ld(2, "app.conf"), vint(3, 0o400)),
                                      vint(3, 0o644))))
    + msg(1, ld(1, "certs"), msg(2, msg(6, ld(1, "tls"), vint(4, True))))
    + msg(1, ld(1, "claim"), msg(2, msg(10, ld(1, "pvc-1"), vint(2, False))))
    + msg(1, ld(1, "host"), msg(2, msg(1, ld(1, "/var/log"), ld(2, "Directory"))))
    + msg(1, ld(1, "odd"), msg(2, msg(99, ld(1, "some future volume type"))))
    + msg(20, ld(1, "init"), ld(2, "busybox"), ld(3, "true"), msg(8))
    + msg(2, CONTAINER)
    + ld(3, "Always") + vint(4, 30) + vint(5, 600) + ld(6, "ClusterFirst")
    + smap(7, {"disktype": "ssd"}) + ld(8, "app-sa") + ld(9, "app-sa") + vint(21, False) + ld(10, "node-1")
    + vint(11, False) + vint(12, False) + vint(13, False) + msg(14)
    + msg(15, ld(1, "regcred")) + ld(16, "") + ld(17, "")
    + msg(18, msg(1, msg(1, msg(1, msg(1, ld(1, "zone"), ld(2, "In"), ld(3, "a"), ld(3, "b")))),
                  msg(2, vint(1, 10), msg(2, msg(1, ld(1, "gpu"), ld(2, "Exists"))))),
          msg(3, msg(2, vint(1, 50), msg(2, msg(1, msg(1, ld(1, "app"), ld(2, "web"))),
                                           ld(3, "kubernetes.io/hostname")))))
    + ld(19, "default-scheduler")
    + msg(22, ld(1, "dedicated"), ld(2, "Equal"), ld(3, "gpu"), ld(4, "NoSchedule"))
    + msg(22, ld(1, ""), ld(2, "Exists"), ld(3, ""), ld(4, "NoExecute"), vint(5, 300))
    + ld(24, "high") + vint(25, 1000) + vint(30, True)
)

POD_SPEC_JSON = {
    "volumes": [
        {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "scratch", "emptyDir": {"medium": "Memory"}},
        {"name": "cfg", "configMap": {"name": "app-config", "items": [{"key": "app.conf", "path": "app.conf",
                                                                       "mode": 0o400}], "defaultMode": 0o644}},
        {"name": "certs", "secret": {"secretName": "tls", "optional": True}},
        {"name": "claim", "persistentVolumeClaim": {"claimName": "pvc-1"}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
        {"name": "odd"},
    ],
    "initContainers": [{"name": "init", "image": "busybox", "command": ["true"], "resources": {}}],
    "containers": [CONTAINER_JSON],
    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "activeDeadlineSeconds": 600,
    "dnsPolicy": "ClusterFirst", "nodeSelector": {"disktype": "ssd"}, "serviceAccountName": "app-sa",
    "serviceAccount": "app-sa", "automountServiceAccountToken": False, "nodeName": "node-1",
    "securityContext": {}, "imagePullSecrets": [{"name": "regcred"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}}]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                                               "topologyKey": "kubernetes.io/hostname"}}]},
    },
    "schedulerName": "default-scheduler",
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
                    {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
    "priorityClassName": "high", "priority": 1000, "enableServiceLinks": True,
}


def test_deployment_with_a_rich_pod_template() -> None:
    spec = (vint(1, 4)
            + msg(2, smap(1, {"app": "web"}),
                  msg(2, ld(1, "tier"), ld(2, "In"), ld(3, "frontend"), ld(3, "edge")),
                  msg(2, ld(1, "legacy"), ld(2, "DoesNotExist")))
            + msg(3, msg(1, meta(labels={"app": "web", "tier": "frontend"}),
                         smap(12, {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"})),
                  msg(2, POD_SPEC))
            + msg(4, ld(1, "RollingUpdate"), msg(2, ios_str(1, "25%"), ios_int(2, 1)))
            + vint(5, 0) + vint(6, 5) + vint(7, False) + vint(9, 600))
    status = (vint(1, 2) + vint(2, 4) + vint(3, 4) + vint(7, 3) + vint(4, 3) + vint(5, 1)
              + msg(6, ld(1, "Available"), ld(2, "True"), ts(6, 1700000000), ts(7, 1600000000),
                    ld(4, "MinimumReplicasAvailable"), ld(5, "Deployment has minimum availability."))
              + vint(8, 0))
    body = obj("apps/v1", "Deployment", msg(1, meta("web", "prod", labels={"app": "web"})), msg(2, spec),
               msg(3, status))
    assert decode(body) == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"},
                         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
                                              {"key": "legacy", "operator": "DoesNotExist"}]},
            "template": {"metadata": {"labels": {"app": "web", "tier": "frontend"},
                                      "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}},
                         "spec": POD_SPEC_JSON},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
            "revisionHistoryLimit": 5, "progressDeadlineSeconds": 600,
        },
        "status": {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 4, "readyReplicas": 3,
                   "availableReplicas": 3, "unavailableReplicas": 1,
                   "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2023-11-14T22:13:20Z",
                                   "lastTransitionTime": "2020-09-13T12:26:40Z", "reason": "MinimumReplicasAvailable",
                                   "message": "Deployment has minimum availability."}],
                   "collisionCount": 0},
    }


def test_deployment_with_nothing_sent_has_the_go_zero_structs() -> None:
    assert decode(obj("apps/v1", "Deployment")) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {},
        "spec": {"template": {"metadata": {}, "spec": {}}, "strategy": {}}, "status": {}}


def test_deployment_recreate_and_paused() -> None:
    spec = msg(4, ld(1, "Recreate")) + vint(5, 10) + vint(7, True) + vint(1, 0)
    got = decode(obj("apps/v1", "Deployment", msg(1, meta("d")), msg(2, spec)))
    assert got["spec"] == {"replicas": 0, "template": {"metadata": {}, "spec": {}},
                           "strategy": {"type": "Recreate"}, "minReadySeconds": 10, "paused": True}


def test_pod() -> None:
    body = obj("v1", "Pod", msg(1, meta("p", "ns")),
               msg(2, msg(2, ld(1, "c"), ld(2, "nginx"), msg(8)), ld(3, "Never"), msg(36, ld(1, "linux")),
                   ld(29, ""), msg(14, vint(2, 1000), vint(4, 1), vint(4, 2), vint(5, 2000),
                                    msg(7, ld(1, "net.core.somaxconn"), ld(2, "1024")))),
               msg(3, ld(1, "Pending"), ld(9, "BestEffort"),
                   msg(2, ld(1, "PodScheduled"), ld(2, "False"), ld(3, b""), ts(4, 0), ld(5, "Unschedulable"),
                       ld(6, ""))))
    assert decode(body) == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {}}], "restartPolicy": "Never",
                 "os": {"name": "linux"}, "runtimeClassName": "",
                 "securityContext": {"runAsUser": 1000, "supplementalGroups": [1, 2], "fsGroup": 2000,
                                     "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]}},
        "status": {"phase": "Pending", "qosClass": "BestEffort",
                   "conditions": [{"type": "PodScheduled", "status": "False",
                                   "lastTransitionTime": "1970-01-01T00:00:00Z", "reason": "Unschedulable"}]},
    }


def test_secret_and_service_account() -> None:
    secret = obj("v1", "Secret", msg(1, meta("s", "ns")), smap(2, {"k": b"\x00\x01binary"}),
                 smap(4, {"plain": "text"}), ld(3, "kubernetes.io/tls"), vint(5, True))
    assert decode(secret) == {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
                              "data": {"k": "AAFiaW5hcnk="}, "stringData": {"plain": "text"},
                              "type": "kubernetes.io/tls", "immutable": True}
    sa = obj("v1", "ServiceAccount", msg(1, meta("sa", "ns")),
             msg(2, ld(1, ""), ld(2, ""), ld(3, "sa-token"), ld(4, ""), ld(5, ""), ld(6, ""), ld(7, "")),
             msg(3, ld(1, "regcred")), vint(4, False))
    assert decode(sa) == {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "ns"},
                          "secrets": [{"name": "sa-token"}], "imagePullSecrets": [{"name": "regcred"}],
                          "automountServiceAccountToken": False}


def test_service_ports_and_affinity() -> None:
    spec = (msg(1, ld(1, "http"), ld(2, "TCP"), ld(6, "kubernetes.io/h2c"), vint(3, 80), ios_str(4, "web"),
                vint(5, 30080))
            + msg(1, ld(1, ""), ld(2, "UDP"), vint(3, 53), vint(5, 0))
            + smap(2, {"app": "dns"}) + ld(3, "None") + ld(18, "None") + ld(4, "NodePort")
            + ld(7, "ClientIP") + msg(14, msg(1, vint(1, 10800))) + ld(17, "SingleStack") + ld(19, "IPv4")
            + ld(22, "Local") + vint(13, True))
    got = decode(obj("v1", "Service", msg(1, meta("svc", "ns")), msg(2, spec),
                     msg(3, msg(1, msg(1, ld(1, "1.2.3.4"), ld(2, ""), msg(4, vint(1, 80), ld(2, "TCP")))))))
    assert got["spec"] == {
        "ports": [{"name": "http", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c", "port": 80,
                   "targetPort": "web", "nodePort": 30080},
                  {"protocol": "UDP", "port": 53, "targetPort": 0}],
        "selector": {"app": "dns"}, "clusterIP": "None", "clusterIPs": ["None"], "type": "NodePort",
        "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
        "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"], "internalTrafficPolicy": "Local",
        "publishNotReadyAddresses": True}
    assert got["status"] == {"loadBalancer": {"ingress": [{"ip": "1.2.3.4",
                                                            "ports": [{"port": 80, "protocol": "TCP"}]}]}}


def test_job() -> None:
    spec = (vint(1, 2) + vint(2, 4) + vint(7, 0) + vint(8, 100) + ld(9, "Indexed") + vint(10, False)
            + msg(4, smap(1, {"job": "x"})) + vint(5, True) + msg(6, msg(1, meta()), msg(2, ld(3, "OnFailure"))))
    status = msg(1, ld(1, "Complete"), ld(2, "True"), ld(3, b""), ts(4, 1700000000), ld(5, ""), ld(6, "")) + \
        ts(2, 1700000000) + vint(5, 4) + vint(4, 0) + ld(7, "0-3") + msg(8) + vint(9, 0)
    got = decode(obj("batch/v1", "Job", msg(1, meta("j")), msg(2, spec), msg(3, status)))
    assert got["spec"] == {"parallelism": 2, "completions": 4, "backoffLimit": 0, "ttlSecondsAfterFinished": 100,
                           "completionMode": "Indexed", "suspend": False, "selector": {"matchLabels": {"job": "x"}},
                           "manualSelector": True, "template": {"metadata": {}, "spec": {"restartPolicy": "OnFailure"}}}
    assert got["status"] == {"conditions": [{"type": "Complete", "status": "True",
                                             "lastTransitionTime": "2023-11-14T22:13:20Z"}],
                             "startTime": "2023-11-14T22:13:20Z", "succeeded": 4, "completedIndexes": "0-3",
                             "uncountedTerminatedPods": {}, "ready": 0}


def test_rbac_kinds() -> None:
    rule = msg(2, ld(1, "get"), ld(1, "list"), ld(2, ""), ld(2, "apps"), ld(3, "pods"), ld(4, "one"))
    assert decode(obj("rbac.authorization.k8s.io/v1", "Role", msg(1, meta("r", "ns")), rule)) == {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "ns"},
        "rules": [{"verbs": ["get", "list"], "apiGroups": ["", "apps"], "resources": ["pods"],
                   "resourceNames": ["one"]}]}
    cr = decode(obj("rbac.authorization.k8s.io/v1", "ClusterRole", msg(1, meta("cr")),
                    msg(2, ld(1, "get"), ld(5, "/healthz"), ld(5, "/logs/*"))))
    assert cr["rules"] == [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/logs/*"]}]
    crb = decode(obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", msg(1, meta("crb")),
                     msg(3, ld(1, "rbac.authorization.k8s.io"), ld(2, "ClusterRole"), ld(3, "view"))))
    assert crb == {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "crb"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}}
    # roleRef's members carry no omitempty: written even when nothing was sent
    assert decode(obj("rbac.authorization.k8s.io/v1", "RoleBinding"))["roleRef"] == \
        {"apiGroup": "", "kind": "", "name": ""}


# --------------------------------------------------------------------------- scalars and special types

def test_int_or_string() -> None:
    def strategy(*ios: bytes) -> dict:
        got = decode(obj("apps/v1", "Deployment", msg(2, msg(4, msg(2, *ios)))))
        return got["spec"]["strategy"]["rollingUpdate"]

    assert strategy(ios_int(1, 0), ios_str(2, "0%")) == {"maxUnavailable": 0, "maxSurge": "0%"}
    assert strategy(ios_int(1, -3)) == {"maxUnavailable": -3}
    assert strategy(msg(1)) == {"maxUnavailable": 0}  # an empty IntOrString is the int 0
    assert strategy(msg(2, vint(1, 1))) == {"maxSurge": ""}
    with pytest.raises(ProtobufError, match="IntOrString type 2"):
        strategy(msg(1, vint(1, 2), ld(3, "x")))


def test_negative_and_wide_integers() -> None:
    # Go sign-extends a negative int32 to a 10-byte varint; int64 keeps all 64 bits
    spec = vint(4, -1) + vint(5, -(2 ** 63)) + vint(25, -(2 ** 31))
    got = decode_message("PodSpec", spec)
    assert got == {"terminationGracePeriodSeconds": -1, "activeDeadlineSeconds": -(2 ** 63), "priority": -(2 ** 31)}
    # an int32 field reads only the low 32 bits, as Go's int32() does
    assert decode_message("PodSpec", vint(25, 2 ** 32 + 7)) == {"priority": 7}
    assert decode_message("ObjectMeta", vint(7, 2 ** 63 - 1)) == {"generation": 2 ** 63 - 1}


def test_repeated_numbers_packed_or_not() -> None:
    packed = ld(4, uvarint(1) + uvarint(300) + uvarint(-5))
    unpacked = vint(4, 7) + vint(4, 8)
    assert decode_message("PodSecurityContext", packed + unpacked) == {"supplementalGroups": [1, 300, -5, 7, 8]}


def test_time_forms() -> None:
    def created(t: bytes) -> dict:
        return decode_message("ObjectMeta", ld(1, "x") + t)

    assert created(ld(8, b"")) == {"name": "x"}  # Go's zero Time: null, left out
    assert created(ts(8, 0)) == {"name": "x", "creationTimestamp": "1970-01-01T00:00:00Z"}
    assert created(ts(8, 1700000000, 999_999_999)) == {"name": "x", "creationTimestamp": "2023-11-14T22:13:20Z"}
    assert created(ts(8, -86400)) == {"name": "x", "creationTimestamp": "1969-12-31T00:00:00Z"}
    assert created(ts(8, 253402300799)) == {"name": "x", "creationTimestamp": "9999-12-31T23:59:59Z"}
    assert created(ts(8, -62135596800)) == {"name": "x", "creationTimestamp": "0001-01-01T00:00:00Z"}
    for bad in (253402300800, -62135596801, 2 ** 62):
        with pytest.raises(ProtobufError, match="out of range"):
            created(ts(8, bad))


def test_strings_are_utf8_with_invalid_bytes_replaced() -> None:
    assert decode_message("ObjectMeta", ld(1, "caf\u00e9") + ld(3, b"a\xffb")) == \
        {"name": "café", "namespace": "a\ufffdb"}


def test_last_scalar_wins_and_repeated_messages_merge() -> None:
    # a singular field sent twice: the last value; a singular message sent twice: merged
    body = obj("apps/v1", "Deployment",
               msg(1, ld(1, "first"), smap(11, {"a": "1"})),
               msg(2, vint(1, 1)),
               msg(1, ld(1, "second"), smap(11, {"b": "2", "a": "3"})),
               msg(2, vint(1, 5), vint(6, 2)))
    got = decode(body)
    assert got["metadata"] == {"name": "second", "labels": {"a": "3", "b": "2"}}
    assert got["spec"]["replicas"] == 5 and got["spec"]["revisionHistoryLimit"] == 2


def test_map_entries_missing_key_or_value() -> None:
    labels = msg(11, ld(2, "no-key")) + msg(11, ld(1, "no-value")) + msg(11)
    assert decode_message("ObjectMeta", labels) == {"labels": {"": "", "no-value": ""}}
    limits = msg(1, ld(1, "cpu"))
    assert decode_message("ResourceRequirements", limits) == {"limits": {"cpu": "0"}}


# --------------------------------------------------------------------------- unknown fields

UNKNOWN = (vint(90, 1) + fixed64(91, 2 ** 64 - 1) + fixed32(92, 7) + ld(93, b"\xff\xff whatever")
           + group(94, vint(1, 1), group(2, ld(3, "nested")), fixed32(4, 0)) + vint(536870911, 9))


def test_unknown_fields_are_skipped_at_every_level() -> None:
    container = ld(1, "c") + UNKNOWN + ld(2, "nginx") + msg(6, vint(3, 80), UNKNOWN)
    body = envelope("apps/v1", "Deployment",
                    msg(1, ld(1, "web"), UNKNOWN) + UNKNOWN
                    + msg(2, UNKNOWN, msg(3, msg(2, UNKNOWN, msg(2, container), msg(34, ld(1, "ephemeral"))))),
                    extra=UNKNOWN)
    assert decode(body) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"metadata": {}, "spec": {"containers": [
            {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {}}]}},
            "strategy": {}},
        "status": {}}
    # a known field number with a type from an unknown future schema is skipped, too
    assert decode(obj("v1", "Namespace", msg(1, ld(1, "n")), msg(2, UNKNOWN), UNKNOWN))["spec"] == {}


# --------------------------------------------------------------------------- malformed input

NS_HEAD = MAGIC + msg(1, ld(1, "v1"), ld(2, "Namespace"))

MALFORMED = [
    (b"", "k8s\\x00 prefix"),
    (b'{"kind": "Namespace"}', "k8s\\x00 prefix"),
    (b"k8s", "k8s\\x00 prefix"),
    (MAGIC + b"\x0a", "truncated varint"),
    (MAGIC + b"\x0a\x05\x0a\x02", "truncated"),
    (MAGIC + b"\x0a\xff\xff\xff\xff\x0f", "truncated"),
    (MAGIC + b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", "varint"),
    (MAGIC + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", "overflows 64 bits"),
    (MAGIC + b"\x00\x01", "invalid field number 0"),
    (MAGIC + b"\x0e", "invalid wire type 6"),
    (MAGIC + b"\x0f", "invalid wire type 7"),
    (MAGIC + fixed64(9, 1)[:-1], "truncated fixed64"),
    (MAGIC + fixed32(9, 1)[:-2], "truncated fixed32"),
    (MAGIC + key(9, 3) + vint(1, 1), "truncated group"),
    (MAGIC + key(9, 3) + key(8, 4), "mismatched end-group"),
    (MAGIC + key(9, 4), "unexpected end-group"),
    (MAGIC + vint(1, 5), "expected a length-delimited message"),
    (MAGIC + msg(1, vint(1, 1)), "Unknown.typeMeta.apiVersion: wire type 0, expected length-delimited"),
    (NS_HEAD + vint(2, 1), "Unknown.raw: wire type 0"),
    (NS_HEAD + ld(2, msg(1, vint(1, 3))), "Namespace.metadata.name: wire type 0"),
    (NS_HEAD + ld(2, msg(1, ld(7, "x"))), "Namespace.metadata.generation: wire type 2, expected varint"),
    (NS_HEAD + ld(2, msg(1, msg(8, ld(1, "x")))), "creationTimestamp.seconds"),
    (NS_HEAD + ld(2, msg(1, msg(11, vint(1, 1)))), "Namespace.metadata.labels key"),
    (NS_HEAD + ld(2, msg(1, vint(11, 1))), "expected a map entry"),
    (NS_HEAD + ld(2, msg(2, ld(1, "a") + b"\x0a\x09ab")), "Namespace.spec: field 1 needs 9 bytes, 2 left"),
    (NS_HEAD + ld(2, msg(2, vint(1, 1))), "Namespace.spec.finalizers"),
    (NS_HEAD + ld(2, b"") + ld(3, "gzip"), "content encoding 'gzip'"),
    (NS_HEAD + ld(2, b"") + ld(4, "application/cbor"), "content type 'application/cbor'"),
    (MAGIC + msg(1, ld(1, "v1"), ld(2, "Namespace")) + ld(2, b"{") + ld(4, "application/json"), "embedded JSON"),
    (MAGIC + ld(2, b"[1]") + ld(4, "application/json"), "not an object"),
]


@pytest.mark.parametrize("body,message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_bodies_raise_one_clear_line(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError) as e:
        decode(body)
    assert not isinstance(e.value, UnsupportedKind)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_envelope_without_a_known_kind() -> None:
    with pytest.raises(UnsupportedKind, match="'<none>'"):
        decode(MAGIC)
    with pytest.raises(UnsupportedKind, match="'StatefulSet' in version 'apps/v1'"):
        decode(obj("apps/v1", "StatefulSet", msg(1, meta("s"))))
    with pytest.raises(UnsupportedKind):  # kinds are matched exactly
        decode(obj("apps/v1beta1", "Deployment"))


def test_embedded_json_is_taken_as_is() -> None:
    raw = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}).encode()
    assert decode(envelope("v1", "ConfigMap", raw, content_type="application/json")) == \
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}
    assert decode(envelope("v1", "Namespace", b"", content_type=PB)) == \
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {}, "spec": {}, "status": {}}


def _real_bodies() -> list[bytes]:
    return [bytes.fromhex(h) for h, _ in KUBECTL_BODIES.values()] + [
        obj("apps/v1", "Deployment", msg(1, meta("web")), msg(2, msg(3, msg(2, POD_SPEC)))), TOKEN_REQUEST]


def test_every_truncation_is_a_clean_result_or_error() -> None:
    for body in _real_bodies():
        for i in range(len(body)):
            try:
                json.dumps(decode(body[:i]))
            except ProtobufError as e:
                assert str(e) and "\n" not in str(e)


def test_random_corruption_never_escapes_as_another_error() -> None:
    rng = random.Random(20240601)
    bodies = _real_bodies()
    for _ in range(3000):
        b = bytearray(rng.choice(bodies))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            at = rng.randrange(len(b))
            if op < 0.6:
                b[at] = rng.randrange(256)
            elif op < 0.8:
                del b[at]
            else:
                b.insert(at, rng.randrange(256))
        try:
            json.dumps(decode(bytes(b)))
        except ProtobufError as e:
            assert str(e) and "\n" not in str(e)


# --------------------------------------------------------------------------- the HTTP front's body decoding

def test_http_front_decodes_protobuf_bodies() -> None:
    body, want = KUBECTL_BODIES["create deployment web --image=nginx --replicas=3 --port=80"]
    assert _decode_body(bytes.fromhex(body), PB, patch=False) == want
    assert _decode_body(bytes.fromhex(body), PB + "; charset=binary", patch=False) == want


def test_http_front_answers_415_for_kinds_without_a_schema() -> None:
    with pytest.raises(errors.ApiError) as e:
        _decode_body(EVENT, PB, patch=False)
    assert e.value.code == 415
    assert e.value.reason == errors.Reason.UNSUPPORTED_MEDIA_TYPE
    assert "accepted only for v1/Namespace, v1/ConfigMap" in e.value.message
    assert "apps/v1/Deployment" in e.value.message
    assert "not events.k8s.io/v1/Event" in e.value.message


def test_http_front_answers_400_for_malformed_protobuf() -> None:
    with pytest.raises(errors.ApiError) as e:
        _decode_body(MAGIC + b"\x0a\x05", PB, patch=False)
    assert e.value.code == 400
    assert e.value.message.startswith("couldn't decode the protobuf body: ")
    with pytest.raises(errors.ApiError) as e:
        _decode_body(b'{"kind": "ConfigMap"}', PB, patch=False)
    assert e.value.code == 400 and "k8s\\x00 prefix" in e.value.message
