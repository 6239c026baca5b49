"""`raykube up / status / down`: the control plane's actors on a Ray cluster.

Every actor is named and detached in the Ray namespace ``raykube``, so any
later command (or benchmark, or chaos tool) finds them by name.
"""
from __future__ import annotations

import time
from typing import Any

import ray

from netsim.services import RANDOM
from raftstore.cluster import ClusterError, EtcdCluster

from . import kubeconfig, pki
from .addons.dns.actor import start_cluster_dns
from .apiserver.actor import DEFAULT_PORT, NAMESPACE, apiserver_name, start_apiservers
from .apiserver.auth import MASTERS, UserInfo
from .apiserver.satoken import new_signing_key
from .cloud.manager import start_cloud_controller_managers
from .controllers.manager import Settings, start_controller_managers
from .controllers.nodeipam import DEFAULT_CLUSTER_CIDR
from .kubelet.actor import start_kubelets, start_node_pools, worker_nodes
from .proxy.actor import CLOUD, OVERLAY
from .scheduler.actor import start_schedulers
from .scheduler.framework import Profile

ETCD_NAME = "raykube"


def up(etcd_members: int = 3, apiservers: int = 1, data_root: str | None = None, *,
       port: int = DEFAULT_PORT, host: str = "127.0.0.1", kubeconfig: str | None = None,
       authorization_mode: str = "Default", schedulers: int = 1,
       scheduler_profile: Profile | None = None, controller_managers: int = 1,
       cloud_controller_managers: int = 1, nodes: int | None = None, runtime: str = "process",
       hollow_nodes: int = 0, cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
       proxy_mode: str = RANDOM) -> dict[str, dict | str]:
    """Start raftstore, the apiservers (HTTPS from ``port`` on, one port per
    replica, with a fresh CA, admin token and service account signing key),
    the schedulers (with ``scheduler_profile``, else the default one), the
    controller managers and the cloud (a simulated provider and its
    controller managers), the nodes — ``nodes`` kubelets with a CRI actor each
    (``runtime`` process or sim; by default one per Ray worker node, none on a
    one-machine cluster) and ``hollow_nodes`` in node pools, their pod CIDRs
    /24s of ``cluster_cidr`` — with the cluster DNS and a kube-proxy per node
    (``proxy_mode``: random as iptables, or round-robin as IPVS), and write
    the kubeconfig.

    With controller managers the apiservers require every pod's service
    account (admission) and ``up`` returns once ``default`` has its own."""
    ca, token = pki.new_ca(), pki.new_token()
    EtcdCluster.start(ETCD_NAME, etcd_members, data_root=data_root)
    try:
        apis = start_apiservers(apiservers, ETCD_NAME, http_port=port, http_host=host, ca=ca,
                                admin_token=token, authorization_mode=authorization_mode,
                                tokens={token: UserInfo("raykube-admin", (MASTERS,))},
                                sa_signing_key=new_signing_key(), service_accounts=controller_managers > 0)
        if schedulers:
            start_schedulers(schedulers, apiservers=apis, profile=scheduler_profile)
        if controller_managers:
            start_controller_managers(controller_managers, apiservers=apis,
                                      settings=Settings(root_ca=ca.cert_pem.decode(), cluster_cidr=cluster_cidr))
            _wait_for_default_account(apis[0])
        if cloud_controller_managers:
            start_cloud_controller_managers(cloud_controller_managers, apiservers=apis)
        start_cluster_dns(apis)
        # pod CIDR routes: the cloud's route controller writes them to the cloud, else a flat overlay
        routes = CLOUD if cloud_controller_managers else OVERLAY
        count = len(worker_nodes()) if nodes is None else nodes
        if count:
            start_kubelets(count, runtime=runtime, apiservers=apis, proxy_mode=proxy_mode, routes=routes)
        if hollow_nodes:
            start_node_pools(hollow_nodes, apiservers=apis, proxy_mode=proxy_mode, routes=routes)
    except Exception:
        down()
        raise
    if kubeconfig:
        write_kubeconfig(kubeconfig)
    return status()


