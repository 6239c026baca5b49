"""The cluster DNS addon (what CoreDNS's kubernetes plugin does): see :mod:`.server`."""
from .server import ClusterDNS, ensure_kube_dns_service, kube_dns_service

__all__ = ["ClusterDNS", "ensure_kube_dns_service", "kube_dns_service"]
