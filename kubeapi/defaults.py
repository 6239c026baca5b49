"""Server-side defaulting of API objects, as upstream's ``SetDefaults_*`` functions do it.

The API server fills in defaults after decoding a request and before validating it, so every
stored object carries explicit values (``restartPolicy: Always``, ``protocol: TCP``, ...).
:func:`apply_defaults` mutates a parsed model in place; each kind registers its own function in
:data:`DEFAULTERS`, so other API groups add theirs with :func:`register_defaulter`.

Pure and synchronous: no I/O, no Ray.
"""
from __future__ import annotations

from typing import Any, Callable

from kubeapi.models import core

__all__ = [
    "DEFAULTERS",
    "DEFAULT_FILE_MODE",
    "Defaulter",
    "apply_defaults",
    "default_container",
    "default_pod_spec",
    "image_pull_policy_for",
    "register_defaulter",
]

Defaulter = Callable[..., None]
"""``fn(obj, **options)``: fill in defaults on ``obj`` in place."""

DEFAULTERS: dict[str, Defaulter] = {}
"""Kind -> defaulting function; kinds without an entry have no defaults."""

DEFAULT_FILE_MODE = 0o644  # 420: mode of files projected from Secrets, ConfigMaps, downward API


def register_defaulter(kind: str) -> Callable[[Defaulter], Defaulter]:
    """Decorator registering ``fn`` as the defaulter of ``kind``."""
    def deco(fn: Defaulter) -> Defaulter:
        DEFAULTERS[kind] = fn
        return fn
    return deco


def apply_defaults(kind: str, obj: Any, *, service_account: bool = True) -> None:
    """Fill in upstream's defaults for ``obj`` of ``kind`` (a no-op for unknown kinds).

    ``service_account`` also sets a Pod's ``serviceAccountName`` to ``default``, which upstream
    does in the ServiceAccount admission plugin rather than in defaulting.
    """
    fn = DEFAULTERS.get(kind)
    if fn is not None:
        fn(obj, service_account=service_account)


# --------------------------------------------------------------------------------------------
# Pod
# --------------------------------------------------------------------------------------------


def image_pull_policy_for(image: str) -> str:
    """``Always`` for ``:latest`` or untagged images, ``IfNotPresent`` for other tags and digests.

    An empty image (rejected later by validation) gets ``IfNotPresent``, as upstream.
    """
    if not image:
        return "IfNotPresent"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]  # a ':' before the last '/' is a registry port
    tag = last.rpartition(":")[2] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_http_get(action: core.HTTPGetAction | None) -> None:
    if action is not None:
        if not action.path:
            action.path = "/"
        if not action.scheme:
            action.scheme = "HTTP"


def _default_probe(probe: core.Probe | None) -> None:
    if probe is None:
        return
    if not probe.timeout_seconds:
        probe.timeout_seconds = 1
    if not probe.period_seconds:
        probe.period_seconds = 10
    if not probe.success_threshold:
        probe.success_threshold = 1
    if not probe.failure_threshold:
        probe.failure_threshold = 3
    _default_http_get(probe.http_get)


def default_container(c: core.Container, host_network: bool = False) -> None:
    """Container defaults: pull policy by tag, termination message, port protocols, probes."""
    if not c.image_pull_policy:
        c.image_pull_policy = image_pull_policy_for(c.image or "")
    if not c.termination_message_path:
        c.termination_message_path = "/dev/termination-log"
    if not c.termination_message_policy:
        c.termination_message_policy = "File"
    for p in c.ports or []:
        if not p.protocol:
            p.protocol = "TCP"
        if host_network and not p.host_port:
            p.host_port = p.container_port
    for probe in (c.liveness_probe, c.readiness_probe, c.startup_probe):
        _default_probe(probe)
    if c.lifecycle is not None:
        for handler in (c.lifecycle.post_start, c.lifecycle.pre_stop):
            if handler is not None:
                _default_http_get(handler.http_get)
    res = c.resources
    if res is not None and res.limits:
        # Requests default to limits, resource by resource.
        requests = dict(res.requests or {})
        for name, value in res.limits.items():
            requests.setdefault(name, value)
        res.requests = requests
    for e in c.env or []:
        if e.value_from is not None and e.value_from.field_ref is not None \
                and not e.value_from.field_ref.api_version:
            e.value_from.field_ref.api_version = "v1"


