"""Finding a cluster's members by name, without Ray (its lookups stubbed)."""
from __future__ import annotations

import ray

from raftstore import member


def test_find_members_skips_other_clusters_sharing_the_prefix(monkeypatch):
    names = ["etcd-a-1", "etcd-a-2", "etcd-a-b-1", "etcd-ab-3", "apiserver-1"]
    monkeypatch.setattr(ray.util, "list_named_actors", lambda all_namespaces: [
        {"name": n, "namespace": member.NAMESPACE} for n in names] + [
        {"name": "etcd-a-9", "namespace": "elsewhere"}])
    monkeypatch.setattr(ray, "get_actor", lambda name, namespace: f"handle:{name}")
    assert member.find_members("a") == {1: "handle:etcd-a-1", 2: "handle:etcd-a-2"}
    assert member.find_members("a-b") == {1: "handle:etcd-a-b-1"}
