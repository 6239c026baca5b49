"""What a kubelet says about its node: the Node it registers, the status it
posts (conditions, capacity, addresses, node info, images) and the Lease it
renews in ``kube-node-lease``."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kubeapi.models.base import format_time
from kubeapi.quantity import parse_quantity

KUBELET_VERSION = "v1.32.0-raykube"
LEASE_NAMESPACE = "kube-node-lease"
DEFAULT_CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"}

# (type, reason when fine, message when fine) of the conditions a healthy node reports
CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "KubeletReady", "kubelet is posting ready status"),
)


def micro_time(t: float) -> str:
    """A ``metav1.MicroTime``: leases need sub-second renewals to be told apart."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class NodeConfig:
    name: str
    node_ip: str = "192.168.0.10"
    capacity: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    reserved: dict[str, str] = field(default_factory=dict)   # kube-reserved + system-reserved
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict] = field(default_factory=list)         # --register-with-taints
    annotations: dict[str, str] = field(default_factory=dict)
    runtime_version: str = "raykube-sim://0.1"
    os: str = "linux"
    arch: str = "amd64"


def allocatable(cfg: NodeConfig) -> dict[str, str]:
    """Capacity less what is reserved (kube-reserved + system-reserved), never below zero."""
    out = dict(cfg.capacity)
    for k, v in cfg.reserved.items():
        if k in out:
            left = parse_quantity(out[k]) - parse_quantity(v)
            out[k] = left.canonical() if left > parse_quantity(0) else "0"
    return out


def node_labels(cfg: NodeConfig) -> dict[str, str]:
    return {"kubernetes.io/hostname": cfg.name, "kubernetes.io/os": cfg.os, "kubernetes.io/arch": cfg.arch,
            "beta.kubernetes.io/os": cfg.os, "beta.kubernetes.io/arch": cfg.arch, **cfg.labels}


def node_object(cfg: NodeConfig) -> dict:
    """The Node a kubelet registers."""
    spec: dict[str, Any] = {}
    if cfg.taints:
        spec["taints"] = list(cfg.taints)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": cfg.name, "labels": node_labels(cfg),
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                                         **cfg.annotations}},
            "spec": spec}


def node_status(cfg: NodeConfig, old: dict, now: float, *, images: list[dict] | None = None,
                problems: dict[str, tuple[str, str]] | None = None) -> dict:
    """The status to post: conditions keep their transition times while they
    hold; ``problems`` maps a condition type to (reason, message) of a bad state."""
    stamp = format_time(now)
    previous = {c.get("type"): c for c in old.get("conditions") or ()}
    conditions = []
    for ctype, reason, message in CONDITIONS:
        bad = (problems or {}).get(ctype)
        truth = ("False" if ctype == "Ready" else "True") if bad else ("True" if ctype == "Ready" else "False")
        prev = previous.get(ctype) or {}
        conditions.append({"type": ctype, "status": truth, "reason": bad[0] if bad else reason,
                           "message": bad[1] if bad else message, "lastHeartbeatTime": stamp,
                           "lastTransitionTime": prev.get("lastTransitionTime") if prev.get("status") == truth
                           else stamp})
    status = {"capacity": dict(cfg.capacity), "allocatable": allocatable(cfg), "conditions": conditions,
              "addresses": [{"type": "InternalIP", "address": cfg.node_ip}, {"type": "Hostname", "address": cfg.name}],
              "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
              "nodeInfo": {"machineID": cfg.name, "systemUUID": cfg.name, "bootID": cfg.name,
                           "kernelVersion": "6.1.0-raykube", "osImage": "raykube", "operatingSystem": cfg.os,
                           "architecture": cfg.arch, "containerRuntimeVersion": cfg.runtime_version,
                           "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION}}
    if images:
        status["images"] = images[:50]  # upstream's --node-status-max-images default
    return status


def same_status(a: dict, b: dict) -> bool:
    """Equal but for heartbeat times (what decides whether a status must be sent now)."""
    def strip(s: dict) -> dict:
        return dict(s, conditions=[{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                                   for c in s.get("conditions") or ()])
    return strip(a) == strip(b)


def lease_object(node: str, node_uid: str, duration: int, now: float) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node, "namespace": LEASE_NAMESPACE,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}]},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": duration, "renewTime": micro_time(now)}}
