"""A throwaway control plane for one Ray test: raftstore, an apiserver, and
whatever components the test starts over them, all removed afterwards."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import ray

from actors.apiserver.actor import start_apiservers
from raftstore.cluster import EtcdCluster


@contextmanager
def control_plane(name: str, data_root: str, first_index: int,
                  start: Callable[[list[Any]], list[Any]]) -> Iterator[tuple[list[Any], list[Any]]]:
    """Yields (apiserver handles, the handles ``start(apiservers)`` returned)."""
    etcd = EtcdCluster.start(name, 3, data_root=data_root, tick_ms=50.0)
    handles: list[Any] = []
    try:
        apis = start_apiservers(1, name, first_index=first_index)
        handles += apis
        started = start(apis)
        handles += started
        yield apis, started
    finally:
        for h in handles:
            ray.kill(h, no_restart=True)
        etcd.down()
