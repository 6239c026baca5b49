"""Shared fixtures. One Ray per test session: a ``ray.cluster_utils.Cluster``
head (started on first use), to which tests that lose a machine add (and
remove) worker nodes."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    tmp = tempfile.mkdtemp(prefix="raykube-ray-")
    cluster = Cluster(initialize_head=True, connect=True,
                      head_node_args={"num_cpus": 2, "include_dashboard": False,
                                      "temp_dir": os.path.join(tmp, "ray")},
                      shutdown_at_exit=True)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def data_root(tmp_path):
    return str(tmp_path / "data")
