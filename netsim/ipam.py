"""host-local IPAM, as the CNI plugin of that name works: addresses of one
subnet (a node's podCIDR) handed out one after the last one reserved, each
reservation a record keyed by the address holding its owner (container id
and interface), so two owners can never hold one address and a restarted
kubelet or runtime finds every reservation where it left it.

:class:`DirStore` keeps the records as host-local does on disk (one file per
address, created exclusively, plus ``last_reserved_ip.0``); :class:`MemoryStore`
keeps them in a dict for hollow nodes, whose pods live no longer than their
process anyway.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Iterator, Protocol

LAST_RESERVED = "last_reserved_ip.0"


class IPAMError(Exception):
    """An allocation that cannot be made (a CNI error code travels with it)."""

    def __init__(self, message: str, code: int = 11) -> None:  # 11: CNI "try again later"
        super().__init__(message)
        self.code = code


class RangeFull(IPAMError):
    pass


@dataclass(frozen=True)
class Allocation:
    ip: str
    prefixlen: int
    gateway: str

    @property
    def address(self) -> str:
        return f"{self.ip}/{self.prefixlen}"


class Store(Protocol):
    """Where reservations live: ``reserve`` must be atomic (False when taken)."""

    def reserve(self, ip: str, owner: str) -> bool: ...

    def release(self, ip: str) -> None: ...

    def owner(self, ip: str) -> str | None: ...

    def items(self) -> Iterator[tuple[str, str]]: ...

    def last_reserved(self) -> str | None: ...

    def set_last_reserved(self, ip: str) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._owners: dict[str, str] = {}
        self._last: str | None = None

    def reserve(self, ip: str, owner: str) -> bool:
        if ip in self._owners:
            return False
        self._owners[ip] = owner
        return True

    def release(self, ip: str) -> None:
        self._owners.pop(ip, None)

    def owner(self, ip: str) -> str | None:
        return self._owners.get(ip)

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._owners.items()))

    def last_reserved(self) -> str | None:
        return self._last

    def set_last_reserved(self, ip: str) -> None:
        self._last = ip


class DirStore:
    """host-local's layout: ``<dir>/<ip>`` holding ``<container id>\\r\\n<ifname>``;
    an exclusive create is the reservation, so two processes sharing the
    directory cannot both win one address."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(path, exist_ok=True)

    def reserve(self, ip: str, owner: str) -> bool:
        try:
            fd = os.open(os.path.join(self.path, ip), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, owner.encode())
        finally:
            os.close(fd)
        return True

    def release(self, ip: str) -> None:
        try:
            os.unlink(os.path.join(self.path, ip))
        except FileNotFoundError:
            pass

    def owner(self, ip: str) -> str | None:
        try:
            with open(os.path.join(self.path, ip), "rb") as f:
                return f.read().decode()
        except FileNotFoundError:
            return None

    def items(self) -> Iterator[tuple[str, str]]:
        for name in sorted(os.listdir(self.path)):
            if name == LAST_RESERVED or name.startswith("."):
                continue
            owner = self.owner(name)
            if owner is not None:
                yield name, owner

    def last_reserved(self) -> str | None:
        try:
            with open(os.path.join(self.path, LAST_RESERVED)) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def set_last_reserved(self, ip: str) -> None:
        tmp = os.path.join(self.path, f".{LAST_RESERVED}.{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(ip)
        os.replace(tmp, os.path.join(self.path, LAST_RESERVED))


def owner_key(container_id: str, ifname: str) -> str:
    return f"{container_id}\r\n{ifname}"


class HostLocalIPAM:
    """Addresses of ``subnet`` from .2 up (the first host address is the
    bridge's gateway, the last the broadcast's neighbour), round robin after
    the last reservation. An owner asking again gets its address back, so a
    retried ADD whose first answer was lost does not take a second one."""

    def __init__(self, store: Store, subnet: str) -> None:
        net = ipaddress.ip_network(subnet, strict=False)
        if net.version != 4 or net.num_addresses < 4:
            raise IPAMError(f"invalid range {subnet}: an IPv4 subnet of at least 4 addresses is needed", code=7)
        self.store = store
        self.subnet = str(net)
        self.prefixlen = net.prefixlen
        self._base = int(net.network_address)
        self._first = self._base + 2            # .1 is the gateway
        self._last = int(net.broadcast_address) - 1
        self.gateway = str(ipaddress.IPv4Address(self._base + 1))
        self._by_owner: dict[str, str] = {}
        for ip, owner in store.items():
            self._by_owner[owner] = ip

    @property
    def size(self) -> int:
        return self._last - self._first + 1

    def _result(self, ip: str) -> Allocation:
        return Allocation(ip, self.prefixlen, self.gateway)

    def _in_range(self, ip: str) -> bool:
        try:
            n = int(ipaddress.IPv4Address(ip))
        except ValueError:
            return False
        return self._first <= n <= self._last

    def get(self, container_id: str, ifname: str = "eth0") -> Allocation | None:
        ip = self._by_owner.get(owner_key(container_id, ifname))
        return self._result(ip) if ip is not None else None

    def allocate(self, container_id: str, ifname: str = "eth0") -> Allocation:
        owner = owner_key(container_id, ifname)
        have = self._by_owner.get(owner)
        if have is not None and self.store.owner(have) == owner:
            return self._result(have)
        last = self.store.last_reserved()
        start = self._first
        if last is not None and self._in_range(last):
            start = int(ipaddress.IPv4Address(last)) + 1
        for i in range(self.size):
            n = self._first + (start - self._first + i) % self.size
            ip = str(ipaddress.IPv4Address(n))
            if self.store.reserve(ip, owner):
                self.store.set_last_reserved(ip)
                self._by_owner[owner] = ip
                return self._result(ip)
        raise RangeFull(f"failed to allocate for range 0: no IP addresses available in range set: "
                        f"{ipaddress.IPv4Address(self._first)}-{ipaddress.IPv4Address(self._last)}")

    def release(self, container_id: str, ifname: str = "eth0") -> None:
        """Free the owner's address; releasing what is not held is no error (DEL is idempotent)."""
        owner = owner_key(container_id, ifname)
        ip = self._by_owner.pop(owner, None)
        if ip is not None and self.store.owner(ip) == owner:
            self.store.release(ip)

    def allocations(self) -> dict[str, str]:
        """address -> container id, as the store has them."""
        return {ip: owner.split("\r\n", 1)[0] for ip, owner in self.store.items()}

    def gc(self, valid: set[str]) -> list[str]:
        """Free every address whose container is not in ``valid`` (CNI's GC
        verb: after a restart, sandboxes that are gone give their addresses
        back); returns the freed addresses."""
        freed = []
        for ip, owner in self.store.items():
            if owner.split("\r\n", 1)[0] not in valid or not self._in_range(ip):
                self.store.release(ip)
                self._by_owner.pop(owner, None)
                freed.append(ip)
        return freed

