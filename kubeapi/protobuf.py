"""Kubernetes protobuf request bodies → the JSON objects they stand for.

kubectl's imperative generators (``kubectl create namespace|configmap|secret|serviceaccount|
service|deployment|job|role|rolebinding|clusterrole|clusterrolebinding``) send
``application/vnd.kubernetes.protobuf`` bodies and do not fall back to JSON after a 415, so
the API server decodes the kinds they send (:data:`KINDS`).

The wire format is read here directly (varints, length-delimited fields, fixed32/64; groups
are skipped), driven by a schema of each supported message: field numbers and types as in
upstream's ``generated.proto`` files, plus how each field's Go JSON tag treats zero values.
The result is the dict the JSON encoding of the same Go object would give:

* ``omitempty`` scalars are left out when zero (Go's encoder writes non-pointer strings and
  numbers to protobuf even when empty, so presence alone says nothing);
* scalars without ``omitempty`` are always present, zero if not sent;
* pointer fields are present exactly when they were sent (``replicas: 0`` survives);
* non-pointer structs are always present (``"resources": {}``, ``"strategy": {}``,
  ``"status": {}``) — Go's ``omitempty`` never drops a struct;
* empty lists and maps are left out, and so is a zero ``metav1.Time`` (JSON ``null``);
* ``bytes`` become base64 strings, ``Time`` an RFC 3339 string in UTC with seconds
  precision, ``Quantity`` its string, ``IntOrString`` a JSON number or string.

A body is the 4-byte magic ``k8s\\x00`` and a ``runtime.Unknown`` whose ``typeMeta`` names the
kind and whose ``raw`` is the object's message. Fields this schema does not know are
skipped, and so dropped from the result (among them ``managedFields``, ephemeral containers,
volume types other than the common ones, a Job's pod failure and success policies, a
Service's status conditions); kinds it does not know raise
:class:`UnsupportedKind`; truncated or malformed input raises :class:`ProtobufError`.

Pure and synchronous: no I/O.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["MAGIC", "ProtobufError", "UnsupportedKind", "decode", "decode_message", "supported_kinds"]

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"

_MAX_FIELD = (1 << 29) - 1
_MAX_DEPTH = 64  # nested groups while skipping unknown fields


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf object."""


class UnsupportedKind(ProtobufError):
    """A well-formed envelope around a kind this decoder has no schema for."""

    def __init__(self, api_version: str, kind: str) -> None:
        self.api_version = api_version
        self.kind = kind
        gv = api_version or "<none>"
        super().__init__(f"no protobuf schema for kind {kind or '<none>'!r} in version {gv!r}")


# --------------------------------------------------------------------------- wire format

_VARINT, _FIXED64, _LEN, _SGROUP, _EGROUP, _FIXED32 = 0, 1, 2, 3, 4, 5


def _varint(buf: bytes, pos: int, where: str) -> tuple[int, int]:
    result = shift = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise ProtobufError(f"{where}: truncated varint")
        b = buf[pos]
        pos += 1
        if shift == 63 and b > 1:
            raise ProtobufError(f"{where}: varint overflows 64 bits")
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError(f"{where}: varint longer than 10 bytes")


def _key(buf: bytes, pos: int, where: str) -> tuple[int, int, int]:
    key, pos = _varint(buf, pos, where)
    num, wt = key >> 3, key & 7
    if num == 0 or num > _MAX_FIELD:
        raise ProtobufError(f"{where}: invalid field number {num}")
    return num, wt, pos


def _skip_group(buf: bytes, pos: int, start_num: int, where: str) -> int:
    """Past the end-group matching an already-read start-group of field ``start_num``."""
    stack = [start_num]
    n = len(buf)
    while stack:
        if pos >= n:
            raise ProtobufError(f"{where}: truncated group (field {stack[-1]})")
        num, wt, pos = _key(buf, pos, where)
        if wt == _VARINT:
            _, pos = _varint(buf, pos, where)
        elif wt == _FIXED64:
            pos += 8
        elif wt == _FIXED32:
            pos += 4
        elif wt == _LEN:
            ln, pos = _varint(buf, pos, where)
            pos += ln
        elif wt == _SGROUP:
            if len(stack) >= _MAX_DEPTH:
                raise ProtobufError(f"{where}: groups nested too deeply")
            stack.append(num)
        elif wt == _EGROUP:
            if stack.pop() != num:
                raise ProtobufError(f"{where}: mismatched end-group (field {num})")
        else:
            raise ProtobufError(f"{where}: invalid wire type {wt} (field {num})")
        if pos > n:
            raise ProtobufError(f"{where}: truncated field {num} in a group")
    return pos


