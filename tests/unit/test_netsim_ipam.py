"""host-local IPAM and the bridge CNI plugin: addresses from the node's pod
CIDR, never two owners for one address, freed on DEL, and after a restart
(the reservations read back from disk, stale ones collected) neither leaked
nor handed out twice."""
from __future__ import annotations

import os
import random

import pytest

from netsim.cni import TRY_AGAIN_LATER, BridgePlugin, CNIArgs, CNIError
from netsim.host import Fabric, Host
from netsim.ipam import LAST_RESERVED, DirStore, HostLocalIPAM, MemoryStore, RangeFull


def test_addresses_skip_the_gateway_and_broadcast_and_rotate():
    ipam = HostLocalIPAM(MemoryStore(), "10.244.5.0/24")
    assert ipam.gateway == "10.244.5.1" and ipam.size == 253
    first = ipam.allocate("a")
    assert (first.address, first.gateway) == ("10.244.5.2/24", "10.244.5.1")
    assert ipam.allocate("a") == first                      # the same owner gets its address back
    assert ipam.allocate("b").ip == "10.244.5.3"
    ipam.release("a")
    assert ipam.allocate("c").ip == "10.244.5.4"            # a freed address is not the next one given
    ipam.release("nobody")                                  # releasing what is not held is no error


def test_exhaustion_is_a_clear_error_and_a_release_makes_room():
    ipam = HostLocalIPAM(MemoryStore(), "10.244.6.0/29")    # .2 - .6
    got = [ipam.allocate(f"c{i}").ip for i in range(5)]
    assert got == [f"10.244.6.{i}" for i in range(2, 7)]
    with pytest.raises(RangeFull, match="no IP addresses available in range set: 10.244.6.2-10.244.6.6"):
        ipam.allocate("one-more")
    ipam.release("c2")
    assert ipam.allocate("one-more").ip == "10.244.6.4"


def test_dir_store_keeps_host_locals_layout(tmp_path):
    store = DirStore(str(tmp_path / "raykube"))
    ipam = HostLocalIPAM(store, "10.244.7.0/24")
    ipam.allocate("abc", "eth0")
    assert open(tmp_path / "raykube" / "10.244.7.2", "rb").read() == b"abc\r\neth0"
    assert open(tmp_path / "raykube" / LAST_RESERVED).read() == "10.244.7.2"
    again = HostLocalIPAM(DirStore(str(tmp_path / "raykube")), "10.244.7.0/24")   # a restart
    assert again.get("abc").ip == "10.244.7.2" and again.allocate("def").ip == "10.244.7.3"
    assert not DirStore(str(tmp_path / "raykube")).reserve("10.244.7.2", "intruder")


def test_ten_thousand_cycles_with_restarts_never_duplicate_or_leak(tmp_path):
    """Random ADDs and DELs through the bridge plugin, the plugin and its
    IPAM rebuilt from disk every few hundred steps (a restarted kubelet and
    runtime); at a restart some sandboxes die with it (their DEL never came)
    and GC gives their addresses back."""
    rng = random.Random(7)
    path = str(tmp_path / "ipam")
    cidr = "10.244.9.0/26"                                   # 61 addresses: contention is the point

    def plugin() -> tuple[Host, BridgePlugin]:
        host = Host("h", Fabric())
        p = BridgePlugin(host.add_node("n"), DirStore(path))
        p.set_subnet(cidr)
        return host, p
    host, bridge = plugin()
    live: dict[str, str] = {}                                # container id -> address
    full = 0
    for step in range(10_000):
        if step and step % 250 == 0:                         # restart
            for cid in rng.sample(sorted(live), k=len(live) // 4):
                del live[cid]                                # died without a DEL
            host, bridge = plugin()
            freed = bridge.gc(set(live))
            assert all(ip not in live.values() for ip in freed)
            for cid in live:                                 # the survivors' namespaces, re-made
                host.create_netns("n", f"/netns/{cid}")
                host.nodes["n"].attach(host.nodes["n"].namespaces[f"/netns/{cid}"], live[cid])
        if live and (rng.random() < 0.45 or len(live) > 55):
            cid = rng.choice(sorted(live))
            bridge.delete(CNIArgs(cid, f"/netns/{cid}"))
            host.delete_netns("n", f"/netns/{cid}")
            del live[cid]
        else:
            cid = f"c{step}"
            host.create_netns("n", f"/netns/{cid}")
            try:
                result = bridge.add(CNIArgs(cid, f"/netns/{cid}"))
            except CNIError as e:
                assert e.code == TRY_AGAIN_LATER and len(live) == 61
                host.delete_netns("n", f"/netns/{cid}")
                full += 1
                continue
            assert result.ip not in live.values(), f"step {step}: {result.ip} handed out twice"
            live[cid] = result.ip
            bridge.check(CNIArgs(cid, f"/netns/{cid}"))
        if step % 25 == 0 or step % 250 == 1:   # the store holds exactly the live reservations
            assert bridge.ipam.allocations() == {ip: cid for cid, ip in live.items()}, f"step {step}"
    assert len(os.listdir(path)) == len(live) + 1            # the reservations and last_reserved_ip.0
    assert full == 0 or len(live) <= 61


def test_the_plugin_waits_for_a_pod_cidr_and_fails_typed():
    host = Host("h", Fabric())
    bridge = BridgePlugin(host.add_node("n"))
    host.create_netns("n", "/netns/x")
    with pytest.raises(CNIError) as e:
        bridge.add(CNIArgs("x", "/netns/x"))
    assert e.value.code == TRY_AGAIN_LATER and "no podCIDR" in str(e.value)
    bridge.set_subnet("10.244.1.0/24")
    result = bridge.add(CNIArgs("x", "/netns/x", args=(("K8S_POD_NAME", "p"),)))
    assert result.ip == "10.244.1.2" and result.routes[0].gw == "10.244.1.1"
    assert [i.name for i in result.interfaces] == ["cni0", result.interfaces[1].name, "eth0"]
    assert result.interfaces[2].sandbox == "/netns/x"
    with pytest.raises(CNIError, match="no such network namespace"):
        bridge.add(CNIArgs("y", "/netns/missing"))
    host.nodes["n"].detach(host.nodes["n"].namespaces["/netns/x"])
    with pytest.raises(CNIError, match="not as ADD left it"):
        bridge.check(CNIArgs("x", "/netns/x"))
    with pytest.raises(CNIError, match="invalid IPAM range"):
        bridge.set_subnet("10.244.1.0/31")
