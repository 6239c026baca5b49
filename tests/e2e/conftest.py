"""One control plane for the e2e package (no nodes: tests play kubelet where
they need one), driven by the real kubectl."""
from __future__ import annotations

import pytest

from .plane import down, up


@pytest.fixture(scope="package")
def control_plane(ray_cluster, tmp_path_factory):
    cp = up(ray_cluster.address, str(tmp_path_factory.mktemp("e2e")), "--etcd", "3", "--apiservers", "2")
    try:
        yield cp
    finally:
        down(cp)
