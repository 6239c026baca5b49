"""The kubeconfig that points kubectl (and any Kubernetes client) at raykube."""
from __future__ import annotations

import base64
import os

import yaml

CONTEXT = "raykube"
DEFAULT_PATH = os.path.join(os.path.expanduser("~"), ".kube", "raykube.yaml")


def render(server: str, ca_pem: bytes, token: str, namespace: str = "default") -> str:
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CONTEXT, "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": f"{CONTEXT}-admin", "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-admin",
                                                   "namespace": namespace}}],
        "current-context": CONTEXT,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write(path: str, text: str) -> str:
    """Write the kubeconfig readable by its owner only; returns the path."""
    path = os.path.abspath(os.path.expanduser(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