def _fields(buf: bytes, where: str) -> dict[int, list[tuple[int, Any]]]:
    """Every field occurrence by number, in wire order: ``(wire type, int or bytes)``."""
    out: dict[int, list[tuple[int, Any]]] = {}
    pos, n = 0, len(buf)
    while pos < n:
        num, wt, pos = _key(buf, pos, where)
        if wt == _VARINT:
            val, pos = _varint(buf, pos, where)
        elif wt in (_FIXED64, _FIXED32):
            size = 8 if wt == _FIXED64 else 4
            if pos + size > n:
                raise ProtobufError(f"{where}: truncated fixed{size * 8} field {num}")
            val = int.from_bytes(buf[pos:pos + size], "little")
            pos += size
        elif wt == _LEN:
            ln, pos = _varint(buf, pos, where)
            if ln > n - pos:
                raise ProtobufError(f"{where}: field {num} needs {ln} bytes, {n - pos} left (truncated)")
            val = buf[pos:pos + ln]
            pos += ln
        elif wt == _SGROUP:
            pos = _skip_group(buf, pos, num, where)
            continue
        elif wt == _EGROUP:
            raise ProtobufError(f"{where}: unexpected end-group (field {num})")
        else:
            raise ProtobufError(f"{where}: invalid wire type {wt} (field {num})")
        out.setdefault(num, []).append((wt, val))
    return out


# --------------------------------------------------------------------------- schema

# scalar kinds
STR, BYTES, I32, I64, BOOL = "string", "bytes", "int32", "int64", "bool"
# message-like kinds with their own JSON form
TIME, QTY, IOS = "Time", "Quantity", "IntOrString"
_SCALARS = {STR, BYTES, I32, I64, BOOL}
_ZERO: dict[str, Any] = {STR: "", BYTES: "", I32: 0, I64: 0, BOOL: False}

# modes: how the Go JSON encoder treats the field
OMIT = "omitempty"  # scalar with omitempty: left out when zero
KEEP = "keep"       # no omitempty: always written, zero if not sent
PTR = "pointer"     # pointer: written exactly when sent
STRUCT = "struct"   # non-pointer struct: always written
INLINE = "inline"   # embedded struct: its fields join the parent's
LIST = "list"       # repeated: written when non-empty
MAP = "map"         # map<string, kind>: written when non-empty


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    mode: str


def o(name: str, kind: str = STR) -> Field:
    return Field(name, kind, OMIT)


def k(name: str, kind: str = STR) -> Field:
    return Field(name, kind, KEEP)


def p(name: str, kind: str = STR) -> Field:
    return Field(name, kind, PTR)


def s(name: str, kind: str) -> Field:
    return Field(name, kind, STRUCT)


def inline(kind: str) -> Field:
    return Field("", kind, INLINE)


def ls(name: str, kind: str = STR) -> Field:
    return Field(name, kind, LIST)


def mp(name: str, kind: str = STR) -> Field:
    return Field(name, kind, MAP)


LOR = "LocalObjectReference"