def _default_volume(v: core.Volume) -> None:
    sources = [name for name in type(v).model_fields if name != "name"]
    if all(getattr(v, s) is None for s in sources):
        v.empty_dir = core.EmptyDirVolumeSource()
    if v.secret is not None and v.secret.default_mode is None:
        v.secret.default_mode = DEFAULT_FILE_MODE
    if v.config_map is not None and v.config_map.default_mode is None:
        v.config_map.default_mode = DEFAULT_FILE_MODE
    if v.downward_api is not None and v.downward_api.default_mode is None:
        v.downward_api.default_mode = DEFAULT_FILE_MODE
    if v.projected is not None and v.projected.default_mode is None:
        v.projected.default_mode = DEFAULT_FILE_MODE
    if v.host_path is not None and v.host_path.type is None:
        v.host_path.type = ""


def default_pod_spec(spec: core.PodSpec) -> None:
    """PodSpec defaults (shared with every workload's pod template)."""
    if not spec.dns_policy:
        spec.dns_policy = "ClusterFirst"
    if not spec.restart_policy:
        spec.restart_policy = "Always"
    if spec.security_context is None:
        spec.security_context = core.PodSecurityContext()
    if spec.termination_grace_period_seconds is None:
        spec.termination_grace_period_seconds = 30
    if not spec.scheduler_name:
        spec.scheduler_name = "default-scheduler"
    if spec.enable_service_links is None:
        spec.enable_service_links = True
    for v in spec.volumes or []:
        _default_volume(v)
    for c in [*(spec.init_containers or []), *spec.containers]:
        default_container(c, bool(spec.host_network))
    for t in spec.tolerations or []:
        if t.operator is None and t.key is not None:
            t.operator = "Equal"


@register_defaulter("Pod")
def _default_pod(pod: core.Pod, *, service_account: bool = True, **_: Any) -> None:
    if pod.spec is None:
        return
    default_pod_spec(pod.spec)
    if service_account and not pod.spec.service_account_name:
        pod.spec.service_account_name = pod.spec.service_account or "default"
    if pod.spec.priority is None:
        pod.spec.priority = 0


# --------------------------------------------------------------------------------------------
# Service
# --------------------------------------------------------------------------------------------


@register_defaulter("Service")
def _default_service(svc: core.Service, **_: Any) -> None:
    if svc.spec is None:
        svc.spec = core.ServiceSpec()
    spec = svc.spec
    if not spec.session_affinity:
        spec.session_affinity = "None"
    if spec.session_affinity == "ClientIP" and spec.session_affinity_config is None:
        spec.session_affinity_config = core.SessionAffinityConfig(
            client_ip=core.ClientIPConfig(timeout_seconds=10800))
    if not spec.type:
        spec.type = "ClusterIP"
    if spec.cluster_ip and not spec.cluster_ips:  # an older client's lone clusterIP (upstream's strategy)
        spec.cluster_ips = [spec.cluster_ip]
    for p in spec.ports or []:
        if not p.protocol:
            p.protocol = "TCP"
        if p.target_port in (None, 0, ""):
            p.target_port = p.port
    if spec.type in ("NodePort", "LoadBalancer") and not spec.external_traffic_policy:
        spec.external_traffic_policy = "Cluster"
    if spec.type == "LoadBalancer" and spec.allocate_load_balancer_node_ports is None:
        spec.allocate_load_balancer_node_ports = True
    if spec.type != "ExternalName":
        if not spec.internal_traffic_policy:
            spec.internal_traffic_policy = "Cluster"
        if not spec.ip_family_policy:
            # A headless service without selector may point at any family.
            headless = spec.cluster_ip == "None" or (spec.cluster_ips or [""])[0] == "None"
            spec.ip_family_policy = "RequireDualStack" if headless and not spec.selector else "SingleStack"


# --------------------------------------------------------------------------------------------
# Other core/v1 kinds
# --------------------------------------------------------------------------------------------


@register_defaulter("Namespace")
def _default_namespace(ns: core.Namespace, **_: Any) -> None:
    if ns.status is None:
        ns.status = core.NamespaceStatus()
    if not ns.status.phase:
        ns.status.phase = "Active"
    if ns.metadata.name:
        labels = dict(ns.metadata.labels or {})
        labels["kubernetes.io/metadata.name"] = ns.metadata.name
        ns.metadata.labels = labels


@register_defaulter("Secret")
def _default_secret(secret: core.Secret, **_: Any) -> None:
    if not secret.type:
        secret.type = "Opaque"


@register_defaulter("Node")
def _default_node(node: core.Node, **_: Any) -> None:
    status = node.status
    if status is not None and status.capacity and status.allocatable is None:
        status.allocatable = dict(status.capacity)


@register_defaulter("Endpoints")
def _default_endpoints(ep: core.Endpoints, **_: Any) -> None:
    for subset in ep.subsets or []:
        for p in subset.ports or []:
            if not p.protocol:
                p.protocol = "TCP"
