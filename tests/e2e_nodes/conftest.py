"""A cluster with two real nodes (`raykube up --nodes 2`: a kubelet and a
process-runtime CRI actor each), driven by the real kubectl."""
from __future__ import annotations

import pytest

from tests.e2e.plane import down, up


@pytest.fixture(scope="package")
def cluster(ray_cluster, tmp_path_factory):
    cp = up(ray_cluster.address, str(tmp_path_factory.mktemp("e2e-nodes")), "--etcd", "1", "--nodes", "2",
            "--runtime", "process")
    try:
        yield cp
    finally:
        down(cp)
