"""The etcd comparison benchmark's raftstore side keeps working (tiny size)."""
from __future__ import annotations

import asyncio

import pytest

from benchmarks import etcd_compare as ec

pytestmark = pytest.mark.ray


def test_raftstore_side_runs_the_workload(ray_cluster):
    async def run() -> dict:
        async with ec.raftstore_kv() as kv:
            return await ec.run_workload(kv, seq_ops=5, conc_clients=8, conc_ops=40, read_ops=40)

    res = asyncio.run(run())
    phases = res["phases"]
    assert phases["conc_write"]["ops"] == 40 and phases["conc_write"]["ops_per_s"] > 0
    assert phases["seq_write"]["p50_ms"] > 0 and phases["read"]["ops"] == 40
    table = ec.format_table({"etcd": None, "raftstore": res})
    assert "raftstore" in table
