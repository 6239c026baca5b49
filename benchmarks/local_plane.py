"""A throwaway control plane for one benchmark run: a local Ray and a 3-member
raftstore, torn down (actors, data, Ray) however the run ends."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def local_plane(prefix: str) -> Iterator[tuple[Any, list[Any], int]]:
    """Yields (raftstore cluster, a list to append actor handles to — they are
    killed at the end, and a base index for naming this run's actors)."""
    import ray

    from raftstore.cluster import EtcdCluster

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", namespace="raykube")
    data = tempfile.mkdtemp(prefix=f"raykube-{prefix}-")
    etcd = None
    handles: list[Any] = []
    try:
        etcd = EtcdCluster.start(f"{prefix}{os.getpid()}", 3, data_root=data)
        yield etcd, handles, 1000 + os.getpid() % 1000 * 10
    finally:
        for h in handles:
            ray.kill(h, no_restart=True)
        if etcd is not None:
            etcd.down()
        shutil.rmtree(data, ignore_errors=True)
        ray.shutdown()
