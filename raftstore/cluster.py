"""Bring-up and operation of a raftstore cluster on Ray: start 3 or 5 members
spread over Ray nodes, change membership, read status, kill members (for
chaos), and tear everything down."""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .member import NAMESPACE, MemberConfig, find_members, member_actor_class, member_name


class ClusterError(RuntimeError):
    pass


def default_data_root() -> str:
    return os.environ.get("RAYKUBE_DATA", os.path.join(tempfile.gettempdir(), "raykube-data"))


def _alive_nodes() -> list[dict]:
    return sorted((n for n in ray.nodes() if n.get("Alive")), key=lambda n: n["NodeID"])


@dataclass
class EtcdCluster:
    """Handle on the members of one raftstore cluster (named ``etcd-<name>-<id>``
    detached actors in the ``raykube`` namespace)."""
    name: str
    data_root: str
    member_opts: dict[str, Any] = field(default_factory=dict)
    members: dict[int, Any] = field(default_factory=dict)     # id -> actor handle
    placement: dict[int, str] = field(default_factory=dict)   # id -> Ray node id
    next_id: int = 1

    # ------------------------------------------------------------ bring-up
    @classmethod
    def start(cls, name: str = "default", members: int = 3, data_root: str | None = None,
              timeout: float = 60.0, **member_opts: Any) -> "EtcdCluster":
        """Start a new cluster and wait until it has a leader. Members go to
        distinct Ray nodes when there are enough (pinned there: a member's data
        lives on its node's disk)."""
        if members < 1:
            raise ClusterError("a cluster needs at least one member")
        c = cls(name, data_root or default_data_root(), dict(member_opts))
        ids = tuple(range(1, members + 1))
        nodes = _alive_nodes()
        for i in ids:
            node = nodes[(i - 1) % len(nodes)]["NodeID"] if len(nodes) > 1 else None
            c._create(i, ids, node)
        c.next_id = members + 1
        c.wait_for_leader(timeout)
        return c

    @classmethod
    def attach(cls, name: str = "default", data_root: str | None = None) -> "EtcdCluster":
        """Find the running members of a cluster started earlier."""
        c = cls(name, data_root or default_data_root())
        c.members = find_members(name)
        if not c.members:
            raise ClusterError(f"no raftstore cluster {name!r} is running")
        c.next_id = max(c.members) + 1
        return c

    def _data_dir(self, mid: int, node: str | None) -> str:
        # one directory per (Ray node, member): a member restarted on another
        # node does not find its data, as on a real machine
        where = (node or ray.get_runtime_context().get_node_id())[:12]
        return os.path.join(self.data_root, where, f"{self.name}-member-{mid}")

    def _create(self, mid: int, peers: tuple[int, ...], node: str | None) -> Any:
        opts: dict[str, Any] = {"name": member_name(self.name, mid), "namespace": NAMESPACE,
                                "lifetime": "detached", "get_if_exists": False}
        if node is not None:
            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
        cfg = MemberConfig(self.name, mid, self._data_dir(mid, node), peers=peers, **self.member_opts)
        h = member_actor_class().options(**opts).remote(cfg)
        self.members[mid] = h
        if node is not None:
            self.placement[mid] = node
        return h

    # -------------------------------------------------------------- queries
    def status(self, timeout: float = 5.0) -> dict[int, dict | str]:
        """Each member's status, or the error that stopped us getting it."""
        refs = {mid: h.status.remote() for mid, h in self.members.items()}
        out: dict[int, dict | str] = {}
        for mid, ref in refs.items():
            try:
                out[mid] = ray.get(ref, timeout=timeout)
            except Exception as e:  # dead, restarting, or too slow
                lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
                # the first line says what happened; the last, for an actor
                # that failed to start, the error it raised
                why = lines[0] if len(lines) < 2 else f"{lines[0]} ... {lines[-1]}"
                out[mid] = f"{type(e).__name__}: {why}"
        return out

    def leader_id(self, timeout: float = 5.0) -> int | None:
        """The member that reports itself leader with the highest term."""
        best: tuple[int, int] | None = None
        for mid, st in self.status(timeout).items():
            if isinstance(st, dict) and st["state"] == "LEADER":
                if best is None or st["term"] > best[0]:
                    best = (st["term"], mid)
        return best[1] if best else None

    def wait_for_leader(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lid = self.leader_id(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            if lid is not None:
                return lid
            time.sleep(0.1)
        raise ClusterError(f"raftstore cluster {self.name!r} has no leader after {timeout}s: "
                           f"{self.status(timeout=2.0)}")

    def _call_leader(self, method: str, *args: Any, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            lid = self.leader_id()
            if lid is not None:
                try:
                    resp = ray.get(getattr(self.members[lid], method).remote(*args),
                                   timeout=max(1.0, deadline - time.monotonic()))
                except Exception as e:
                    resp = {"error": {"code": "unavailable", "message": str(e)}}
                if "result" in resp:
                    return resp["result"]
                last = resp
            time.sleep(0.2)
        raise ClusterError(f"{method}{args} failed: {last}")

    # ----------------------------------------------------------- membership
    def _free_node(self) -> str | None:
        """A live Ray node for a new member: one without a member if any."""
        nodes = [n["NodeID"] for n in _alive_nodes()]
        if len(nodes) <= 1:
            return None
        used = set(self.placement.values())
        return next((n for n in nodes if n not in used), nodes[0])

    def add_member(self, node: str | None = None, timeout: float = 30.0) -> int:
        """Add a new member: as a learner first, promoted once it caught up."""
        mid = self.next_id
        self.next_id += 1
        self._call_leader("conf_change", "add_learner", mid, timeout=timeout)
        self._create(mid, (), node or self._free_node())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status().get(mid)
            lid = self.leader_id()
            lst = self.status().get(lid) if lid else None
            if isinstance(st, dict) and isinstance(lst, dict) and st["applied"] >= lst["commit"]:
                break
            time.sleep(0.2)
        else:
            raise ClusterError(f"member {mid} did not catch up within {timeout}s")
        self._call_leader("conf_change", "promote", mid, timeout=timeout)
        return mid

    def remove_member(self, mid: int, timeout: float = 30.0) -> None:
        self._call_leader("conf_change", "remove", mid, timeout=timeout)
        self._stop(mid, remove_data=True)

    def replace_member(self, mid: int, timeout: float = 30.0) -> int:
        """Swap a lost or unwanted member for a fresh one (a new id)."""
        self.remove_member(mid, timeout)
        return self.add_member(timeout=timeout)

    def transfer_leadership(self, to: int, timeout: float = 20.0) -> None:
        self._call_leader("transfer_leadership", to, timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.leader_id() != to:
            if time.monotonic() > deadline:
                raise ClusterError(f"leadership did not move to {to} within {timeout}s")
            time.sleep(0.1)

    def compact(self, revision: int | None = None, timeout: float = 20.0) -> int:
        """Compact the store's history and snapshot every member's log."""
        lid = self.wait_for_leader(timeout)
        st = self.status()[lid]
        rev = revision if revision is not None else st["revision"]  # type: ignore[index]
        self._call_leader("request", {"op": "compact", "revision": rev}, None, 0, False, timeout)
        for h in self.members.values():
            try:
                ray.get(h.snapshot_now.remote(), timeout=timeout)
            except Exception:
                pass
        return rev

    # ---------------------------------------------------------------- chaos
    def stop_member(self, mid: int) -> None:
        """Kill a member for good but keep its data (see restart_member)."""
        ray.kill(self.members[mid], no_restart=True)

    def restart_member(self, mid: int, timeout: float = 30.0) -> None:
        """Start a stopped member again on its node, from its data."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._create(mid, (), self.placement.get(mid))
                return
            except ValueError:  # the old actor's name is not released yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def wipe_and_crash(self, mid: int) -> None:
        """Lose a member's disk, then its process: Ray restarts it, and it
        must refuse to come back under its old id."""
        st = ray.get(self.members[mid].status.remote(), timeout=10)
        shutil.rmtree(self._data_dir(mid, self.placement.get(mid)), ignore_errors=True)
        os.kill(st["pid"], signal.SIGKILL)

    def kill(self, mid: int, how: str = "ray", restart: bool = True) -> None:
        """Kill a member: ``ray`` (ray.kill) or ``sigkill`` (its process).
        With restart, Ray brings it back and it recovers from its WAL."""
        h = self.members[mid]
        if how == "ray":
            ray.kill(h, no_restart=not restart)
        elif how == "sigkill":
            pid = ray.get(h.status.remote(), timeout=10)["pid"]
            os.kill(pid, signal.SIGKILL)
        else:
            raise ValueError(f"unknown kill mode {how!r}: use ray or sigkill")

    def _stop(self, mid: int, remove_data: bool) -> None:
        h = self.members.pop(mid, None)
        if h is None:
            return
        try:
            ray.get(h.shutdown.remote(remove_data), timeout=5)
        except Exception:
            pass
        ray.kill(h, no_restart=True)
        self.placement.pop(mid, None)

    def down(self, remove_data: bool = True) -> None:
        """Stop every member (and delete their data)."""
        for mid in list(self.members):
            self._stop(mid, remove_data)
        if remove_data:
            for node_dir in _listdir(self.data_root):
                p = os.path.join(self.data_root, node_dir)
                for d in _listdir(p):
                    if d.startswith(f"{self.name}-member-"):
                        _rmtree(os.path.join(p, d))


def _listdir(p: str) -> list[str]:
    try:
        return os.listdir(p)
    except OSError:
        return []


def _rmtree(p: str) -> None:
    shutil.rmtree(p, ignore_errors=True)

