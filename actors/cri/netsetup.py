"""How both runtimes wire a sandbox into the pod network, as containerd does
through CNI: ADD while the sandbox is made, DEL when it stops, the plugin's
failure turned into the CRI error the kubelet reports."""
from __future__ import annotations

from typing import Callable

from netsim.cni import CNIError
from netsim.dns import ResolverConfig, parse_options, resolv_conf
from netsim.pods import PodNetwork

from . import api

PLUGIN = 'plugin type="bridge" name="raykube"'


def setup_network(network: PodNetwork, sandbox_id: str, config: api.PodSandboxConfig,
                  real_ip: Callable[[str], str] | None = None) -> str:
    """The sandbox's pod IP, its namespace attached to the node's bridge."""
    meta = config.metadata
    args = (("K8S_POD_NAMESPACE", meta.namespace), ("K8S_POD_NAME", meta.name), ("K8S_POD_UID", meta.uid),
            ("K8S_POD_INFRA_CONTAINER_ID", sandbox_id))
    try:
        result = network.setup(sandbox_id, pod=f"{meta.namespace}/{meta.name}", dns=config.dns_config,
                               real_ip=real_ip, args=args)
    except CNIError as e:
        raise api.CRIError(f'failed to setup network for sandbox "{sandbox_id}": {PLUGIN} failed (add): {e}') from e
    return result.ip


def pod_files(config: api.PodSandboxConfig, ip: str) -> dict[str, bytes]:
    """The files the runtime mounts into each container of the pod, as
    upstream's kubelet and runtime do: ``/etc/resolv.conf`` from the pod's
    DNS configuration and the kubelet-managed ``/etc/hosts``."""
    dns = config.dns_config
    resolv = resolv_conf(ResolverConfig(list(dns.servers), list(dns.searches), parse_options(dns.options))) \
        if dns is not None else ""
    hosts = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    if ip:
        hosts += f"{ip}\t{config.hostname or config.metadata.name}\n"
    return {"/etc/resolv.conf": resolv.encode(), "/etc/hosts": hosts.encode()}


class PodNetworking:
    """What both runtimes share about the pod network (``self.network``)."""

    network: PodNetwork

    async def UpdateRuntimeConfig(self, pod_cidr: str) -> None:
        """The node's pod CIDR, as the kubelet hands it over: pod IPs come from it."""
        try:
            self.network.set_pod_cidr(pod_cidr)
        except CNIError as e:
            raise api.InvalidArgument(f"pod CIDR {pod_cidr}: {e}") from e


def teardown_network(network: PodNetwork, sandbox_id: str) -> None:
    try:
        network.teardown(sandbox_id)
    except CNIError as e:
        raise api.CRIError(f'failed to destroy network for sandbox "{sandbox_id}": {PLUGIN} failed (delete): '
                           f'{e}') from e
