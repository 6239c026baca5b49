"""The cluster's address plan: where nodes, pods, Services and the cluster
DNS live (upstream's defaults where it has them)."""
from __future__ import annotations

import ipaddress

CLUSTER_DOMAIN = "cluster.local"
SERVICE_CIDR = "10.96.0.0/12"
CLUSTER_DNS_IP = "10.96.0.10"            # kubeadm's: the tenth address of the service CIDR
NODE_NETWORK = "172.16.0.0/12"           # the machines' own addresses, apart from 10/8's pods and services
NODE_BLOCK = 1 << 16                     # addresses per block: real kubelets in block 0, hollow nodes after


def node_address(ordinal: int, block: int = 0) -> str:
    """The InternalIP of the ``ordinal``-th node (from 0) of ``block`` (0:
    kubelets on Ray nodes, 1: hollow nodes), unique across the cluster."""
    net = ipaddress.ip_network(NODE_NETWORK)
    if not 0 <= ordinal < NODE_BLOCK - 2 or not 0 <= block < net.num_addresses // NODE_BLOCK:
        raise ValueError(f"node address {ordinal} of block {block} is outside {NODE_NETWORK}")
    return str(net.network_address + block * NODE_BLOCK + ordinal + 1)
