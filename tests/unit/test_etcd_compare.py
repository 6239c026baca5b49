"""Tests for benchmarks.etcd_compare: workload harness, figures, table, JSON and CLI wiring.

Everything here runs against an in-process fake KV, without etcd and without
Ray, except the one `e2e` test at the end, which needs an `etcd` binary.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

from benchmarks import etcd_compare as ec


class FakeKV:
    """In-memory KV; `latencies` (seconds) are charged to a fake clock, one per operation, in order."""

    def __init__(self, latencies: list[float] | None = None, clock: FakeClock | None = None):
        self.data: dict[bytes, bytes] = {}
        self.puts: list[bytes] = []
        self.gets: list[bytes] = []
        self.closed = False
        self.latencies = list(latencies or [])
        self.clock = clock

    async def _op(self) -> None:
        if self.clock is not None and self.latencies:
            self.clock.now += self.latencies.pop(0)
        await asyncio.sleep(0)

    async def put(self, key: bytes, value: bytes) -> None:
        await self._op()
        self.puts.append(key)
        self.data[key] = value

    async def get(self, key: bytes) -> bytes | None:
        await self._op()
        self.gets.append(key)
        return self.data.get(key)

    async def close(self) -> None:
        self.closed = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


SMALL = {"seq_ops": 7, "conc_clients": 4, "conc_ops": 10, "read_ops": 9}


def run(coro):
    return asyncio.run(coro)


def fake_result(tputs=(100.0, 1000.0, 2000.0), p50s=(2.0, 30.0, 20.0), clients=64) -> dict:
    phases = {}
    for phase, t, p in zip(ec.PHASES, tputs, p50s):
        phases[phase] = {"clients": 1 if phase == "seq_write" else clients, "ops": 100, "seconds": 100 / t,
                         "ops_per_s": t, "p50_ms": p, "p99_ms": p * 3, "mean_ms": p, "max_ms": p * 4}
    return {"params": dict(SMALL), "phases": phases}


# --- pure helpers -----------------------------------------------------------

def test_percentile_nearest_rank_on_known_values():
    vals = [float(i) for i in range(1, 101)]  # 1..100
    assert ec.percentile(vals, 50) == 50.0
    assert ec.percentile(vals, 99) == 99.0
    assert ec.percentile(vals, 100) == 100.0
    assert ec.percentile(vals, 1) == 1.0
    assert ec.percentile(vals, 0.5) == 1.0
    thousand = [float(i) for i in range(1, 1001)]
    assert ec.percentile(thousand, 99.9) == 999.0  # no float-noise off-by-one
    assert ec.percentile(thousand, 99) == 990.0
    assert ec.percentile([5.0], 50) == 5.0 and ec.percentile([5.0], 99) == 5.0
    assert ec.percentile([1.0, 2.0], 50) == 1.0
    assert ec.percentile([1.0, 2.0], 51) == 2.0
    assert ec.percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 99) == 10.0


@pytest.mark.parametrize("q", [0, -1, 100.1])
def test_percentile_rejects_bad_q(q):
    with pytest.raises(ValueError):
        ec.percentile([1.0], q)


def test_percentile_rejects_empty():
    with pytest.raises(ValueError):
        ec.percentile([], 50)


def test_summarize_figures_in_ms():
    lat = [i / 1000 for i in range(100, 0, -1)]  # 1..100 ms, unsorted
    s = ec.summarize(lat, 2.0, clients=3)
    assert s["clients"] == 3 and s["ops"] == 100 and s["seconds"] == 2.0
    assert s["ops_per_s"] == pytest.approx(50.0)
    assert s["p50_ms"] == pytest.approx(50.0)
    assert s["p99_ms"] == pytest.approx(99.0)
    assert s["max_ms"] == pytest.approx(100.0)
    assert s["mean_ms"] == pytest.approx(50.5)
    with pytest.raises(ValueError):
        ec.summarize([], 1.0, clients=1)
    with pytest.raises(ValueError):
        ec.summarize([0.1], 0.0, clients=1)


def test_split_ops():
    assert ec.split_ops(10, 4) == [3, 3, 2, 2]
    assert ec.split_ops(8, 4) == [2, 2, 2, 2]
    assert sum(ec.split_ops(40_000, 64)) == 40_000
    with pytest.raises(ValueError):
        ec.split_ops(5, 0)


def test_keys_and_values():
    k = ec.make_key("c3", 17)
    assert k == b"bench/c3/17"
    v = ec.make_value(k)
    assert len(v) == ec.VALUE_SIZE == 256
    assert v == ec.make_value(b"bench/c3/17") and v != ec.make_value(b"bench/c3/18")


# --- workload ---------------------------------------------------------------

def test_run_workload_counts_and_keys():
    kv = FakeKV()
    res = run(ec.run_workload(kv, **SMALL, warmup_ops=2))
    ph = res["phases"]
    assert list(ph) == list(ec.PHASES)
    assert ph["seq_write"]["ops"] == 7 and ph["seq_write"]["clients"] == 1
    assert ph["conc_write"]["ops"] == 10 and ph["conc_write"]["clients"] == 4
    assert ph["read"]["ops"] == 9 and ph["read"]["clients"] == 4
    for f in ph.values():
        assert f["ops_per_s"] > 0 and f["seconds"] > 0
        assert 0 <= f["p50_ms"] <= f["p99_ms"] <= f["max_ms"]
    assert res["params"] == {**SMALL, "warmup_ops_per_client": 2, "value_size": 256}

    # Warm-ups are done but not counted: 2 seq + 2 per concurrent client, and 2 reads per reader.
    assert len(kv.puts) == 7 + 10 + 2 + 2 * 4
    assert len(kv.gets) == 9 + 2 * 4
    assert {k for k in kv.puts if k.startswith(b"bench/seq/")} == {ec.make_key("seq", n) for n in range(7)}
    conc = {k for k in kv.puts if k.startswith(b"bench/c")}
    assert conc == {ec.make_key(f"c{c}", n) for c, k in enumerate([3, 3, 2, 2]) for n in range(k)}
    assert all(k.startswith(b"bench/warm-") for k in kv.puts if k not in conc and not k.startswith(b"bench/seq/"))
    # Reads only touch keys that phase 2 wrote, and every value is the full 256 bytes.
    assert set(kv.gets) <= conc
    assert all(len(v) == 256 for v in kv.data.values())


def test_run_workload_without_warmup_does_exactly_the_counted_ops():
    kv = FakeKV()
    run(ec.run_workload(kv, **SMALL, warmup_ops=0))
    assert len(kv.puts) == 17 and len(kv.gets) == 9


def test_run_workload_latencies_from_clock():
    # Phase 1 is a single sequential client, so its latencies are exactly the charged ones.
    clock = FakeClock()
    seq_lat = [0.001 * i for i in range(1, 101)]  # 1..100 ms
    kv = FakeKV(latencies=seq_lat + [0.005] * 4, clock=clock)
    res = run(ec.run_workload(kv, seq_ops=100, conc_clients=2, conc_ops=2, read_ops=2, warmup_ops=0,
                              clock=clock))
    seq = res["phases"]["seq_write"]
    assert seq["p50_ms"] == pytest.approx(50.0)
    assert seq["p99_ms"] == pytest.approx(99.0)
    assert seq["seconds"] == pytest.approx(sum(seq_lat))
    assert seq["ops_per_s"] == pytest.approx(100 / sum(seq_lat))
    # The 2 concurrent writes then the 2 reads took 5 ms of (fake) time each.
    assert res["phases"]["conc_write"]["seconds"] == pytest.approx(0.010)
    assert res["phases"]["read"]["seconds"] == pytest.approx(0.010)


def test_run_workload_detects_wrong_reads():
    class Lossy(FakeKV):
        async def get(self, key):
            await super().get(key)
            return None

    with pytest.raises(ec.WorkloadError, match="read of b'bench/c"):
        run(ec.run_workload(Lossy(), **SMALL, warmup_ops=0))


def test_run_workload_wraps_store_errors():
    class Broken(FakeKV):
        async def put(self, key, value):
            if key.startswith(b"bench/c2/"):
                raise ConnectionError("boom")
            await super().put(key, value)

    with pytest.raises(ec.WorkloadError, match="conc_write.*boom"):
        run(ec.run_workload(Broken(), **SMALL, warmup_ops=0))


def test_run_workload_phase_timeout():
    class Stuck(FakeKV):
        async def put(self, key, value):
            await asyncio.sleep(3600)

    with pytest.raises(ec.WorkloadError, match="did not finish within"):
        run(ec.run_workload(Stuck(), **SMALL, warmup_ops=0, phase_timeout=0.05))


@pytest.mark.parametrize("bad", [
    {"seq_ops": 0}, {"conc_clients": 0}, {"conc_ops": 3}, {"read_ops": 3}, {"warmup_ops": -1},
    {"phase_timeout": 0},
])
def test_run_workload_rejects_bad_sizes(bad):
    with pytest.raises(ValueError):
        run(ec.run_workload(FakeKV(), **{**SMALL, **bad}))


# --- table and ratios ---------------------------------------------------------

def test_table_both_systems_has_ratios():
    etcd = fake_result(tputs=(100.0, 1000.0, 2000.0), p50s=(2.0, 30.0, 20.0))
    rs = fake_result(tputs=(50.0, 1500.0, 500.0), p50s=(4.0, 15.0, 80.0))
    r = ec.ratios({"etcd": etcd, "raftstore": rs})
    assert r["seq_write"] == {"throughput": pytest.approx(0.5), "p50": pytest.approx(2.0)}
    assert r["conc_write"] == {"throughput": pytest.approx(1.5), "p50": pytest.approx(0.5)}
    assert r["read"] == {"throughput": pytest.approx(0.25), "p50": pytest.approx(4.0)}

    table = ec.format_table({"etcd": etcd, "raftstore": rs})
    lines = table.splitlines()
    assert "etcd ops/s" in lines[0] and "raftstore p99 ms" in lines[0] and "tput raftstore/etcd" in lines[0]
    seq, conc, read = lines[2], lines[3], lines[4]
    assert seq.startswith("seq writes, 1 client ") and "(writes/s)" in seq
    assert conc.startswith("writes, 64 clients") and read.startswith("lin. reads, 64 clients")
    assert "(reads/s)" in read
    assert seq.split()[-2:] == ["0.50x", "2.00x"]
    assert conc.split()[-2:] == ["1.50x", "0.50x"]
    assert read.split()[-2:] == ["0.25x", "4.00x"]
    assert "1,000" in conc and "1,500" in conc and "30.00" in conc and "90.00" in conc
    assert " - " not in table


def test_table_missing_system_shows_dashes():
    table = ec.format_table({"etcd": fake_result(), "raftstore": None})
    for row in table.splitlines()[2:5]:
        cells = row.split()
        # 3 raftstore cells + 2 ratios are "-", and the etcd cells are numbers.
        assert cells[-5:] == ["-"] * 5
        assert all(c != "-" for c in cells[-8:-5])
    r = ec.ratios({"etcd": fake_result(), "raftstore": None})
    assert all(v == {"throughput": None, "p50": None} for v in r.values())

    only_rs = ec.format_table({"etcd": None, "raftstore": fake_result()})
    for row in only_rs.splitlines()[2:5]:
        cells = row.split()
        assert cells[-8:-5] == ["-"] * 3 and cells[-2:] == ["-", "-"]

    nothing = ec.format_table({})
    assert "writes, N clients" in nothing
    assert all(row.split()[-8:] == ["-"] * 8 for row in nothing.splitlines()[2:5])


def test_table_columns_line_up():
    lines = ec.format_table({"etcd": fake_result(), "raftstore": fake_result()}).splitlines()
    assert len({len(ln) for ln in lines[:5]}) == 1


# --- JSON report --------------------------------------------------------------

def test_build_report_and_write_json(tmp_path):
    machine = {"cpu_count": 2, "python": "3.11.9", "platform": "Linux", "etcd_version": "3.4.23"}
    rep = ec.build_report({"etcd": fake_result(), "raftstore": None}, sizes=ec.QUICK, quick=True,
                          machine=machine, notes={"raftstore": "not run: x"})
    path = tmp_path / "out" / "bench.json"
    ec.write_json(path, rep)
    back = json.loads(path.read_text())
    assert back["benchmark"] == "etcd_compare" and back["mode"] == "quick"
    assert back["sizes"] == ec.QUICK and back["value_size"] == 256
    assert back["machine"] == machine
    assert back["systems"]["raftstore"] is None
    assert set(back["systems"]["etcd"]["phases"]) == set(ec.PHASES)
    assert set(back["ratios"]) == set(ec.PHASES)
    assert back["etcd_setup"]["members"] == 3 and back["etcd_setup"]["fsync"] is True
    assert back["client_loop"] in ("uvloop", "asyncio")
    assert back["notes"] == {"raftstore": "not run: x"}
    for f in back["systems"]["etcd"]["phases"].values():
        assert {"clients", "ops", "seconds", "ops_per_s", "p50_ms", "p99_ms", "mean_ms", "max_ms"} <= set(f)


def test_parse_etcd_version():
    text = "etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n"
    assert ec.parse_etcd_version(text) == "3.4.23"
    assert ec.parse_etcd_version("garbage") is None


def test_machine_info_without_etcd(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    info = ec.machine_info()
    assert info["etcd_version"] is None
    assert info["cpu_count"] == os.cpu_count() and info["python"].count(".") == 2


# --- free ports -----------------------------------------------------------------

def test_free_ports_distinct_and_bindable():
    ports = ec.free_ports(6)
    assert len(ports) == len(set(ports)) == 6
    assert all(1024 <= p <= 65535 for p in ports)
    socks = []
    try:
        for p in ports:  # all free again once the helper returns
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            socks.append(s)
    finally:
        for s in socks:
            s.close()


# --- CLI ----------------------------------------------------------------------------

@pytest.fixture
def fake_systems(monkeypatch):
    """Both systems replaced by fake KVs; returns the list of KVs handed out."""
    made: list[FakeKV] = []

    def factory():
        @contextlib.asynccontextmanager
        async def cm():
            kv = FakeKV()
            made.append(kv)
            try:
                yield kv
            finally:
                await kv.close()
        return cm()

    monkeypatch.setitem(ec.SYSTEMS, "etcd", factory)
    monkeypatch.setitem(ec.SYSTEMS, "raftstore", factory)
    monkeypatch.setattr(ec, "QUICK", dict(SMALL))
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/usr/bin/" + name)
    monkeypatch.setattr(ec, "etcd_version", lambda: "3.4.23")
    return made


def test_main_only_etcd_prints_table_and_json(fake_systems, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert ec.main(["--quick", "--only", "etcd", "--json", str(out)]) == 0
    assert len(fake_systems) == 1 and fake_systems[0].closed
    table = capsys.readouterr().out
    assert "writes, 4 clients" in table
    for row in table.splitlines()[2:5]:
        assert row.split()[-5:] == ["-"] * 5
    rep = json.loads(out.read_text())
    assert rep["systems"]["raftstore"] is None
    assert rep["systems"]["etcd"]["phases"]["conc_write"]["ops"] == 10
    assert rep["machine"]["etcd_version"] == "3.4.23" and rep["sizes"] == SMALL


def test_main_both_runs_both_and_ratios(fake_systems, capsys):
    assert ec.main(["--quick"]) == 0
    assert len(fake_systems) == 2
    rows = capsys.readouterr().out.splitlines()[2:5]
    assert all(row.split()[-1].endswith("x") for row in rows)


@pytest.mark.parametrize("argv", [["--only", "bogus"], ["--json"], ["--frobnicate"]])
def test_bad_args_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as ei:
        ec.main(argv)
    assert ei.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("only", ["etcd", "both"])
def test_missing_etcd_message(monkeypatch, only):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(SystemExit) as ei:
        ec.main(["--quick", "--only", only])
    msg = str(ei.value.code)
    assert "make bench-etcd" in msg and "etcd" in msg and "\n" not in msg


def test_etcd_kv_without_etcd_raises(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)

    async def enter():
        async with ec.etcd_kv():
            pass

    with pytest.raises(ec.EtcdNotFound, match="make bench-etcd"):
        run(enter())


def test_cluster_command_flags():
    c = ec.EtcdCluster("/usr/bin/etcd", 3)
    c.dirs = [Path(f"/tmp/m{i}") for i in range(3)]
    cmd = c.command(1)
    assert cmd[0] == "/usr/bin/etcd"
    flags = dict(zip(cmd[1::2], cmd[2::2]))
    assert flags["--name"] == "m1" and flags["--data-dir"] == "/tmp/m1/data"
    assert flags["--listen-client-urls"] == flags["--advertise-client-urls"] == c.client_urls[1]
    assert flags["--listen-peer-urls"] == flags["--initial-advertise-peer-urls"] == c.peer_urls[1]
    assert flags["--initial-cluster"].count("=http://127.0.0.1:") == 3
    assert flags["--initial-cluster-state"] == "new"
    assert flags["--initial-cluster-token"].startswith("raykube-bench-")
    assert "--unsafe-no-fsync" not in cmd
    assert len(set(c.client_ports + c.peer_ports)) == 6


def _fake_etcd(tmp_path, monkeypatch, body: str) -> list:
    """Put a shell script where `etcd` is looked up; returns the clusters etcd_kv starts."""
    script = tmp_path / "etcd"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: str(script) if name == "etcd" else None)
    started: list = []
    real_start = ec.EtcdCluster.start

    def start(self):
        real_start(self)
        started.append((list(self.procs), list(self.dirs)))

    monkeypatch.setattr(ec.EtcdCluster, "start", start)
    return started


def _enter_etcd_kv(**kw):
    async def go():
        async with ec.etcd_kv(**kw):
            pass

    run(go())


def test_etcd_member_that_exits_is_reported_with_its_log(tmp_path, monkeypatch):
    started = _fake_etcd(tmp_path, monkeypatch, 'echo "cannot start member $2"; exit 3')
    with pytest.raises(ec.EtcdStartError) as ei:
        _enter_etcd_kv(start_timeout=10)
    msg = str(ei.value)
    assert "exited with code 3" in msg and "cannot start member m0" in msg
    [(procs, dirs)] = started
    assert all(p.returncode is not None for p in procs)
    assert not any(d.exists() for d in dirs)


def test_etcd_cluster_never_healthy_times_out_and_cleans_up(tmp_path, monkeypatch):
    started = _fake_etcd(tmp_path, monkeypatch,
                         f'echo "member $2 up"; exec "{sys.executable}" -c "import time; time.sleep(60)"')
    with pytest.raises(ec.EtcdStartError) as ei:
        _enter_etcd_kv(start_timeout=0.5)
    msg = str(ei.value)
    assert "not ready within 0.5s" in msg and "member m2 up" in msg
    [(procs, dirs)] = started
    assert len(procs) == 3 and all(p.returncode is not None for p in procs)  # stopped by PID
    assert not any(d.exists() for d in dirs)


# --- real etcd (only where an etcd binary is installed) --------------------------------

@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("etcd") is None, reason="needs an `etcd` binary (make test and make bench-etcd install it)")
def test_etcd_kv_tiny_workload(monkeypatch):
    started: list[tuple[list, list[Path]]] = []
    real_start = ec.EtcdCluster.start

    def start(self):
        real_start(self)
        started.append((list(self.procs), list(self.dirs)))

    monkeypatch.setattr(ec.EtcdCluster, "start", start)

    async def go():
        async with ec.etcd_kv() as kv:
            assert await kv.get(b"bench/absent") is None
            await kv.put(b"bench/x/0", b"")
            assert await kv.get(b"bench/x/0") == b""
            return await ec.run_workload(kv, seq_ops=5, conc_clients=4, conc_ops=20, read_ops=20, warmup_ops=1)

    res = ec.run_async(go())
    assert res["phases"]["conc_write"]["ops"] == 20 and res["phases"]["read"]["ops"] == 20
    assert all(f["ops_per_s"] > 0 for f in res["phases"].values())
    # Exactly our 3 members were started, and all of them stopped with their directories removed.
    [(procs, dirs)] = started
    assert len(procs) == 3 and all(p.returncode is not None for p in procs)
    assert len(dirs) == 3 and not any(d.exists() for d in dirs)
