"""The ``raykube`` command line."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

# --proxy-mode, named as upstream's kube-proxy modes, and how each picks an endpoint
PROXY_MODES = {"iptables": "random", "ipvs": "round-robin"}


def _etcd_parser(sub: Any) -> None:
    etcd = sub.add_parser("etcd", help="run and use a raftstore (etcd) cluster on Ray")
    etcd.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else raykube's own head)")
    etcd.add_argument("--name", default="default", help="cluster name (default: %(default)s)")
    es = etcd.add_subparsers(dest="etcd_cmd", metavar="ACTION", required=True)
    up = es.add_parser("up", help="start a cluster (and a local Ray head if none is running)")
    up.add_argument("--members", type=int, choices=(1, 3, 5), default=3)
    up.add_argument("--data", help="data root directory (default: $RAYKUBE_DATA or a temp dir)")
    es.add_parser("status", help="each member's role, term, indexes and revision")
    p = es.add_parser("put", help="write a key")
    p.add_argument("key")
    p.add_argument("value")
    g = es.add_parser("get", help="read a key (linearizable unless --serializable)")
    g.add_argument("key")
    g.add_argument("--prefix", action="store_true")
    g.add_argument("--serializable", action="store_true")
    g.add_argument("--rev", type=int, default=0)
    d = es.add_parser("del", help="delete a key")
    d.add_argument("key")
    d.add_argument("--prefix", action="store_true")
    w = es.add_parser("watch", help="print events as they happen")
    w.add_argument("key")
    w.add_argument("--prefix", action="store_true")
    w.add_argument("--rev", type=int, default=0, help="start revision (default: now)")
    w.add_argument("--count", type=int, default=0, help="stop after this many events")
    k = es.add_parser("kill-leader", help="kill the leader; Ray restarts it from its WAL")
    k.add_argument("--how", choices=("ray", "sigkill"), default="sigkill")
    down = es.add_parser("down", help="stop the cluster and delete its data")
    down.add_argument("--keep-ray", action="store_true", help="leave raykube's Ray head running")


def _fmt_kv(kv: dict) -> str:
    return f"{kv['key'].decode(errors='replace')} = {kv['value'].decode(errors='replace')}  " \
           f"(mod_revision {kv['mod_revision']}, version {kv['version']})"


def _print_status(st: dict) -> None:
    print(f"{'MEMBER':<7}{'STATE':<11}{'TERM':>6}{'COMMIT':>9}{'APPLIED':>9}{'REVISION':>10}  NODE")
    for mid, s in sorted(st.items()):
        if isinstance(s, dict):
            print(f"{mid:<7}{s['state']:<11}{s['term']:>6}{s['commit']:>9}{s['applied']:>9}"
                  f"{s['revision']:>10}  {s['node_id'][:12]}")
        else:
            print(f"{mid:<7}{'DOWN':<11}  {s}")


def _etcd(a: argparse.Namespace) -> int:
    from raftstore.client import RaftStoreClient, StoreError
    from raftstore.cluster import ClusterError, EtcdCluster

    from .raycluster import RayClusterError, connect, stop_head

    try:
        connect(a.address, start=a.etcd_cmd == "up")
    except RayClusterError as e:
        print(f"raykube: {e}", file=sys.stderr)
        return 1
    cmd = a.etcd_cmd
    try:
        if cmd == "up":
            c = EtcdCluster.start(a.name, a.members, data_root=a.data)
            _print_status(c.status())
            return 0
        if cmd == "down":
            try:
                EtcdCluster.attach(a.name).down()
            except ClusterError as e:
                print(f"raykube: {e}", file=sys.stderr)
            if a.address is None and not a.keep_ray:
                import ray
                ray.shutdown()
                stop_head()
            return 0
        if cmd == "kill-leader":
            c = EtcdCluster.attach(a.name)
            lid = c.wait_for_leader(10)
            c.kill(lid, a.how)
            print(f"killed leader {lid} ({a.how}); waiting for a new one...")
            print(f"leader is now {c.wait_for_leader(30)}")
            return 0
        return asyncio.run(_etcd_data(a, RaftStoreClient(a.name)))
    except (StoreError, ClusterError) as e:
        print(f"raykube: {e}", file=sys.stderr)
        return 1


async def _etcd_data(a: argparse.Namespace, cli: Any) -> int:
    cmd = a.etcd_cmd
    if cmd == "status":
        _print_status(await cli.status())
    elif cmd == "put":
        r = await cli.put(a.key.encode(), a.value.encode())
        print(f"OK (revision {r['revision']})")
    elif cmd == "get":
        r = await cli.range(a.key.encode(), prefix=a.prefix, serializable=a.serializable, revision=a.rev)
        for kv in r["kvs"]:
            print(_fmt_kv(kv))
        if not r["kvs"]:
            print(f"(no such key; store revision {r['revision']})")
    elif cmd == "del":
        r = await cli.delete(a.key.encode(), prefix=a.prefix)
        print(f"deleted {r['deleted']} (revision {r['revision']})")
    elif cmd == "watch":
        n = 0
        async for batch in cli.watch(a.key.encode(), prefix=a.prefix, start_revision=a.rev):
            for ev in batch:
                print(json.dumps({"type": ev["type"], "key": ev["kv"]["key"].decode(errors="replace"),
                                  "value": ev["kv"]["value"].decode(errors="replace"),
                                  "revision": ev["kv"]["mod_revision"]}), flush=True)
                n += 1
                if a.count and n >= a.count:
                    return 0
    return 0


def _controlplane_parsers(sub: Any) -> None:
    up = sub.add_parser("up", help="start the control plane (raftstore members, apiservers) on Ray")
    up.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else raykube's own head)")
    up.add_argument("--etcd", type=int, choices=(1, 3, 5), default=3, help="raftstore members")
    up.add_argument("--apiservers", type=int, default=1, help="apiserver replicas")
    up.add_argument("--schedulers", type=int, default=1, help="scheduler replicas (one leads)")
    up.add_argument("--controller-managers", type=int, default=1, help="controller-manager replicas (one leads)")
    up.add_argument("--nodes", type=int, default=None,
                    help="kubelets, each with a CRI actor (default: one per Ray worker node; none on one machine)")
    up.add_argument("--runtime", choices=("process", "sim"), default="process",
                    help="the --nodes' container runtime: real processes or simulated (default: %(default)s)")
    up.add_argument("--hollow-nodes", type=int, default=0,
                    help="simulated nodes in node pools of up to 1000 (kubemark-style, for scale)")
    up.add_argument("--cluster-cidr", default=None,
                    help="the pods' network; each node gets a /24 of it (default: 10.244.0.0/16, 256 nodes; "
                         "a wider one for more, e.g. 10.224.0.0/11 for 8192)")
    up.add_argument("--cloud-controller-managers", type=int, default=1,
                    help="cloud-controller-manager replicas over the simulated cloud (one leads; 0: no cloud)")
    up.add_argument("--scheduler-config", metavar="FILE",
                    help="a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) YAML for the schedulers")
    up.add_argument("--data", help="data root directory (default: $RAYKUBE_DATA or a temp dir)")
    up.add_argument("--port", type=int, default=6443,
                    help="HTTPS port of the first apiserver; replica i listens on port+i-1 (default: %(default)s)")
    up.add_argument("--host", default="127.0.0.1", help="address the apiservers listen on (default: %(default)s)")
    up.add_argument("--kubeconfig", default=None,
                    help="where to write the kubeconfig (default: ~/.kube/raykube.yaml)")
    up.add_argument("--authorization-mode", choices=("Default", "AlwaysAllow"), default="Default",
                    help="Default: only the admin (system:masters) may call the API until RBAC; "
                         "AlwaysAllow: everyone, explicitly")
    up.add_argument("--proxy-mode", choices=tuple(PROXY_MODES), default="iptables",
                    help="how kube-proxy picks a Service's endpoint: iptables (at random) or ipvs (round robin)")
    kc = sub.add_parser("kubeconfig", help="print a kubeconfig for the running control plane")
    kc.add_argument("--address")
    kc.add_argument("--apiserver", type=int, default=1, help="which apiserver replica (default: 1)")
    st = sub.add_parser("status", help="every raykube actor, where it runs and whether it answers")
    st.add_argument("--address")
    dn = sub.add_parser("down", help="remove every raykube actor (and raykube's Ray head)")
    dn.add_argument("--address")
    dn.add_argument("--keep-ray", action="store_true", help="leave raykube's Ray head running")


def _net_parser(sub: Any) -> None:
    net = sub.add_parser("net", help="the pod network")
    ns = net.add_subparsers(dest="net_cmd", metavar="COMMAND", required=True)
    c = ns.add_parser("curl", help="an HTTP request into the pod network: the answer and the hops it took")
    c.add_argument("url", help="http://HOST[:PORT]/PATH: a Service name (from a pod), a ClusterIP, a pod IP, "
                               "a node address and NodePort, a load balancer IP")
    c.add_argument("--from", dest="source", metavar="NS/POD",
                   help="send it from this pod (default: from outside the cluster)")
    c.add_argument("-X", "--request", default="GET", help="HTTP method (default: %(default)s)")
    c.add_argument("-d", "--data", default="", help="request body")
    c.add_argument("-m", "--max-time", type=float, default=10.0, help="seconds to wait (default: %(default)s)")
    c.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else raykube's own head)")


def _net(a: argparse.Namespace) -> int:
    from kubeapi.client import Client

    from .apiserver.transport import RayTransport
    from .proxy.curl import CurlError, curl
    from .proxy.remote import ActorRef, ray_links
    from .raycluster import RayClusterError, connect

    if a.max_time <= 0:
        print("raykube: --max-time must be positive", file=sys.stderr)
        return 2
    try:
        connect(a.address, start=False)
    except RayClusterError as e:
        print(f"raykube: {e}", file=sys.stderr)
        return 1

    async def send_from(host: str, ip: str, dest: str, port: int, payload: bytes, timeout: float) -> Any:
        return await ActorRef(host).handle().netsim_request.remote(ip, dest, port, payload, timeout=timeout)

    async def run() -> Any:
        return await curl(Client(RayTransport()), a.url, source=a.source or "", method=a.request.upper(),
                          data=a.data.encode(), timeout=a.max_time, links=ray_links(), send_from=send_from)
    try:
        result = asyncio.run(run())
    except CurlError as e:
        print(f"raykube: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - no cluster, a dead actor: one line, not a trace
        print(f"raykube: net curl: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        return 1
    sys.stdout.write(result.render())
    return result.exit_code


def _scheduler_profile(path: str) -> Any:
    """The profile of a KubeSchedulerConfiguration file (ValueError says what is wrong)."""
    import yaml

    from .scheduler.config import profile_from_config
    with open(path) as f:
        try:
            doc = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f"not YAML: {str(e).splitlines()[0]}") from None
    return profile_from_config(doc)


def _cluster_cidr(given: str | None, nodes: int) -> str | None:
    """The cluster CIDR to run with, checked to hold a /24 per node; None (after
    saying why) when it is not a usable one."""
    import ipaddress

    from .controllers.nodeipam import DEFAULT_CLUSTER_CIDR
    try:
        net = ipaddress.ip_network(given or DEFAULT_CLUSTER_CIDR)
    except ValueError as e:
        print(f"raykube: --cluster-cidr: {e}", file=sys.stderr)
        return None
    if net.version != 4 or net.prefixlen > 24:
        print(f"raykube: --cluster-cidr {net}: an IPv4 network of /24 or wider is needed (nodes get /24s)",
              file=sys.stderr)
        return None
    capacity = 1 << (24 - net.prefixlen)
    if nodes > capacity:
        print(f"raykube: --cluster-cidr {net} holds {capacity} nodes' /24s, not {nodes}: "
              f"give a wider one (e.g. 10.224.0.0/11 holds 8192)", file=sys.stderr)
        return None
    return str(net)


def _controlplane(a: argparse.Namespace) -> int:
    from raftstore.cluster import ClusterError

    from . import controlplane
    from .raycluster import RayClusterError, connect, stop_head

    if a.cmd == "up" and a.apiservers < 1:
        print("raykube: --apiservers must be at least 1", file=sys.stderr)
        return 2
    for flag in ("schedulers", "controller_managers", "cloud_controller_managers", "nodes", "hollow_nodes"):
        if a.cmd == "up" and (getattr(a, flag) or 0) < 0:
            print(f"raykube: --{flag.replace('_', '-')} must not be negative", file=sys.stderr)
            return 2
    cidr = None
    if a.cmd == "up":
        cidr = _cluster_cidr(a.cluster_cidr, (a.nodes or 0) + a.hollow_nodes)
        if cidr is None:
            return 2
    profile = None
    if a.cmd == "up" and a.scheduler_config:
        try:
            profile = _scheduler_profile(a.scheduler_config)
        except (OSError, ValueError) as e:
            print(f"raykube: --scheduler-config {a.scheduler_config}: {e}", file=sys.stderr)
            return 2
    try:
        connect(a.address, start=a.cmd == "up")
    except RayClusterError as e:
        print(f"raykube: {e}", file=sys.stderr)
        return 1
    try:
        if a.cmd == "up":
            from .kubeconfig import DEFAULT_PATH
            path = a.kubeconfig or DEFAULT_PATH
            controlplane.print_status(controlplane.up(a.etcd, a.apiservers, a.data, port=a.port, host=a.host,
                                                      kubeconfig=path, schedulers=a.schedulers,
                                                      scheduler_profile=profile,
                                                      controller_managers=a.controller_managers,
                                                      cloud_controller_managers=a.cloud_controller_managers,
                                                      nodes=a.nodes, runtime=a.runtime,
                                                      hollow_nodes=a.hollow_nodes, cluster_cidr=cidr,
                                                      authorization_mode=a.authorization_mode,
                                                      proxy_mode=PROXY_MODES[a.proxy_mode]))
            print(f"kubeconfig written to {path}; try: kubectl --kubeconfig {path} get namespaces")
        elif a.cmd == "kubeconfig":
            import ray

            from .apiserver.actor import NAMESPACE, apiserver_name
            from .kubeconfig import render
            try:
                h = ray.get_actor(apiserver_name(a.apiserver), namespace=NAMESPACE)
            except ValueError:
                print(f"raykube: no apiserver-{a.apiserver} is running (raykube up first)", file=sys.stderr)
                return 1
            cc = ray.get(h.client_config.remote(), timeout=30)
            print(render(cc["url"], cc["ca"], cc["token"]), end="")
        elif a.cmd == "status":
            controlplane.print_status(controlplane.status())
        else:
            removed = controlplane.down()
            print(f"removed {len(removed)} actors")
            if a.address is None and not a.keep_ray:
                import ray
                ray.shutdown()
                stop_head()
    except (ClusterError, RuntimeError) as e:
        print(f"raykube: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="raykube", description="Kubernetes' architecture on Ray.")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.add_parser("version", help="print the raykube version")
    _controlplane_parsers(sub)
    sub.add_parser("sim", help="run the seeded Raft simulator (same flags as python -m raftstore.sim)")
    _etcd_parser(sub)
    _net_parser(sub)
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sim":
        from raftstore.sim import main as sim_main
        return sim_main(argv[1:])
    a = ap.parse_args(argv)
    if a.cmd == "version":
        from importlib.metadata import version
        print(f"raykube {version('raykube')}")
        return 0
    if a.cmd == "etcd":
        return _etcd(a)
    if a.cmd == "net":
        return _net(a)
    if a.cmd in ("up", "status", "down", "kubeconfig"):
        return _controlplane(a)
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