def _wait_for_default_account(apiserver: Any, timeout: float = 60.0) -> None:
    """Until the service account controller has made ``default/default`` (pods need it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = ray.get(apiserver.request.remote("get", "", "v1", "serviceaccounts", "default", "default"), timeout=30)
        if r["code"] == 200:
            return
        time.sleep(0.2)
    raise TimeoutError(f"no default service account after {timeout:.0f} s: is the controller manager running?")


def write_kubeconfig(path: str, index: int = 1) -> str:
    """Write a kubeconfig for apiserver ``index``; returns its path."""
    cc = ray.get(ray.get_actor(apiserver_name(index), namespace=NAMESPACE).client_config.remote(), timeout=30)
    return kubeconfig.write(path, kubeconfig.render(cc["url"], cc["ca"], cc["token"]))


def _actors() -> list[str]:
    return sorted(e["name"] for e in ray.util.list_named_actors(all_namespaces=True)
                  if e["namespace"] == NAMESPACE)


def status(timeout: float = 5.0) -> dict[str, dict | str]:
    """Each raykube actor's own status, or why it could not answer."""
    refs: dict[str, Any] = {}
    for name in _actors():
        try:
            refs[name] = ray.get_actor(name, namespace=NAMESPACE).status.remote()
        except Exception as e:  # vanished between list and get
            refs[name] = e
    out: dict[str, dict | str] = {}
    for name, ref in refs.items():
        try:
            out[name] = ray.get(ref, timeout=timeout) if not isinstance(ref, Exception) else str(ref)
        except Exception as e:
            out[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return out


def down() -> list[str]:
    """Remove every raykube actor (and the raftstore's data)."""
    try:
        EtcdCluster.attach(ETCD_NAME).down()
    except ClusterError:
        pass
    removed = []
    names = _actors()
    for name in names:  # container runtimes first stop what they run: real processes outlive an actor
        if name.startswith("cri-"):
            try:
                ray.get(ray.get_actor(name, namespace=NAMESPACE).close.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - gone already, or dead: nothing more to do
                pass
    for name in names:
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            removed.append(name)
        except ValueError:
            pass
    return removed


def print_status(st: dict[str, dict | str]) -> None:
    w = max([22, *(len(name) + 2 for name in st)])
    print(f"{'ACTOR':<{w}}{'HEALTHY':<9}{'NODE':<14}DETAIL")
    for name, s in sorted(st.items()):
        if isinstance(s, dict):
            node = str(s.get("node_id", ""))[:12]
            if "state" in s:
                detail = f"{s['state']} term {s['term']} applied {s['applied']}"
            elif "controllers" in s:
                detail = (f"{'leading' if s['leading'] else 'standby'}  syncs "
                          f"{sum(c['syncs'] for c in s['controllers'].values())}")
            elif "registered" in s:
                detail = f"kubelet of {s['node']}  pods {s['pods']}"
            elif "pool" in s:
                detail = f"{s['nodes']} hollow nodes  pods {s['pods']}"
            elif "runtime" in s:
                detail = f"{s['runtime']} runtime of {s['node']}  containers {s['containers']}"
            elif "region" in s:
                detail = f"{s['region']}  instances {s['instances']}  load balancers {s['load_balancers']}"
            elif "leading" in s:
                detail = (f"{'leading' if s['leading'] else 'standby'}  scheduled "
                          f"{(s.get('metrics') or {}).get('scheduled', 0)}")
            else:
                detail = f"{s.get('url', 'no HTTP')}  requests {s.get('requests', 0)}"
            print(f"{name:<{w}}{'yes':<9}{node:<14}{detail}")
        else:
            print(f"{name:<{w}}{'no':<9}{'-':<14}{s}")
