"""The apiserver as a Ray actor: stateless, any number of replicas over one
raftstore; the only component that talks to raftstore.

Calls from in-cluster components arrive as ``request(...)`` and ``watch(...)``
(the Ray transport of the Kubernetes API, see transport.py); the HTTP
server decodes HTTP into the same calls. Concurrent writes share raftstore
proposals through the raftstore client's batching.
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

import ray

from kubeapi import errors
from raftstore.client import RaftStoreClient

from ..pki import CertKey, apiserver_hosts, server_ssl_context, serving_cert
from .auth import TokenAuthenticator, UserInfo
from .http import HTTPFront
from .server import APIServer
from .streams import kubelet_answer

NAMESPACE = "raykube"


def apiserver_name(index: int) -> str:
    return f"apiserver-{index}"


DEFAULT_PORT = 6443


@dataclass
class APIServerConfig:
    index: int
    etcd_cluster: str
    etcd_timeout: float = 10.0
    service_accounts: bool = False  # ServiceAccount admission lookup (with its controller)
    # HTTP: port None serves no HTTP, 0 picks a free port (it changes on restart)
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    tokens: dict[str, UserInfo] = field(default_factory=dict)  # bearer token → user
    ca: CertKey | None = None  # serve HTTPS with a certificate this CA signs here
    admin_token: str = ""  # handed to `raykube kubeconfig` (Ray callers are trusted)
    authorization_mode: str = "Default"  # or "AlwaysAllow" (explicitly asked for)
    sa_signing_key: bytes | None = None  # the cluster's (shared by replicas); None: one of its own


async def kubelet_call(actor: str, node: str, call: str, args: tuple, kwargs: dict) -> Any:
    """``call`` (logs, follow_logs, exec, exec_stream, exec_cancel) of the kubelet
    actor serving ``node``, its errors worded as the apiserver's."""
    try:
        handle = ray.get_actor(actor, namespace=NAMESPACE)
    except ValueError:
        raise errors.service_unavailable(f"the kubelet of node {node} ({actor}) is not running") from None
    try:
        return await kubelet_answer(node, call, args, handle.serve.remote(node, call, *args, **kwargs))
    except ray.exceptions.RayActorError as e:
        raise errors.service_unavailable(f"the kubelet of node {node} did not answer: {e}") from None


class APIServerActor(APIServer):
    def __init__(self, cfg: APIServerConfig) -> None:
        self.cfg = cfg
        super().__init__(RaftStoreClient(cfg.etcd_cluster, timeout=cfg.etcd_timeout,
                                         client_id=f"apiserver-{cfg.index}-{os.urandom(4).hex()}"),
                         service_accounts=cfg.service_accounts,
                         authorization_mode=cfg.authorization_mode, sa_signing_key=cfg.sa_signing_key,
                         kubelets=kubelet_call)
        self.http: HTTPFront | None = None
        self.scheme = "http"
        self._http_ready = asyncio.Event()
        self._http_error = ""
        loop = asyncio.get_running_loop()
        self._bootstrap = loop.create_task(self.ensure_system_objects())
        if cfg.http_port is not None:
            loop.create_task(self._serve_http())
        else:
            self._http_ready.set()

    async def _serve_http(self) -> None:
        host = self.cfg.http_host
        advertised = ray.util.get_node_ip_address() if host in ("0.0.0.0", "::") else host
        front = HTTPFront(self, TokenAuthenticator(dict(self.cfg.tokens), self.authenticate_service_account),
                          server_address=f"{advertised}:{self.cfg.http_port}")
        tls = None
        if self.cfg.ca is not None:
            tls = server_ssl_context(serving_cert(self.cfg.ca, apiserver_hosts(ray.util.get_node_ip_address())))
        try:
            port = await front.start(host, self.cfg.http_port or 0, tls)
            front.server_address = f"{advertised}:{port}"
            self.scheme = "https" if tls else "http"
            self.http = front
        except OSError as e:
            self._http_error = f"cannot listen on {host}:{self.cfg.http_port}: {e.strerror or e}"
        finally:
            self._http_ready.set()

    async def status(self) -> dict:
        await asyncio.wait_for(self._http_ready.wait(), 30)
        st = {"index": self.cfg.index, "etcd": self.cfg.etcd_cluster, "requests": self.requests,
              "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(),
              "uptime_s": round(time.monotonic() - self.started, 3)}
        if self.http is not None:
            st["url"] = f"{self.scheme}://{self.http.server_address}"
        if self._http_error:
            st["http_error"] = self._http_error
        return st


    async def client_config(self) -> dict:
        """What a kubeconfig needs: this replica's URL, the CA, the admin token."""
        st = await self.status()
        if "url" not in st:
            raise RuntimeError(f"apiserver-{self.cfg.index} serves no HTTP")
        return {"url": st["url"], "ca": self.cfg.ca.cert_pem if self.cfg.ca else b"",
                "token": self.cfg.admin_token}


def apiserver_actor_class() -> Any:
    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=1000)(APIServerActor)


def start_apiservers(count: int, etcd_cluster: str, first_index: int = 1, *,
                     http_port: int | None = None, **cfg: Any) -> list[Any]:
    """Start ``count`` detached apiserver replicas and wait until they answer.

    With ``http_port`` each serves HTTP: replica i on ``http_port + i -
    first_index`` (0: a free port each). Other keywords go to
    :class:`APIServerConfig`. A replica that cannot listen is an error."""
    handles = []
    for k, i in enumerate(range(first_index, first_index + count)):
        port = None if http_port is None else (http_port + k if http_port else 0)
        h = apiserver_actor_class().options(
            name=apiserver_name(i), namespace=NAMESPACE, lifetime="detached").remote(
            APIServerConfig(i, etcd_cluster, http_port=port, **cfg))
        handles.append(h)
    statuses = ray.get([h.status.remote() for h in handles], timeout=60)
    failed = [s["http_error"] for s in statuses if s.get("http_error")]
    if failed:
        for h in handles:
            ray.kill(h, no_restart=True)
        raise RuntimeError("; ".join(failed))
    return handles