SCHEMAS: dict[str, dict[int, Field]] = {
    # ---- k8s.io/apimachinery/pkg/runtime
    "Unknown": {1: s("typeMeta", "TypeMeta"), 2: k("raw", BYTES), 3: o("contentEncoding"),
                4: o("contentType")},
    "TypeMeta": {1: o("apiVersion"), 2: o("kind")},
    # ---- k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": {
        1: o("name"), 2: o("generateName"), 3: o("namespace"), 5: o("uid"), 6: o("resourceVersion"),
        7: o("generation", I64), 8: s("creationTimestamp", TIME), 9: p("deletionTimestamp", TIME),
        10: p("deletionGracePeriodSeconds", I64), 11: mp("labels"), 12: mp("annotations"),
        13: ls("ownerReferences", "OwnerReference"), 14: ls("finalizers"),
    },
    "OwnerReference": {5: k("apiVersion"), 1: k("kind"), 3: k("name"), 4: k("uid"),
                       6: p("controller", BOOL), 7: p("blockOwnerDeletion", BOOL)},
    "LabelSelector": {1: mp("matchLabels"), 2: ls("matchExpressions", "LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: k("key"), 2: k("operator"), 3: ls("values")},
    # ---- k8s.io/api/core/v1: the objects
    "Namespace": {1: s("metadata", "ObjectMeta"), 2: s("spec", "NamespaceSpec"),
                  3: s("status", "NamespaceStatus")},
    "NamespaceSpec": {1: ls("finalizers")},
    "NamespaceStatus": {1: o("phase"), 2: ls("conditions", "NamespaceCondition")},
    "NamespaceCondition": {1: k("type"), 2: k("status"), 4: s("lastTransitionTime", TIME),
                           5: o("reason"), 6: o("message")},
    "ConfigMap": {1: s("metadata", "ObjectMeta"), 4: p("immutable", BOOL), 2: mp("data"),
                  3: mp("binaryData", BYTES)},
    "Secret": {1: s("metadata", "ObjectMeta"), 5: p("immutable", BOOL), 2: mp("data", BYTES),
               4: mp("stringData"), 3: o("type")},
    "ServiceAccount": {1: s("metadata", "ObjectMeta"), 2: ls("secrets", "ObjectReference"),
                       3: ls("imagePullSecrets", LOR), 4: p("automountServiceAccountToken", BOOL)},
    "ObjectReference": {1: o("kind"), 2: o("namespace"), 3: o("name"), 4: o("uid"), 5: o("apiVersion"),
                        6: o("resourceVersion"), 7: o("fieldPath")},
    "Pod": {1: s("metadata", "ObjectMeta"), 2: s("spec", "PodSpec"), 3: s("status", "PodStatus")},
    "PodStatus": {1: o("phase"), 2: ls("conditions", "PodCondition"), 3: o("message"), 4: o("reason"),
                  11: o("nominatedNodeName"), 5: o("hostIP"), 16: ls("hostIPs", "HostIP"), 6: o("podIP"),
                  12: ls("podIPs", "PodIP"), 7: p("startTime", TIME), 9: o("qosClass")},
    "PodCondition": {1: k("type"), 7: o("observedGeneration", I64), 2: k("status"),
                     3: s("lastProbeTime", TIME), 4: s("lastTransitionTime", TIME), 5: o("reason"),
                     6: o("message")},
    "HostIP": {1: k("ip")},
    "PodIP": {1: k("ip")},
    # ---- pod templates and specs
    "PodTemplateSpec": {1: s("metadata", "ObjectMeta"), 2: s("spec", "PodSpec")},
    "PodSpec": {
        1: ls("volumes", "Volume"), 20: ls("initContainers", "Container"), 2: ls("containers", "Container"),
        3: o("restartPolicy"), 4: p("terminationGracePeriodSeconds", I64),
        5: p("activeDeadlineSeconds", I64), 6: o("dnsPolicy"), 7: mp("nodeSelector"),
        8: o("serviceAccountName"), 9: o("serviceAccount"), 21: p("automountServiceAccountToken", BOOL),
        10: o("nodeName"), 11: o("hostNetwork", BOOL), 12: o("hostPID", BOOL), 13: o("hostIPC", BOOL),
        27: p("shareProcessNamespace", BOOL), 14: p("securityContext", "PodSecurityContext"),
        15: ls("imagePullSecrets", LOR), 16: o("hostname"), 17: o("subdomain"),
        18: p("affinity", "Affinity"), 19: o("schedulerName"), 22: ls("tolerations", "Toleration"),
        23: ls("hostAliases", "HostAlias"), 24: o("priorityClassName"), 25: p("priority", I32),
        26: p("dnsConfig", "PodDNSConfig"), 28: ls("readinessGates", "PodReadinessGate"),
        29: p("runtimeClassName"), 30: p("enableServiceLinks", BOOL), 31: p("preemptionPolicy"),
        32: mp("overhead", QTY), 33: ls("topologySpreadConstraints", "TopologySpreadConstraint"),
        35: p("setHostnameAsFQDN", BOOL), 36: p("os", "PodOS"), 37: p("hostUsers", BOOL),
        38: ls("schedulingGates", "PodSchedulingGate"), 39: ls("resourceClaims", "PodResourceClaim"),
        40: p("resources", "ResourceRequirements"), 41: p("hostnameOverride"),
    },
    "Container": {
        1: k("name"), 2: o("image"), 3: ls("command"), 4: ls("args"), 5: o("workingDir"),
        6: ls("ports", "ContainerPort"), 19: ls("envFrom", "EnvFromSource"), 7: ls("env", "EnvVar"),
        8: s("resources", "ResourceRequirements"), 23: ls("resizePolicy", "ContainerResizePolicy"),
        24: p("restartPolicy"), 9: ls("volumeMounts", "VolumeMount"),
        21: ls("volumeDevices", "VolumeDevice"), 10: p("livenessProbe", "Probe"),
        11: p("readinessProbe", "Probe"), 22: p("startupProbe", "Probe"), 12: p("lifecycle", "Lifecycle"),
        13: o("terminationMessagePath"), 20: o("terminationMessagePolicy"), 14: o("imagePullPolicy"),
        15: p("securityContext", "SecurityContext"), 16: o("stdin", BOOL), 17: o("stdinOnce", BOOL),
        18: o("tty", BOOL),
    },
    "ContainerPort": {1: o("name"), 2: o("hostPort", I32), 3: k("containerPort", I32), 4: o("protocol"),
                      5: o("hostIP")},
    "ContainerResizePolicy": {1: k("resourceName"), 2: k("restartPolicy")},
    "EnvVar": {1: k("name"), 2: o("value"), 3: p("valueFrom", "EnvVarSource")},
    "EnvVarSource": {1: p("fieldRef", "ObjectFieldSelector"), 2: p("resourceFieldRef", "ResourceFieldSelector"),
                     3: p("configMapKeyRef", "ConfigMapKeySelector"), 4: p("secretKeyRef", "SecretKeySelector"),
                     5: p("fileKeyRef", "FileKeySelector")},
    "ObjectFieldSelector": {1: o("apiVersion"), 2: k("fieldPath")},
    "ResourceFieldSelector": {1: o("containerName"), 2: k("resource"), 3: s("divisor", QTY)},
    "ConfigMapKeySelector": {1: inline(LOR), 2: k("key"), 3: p("optional", BOOL)},
    "SecretKeySelector": {1: inline(LOR), 2: k("key"), 3: p("optional", BOOL)},
    "FileKeySelector": {1: k("volumeName"), 2: k("path"), 3: k("key"), 4: p("optional", BOOL)},
    "EnvFromSource": {1: o("prefix"), 2: p("configMapRef", "ConfigMapEnvSource"),
                      3: p("secretRef", "SecretEnvSource")},
    "ConfigMapEnvSource": {1: inline(LOR), 2: p("optional", BOOL)},
    "SecretEnvSource": {1: inline(LOR), 2: p("optional", BOOL)},
    LOR: {1: o("name")},
    "ResourceRequirements": {1: mp("limits", QTY), 2: mp("requests", QTY), 3: ls("claims", "ResourceClaim")},
    "ResourceClaim": {1: k("name"), 2: o("request")},
    "VolumeMount": {1: k("name"), 2: o("readOnly", BOOL), 7: p("recursiveReadOnly"), 3: k("mountPath"),
                    4: o("subPath"), 5: p("mountPropagation"), 6: o("subPathExpr")},
    "VolumeDevice": {1: k("name"), 2: k("devicePath")},
    # probes and lifecycle hooks
    "Probe": {1: inline("ProbeHandler"), 2: o("initialDelaySeconds", I32), 3: o("timeoutSeconds", I32),
              4: o("periodSeconds", I32), 5: o("successThreshold", I32), 6: o("failureThreshold", I32),
              7: p("terminationGracePeriodSeconds", I64)},
    "ProbeHandler": {1: p("exec", "ExecAction"), 2: p("httpGet", "HTTPGetAction"),
                     3: p("tcpSocket", "TCPSocketAction"), 4: p("grpc", "GRPCAction")},
    "ExecAction": {1: ls("command")},
    "HTTPGetAction": {1: o("path"), 2: s("port", IOS), 3: o("host"), 4: o("scheme"),
                      5: ls("httpHeaders", "HTTPHeader")},
    "HTTPHeader": {1: k("name"), 2: k("value")},
    "TCPSocketAction": {1: s("port", IOS), 2: o("host")},
    "GRPCAction": {1: k("port", I32), 2: p("service")},
    "Lifecycle": {1: p("postStart", "LifecycleHandler"), 2: p("preStop", "LifecycleHandler"),
                  3: p("stopSignal")},
    "LifecycleHandler": {1: p("exec", "ExecAction"), 2: p("httpGet", "HTTPGetAction"),
                         3: p("tcpSocket", "TCPSocketAction"), 4: p("sleep", "SleepAction")},
    "SleepAction": {1: k("seconds", I64)},
    # security
    "PodSecurityContext": {
        1: p("seLinuxOptions", "SELinuxOptions"), 8: p("windowsOptions", "WindowsSecurityContextOptions"),
        2: p("runAsUser", I64), 6: p("runAsGroup", I64), 3: p("runAsNonRoot", BOOL),
        4: ls("supplementalGroups", I64), 12: p("supplementalGroupsPolicy"), 5: p("fsGroup", I64),
        7: ls("sysctls", "Sysctl"), 9: p("fsGroupChangePolicy"), 10: p("seccompProfile", "SeccompProfile"),
        11: p("appArmorProfile", "AppArmorProfile"), 13: p("seLinuxChangePolicy"),
    },
    "SecurityContext": {
        1: p("capabilities", "Capabilities"), 2: p("privileged", BOOL), 3: p("seLinuxOptions", "SELinuxOptions"),
        10: p("windowsOptions", "WindowsSecurityContextOptions"), 4: p("runAsUser", I64),
        8: p("runAsGroup", I64), 5: p("runAsNonRoot", BOOL), 6: p("readOnlyRootFilesystem", BOOL),
        7: p("allowPrivilegeEscalation", BOOL), 9: p("procMount"), 11: p("seccompProfile", "SeccompProfile"),
        12: p("appArmorProfile", "AppArmorProfile"),
    },
    "Capabilities": {1: ls("add"), 2: ls("drop")},
    "SELinuxOptions": {1: o("user"), 2: o("role"), 3: o("type"), 4: o("level")},
    "WindowsSecurityContextOptions": {1: p("gmsaCredentialSpecName"), 2: p("gmsaCredentialSpec"),
                                      3: p("runAsUserName"), 4: p("hostProcess", BOOL)},
    "SeccompProfile": {1: k("type"), 2: p("localhostProfile")},
    "AppArmorProfile": {1: k("type"), 2: p("localhostProfile")},
    "Sysctl": {1: k("name"), 2: k("value")},
    # scheduling
    "Toleration": {1: o("key"), 2: o("operator"), 3: o("value"), 4: o("effect"),
                   5: p("tolerationSeconds", I64)},
    "Affinity": {1: p("nodeAffinity", "NodeAffinity"), 2: p("podAffinity", "PodAffinity"),
                 3: p("podAntiAffinity", "PodAffinity")},
    "NodeAffinity": {1: p("requiredDuringSchedulingIgnoredDuringExecution", "NodeSelector"),
                     2: ls("preferredDuringSchedulingIgnoredDuringExecution", "PreferredSchedulingTerm")},
    "NodeSelector": {1: ls("nodeSelectorTerms", "NodeSelectorTerm")},
    "NodeSelectorTerm": {1: ls("matchExpressions", "NodeSelectorRequirement"),
                         2: ls("matchFields", "NodeSelectorRequirement")},
    "NodeSelectorRequirement": {1: k("key"), 2: k("operator"), 3: ls("values")},
    "PreferredSchedulingTerm": {1: k("weight", I32), 2: s("preference", "NodeSelectorTerm")},
    # PodAntiAffinity has the same shape
    "PodAffinity": {1: ls("requiredDuringSchedulingIgnoredDuringExecution", "PodAffinityTerm"),
                    2: ls("preferredDuringSchedulingIgnoredDuringExecution", "WeightedPodAffinityTerm")},
    "PodAffinityTerm": {1: p("labelSelector", "LabelSelector"), 2: ls("namespaces"), 3: k("topologyKey"),
                        4: p("namespaceSelector", "LabelSelector"), 5: ls("matchLabelKeys"),
                        6: ls("mismatchLabelKeys")},
    "WeightedPodAffinityTerm": {1: k("weight", I32), 2: s("podAffinityTerm", "PodAffinityTerm")},
    "TopologySpreadConstraint": {1: k("maxSkew", I32), 2: k("topologyKey"), 3: k("whenUnsatisfiable"),
                                 4: p("labelSelector", "LabelSelector"), 5: p("minDomains", I32),
                                 6: p("nodeAffinityPolicy"), 7: p("nodeTaintsPolicy"), 8: ls("matchLabelKeys")},
    "HostAlias": {1: k("ip"), 2: ls("hostnames")},
    "PodDNSConfig": {1: ls("nameservers"), 2: ls("searches"), 3: ls("options", "PodDNSConfigOption")},
    "PodDNSConfigOption": {1: o("name"), 2: p("value")},
    "PodReadinessGate": {1: k("conditionType")},
    "PodOS": {1: k("name")},
    "PodSchedulingGate": {1: k("name")},
    "PodResourceClaim": {1: k("name"), 3: p("resourceClaimName"), 4: p("resourceClaimTemplateName")},
    # volumes
    "Volume": {1: k("name"), 2: inline("VolumeSource")},
    "VolumeSource": {1: p("hostPath", "HostPathVolumeSource"), 2: p("emptyDir", "EmptyDirVolumeSource"),
                     6: p("secret", "SecretVolumeSource"), 7: p("nfs", "NFSVolumeSource"),
                     10: p("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource"),
                     16: p("downwardAPI", "DownwardAPIVolumeSource"), 19: p("configMap", "ConfigMapVolumeSource"),
                     26: p("projected", "ProjectedVolumeSource"), 28: p("csi", "CSIVolumeSource")},
    "HostPathVolumeSource": {1: k("path"), 2: p("type")},
    "EmptyDirVolumeSource": {1: o("medium"), 2: p("sizeLimit", QTY)},
    "SecretVolumeSource": {1: o("secretName"), 2: ls("items", "KeyToPath"), 3: p("defaultMode", I32),
                           4: p("optional", BOOL)},
    "ConfigMapVolumeSource": {1: inline(LOR), 2: ls("items", "KeyToPath"), 3: p("defaultMode", I32),
                              4: p("optional", BOOL)},
    "KeyToPath": {1: k("key"), 2: k("path"), 3: p("mode", I32)},
    "NFSVolumeSource": {1: k("server"), 2: k("path"), 3: o("readOnly", BOOL)},
    "PersistentVolumeClaimVolumeSource": {1: k("claimName"), 2: o("readOnly", BOOL)},
    "DownwardAPIVolumeSource": {1: ls("items", "DownwardAPIVolumeFile"), 2: p("defaultMode", I32)},
    "DownwardAPIVolumeFile": {1: k("path"), 2: p("fieldRef", "ObjectFieldSelector"),
                              3: p("resourceFieldRef", "ResourceFieldSelector"), 4: p("mode", I32)},
    "ProjectedVolumeSource": {1: ls("sources", "VolumeProjection"), 2: p("defaultMode", I32)},
    "VolumeProjection": {1: p("secret", "SecretProjection"), 2: p("downwardAPI", "DownwardAPIProjection"),
                         3: p("configMap", "ConfigMapProjection"),
                         4: p("serviceAccountToken", "ServiceAccountTokenProjection")},
    "SecretProjection": {1: inline(LOR), 2: ls("items", "KeyToPath"), 4: p("optional", BOOL)},
    "ConfigMapProjection": {1: inline(LOR), 2: ls("items", "KeyToPath"), 4: p("optional", BOOL)},
    "DownwardAPIProjection": {1: ls("items", "DownwardAPIVolumeFile")},
    "ServiceAccountTokenProjection": {1: o("audience"), 2: p("expirationSeconds", I64), 3: k("path")},
    "CSIVolumeSource": {1: k("driver"), 2: p("readOnly", BOOL), 3: p("fsType"), 4: mp("volumeAttributes"),
                        5: p("nodePublishSecretRef", LOR)},
    "Service": {1: s("metadata", "ObjectMeta"), 2: s("spec", "ServiceSpec"), 3: s("status", "ServiceStatus")},
    "ServiceSpec": {
        1: ls("ports", "ServicePort"), 2: mp("selector"), 3: o("clusterIP"), 18: ls("clusterIPs"), 4: o("type"),
        5: ls("externalIPs"), 7: o("sessionAffinity"), 8: o("loadBalancerIP"), 9: ls("loadBalancerSourceRanges"),
        10: o("externalName"), 11: o("externalTrafficPolicy"), 12: o("healthCheckNodePort", I32),
        13: o("publishNotReadyAddresses", BOOL), 14: p("sessionAffinityConfig", "SessionAffinityConfig"),
        19: ls("ipFamilies"), 17: p("ipFamilyPolicy"), 20: p("allocateLoadBalancerNodePorts", BOOL),
        21: p("loadBalancerClass"), 22: p("internalTrafficPolicy"), 23: p("trafficDistribution"),
    },
    "ServicePort": {1: o("name"), 2: o("protocol"), 6: p("appProtocol"), 3: k("port", I32),
                    4: s("targetPort", IOS), 5: o("nodePort", I32)},
    "SessionAffinityConfig": {1: p("clientIP", "ClientIPConfig")},
    "ClientIPConfig": {1: p("timeoutSeconds", I32)},
    "ServiceStatus": {1: s("loadBalancer", "LoadBalancerStatus")},
    "LoadBalancerStatus": {1: ls("ingress", "LoadBalancerIngress")},
    "LoadBalancerIngress": {1: o("ip"), 2: o("hostname"), 3: p("ipMode"), 4: ls("ports", "PortStatus")},
    "PortStatus": {1: k("port", I32), 2: k("protocol"), 3: p("error")},
    # ---- k8s.io/api/apps/v1
    "Deployment": {1: s("metadata", "ObjectMeta"), 2: s("spec", "DeploymentSpec"),
                   3: s("status", "DeploymentStatus")},
    "DeploymentSpec": {1: p("replicas", I32), 2: p("selector", "LabelSelector"),
                       3: s("template", "PodTemplateSpec"), 4: s("strategy", "DeploymentStrategy"),
                       5: o("minReadySeconds", I32), 6: p("revisionHistoryLimit", I32), 7: o("paused", BOOL),
                       9: p("progressDeadlineSeconds", I32), 10: p("podReplacementPolicy")},
    "DeploymentStrategy": {1: o("type"), 2: p("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: p("maxUnavailable", IOS), 2: p("maxSurge", IOS)},
    "DeploymentStatus": {1: o("observedGeneration", I64), 2: o("replicas", I32), 3: o("updatedReplicas", I32),
                         7: o("readyReplicas", I32), 4: o("availableReplicas", I32),
                         5: o("unavailableReplicas", I32), 9: p("terminatingReplicas", I32),
                         6: ls("conditions", "DeploymentCondition"), 8: p("collisionCount", I32)},
    "DeploymentCondition": {1: k("type"), 2: k("status"), 6: s("lastUpdateTime", TIME),
                            7: s("lastTransitionTime", TIME), 4: o("reason"), 5: o("message")},
    # ---- k8s.io/api/batch/v1
    "Job": {1: s("metadata", "ObjectMeta"), 2: s("spec", "JobSpec"), 3: s("status", "JobStatus")},
    "JobSpec": {1: p("parallelism", I32), 2: p("completions", I32), 3: p("activeDeadlineSeconds", I64),
                7: p("backoffLimit", I32), 12: p("backoffLimitPerIndex", I32), 13: p("maxFailedIndexes", I32),
                4: p("selector", "LabelSelector"), 5: p("manualSelector", BOOL), 6: s("template", "PodTemplateSpec"),
                8: p("ttlSecondsAfterFinished", I32), 9: p("completionMode"), 10: p("suspend", BOOL),
                14: p("podReplacementPolicy"), 15: p("managedBy")},
    "JobStatus": {1: ls("conditions", "JobCondition"), 2: p("startTime", TIME), 3: p("completionTime", TIME),
                  4: o("active", I32), 5: o("succeeded", I32), 6: o("failed", I32), 11: p("terminating", I32),
                  7: o("completedIndexes"), 10: p("failedIndexes"),
                  8: p("uncountedTerminatedPods", "UncountedTerminatedPods"), 9: p("ready", I32)},
    "JobCondition": {1: k("type"), 2: k("status"), 3: s("lastProbeTime", TIME), 4: s("lastTransitionTime", TIME),
                     5: o("reason"), 6: o("message")},
    "UncountedTerminatedPods": {1: ls("succeeded"), 2: ls("failed")},
    # ---- k8s.io/api/authentication/v1
    "TokenRequest": {1: s("metadata", "ObjectMeta"), 2: s("spec", "TokenRequestSpec"),
                     3: s("status", "TokenRequestStatus")},
    "TokenRequestSpec": {1: ls("audiences"), 4: p("expirationSeconds", I64), 3: p("boundObjectRef", "BoundObjectReference")},
    "BoundObjectReference": {1: o("kind"), 2: o("apiVersion"), 3: o("name"), 4: o("uid")},
    "TokenRequestStatus": {1: k("token"), 2: s("expirationTimestamp", TIME)},
    # ---- k8s.io/api/rbac/v1
    "Role": {1: s("metadata", "ObjectMeta"), 2: ls("rules", "PolicyRule")},
    "ClusterRole": {1: s("metadata", "ObjectMeta"), 2: ls("rules", "PolicyRule"),
                    3: p("aggregationRule", "AggregationRule")},
    "PolicyRule": {1: ls("verbs"), 2: ls("apiGroups"), 3: ls("resources"), 4: ls("resourceNames"),
                   5: ls("nonResourceURLs")},
    "AggregationRule": {1: ls("clusterRoleSelectors", "LabelSelector")},
    "RoleBinding": {1: s("metadata", "ObjectMeta"), 2: ls("subjects", "Subject"), 3: s("roleRef", "RoleRef")},
    "Subject": {1: k("kind"), 2: o("apiGroup"), 3: k("name"), 4: o("namespace")},
    "RoleRef": {1: k("apiGroup"), 2: k("kind"), 3: k("name")},
}

#: (apiVersion, kind) → the message of the object's ``raw`` bytes
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Pod"): "Pod",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "RoleBinding",
}


def supported_kinds() -> list[str]:
    """``apiVersion/kind`` of every object this decoder reads, e.g. ``apps/v1/Deployment``."""
    return [f"{gv}/{kind}" for gv, kind in KINDS]


# --------------------------------------------------------------------------- decoding

def _int(v: int, bits: int) -> int:
    """A varint's low ``bits`` as a two's complement signed integer (as Go's int32()/int64())."""
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _scalar(kind: str, wt: int, val: Any, where: str) -> Any:
    if kind in (STR, BYTES):
        if wt != _LEN:
            raise ProtobufError(f"{where}: wire type {wt}, expected length-delimited")
        if kind == BYTES:
            return base64.b64encode(val).decode("ascii")
        return val.decode("utf-8", errors="replace")  # as Go's JSON encoder does
    if wt != _VARINT:
        raise ProtobufError(f"{where}: wire type {wt}, expected varint")
    if kind == BOOL:
        return val != 0
    return _int(val, 32 if kind == I32 else 64)


def _repeated_scalars(kind: str, occ: list[tuple[int, Any]], where: str) -> list[Any]:
    """Repeated numbers come unpacked (proto2) or packed; strings and bytes one per field."""
    out: list[Any] = []
    for i, (wt, val) in enumerate(occ):
        if wt == _LEN and kind in (I32, I64, BOOL):
            pos = 0
            while pos < len(val):
                v, pos = _varint(val, pos, f"{where}[{i}]")
                out.append(_scalar(kind, _VARINT, v, where))
        else:
            out.append(_scalar(kind, wt, val, f"{where}[{len(out)}]"))
    return out


def _message_bytes(occ: list[tuple[int, Any]], where: str) -> bytes:
    """A singular message sent more than once merges, which is decoding the concatenation."""
    for wt, _ in occ:
        if wt != _LEN:
            raise ProtobufError(f"{where}: wire type {wt}, expected a length-delimited message")
    return b"".join(val for _, val in occ)


def _time(buf: bytes, where: str) -> str | None:
    """metav1.Time: None when zero (sent empty), else RFC 3339 in UTC with seconds only."""
    if not buf:
        return None
    f = _fields(buf, where)
    seconds = 0
    for wt, val in f.get(1, ()):
        seconds = _scalar(I64, wt, val, f"{where}.seconds")
    try:
        t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise ProtobufError(f"{where}: seconds {seconds} out of range") from None
    if not 1 <= t.year <= 9999:
        raise ProtobufError(f"{where}: seconds {seconds} out of range")
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def _quantity(buf: bytes, where: str) -> str:
    value = ""
    for wt, val in _fields(buf, where).get(1, ()):
        value = _scalar(STR, wt, val, f"{where}.string")
    return value or "0"


def _int_or_string(buf: bytes, where: str) -> int | str:
    f = _fields(buf, where)
    typ, ival, sval = 0, 0, ""
    for wt, val in f.get(1, ()):
        typ = _scalar(I64, wt, val, f"{where}.type")
    for wt, val in f.get(2, ()):
        ival = _scalar(I32, wt, val, f"{where}.intVal")
    for wt, val in f.get(3, ()):
        sval = _scalar(STR, wt, val, f"{where}.strVal")
    if typ == 0:
        return ival
    if typ == 1:
        return sval
    raise ProtobufError(f"{where}: IntOrString type {typ} is neither 0 (int) nor 1 (string)")


def _value(kind: str, buf: bytes, where: str) -> Any:
    """A message-typed value; None only for a zero Time."""
    if kind == TIME:
        return _time(buf, where)
    if kind == QTY:
        return _quantity(buf, where)
    if kind == IOS:
        return _int_or_string(buf, where)
    return decode_message(kind, buf, where)


def _map(f: Field, occ: list[tuple[int, Any]], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for wt, entry in occ:
        if wt != _LEN:
            raise ProtobufError(f"{where}: wire type {wt}, expected a map entry")
        ef = _fields(entry, where)
        key = ""
        for kwt, kval in ef.get(1, ()):
            key = _scalar(STR, kwt, kval, f"{where} key")
        vocc = ef.get(2, [])
        at = f"{where}[{key!r}]"
        if f.kind in _SCALARS:
            value = _ZERO[f.kind]
            for vwt, vval in vocc:
                value = _scalar(f.kind, vwt, vval, at)
        else:
            value = _value(f.kind, _message_bytes(vocc, at), at)
        out[key] = value  # a repeated key: the last one wins
    return out


def decode_message(name: str, buf: bytes, where: str | None = None) -> dict[str, Any]:
    """The JSON dict of message ``name`` (a key of :data:`SCHEMAS`) encoded in ``buf``."""
    schema = SCHEMAS[name]
    where = where or name
    fields = _fields(buf, where)
    out: dict[str, Any] = {}
    for num, f in schema.items():
        occ = fields.get(num, [])
        at = f"{where}.{f.name}" if f.name else where
        if f.mode == LIST:
            if f.kind in _SCALARS:
                items = _repeated_scalars(f.kind, occ, at)
            else:
                items = []
                for i, (wt, val) in enumerate(occ):
                    item = _value(f.kind, _message_bytes([(wt, val)], f"{at}[{i}]"), f"{at}[{i}]")
                    if item is not None:
                        items.append(item)
            if items:
                out[f.name] = items
        elif f.mode == MAP:
            m = _map(f, occ, at)
            if m:
                out[f.name] = m
        elif f.kind in _SCALARS:
            value = None
            for wt, val in occ:  # a repeated singular field: the last one wins
                value = _scalar(f.kind, wt, val, at)
            if f.mode == PTR:
                if occ:
                    out[f.name] = value
            elif f.mode == KEEP:
                out[f.name] = _ZERO[f.kind] if value is None else value
            elif value is not None and value != _ZERO[f.kind]:
                out[f.name] = value
        elif f.mode == INLINE:
            out.update(_value(f.kind, _message_bytes(occ, where), where))
        elif f.mode == PTR and not occ:
            continue
        else:  # STRUCT (always, zero if not sent) or a sent PTR
            value = _value(f.kind, _message_bytes(occ, at), at)
            if value is not None:
                out[f.name] = value
    return out


def decode(data: bytes) -> dict[str, Any]:
    """A ``k8s\\x00``-prefixed protobuf body → the object dict, ``apiVersion`` and ``kind`` first.

    Raises :class:`UnsupportedKind` for a kind without a schema and :class:`ProtobufError`
    for anything malformed.
    """
    data = bytes(data)
    if not data.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body: it does not start with the k8s\\x00 prefix")
    env = _fields(data[len(MAGIC):], "Unknown")
    meta = decode_message("TypeMeta", _message_bytes(env.get(1, []), "Unknown.typeMeta"), "Unknown.typeMeta")
    api_version, kind = meta.get("apiVersion", ""), meta.get("kind", "")
    raw = b""
    for wt, val in env.get(2, ()):
        if wt != _LEN:
            raise ProtobufError(f"Unknown.raw: wire type {wt}, expected length-delimited")
        raw = val
    encoding = content_type = ""
    for wt, val in env.get(3, ()):
        encoding = _scalar(STR, wt, val, "Unknown.contentEncoding")
    for wt, val in env.get(4, ()):
        content_type = _scalar(STR, wt, val, "Unknown.contentType")
    if encoding:
        raise ProtobufError(f"unsupported content encoding {encoding!r} of the embedded object")
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise ProtobufError(f"the embedded JSON object does not parse: {e}") from None
        if not isinstance(obj, dict):
            raise ProtobufError("the embedded JSON is not an object")
        return obj
    if content_type and content_type.split(";")[0].strip().lower() != PROTOBUF:
        raise ProtobufError(f"unsupported content type {content_type!r} of the embedded object")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise UnsupportedKind(api_version, kind)
    return {"apiVersion": api_version, "kind": kind, **decode_message(message, raw, kind)}
