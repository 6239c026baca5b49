"""Validation of core/v1 objects with upstream's field paths, error types and messages.

:func:`validate` runs after defaulting: ``old is None`` for a create, the stored object for an
update. Each kind registers a function in :data:`VALIDATORS` (see :func:`register_validator`),
so other API groups plug in their own; the helpers for metadata, pod specs, ports and
quantities are public for them to reuse.

Pure and synchronous: no I/O, no Ray.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import re
from typing import Any, Callable, Iterable, Mapping

from kubeapi.field import (
    ErrorList,
    Path,
    duplicate,
    forbidden,
    invalid,
    not_found,
    not_supported,
    required,
    too_long,
)
from kubeapi.models import core
from kubeapi.models.meta import ObjectMeta
from kubeapi.names import (
    DNS1035_LABEL,
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    NameRule,
    is_dns1123_label,
    is_dns1123_subdomain,
    validate_annotations,
    validate_labels,
    validate_name_fields,
)
from kubeapi.quantity import Quantity, QuantityError
from kubeapi.selectors import label_value_errors, qualified_name_errors

__all__ = [
    "MAX_DATA_SIZE",
    "RELAXED_ENV_VAR_NAMES",
    "SERVICE_NODE_PORT_RANGE",
    "VALIDATORS",
    "Validator",
    "config_map_key_errors",
    "env_var_name_errors",
    "port_name_errors",
    "port_num_errors",
    "register_validator",
    "validate",
    "validate_containers",
    "validate_object_meta",
    "validate_object_meta_update",
    "validate_pod_spec",
    "validate_resource_requirements",
    "validate_service",
]

Validator = Callable[[Any, Any], ErrorList]
"""``fn(obj, old) -> errors``; ``old`` is None on create."""

VALIDATORS: dict[str, Validator] = {}
"""Kind -> validation function."""

MAX_DATA_SIZE = 1024 * 1024  # ConfigMap/Secret payload limit (bytes)
SERVICE_NODE_PORT_RANGE = (30000, 32767)  # --service-node-port-range default
RELAXED_ENV_VAR_NAMES = True  # RelaxedEnvironmentVariableValidation (on by default since 1.32)

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_IMMUTABLE = "field is immutable"
_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def register_validator(kind: str) -> Callable[[Validator], Validator]:
    """Decorator registering ``fn`` as the validator of ``kind``."""
    def deco(fn: Validator) -> Validator:
        VALIDATORS[kind] = fn
        return fn
    return deco


def validate(kind: str, obj: Any, old: Any = None) -> ErrorList:
    """Errors for creating (``old is None``) or updating ``obj`` of ``kind``; empty when valid.

    Kinds without a registered validator get the generic metadata checks only
    (namespaced, DNS-1123 subdomain names).
    """
    fn = VALIDATORS.get(kind)
    if fn is not None:
        return fn(obj, old)
    return _meta(obj, old, kind, True)


# --------------------------------------------------------------------------------------------
# Generic value checks (upstream's k8s.io/apimachinery/pkg/util/validation)
# --------------------------------------------------------------------------------------------


def port_num_errors(port: int) -> list[str]:
    """Why ``port`` is not a port number (1-65535), or ``[]``."""
    return [] if 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def port_name_errors(name: str) -> list[str]:
    """Why ``name`` is not an IANA_SVC_NAME (named port), or ``[]``."""
    errs: list[str] = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _chdir_prefix_errors(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_ENV_VAR_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"


def config_map_key_errors(key: str) -> list[str]:
    """Why ``key`` cannot be a ConfigMap/Secret key (it becomes a file name), or ``[]``."""
    errs: list[str] = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(_CONFIG_KEY_FMT, key):
        errs.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                    f"'{_CONFIG_KEY_FMT}')")
    return errs + _chdir_prefix_errors(key)


def env_var_name_errors(name: str, relaxed: bool | None = None) -> list[str]:
    """Why ``name`` is not an environment variable name, or ``[]``.

    Relaxed (the 1.33 default): any printable ASCII but ``=``. Strict: a C-identifier-like
    name that may also contain ``-`` and ``.`` and must not start with a digit.
    """
    if RELAXED_ENV_VAR_NAMES if relaxed is None else relaxed:
        errs = []
        if not name:
            errs.append("environment variable name must be non-empty")
        if any(not (32 <= ord(c) <= 126) or c == "=" for c in name):
            errs.append("a valid environment variable name must consist only of printable ASCII "
                        "characters other than '='")
        return errs
    errs = []
    if not re.fullmatch(_ENV_VAR_FMT, name):
        errs.append("a valid environment variable name must consist of alphabetic characters, digits, "
                    "'_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or "
                    f"'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '{_ENV_VAR_FMT}')")
    return errs + _chdir_prefix_errors(name)


def _ip_errors(value: str, path: Path) -> ErrorList:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return ErrorList([invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")])
    return ErrorList()


def _non_special_ip_errors(value: str, path: Path) -> ErrorList:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return ErrorList()
    if ip.is_unspecified:
        return ErrorList([invalid(path, value, f"may not be unspecified ({'0.0.0.0' if ip.version == 4 else '::'})")])
    if ip.is_loopback:
        return ErrorList([invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)")])
    if ip.is_link_local:
        return ErrorList([invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")])
    if ip in ipaddress.ip_network("224.0.0.0/24") or (ip.version == 6 and ip in ipaddress.ip_network("ff02::/16")):
        return ErrorList([invalid(path, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")])
    return ErrorList()


def _dns_label(value: str, path: Path) -> ErrorList:
    return ErrorList(invalid(path, value, m) for m in is_dns1123_label(value))


def _enum(value: str | None, path: Path, allowed: Iterable[str], detail: str = "") -> ErrorList:
    allowed = list(allowed)
    if not value:
        return ErrorList([required(path, detail)])
    if value not in allowed:
        return ErrorList([not_supported(path, value, allowed)])
    return ErrorList()


def _finalizer_errors(name: str, path: Path) -> ErrorList:
    errs = ErrorList(invalid(path, name, m) for m in qualified_name_errors(name))
    if not errs and "/" not in name and name not in _STANDARD_FINALIZERS:
        errs.append(invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


# --------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------


def validate_object_meta(meta: ObjectMeta, namespaced: bool, rule: NameRule | str,
                         path: Path | None = None) -> ErrorList:
    """ObjectMeta checks for a new object: name/generateName, namespace, labels, owners, ..."""
    p = path or Path("metadata")
    errs = validate_name_fields(meta.name or "", meta.generate_name or "", rule, p)
    if namespaced:
        if not meta.namespace:
            errs.append(required(p.child("namespace")))
        else:
            errs.extend(_dns_label(meta.namespace, p.child("namespace")))
    elif meta.namespace:
        errs.append(forbidden(p.child("namespace"), "not allowed on this type"))
    errs.extend(_meta_content_errors(meta, p))
    return errs


def _meta_content_errors(meta: ObjectMeta, p: Path) -> ErrorList:
    """The checks create and update share: generation, labels, annotations,
    owner references, finalizers."""
    errs = ErrorList()
    if meta.generation is not None and meta.generation < 0:
        errs.append(invalid(p.child("generation"), meta.generation, "must be greater than or equal to 0"))
    errs.extend(validate_labels(meta.labels, p.child("labels")))
    errs.extend(validate_annotations(meta.annotations, p.child("annotations")))
    errs.extend(_owner_reference_errors(meta, p.child("ownerReferences")))
    for f in meta.finalizers or []:
        errs.extend(_finalizer_errors(f, p.child("finalizers")))
    return errs


def _owner_reference_errors(meta: ObjectMeta, path: Path) -> ErrorList:
    errs = ErrorList()
    controllers: list[str] = []
    for ref in meta.owner_references or []:
        # Upstream reports these against the list path itself, without an index.
        version = ref.api_version.rpartition("/")[2]
        if not version:
            errs.append(invalid(path.child("apiVersion"), ref.api_version, "version must not be empty"))
        if not ref.kind:
            errs.append(invalid(path.child("kind"), ref.kind, "kind must not be empty"))
        if not ref.name:
            errs.append(invalid(path.child("name"), ref.name, "name must not be empty"))
        if not ref.uid:
            errs.append(invalid(path.child("uid"), ref.uid, "uid must not be empty"))
        if ref.controller:
            controllers.append(f"{ref.kind}/{ref.name}")
    if len(controllers) > 1:
        errs.append(invalid(path, [r.to_json() for r in meta.owner_references or []],
                            "Only one reference can have Controller set to true. Found \"true\" in "
                            f"references for {' and '.join(controllers)}"))
    return errs


def validate_object_meta_update(new: ObjectMeta, old: ObjectMeta, path: Path | None = None) -> ErrorList:
    """Fields of ObjectMeta that may not change on update, plus the create-time checks of labels etc."""
    p = path or Path("metadata")
    errs = ErrorList()
    for attr, key in (("name", "name"), ("namespace", "namespace"), ("uid", "uid"),
                      ("creation_timestamp", "creationTimestamp")):
        nv, ov = getattr(new, attr), getattr(old, attr)
        if attr in ("uid", "creation_timestamp") and not nv:
            continue  # unset on update means "keep" (the store fills it in)
        if (nv or "") != (ov or ""):
            errs.append(invalid(p.child(key), nv or "", _IMMUTABLE))
    errs.extend(_meta_content_errors(new, p))
    return errs


def _meta(obj: Any, old: Any, rule: NameRule | str, namespaced: bool) -> ErrorList:
    if old is None:
        return validate_object_meta(obj.metadata, namespaced, rule)
    return validate_object_meta_update(obj.metadata, old.metadata)


# --------------------------------------------------------------------------------------------
# Pod
# --------------------------------------------------------------------------------------------

_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})


def _is_native_resource(name: str) -> bool:
    return "/" not in name or name.startswith("kubernetes.io/")


def _parse_quantity(value: Any, path: Path, errs: ErrorList) -> Quantity | None:
    try:
        return Quantity.parse(value)
    except (QuantityError, TypeError) as e:
        errs.append(invalid(path, value, str(e)))
        return None


def validate_resource_requirements(res: core.ResourceRequirements | None, path: Path) -> ErrorList:
    """Container resources: names, non-negative quantities, requests <= limits."""
    errs = ErrorList()
    if res is None:
        return errs
    limits: dict[str, Quantity] = {}
    for section, out in (("limits", limits), ("requests", None)):
        values = getattr(res, section) or {}
        spath = path.child(section)
        for name in sorted(values):
            kpath = spath.key(name)
            name_errs = qualified_name_errors(name)
            if name_errs:
                errs.extend(invalid(kpath, name, m) for m in name_errs)
            elif _is_native_resource(name) and name.rpartition("/")[2] not in _STANDARD_CONTAINER_RESOURCES \
                    and not name.startswith("hugepages-"):
                errs.append(invalid(kpath, name, "must be a standard resource for containers"))
            q = _parse_quantity(values[name], kpath, errs)
            if q is None:
                continue
            if q < Quantity.parse(0):
                errs.append(invalid(kpath, str(q), "must be greater than or equal to 0"))
            if out is not None:
                out[name] = q
            elif name in limits:
                lim = limits[name]
                overcommit = _is_native_resource(name) and not name.startswith("hugepages-")
                if not overcommit and q != lim:
                    errs.append(invalid(spath, str(q), f"must be equal to {name} limit of {lim}"))
                elif q > lim:
                    errs.append(invalid(spath, str(q), f"must be less than or equal to {name} limit of {lim}"))
    return errs


def _volume_errors(volumes: list[core.Volume], path: Path) -> tuple[ErrorList, set[str]]:
    errs = ErrorList()
    names: set[str] = set()
    sources = [n for n in core.Volume.model_fields if n != "name"]
    for i, v in enumerate(volumes):
        ip = path.index(i)
        if not v.name:
            errs.append(required(ip.child("name")))
        else:
            errs.extend(_dns_label(v.name, ip.child("name")))
            if v.name in names:
                errs.append(duplicate(ip.child("name"), v.name))
            names.add(v.name)
        count = sum(getattr(v, s) is not None for s in sources)
        if count == 0:
            errs.append(required(ip, "must specify a volume type"))
        elif count > 1:
            errs.append(forbidden(ip, "may not specify more than 1 volume type"))
        for src, key in ((v.secret, "secret"), (v.config_map, "configMap"),
                         (v.downward_api, "downwardAPI"), (v.projected, "projected")):
            mode = getattr(src, "default_mode", None)
            if mode is not None and not 0 <= mode <= 0o777:
                errs.append(invalid(ip.child(key, "defaultMode"), mode,
                                    "must be a number between 0 and 0777 (octal), both inclusive"))
    return errs, names


def _container_ports_errors(ports: list[core.ContainerPort], path: Path) -> ErrorList:
    errs = ErrorList()
    seen: set[str] = set()
    for i, port in enumerate(ports):
        ip = path.index(i)
        if port.name:
            msgs = port_name_errors(port.name)
            if msgs:
                errs.extend(invalid(ip.child("name"), port.name, m) for m in msgs)
            elif port.name in seen:
                errs.append(duplicate(ip.child("name"), port.name))
            else:
                seen.add(port.name)
        if port.container_port == 0:
            errs.append(required(ip.child("containerPort")))
        else:
            errs.extend(invalid(ip.child("containerPort"), port.container_port, m)
                        for m in port_num_errors(port.container_port))
        if port.host_port:
            errs.extend(invalid(ip.child("hostPort"), port.host_port, m) for m in port_num_errors(port.host_port))
        errs.extend(_enum(port.protocol, ip.child("protocol"), _PROTOCOLS))
    return errs


def _env_errors(env: list[core.EnvVar], path: Path) -> ErrorList:
    errs = ErrorList()
    for i, e in enumerate(env):
        ip = path.index(i)
        if not e.name:
            errs.append(required(ip.child("name")))
        else:
            errs.extend(invalid(ip.child("name"), e.name, m) for m in env_var_name_errors(e.name))
        if e.value and e.value_from is not None:
            errs.append(invalid(ip.child("valueFrom"), "", "may not be specified when `value` is not empty"))
    return errs


def _probe_errors(probe: core.Probe | None, path: Path) -> ErrorList:
    errs = ErrorList()
    if probe is None:
        return errs
    handlers = [h for h in ("exec", "http_get", "tcp_socket", "grpc") if getattr(probe, h) is not None]
    if not handlers:
        errs.append(required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        errs.append(forbidden(path, "may not specify more than 1 handler type"))
    for attr, key in (("initial_delay_seconds", "initialDelaySeconds"), ("timeout_seconds", "timeoutSeconds"),
                      ("period_seconds", "periodSeconds"), ("success_threshold", "successThreshold"),
                      ("failure_threshold", "failureThreshold")):
        val = getattr(probe, attr)
        if val is not None and val < 0:
            errs.append(invalid(path.child(key), val, "must be greater than or equal to 0"))
    for action, key in ((probe.http_get, "httpGet"), (probe.tcp_socket, "tcpSocket")):
        if action is not None:
            errs.extend(_port_num_or_name(action.port, path.child(key, "port")))
    if probe.http_get is not None and probe.http_get.scheme not in (None, "HTTP", "HTTPS"):
        errs.append(not_supported(path.child("httpGet", "scheme"), probe.http_get.scheme, ["HTTP", "HTTPS"]))
    return errs


def _port_num_or_name(port: int | str, path: Path) -> ErrorList:
    if isinstance(port, int):
        return ErrorList(invalid(path, port, m) for m in port_num_errors(port))
    return ErrorList(invalid(path, port, m) for m in port_name_errors(port))


def _container_errors(c: core.Container, path: Path, volumes: set[str], names: set[str],
                      is_init: bool) -> ErrorList:
    errs = ErrorList()
    if not c.name:
        errs.append(required(path.child("name")))
    else:
        errs.extend(_dns_label(c.name, path.child("name")))
        if c.name in names:
            errs.append(duplicate(path.child("name"), c.name))
        names.add(c.name)
    if not c.image:
        errs.append(required(path.child("image")))
    elif c.image.strip() != c.image:
        errs.append(invalid(path.child("image"), c.image, "must not have leading or trailing whitespace"))
    errs.extend(_enum(c.termination_message_policy, path.child("terminationMessagePolicy"),
                      ("File", "FallbackToLogsOnError"), "must be 'File' or 'FallbackToLogsOnError'"))
    errs.extend(_enum(c.image_pull_policy, path.child("imagePullPolicy"), ("Always", "IfNotPresent", "Never")))
    errs.extend(_container_ports_errors(c.ports or [], path.child("ports")))
    errs.extend(_env_errors(c.env or [], path.child("env")))
    errs.extend(_volume_mount_errors(c.volume_mounts or [], volumes, path.child("volumeMounts")))
    errs.extend(validate_resource_requirements(c.resources, path.child("resources")))
    if is_init:
        # Regular init containers may not have these probes (sidecars with restartPolicy may).
        if c.restart_policy is None:
            for probe, key in ((c.liveness_probe, "livenessProbe"), (c.readiness_probe, "readinessProbe"),
                               (c.startup_probe, "startupProbe")):
                if probe is not None:
                    errs.append(forbidden(path.child(key), "may not be set for init containers without restartPolicy=Always"))
        elif c.restart_policy != "Always":
            errs.append(not_supported(path.child("restartPolicy"), c.restart_policy, ["Always"]))
    else:
        errs.extend(_probe_errors(c.liveness_probe, path.child("livenessProbe")))
        errs.extend(_probe_errors(c.readiness_probe, path.child("readinessProbe")))
        errs.extend(_probe_errors(c.startup_probe, path.child("startupProbe")))
        if c.liveness_probe is not None and (c.liveness_probe.success_threshold or 1) != 1:
            errs.append(invalid(path.child("livenessProbe", "successThreshold"),
                                c.liveness_probe.success_threshold, "must be 1"))
    return errs


def _volume_mount_errors(mounts: list[core.VolumeMount], volumes: set[str], path: Path) -> ErrorList:
    errs = ErrorList()
    seen: set[str] = set()
    for i, m in enumerate(mounts):
        ip = path.index(i)
        if not m.name:
            errs.append(required(ip.child("name")))
        if m.name not in volumes:
            errs.append(not_found(ip.child("name"), m.name))
        if not m.mount_path:
            errs.append(required(ip.child("mountPath")))
        if m.mount_path in seen:
            errs.append(invalid(ip.child("mountPath"), m.mount_path, "must be unique"))
        seen.add(m.mount_path)
        if m.sub_path and m.sub_path_expr:
            errs.append(invalid(ip.child("subPathExpr"), m.sub_path_expr, "subPathExpr and subPath are mutually exclusive"))
    return errs


def validate_containers(spec: core.PodSpec, path: Path, volumes: set[str]) -> ErrorList:
    """Init containers then containers; names are unique across both lists."""
    errs = ErrorList()
    names: set[str] = set()
    for i, c in enumerate(spec.init_containers or []):
        errs.extend(_container_errors(c, path.child("initContainers").index(i), volumes, names, True))
    if not spec.containers:
        errs.append(required(path.child("containers")))
    for i, c in enumerate(spec.containers or []):
        errs.extend(_container_errors(c, path.child("containers").index(i), volumes, names, False))
    return errs


def validate_pod_spec(spec: core.PodSpec | None, path: Path) -> ErrorList:
    """A (defaulted) PodSpec, as for Pods and every workload's pod template."""
    if spec is None:
        return ErrorList([required(path)])
    errs, volumes = _volume_errors(spec.volumes or [], path.child("volumes"))
    errs.extend(validate_containers(spec, path, volumes))
    errs.extend(_enum(spec.restart_policy, path.child("restartPolicy"), ("Always", "OnFailure", "Never")))
    errs.extend(_enum(spec.dns_policy, path.child("dnsPolicy"),
                      ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")))
    if spec.dns_policy == "None" and (spec.dns_config is None or not spec.dns_config.nameservers):
        errs.append(required(path.child("dnsConfig", "nameservers"),
                             "must provide at least one DNS nameserver when `dnsPolicy` is None"))
    errs.extend(validate_labels(spec.node_selector, path.child("nodeSelector")))
    if spec.service_account_name:
        errs.extend(invalid(path.child("serviceAccountName"), spec.service_account_name, m)
                    for m in is_dns1123_subdomain(spec.service_account_name))
    if spec.node_name:
        errs.extend(invalid(path.child("nodeName"), spec.node_name, m) for m in is_dns1123_subdomain(spec.node_name))
    if spec.hostname:
        errs.extend(_dns_label(spec.hostname, path.child("hostname")))
    if spec.subdomain:
        errs.extend(_dns_label(spec.subdomain, path.child("subdomain")))
    tgps = spec.termination_grace_period_seconds
    if tgps is not None and tgps < 0:
        errs.append(invalid(path.child("terminationGracePeriodSeconds"), tgps, "must be greater than or equal to 0"))
    ads = spec.active_deadline_seconds
    if ads is not None and not 1 <= ads <= 2**31 - 1:
        errs.append(invalid(path.child("activeDeadlineSeconds"), ads, "must be between 1 and 2147483647, inclusive"))
    for i, t in enumerate(spec.tolerations or []):
        errs.extend(_toleration_errors(t, path.child("tolerations").index(i)))
    return errs


def _toleration_errors(t: core.Toleration, path: Path) -> ErrorList:
    errs = ErrorList()
    if t.key:
        errs.extend(invalid(path.child("key"), t.key, m) for m in qualified_name_errors(t.key))
    if not t.key and t.operator != "Exists":
        errs.append(invalid(path.child("operator"), t.operator or "",
                            "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
    if t.operator == "Exists" and t.value:
        errs.append(invalid(path.child("operator"), t.value, "value must be empty when `operator` is 'Exists'"))
    if t.operator not in (None, "", "Equal", "Exists"):
        errs.append(not_supported(path.child("operator"), t.operator, ["Equal", "Exists"]))
    if t.effect and t.effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        errs.append(not_supported(path.child("effect"), t.effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    if t.toleration_seconds is not None and t.effect != "NoExecute":
        errs.append(invalid(path.child("effect"), t.effect or "",
                            "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    return errs


_POD_UPDATABLE = ",".join([
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
])


def _spec_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            lines.append(f"-\t{key}: {json.dumps(old.get(key), sort_keys=True)}")
            lines.append(f"+\t{key}: {json.dumps(new.get(key), sort_keys=True)}")
    return "\n".join(lines)


def _validate_pod_update(pod: core.Pod, old: core.Pod) -> ErrorList:
    errs = validate_object_meta_update(pod.metadata, old.metadata)
    spec_path = Path("spec")
    new_spec, old_spec = pod.spec, old.spec
    if new_spec is None or old_spec is None:
        if new_spec is not old_spec:
            errs.append(forbidden(spec_path, f"pod updates may not change fields other than {_POD_UPDATABLE}\n"))
        return errs
    for key, ctrs in (("initContainers", new_spec.init_containers or []), ("containers", new_spec.containers)):
        for i, c in enumerate(ctrs):
            if not c.image:
                errs.append(required(spec_path.child(key).index(i).child("image")))
    ads, old_ads = new_spec.active_deadline_seconds, old_spec.active_deadline_seconds
    ads_path = spec_path.child("activeDeadlineSeconds")
    if ads is not None:
        if not 0 <= ads <= 2**31 - 1:
            errs.append(invalid(ads_path, ads, "must be between 0 and 2147483647, inclusive"))
            return errs
        if old_ads is not None and old_ads < ads:
            errs.append(invalid(ads_path, ads, "must be less than or equal to previous value"))
            return errs
    elif old_ads is not None:
        errs.append(invalid(ads_path, None, "must not update from a positive integer to nil value"))
    # Copy the mutable fields from the old spec into the new; whatever still differs is forbidden.
    munged = new_spec.model_copy(deep=True)
    for new_list, old_list in ((munged.containers, old_spec.containers),
                               (munged.init_containers or [], old_spec.init_containers or [])):
        for c, oc in zip(new_list, old_list):
            c.image = oc.image
    munged.active_deadline_seconds = old_ads
    new_tols = [t.to_json() for t in new_spec.tolerations or []]
    if all(t.to_json() in new_tols for t in old_spec.tolerations or []):
        munged.tolerations = old_spec.tolerations
    old_tgps = old_spec.termination_grace_period_seconds
    if old_tgps is not None and old_tgps < 0 and new_spec.termination_grace_period_seconds == 1:
        munged.termination_grace_period_seconds = old_tgps
    old_json, new_json = old_spec.to_json(), munged.to_json()
    if old_json != new_json:
        errs.append(forbidden(spec_path, f"pod updates may not change fields other than {_POD_UPDATABLE}\n"
                                         f"{_spec_diff(old_json, new_json)}"))
    return errs


@register_validator("Pod")
def _validate_pod(pod: core.Pod, old: core.Pod | None) -> ErrorList:
    if old is not None:
        return _validate_pod_update(pod, old)
    errs = validate_object_meta(pod.metadata, True, DNS1123_SUBDOMAIN)
    errs.extend(validate_pod_spec(pod.spec, Path("spec")))
    return errs


# --------------------------------------------------------------------------------------------
# Service
# --------------------------------------------------------------------------------------------


def _cluster_ips(spec: core.ServiceSpec) -> list[str]:
    if spec.cluster_ips:
        return list(spec.cluster_ips)
    return [spec.cluster_ip] if spec.cluster_ip else []


def _validate_service_spec(spec: core.ServiceSpec | None, node_ports: tuple[int, int]) -> ErrorList:
    p = Path("spec")
    if spec is None:
        return ErrorList([required(p)])
    errs = ErrorList()
    ips = _cluster_ips(spec)
    headless = bool(ips) and ips[0] == "None"
    stype = spec.type
    if not spec.ports and not headless and stype != "ExternalName":
        errs.append(required(p.child("ports")))
    if stype == "LoadBalancer":
        for i, port in enumerate(spec.ports or []):
            if port.port == 10250:
                errs.append(invalid(p.child("ports").index(i), port.port,
                                    "may not expose port 10250 externally since it is used by kubelet"))
    if stype in ("LoadBalancer", "NodePort") and headless:
        errs.append(invalid(p.child("clusterIPs").index(0), ips[0], f"may not be set to 'None' for {stype} services"))
    if stype == "ExternalName":
        if ips:
            errs.append(forbidden(p.child("clusterIPs"), "may not be set for ExternalName services"))
        cname = (spec.external_name or "").removesuffix(".")
        if cname:
            errs.extend(invalid(p.child("externalName"), cname, m) for m in is_dns1123_subdomain(cname))
        else:
            errs.append(required(p.child("externalName")))
    names: set[str] = set()
    many = len(spec.ports or []) > 1
    for i, port in enumerate(spec.ports or []):
        pp = p.child("ports").index(i)
        if many and not port.name:
            errs.append(required(pp.child("name")))
        elif port.name:
            errs.extend(_dns_label(port.name, pp.child("name")))
            if port.name in names:
                errs.append(duplicate(pp.child("name"), port.name))
            names.add(port.name)
        errs.extend(invalid(pp.child("port"), port.port, m) for m in port_num_errors(port.port))
        errs.extend(_enum(port.protocol, pp.child("protocol"), _PROTOCOLS))
        if port.target_port is not None:
            errs.extend(_port_num_or_name(port.target_port, pp.child("targetPort")))
    errs.extend(_enum(stype, p.child("type"), ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")))
    if stype == "ClusterIP":
        for i, port in enumerate(spec.ports or []):
            if port.node_port:
                errs.append(forbidden(p.child("ports").index(i).child("nodePort"),
                                      "may not be used when `type` is 'ClusterIP'"))
    seen_ports: set[tuple[str | None, int]] = set()
    seen_node_ports: set[tuple[str | None, int]] = set()
    lo, hi = node_ports
    for i, port in enumerate(spec.ports or []):
        pp = p.child("ports").index(i)
        key = (port.protocol, port.port)
        if key in seen_ports:
            errs.append(duplicate(pp, {"port": port.port, "protocol": port.protocol}))
        seen_ports.add(key)
        if port.node_port:
            nkey = (port.protocol, port.node_port)
            if nkey in seen_node_ports:
                errs.append(duplicate(pp.child("nodePort"), port.node_port))
            seen_node_ports.add(nkey)
            if stype in ("NodePort", "LoadBalancer") and not lo <= port.node_port <= hi:
                errs.append(invalid(pp.child("nodePort"), port.node_port,
                                    f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}"))
    errs.extend(_enum(spec.session_affinity, p.child("sessionAffinity"), ("ClientIP", "None")))
    if spec.session_affinity == "ClientIP":
        cfg = spec.session_affinity_config
        timeout = cfg.client_ip.timeout_seconds if cfg and cfg.client_ip else None
        tpath = p.child("sessionAffinityConfig", "clientIP", "timeoutSeconds")
        if timeout is None:
            errs.append(required(tpath))
        elif not 0 < timeout <= 86400:
            errs.append(invalid(tpath, timeout, "must be greater than 0 and less than 86400"))
    elif spec.session_affinity_config is not None:
        errs.append(forbidden(p.child("sessionAffinityConfig"),
                              f"must not be set when session affinity is {spec.session_affinity}"))
    errs.extend(validate_labels(spec.selector, p.child("selector")))
    if stype != "ExternalName":
        errs.extend(_cluster_ip_errors(spec, p.child("clusterIPs")))
    for i, ip in enumerate(spec.external_ips or []):
        errs.extend(_ip_errors(ip, p.child("externalIPs").index(i)))
    etp = spec.external_traffic_policy
    if stype in ("NodePort", "LoadBalancer"):
        errs.extend(_enum(etp, p.child("externalTrafficPolicy"), ("Cluster", "Local")))
    elif etp:
        errs.append(invalid(p.child("externalTrafficPolicy"), etp,
                            "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
    hc = spec.health_check_node_port
    if hc:
        hpath = p.child("healthCheckNodePort")
        if stype != "LoadBalancer" or etp != "Local":
            errs.append(invalid(hpath, hc, "may only be set when `type` is 'LoadBalancer' and "
                                           "`externalTrafficPolicy` is 'Local'"))
        elif not lo <= hc <= hi:
            errs.append(invalid(hpath, hc, f"provided port is not in the valid range. "
                                           f"The range of valid ports is {lo}-{hi}"))
    if stype != "ExternalName":
        errs.extend(_enum(spec.internal_traffic_policy, p.child("internalTrafficPolicy"), ("Cluster", "Local")))
    if spec.ip_family_policy and spec.ip_family_policy not in ("PreferDualStack", "RequireDualStack", "SingleStack"):
        errs.append(not_supported(p.child("ipFamilyPolicy"), spec.ip_family_policy,
                                  ["PreferDualStack", "RequireDualStack", "SingleStack"]))
    return errs


def _cluster_ip_errors(spec: core.ServiceSpec, path: Path) -> ErrorList:
    """clusterIP and clusterIPs agree (the defaults copy a lone clusterIP into
    clusterIPs), "None" comes alone, every other value is an IP."""
    errs = ErrorList()
    ips = list(spec.cluster_ips or [])
    if spec.cluster_ip:
        if not ips:
            errs.append(required(path))
        elif ips[0] != spec.cluster_ip:
            errs.append(invalid(path, ips, "first value must match `clusterIP`"))
    elif ips:
        errs.append(invalid(path, ips, "must be empty when `clusterIP` is not specified"))
    for i, ip in enumerate(ips or _cluster_ips(spec)):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                errs.append(invalid(path, ips, "'None' must be the first and only value"))
            continue
        errs.extend(_ip_errors(ip, path.index(i)))
    if len(ips) > 2:
        errs.append(invalid(path, ips, "may only hold up to 2 values"))
    return errs


@register_validator("Service")
def _validate_service(svc: core.Service, old: core.Service | None) -> ErrorList:
    return validate_service(svc, old)


def validate_service(svc: core.Service, old: core.Service | None = None,
                     node_ports: tuple[int, int] = SERVICE_NODE_PORT_RANGE) -> ErrorList:
    """A Service's errors, with node ports checked against the apiserver's
    ``--service-node-port-range`` (``node_ports``)."""
    errs = _meta(svc, old, DNS1035_LABEL, True)
    errs.extend(_validate_service_spec(svc.spec, node_ports))
    if old is not None and svc.spec is not None and old.spec is not None \
            and "ExternalName" not in (svc.spec.type, old.spec.type):
        new_ips, old_ips = _cluster_ips(svc.spec), _cluster_ips(old.spec)
        if new_ips and old_ips and new_ips[0] != old_ips[0]:
            errs.append(invalid(Path("spec", "clusterIPs").index(0), new_ips, "may not change once set"))
    return errs


# --------------------------------------------------------------------------------------------
# ConfigMap, Secret
# --------------------------------------------------------------------------------------------


def _immutable_data_errors(obj: Any, old: Any, fields: Iterable[tuple[str, str]]) -> ErrorList:
    errs = ErrorList()
    if old is None or not old.immutable:
        return errs
    if not obj.immutable:
        errs.append(forbidden(Path("immutable"), "field is immutable when `immutable` is set"))
    for attr, key in fields:
        if (getattr(obj, attr) or None) != (getattr(old, attr) or None):
            errs.append(forbidden(Path(key), "field is immutable when `immutable` is set"))
    return errs


@register_validator("ConfigMap")
def _validate_config_map(cm: core.ConfigMap, old: core.ConfigMap | None) -> ErrorList:
    errs = _meta(cm, old, DNS1123_SUBDOMAIN, True)
    errs.extend(_immutable_data_errors(cm, old, (("data", "data"), ("binary_data", "binaryData"))))
    total = 0
    data, binary = cm.data or {}, cm.binary_data or {}
    for key in sorted(data):
        kp = Path("data").key(key)
        errs.extend(invalid(kp, key, m) for m in config_map_key_errors(key))
        if key in binary:
            errs.append(invalid(kp, key, "duplicate of key present in binaryData"))
        total += len(data[key].encode())
    for key in sorted(binary):
        kp = Path("binaryData").key(key)
        errs.extend(invalid(kp, key, m) for m in config_map_key_errors(key))
        if key in data:
            errs.append(invalid(kp, key, "duplicate of key present in data"))
        total += len(base64.b64decode(binary[key]))
    if total > MAX_DATA_SIZE:
        errs.append(too_long(Path(""), MAX_DATA_SIZE))
    return errs


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


@register_validator("Secret")
def _validate_secret(secret: core.Secret, old: core.Secret | None) -> ErrorList:
    errs = _meta(secret, old, DNS1123_SUBDOMAIN, True)
    errs.extend(_immutable_data_errors(secret, old, (("data", "data"),)))
    if old is not None and (secret.type or "") != (old.type or ""):
        errs.append(invalid(Path("type"), secret.type or "", _IMMUTABLE))
    # stringData is merged into data on write; validate the merged view.
    values: dict[str, bytes] = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
    values.update({k: v.encode() for k, v in (secret.string_data or {}).items()})
    data_path = Path("data")
    for key in sorted(values):
        errs.extend(invalid(data_path.key(key), key, m) for m in config_map_key_errors(key))
    if sum(map(len, values.values())) > MAX_DATA_SIZE:
        errs.append(too_long(data_path, MAX_DATA_SIZE))
    stype = secret.type or ""
    if stype == "kubernetes.io/service-account-token":
        if not (secret.metadata.annotations or {}).get("kubernetes.io/service-account.name"):
            errs.append(required(Path("metadata", "annotations").key("kubernetes.io/service-account.name")))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in values and "password" not in values:
            errs.append(required(data_path.key("username")))
            errs.append(required(data_path.key("password")))
    elif stype in _SECRET_REQUIRED_KEYS:
        for key in _SECRET_REQUIRED_KEYS[stype]:
            if key not in values or (stype == "kubernetes.io/ssh-auth" and not values[key]):
                errs.append(required(data_path.key(key)))
        if stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
            key = _SECRET_REQUIRED_KEYS[stype][0]
            if key in values:
                try:
                    json.loads(values[key])
                except ValueError as e:
                    errs.append(invalid(data_path.key(key), "<secret contents redacted>", str(e)))
    return errs


# --------------------------------------------------------------------------------------------
# Namespace, ServiceAccount, Node, Endpoints, Event
# --------------------------------------------------------------------------------------------


@register_validator("Namespace")
def _validate_namespace(ns: core.Namespace, old: core.Namespace | None) -> ErrorList:
    errs = _meta(ns, old, DNS1123_LABEL, False)
    for f in (ns.spec.finalizers if ns.spec else None) or []:
        errs.extend(_finalizer_errors(f, Path("spec", "finalizers")))
    return errs


@register_validator("ServiceAccount")
def _validate_service_account(sa: core.ServiceAccount, old: core.ServiceAccount | None) -> ErrorList:
    return _meta(sa, old, DNS1123_SUBDOMAIN, True)


def _resource_list_errors(values: Mapping[str, Any] | None, path: Path) -> ErrorList:
    errs = ErrorList()
    for name in sorted(values or {}):
        kp = path.key(name)
        errs.extend(invalid(kp, name, m) for m in qualified_name_errors(name))
        q = _parse_quantity(values[name], kp, errs)  # type: ignore[index]
        if q is not None and q < Quantity.parse(0):
            errs.append(invalid(kp, str(q), "must be greater than or equal to 0"))
    return errs


@register_validator("Node")
def _validate_node(node: core.Node, old: core.Node | None) -> ErrorList:
    errs = _meta(node, old, DNS1123_SUBDOMAIN, False)
    spec = node.spec or core.NodeSpec()
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(spec.taints or []):
        tp = Path("spec", "taints").index(i)
        errs.extend(invalid(tp.child("key"), t.key, m) for m in qualified_name_errors(t.key))
        if t.value:
            msgs = label_value_errors(t.value)
            if msgs:
                errs.append(invalid(tp.child("value"), t.value, ";".join(msgs)))
        errs.extend(_enum(t.effect, tp.child("effect"), ("NoSchedule", "PreferNoSchedule", "NoExecute")))
        if (t.key, t.effect) in seen:
            errs.append(duplicate(tp, t.to_json()))
        seen.add((t.key, t.effect))
    for i, cidr in enumerate(spec.pod_cidrs or ([spec.pod_cidr] if spec.pod_cidr else [])):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            errs.append(invalid(Path("spec", "podCIDRs").index(i), cidr,
                                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
    if old is not None and old.spec is not None and old.spec.pod_cidrs and spec.pod_cidrs != old.spec.pod_cidrs:
        errs.append(forbidden(Path("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
    if node.status is not None:
        errs.extend(_resource_list_errors(node.status.capacity, Path("status", "capacity")))
        errs.extend(_resource_list_errors(node.status.allocatable, Path("status", "allocatable")))
    return errs


def _endpoint_address_errors(addr: core.EndpointAddress, path: Path) -> ErrorList:
    errs = _ip_errors(addr.ip, path.child("ip"))
    if addr.hostname:
        errs.extend(_dns_label(addr.hostname, path.child("hostname")))
    if addr.node_name:
        errs.extend(invalid(path.child("nodeName"), addr.node_name, m) for m in is_dns1123_subdomain(addr.node_name))
    errs.extend(_non_special_ip_errors(addr.ip, path.child("ip")))
    return errs


@register_validator("Endpoints")
def _validate_endpoints(ep: core.Endpoints, old: core.Endpoints | None) -> ErrorList:
    errs = _meta(ep, old, DNS1123_SUBDOMAIN, True)
    for i, ss in enumerate(ep.subsets or []):
        sp = Path("subsets").index(i)
        if not ss.addresses and not ss.not_ready_addresses:
            errs.append(required(sp, "must specify `addresses` or `notReadyAddresses`"))
        for j, a in enumerate(ss.addresses or []):
            errs.extend(_endpoint_address_errors(a, sp.child("addresses").index(j)))
        for j, a in enumerate(ss.not_ready_addresses or []):
            errs.extend(_endpoint_address_errors(a, sp.child("notReadyAddresses").index(j)))
        many = len(ss.ports or []) > 1
        for j, port in enumerate(ss.ports or []):
            pp = sp.child("ports").index(j)
            if many and not port.name:
                errs.append(required(pp.child("name")))
            elif port.name:
                errs.extend(_dns_label(port.name, pp.child("name")))
            errs.extend(invalid(pp.child("port"), port.port, m) for m in port_num_errors(port.port))
            errs.extend(_enum(port.protocol, pp.child("protocol"), _PROTOCOLS))
    return errs


@register_validator("Event")
def _validate_event(ev: core.Event, old: core.Event | None) -> ErrorList:
    errs = _meta(ev, old, DNS1123_SUBDOMAIN, True)
    ns = ev.metadata.namespace or ""
    involved_ns = ev.involved_object.namespace or ""
    if ev.event_time is None:
        if (not involved_ns and ns not in ("", "default")) or (involved_ns and ns != involved_ns):
            errs.append(invalid(Path("involvedObject", "namespace"), involved_ns, "does not match event.namespace"))
    if ev.type and ev.event_time is not None and ev.type not in ("Normal", "Warning"):
        errs.append(not_supported(Path("type"), ev.type, ["Normal", "Warning"]))
    return errs
from . import validation_apps  # noqa: E402,F401
