"""raftstore side by side with a real 3-member etcd cluster on this machine.

    python -m benchmarks.etcd_compare [--quick] [--json PATH] [--only etcd|raftstore|both]

Both systems get the same workload, driven from one Python asyncio client
process (see `run_workload`):

  phase 1  `seq_ops` writes from 1 client, one after another;
  phase 2  `conc_ops` writes in total from `conc_clients` concurrent clients,
           each writing sequentially;
  phase 3  `read_ops` linearizable reads in total from `conc_clients`
           concurrent clients, of keys written in phase 2 (every value read
           is checked against what was written).

Values are 256 bytes, keys are `bench/<client>/<n>`. Each phase starts with a
few un-timed warm-up operations per client (which also open the client's
connections); then every operation's latency is taken with
`time.perf_counter`, and a phase's throughput is its operation count over its
wall time, from starting its clients to the last one finishing.

etcd side (`etcd_kv`): three `etcd` processes (the binary on PATH; Debian's
`etcd-server`, etcd 3.4) on free loopback ports, each with its own temporary
data directory and log file, fsync on (etcd's default). The client speaks
etcd's v3 JSON gateway (`/v3/kv/put`, `/v3/kv/range`) with aiohttp over a
keep-alive connection pool. By default every request goes to the leader's
client URL: a follower forwards writes to the leader and must ask the leader
for a read index before a linearizable read, so spreading requests over the
three members costs etcd an extra hop per operation. Measured here (2 cores,
64 clients), leader-only gave etcd about 1.5x the linearizable reads/s and
1.3x the concurrent writes/s of round-robin over all members;
`endpoints="all"` spreads them round-robin instead.

The client's event loop is uvloop (a project dependency) for both systems,
falling back to asyncio's own loop if it is missing: with the client, its
server and the store all on 2 cores, the client's own CPU cost shows in the
figures, and uvloop let the same client drive etcd to about 1.5x the reads/s.

raftstore side (`raftstore_kv`): a hook for the raftstore implementation; it
must import Ray lazily, inside the function, never at module level here.

The benchmark installs nothing. `make bench-etcd` installs etcd
(`apt-get install -y etcd-server`) when it is missing.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as _dt
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

VALUE_SIZE = 256
SYSTEM_NAMES = ("etcd", "raftstore")

# Phase keys in the order they run and are shown.
PHASES = ("seq_write", "conc_write", "read")
PHASE_UNITS = {"seq_write": "writes/s", "conc_write": "writes/s", "read": "reads/s"}

# Workload sizes. QUICK is a smoke run of a few seconds; FULL takes about a
# minute against etcd on a quiet 2-core machine (more while anything else runs).
QUICK = {"seq_ops": 100, "conc_clients": 64, "conc_ops": 1_280, "read_ops": 2_560}
FULL = {"seq_ops": 5_000, "conc_clients": 64, "conc_ops": 40_000, "read_ops": 60_000}
WARMUP_OPS = 10            # un-timed operations per client before each phase
PHASE_TIMEOUT = 900.0      # seconds one phase may take before it is abandoned
ETCD_ENDPOINTS = "leader"  # "leader" or "all"; see the module docstring
CLIENT_LOOP = "uvloop"     # "uvloop" or "asyncio"; see the module docstring

ETCD_MISSING = ("etcd_compare: `etcd` is not on PATH; `make bench-etcd` installs it "
                "(apt-get install -y etcd-server)")


class KV(Protocol):
    """What the workload needs from a store: byte keys, byte values."""

    async def put(self, key: bytes, value: bytes) -> None: ...

    async def get(self, key: bytes) -> bytes | None: ...

    async def close(self) -> None: ...


class WorkloadError(RuntimeError):
    """The store under test misbehaved (wrong value read, an operation failed, a phase timed out)."""


class EtcdNotFound(RuntimeError):
    """No `etcd` binary on PATH."""


class EtcdStartError(RuntimeError):
    """The etcd cluster did not come up; the message carries the members' log tails."""


class EtcdError(RuntimeError):
    """The etcd gateway answered a request with an error."""


# ---------------------------------------------------------------------------
# Pure helpers: keys, values, splits, percentiles, summaries
# ---------------------------------------------------------------------------

def make_key(client: str, n: int) -> bytes:
    return f"bench/{client}/{n}".encode()


def make_value(key: bytes, size: int = VALUE_SIZE) -> bytes:
    """A value of `size` bytes determined by its key, so reads can be verified."""
    unit = key + b"|"
    return (unit * (size // len(unit) + 1))[:size]


def split_ops(total: int, parts: int) -> list[int]:
    """`total` operations over `parts` clients, as evenly as possible (earlier clients get the extra)."""
    if parts < 1:
        raise ValueError("parts must be >= 1")
    if total < 0:
        raise ValueError("total must be >= 0")
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q% of the values at or below it.

    `sorted_values` must be sorted ascending and non-empty; 0 < q <= 100.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile q must be in (0, 100], got {q}")
    # round() absorbs float noise such as 99.9 * 1000 / 100 = 999.0000000000001.
    rank = math.ceil(round(q * len(sorted_values) / 100, 9))
    return sorted_values[max(rank, 1) - 1]


def summarize(latencies_s: Sequence[float], wall_s: float, *, clients: int) -> dict[str, Any]:
    """One phase's figures from its per-operation latencies and wall time (seconds in, ms out)."""
    if not latencies_s:
        raise ValueError("summarize needs at least one latency")
    if wall_s <= 0:
        raise ValueError(f"wall time must be positive, got {wall_s}")
    lat = sorted(latencies_s)
    return {
        "clients": clients,
        "ops": len(lat),
        "seconds": wall_s,
        "ops_per_s": len(lat) / wall_s,
        "p50_ms": percentile(lat, 50) * 1e3,
        "p99_ms": percentile(lat, 99) * 1e3,
        "mean_ms": sum(lat) / len(lat) * 1e3,
        "max_ms": lat[-1] * 1e3,
    }


# ---------------------------------------------------------------------------
# Workload
# ---------------------------------------------------------------------------

async def _write_client(kv: KV, keys: Sequence[bytes], clock: Callable[[], float]) -> list[float]:
    lat = []
    for key in keys:
        value = make_value(key)
        t0 = clock()
        await kv.put(key, value)
        lat.append(clock() - t0)
    return lat


async def _read_client(kv: KV, keys: Sequence[bytes], clock: Callable[[], float]) -> list[float]:
    lat = []
    for key in keys:
        t0 = clock()
        got = await kv.get(key)
        lat.append(clock() - t0)
        if got != make_value(key):
            shown = got if got is None else got[:40] + b"..."
            raise WorkloadError(f"read of {key!r} returned {shown!r}, not the value written")
    return lat


ClientFn = Callable[[KV, Sequence[bytes], Callable[[], float]], Awaitable[list[float]]]


async def _run_clients(name: str, fn: ClientFn, kv: KV, key_lists: Sequence[Sequence[bytes]],
                       clock: Callable[[], float], timeout: float) -> tuple[list[float], float]:
    """Run one client per key list concurrently; (all latencies, wall seconds)."""
    t0 = clock()
    try:
        async with asyncio.timeout(timeout):
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(fn(kv, keys, clock)) for keys in key_lists]
    except TimeoutError as e:
        raise WorkloadError(f"phase {name} did not finish within {timeout:g}s") from e
    except ExceptionGroup as eg:
        first = eg.exceptions[0]
        if isinstance(first, WorkloadError):
            raise first from eg
        raise WorkloadError(f"phase {name}: {first!r}") from first
    wall = clock() - t0
    return [x for t in tasks for x in t.result()], wall


async def run_workload(kv: KV, *, seq_ops: int, conc_clients: int, conc_ops: int, read_ops: int,
                       warmup_ops: int = WARMUP_OPS, phase_timeout: float = PHASE_TIMEOUT,
                       clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """Run the three phases against `kv`; returns {"params": ..., "phases": {phase: figures}}.

    Each phase's figures are `summarize`'s: clients, ops, seconds, ops_per_s,
    p50_ms, p99_ms, mean_ms, max_ms. Warm-up operations are not counted.
    """
    if seq_ops < 1:
        raise ValueError("seq_ops must be >= 1")
    if conc_clients < 1:
        raise ValueError("conc_clients must be >= 1")
    if conc_ops < conc_clients:
        raise ValueError("conc_ops must be >= conc_clients (every client does at least one write)")
    if read_ops < conc_clients:
        raise ValueError("read_ops must be >= conc_clients (every client does at least one read)")
    if warmup_ops < 0:
        raise ValueError("warmup_ops must be >= 0")
    if phase_timeout <= 0:
        raise ValueError("phase_timeout must be positive")

    phases: dict[str, dict[str, Any]] = {}
    clients = [f"c{i}" for i in range(conc_clients)]

    # Phase 1: one client, sequential writes.
    if warmup_ops:
        await _run_clients("seq_write warm-up", _write_client, kv,
                           [[make_key("warm-seq", n) for n in range(warmup_ops)]], clock, phase_timeout)
    lat, wall = await _run_clients("seq_write", _write_client, kv,
                                   [[make_key("seq", n) for n in range(seq_ops)]], clock, phase_timeout)
    phases["seq_write"] = summarize(lat, wall, clients=1)

    # Phase 2: concurrent clients, each writing sequentially.
    if warmup_ops:
        await _run_clients("conc_write warm-up", _write_client, kv,
                           [[make_key(f"warm-{c}", n) for n in range(warmup_ops)] for c in clients],
                           clock, phase_timeout)
    written = [[make_key(c, n) for n in range(k)] for c, k in zip(clients, split_ops(conc_ops, conc_clients))]
    lat, wall = await _run_clients("conc_write", _write_client, kv, written, clock, phase_timeout)
    phases["conc_write"] = summarize(lat, wall, clients=conc_clients)

    # Phase 3: concurrent clients reading phase 2's keys, interleaved so that
    # the readers walk the whole key set rather than each its own writer's.
    flat = [k for keys in written for k in keys]
    reads = [[flat[(r + i * conc_clients) % len(flat)] for i in range(k)]
             for r, k in enumerate(split_ops(read_ops, conc_clients))]
    if warmup_ops:
        await _run_clients("read warm-up", _read_client, kv,
                           [[keys[i % len(keys)] for i in range(warmup_ops)] for keys in reads],
                           clock, phase_timeout)
    lat, wall = await _run_clients("read", _read_client, kv, reads, clock, phase_timeout)
    phases["read"] = summarize(lat, wall, clients=conc_clients)

    return {
        "params": {"seq_ops": seq_ops, "conc_clients": conc_clients, "conc_ops": conc_ops,
                   "read_ops": read_ops, "warmup_ops_per_client": warmup_ops, "value_size": VALUE_SIZE},
        "phases": phases,
    }


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def _phase_label(phase: str, clients: int | None) -> str:
    n = "N" if clients is None else str(clients)
    return {
        "seq_write": f"seq writes, {n} client{'' if n == '1' else 's'}",
        "conc_write": f"writes, {n} clients",
        "read": f"lin. reads, {n} clients",
    }[phase] + f" ({PHASE_UNITS[phase]})"


def _fig(result: Mapping[str, Any] | None, phase: str) -> Mapping[str, Any] | None:
    if not result:
        return None
    return result.get("phases", {}).get(phase)


def ratios(results: Mapping[str, Mapping[str, Any] | None]) -> dict[str, dict[str, float | None]]:
    """Per phase: raftstore/etcd throughput ratio and p50 latency ratio (None when either is missing)."""
    out: dict[str, dict[str, float | None]] = {}
    for phase in PHASES:
        e, r = _fig(results.get("etcd"), phase), _fig(results.get("raftstore"), phase)
        tput = p50 = None
        if e and r:
            if e["ops_per_s"] > 0:
                tput = r["ops_per_s"] / e["ops_per_s"]
            if e["p50_ms"] > 0:
                p50 = r["p50_ms"] / e["p50_ms"]
        out[phase] = {"throughput": tput, "p50": p50}
    return out


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def format_table(results: Mapping[str, Mapping[str, Any] | None]) -> str:
    """The comparison table; a system that was not run shows "-" in its columns and the ratios."""
    headers = ["phase"]
    for name in SYSTEM_NAMES:
        headers += [f"{name} ops/s", f"{name} p50 ms", f"{name} p99 ms"]
    headers += ["tput raftstore/etcd", "p50 raftstore/etcd"]

    rats = ratios(results)
    rows = []
    for phase in PHASES:
        clients = next((f["clients"] for f in (_fig(results.get(s), phase) for s in SYSTEM_NAMES) if f), None)
        row = [_phase_label(phase, clients)]
        for name in SYSTEM_NAMES:
            f = _fig(results.get(name), phase)
            row += [_num(f and f["ops_per_s"], ",.0f"), _num(f and f["p50_ms"], ".2f"),
                    _num(f and f["p99_ms"], ".2f")]
        row += [_num(rats[phase]["throughput"], ".2f") + ("x" if rats[phase]["throughput"] is not None else ""),
                _num(rats[phase]["p50"], ".2f") + ("x" if rats[phase]["p50"] is not None else "")]
        rows.append(row)

    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    out.append("ratios: tput > 1x means raftstore is faster; p50 > 1x means raftstore's median latency is higher")
    return "\n".join(out)


def parse_etcd_version(text: str) -> str | None:
    """'etcd Version: 3.4.23\\nGit SHA: ...' -> '3.4.23'."""
    for ln in text.splitlines():
        if ln.lower().startswith("etcd version:"):
            return ln.split(":", 1)[1].strip() or None
    return None


def etcd_version() -> str | None:
    binary = shutil.which("etcd")
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_etcd_version(out.stdout)


def machine_info() -> dict[str, Any]:
    """What the figures depend on. Taken before the runs, `loadavg` shows whether something else was busy."""
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu_count": os.cpu_count(),
        "loadavg": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "etcd_version": etcd_version(),
    }


def build_report(results: Mapping[str, Mapping[str, Any] | None], *, sizes: Mapping[str, int], quick: bool,
                 machine: Mapping[str, Any], notes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Everything `--json` writes: sizes, machine, each system's figures (None if not run), ratios."""
    return {
        "benchmark": "etcd_compare",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "sizes": dict(sizes),
        "value_size": VALUE_SIZE,
        "warmup_ops_per_client": WARMUP_OPS,
        "machine": dict(machine),
        "client_loop": client_loop_name(),
        "etcd_setup": {"members": 3, "fsync": True, "endpoints": ETCD_ENDPOINTS,
                       "client": "v3 JSON gateway over HTTP/1.1 keep-alive (aiohttp)"},
        "systems": {name: (dict(results[name]) if results.get(name) else None) for name in SYSTEM_NAMES},
        "ratios": ratios(results),
        "notes": dict(notes or {}),
    }


def write_json(path: str | os.PathLike[str], report: Mapping[str, Any]) -> None:
    p = Path(path)
    if p.parent != Path("."):
        p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")


# ---------------------------------------------------------------------------
# Real etcd: a 3-member cluster on loopback
# ---------------------------------------------------------------------------

HOST = "127.0.0.1"


def free_ports(n: int, host: str = HOST) -> list[int]:
    """`n` distinct ports that were free on `host` a moment ago (all bound at once to port 0, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def etcd_binary() -> str:
    path = shutil.which("etcd")
    if path is None:
        raise EtcdNotFound(ETCD_MISSING)
    return path


def _tail(path: Path, lines: int) -> str:
    try:
        data = path.read_bytes()[-16384:].decode(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(data.splitlines()[-lines:])


class EtcdCluster:
    """Members as child processes; `stop()` ends exactly those PIDs and removes their directories."""

    def __init__(self, binary: str, members: int = 3, *, host: str = HOST, stop_timeout: float = 10.0):
        if members < 1:
            raise ValueError("members must be >= 1")
        self.binary = binary
        self.host = host
        self.stop_timeout = stop_timeout
        self.names = [f"m{i}" for i in range(members)]
        ports = free_ports(2 * members, host)
        self.client_ports, self.peer_ports = ports[:members], ports[members:]
        self.token = f"raykube-bench-{uuid.uuid4().hex[:12]}"
        self.dirs: list[Path] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def client_urls(self) -> list[str]:
        return [f"http://{self.host}:{p}" for p in self.client_ports]

    @property
    def peer_urls(self) -> list[str]:
        return [f"http://{self.host}:{p}" for p in self.peer_ports]

    def log_path(self, i: int) -> Path:
        return self.dirs[i] / "etcd.log"

    def command(self, i: int) -> list[str]:
        initial = ",".join(f"{n}={u}" for n, u in zip(self.names, self.peer_urls))
        return [
            self.binary,
            "--name", self.names[i],
            "--data-dir", str(self.dirs[i] / "data"),
            "--listen-client-urls", self.client_urls[i],
            "--advertise-client-urls", self.client_urls[i],
            "--listen-peer-urls", self.peer_urls[i],
            "--initial-advertise-peer-urls", self.peer_urls[i],
            "--initial-cluster", initial,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", self.token,
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]

    def start(self) -> None:
        # etcd reads ETCD_* variables as flags; keep the caller's out of the members.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        try:
            for i, name in enumerate(self.names):
                self.dirs.append(Path(tempfile.mkdtemp(prefix=f"raykube-etcd-{name}-")))
                with open(self.log_path(i), "wb") as log:
                    self.procs.append(subprocess.Popen(
                        self.command(i), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        cwd=self.dirs[i], env=env))
        except BaseException:
            self.stop()
            raise

    def log_tails(self, lines: int = 15) -> str:
        return "\n".join(f"--- {self.names[i]} ({self.log_path(i)}) ---\n{_tail(self.log_path(i), lines)}"
                         for i in range(len(self.dirs)))

    def check_alive(self) -> None:
        for i, p in enumerate(self.procs):
            if p.poll() is not None:
                raise EtcdStartError(f"etcd member {self.names[i]} exited with code {p.returncode}\n"
                                     + self.log_tails())

    def stop(self) -> None:
        """Terminate our members by PID one at a time (bounded waits, then kill); remove their directories.

        One at a time because a leader that is told to stop first hands its
        leadership to a live follower, which takes milliseconds; stopping all
        at once leaves it waiting for followers that are gone (about 7 s).
        """
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    p.kill()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        p.wait(timeout=5)
        self.procs = []
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs = []


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


class EtcdKV:
    """KV over etcd's v3 JSON gateway with a keep-alive aiohttp pool; requests round-robin over `urls`."""

    def __init__(self, urls: Sequence[str], *, op_timeout: float = 10.0, serializable: bool = False):
        import aiohttp  # a dependency of ray[default]; imported here so the pure parts need nothing

        if not urls:
            raise ValueError("EtcdKV needs at least one URL")
        self._aiohttp = aiohttp
        self.urls = list(urls)
        self.serializable = serializable
        self._next = 0
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
            timeout=aiohttp.ClientTimeout(total=op_timeout),
            headers={"Content-Type": "application/json"},
        )

    def use_urls(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        self._next = 0

    def _url(self) -> str:
        i = self._next
        self._next = (i + 1) % len(self.urls)
        return self.urls[i]

    async def _post(self, path: str, body: Mapping[str, Any], url: str | None = None) -> dict[str, Any]:
        async with self._session.post((url or self._url()) + path, data=json.dumps(body)) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise EtcdError(f"POST {path}: HTTP {resp.status}: {raw[:300].decode(errors='replace')}")
        return json.loads(raw)

    async def put(self, key: bytes, value: bytes) -> None:
        await self._post("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})

    async def get(self, key: bytes) -> bytes | None:
        body: dict[str, Any] = {"key": _b64(key)}
        if self.serializable:
            body["serializable"] = True
        out = await self._post("/v3/kv/range", body)
        kvs = out.get("kvs")
        if not kvs:
            return None
        return base64.b64decode(kvs[0].get("value", ""))

    async def healthy(self, url: str, timeout: float = 2.0) -> bool:
        aiohttp = self._aiohttp
        try:
            async with self._session.get(url + "/health", timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                if resp.status != 200:
                    return False
                return json.loads(await resp.read()).get("health") == "true"
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False

    async def leader_url(self) -> str | None:
        """The client URL of the member that is leader now, by asking each member's status."""
        for url in self.urls:
            try:
                st = await self._post("/v3/maintenance/status", {}, url=url)
            except (self._aiohttp.ClientError, TimeoutError, EtcdError, ValueError):
                continue
            if st.get("leader") and st.get("header", {}).get("member_id") == st["leader"]:
                return url
        return None

    async def close(self) -> None:
        await self._session.close()


async def _wait_ready(cluster: EtcdCluster, kv: EtcdKV, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = set(cluster.client_urls)
    last_err: str = "members not healthy yet"
    while True:
        cluster.check_alive()
        for url in sorted(pending):
            if await kv.healthy(url):
                pending.discard(url)
        if not pending:
            try:
                await kv.put(b"bench/_ready", b"1")
                return
            except Exception as e:  # noqa: BLE001 -- any failure here just means "not yet"
                last_err = repr(e)
        if loop.time() > deadline:
            raise EtcdStartError(
                f"etcd cluster not ready within {timeout:g}s ({last_err}; unhealthy: {sorted(pending)})\n"
                + cluster.log_tails())
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def etcd_kv(*, members: int = 3, endpoints: str = ETCD_ENDPOINTS, start_timeout: float = 30.0,
                  op_timeout: float = 10.0, serializable: bool = False) -> AsyncIterator[EtcdKV]:
    """Start a fresh `members`-member etcd cluster on loopback and yield a KV on it; stop and clean up after."""
    if endpoints not in ("leader", "all"):
        raise ValueError("endpoints must be 'leader' or 'all'")
    cluster = EtcdCluster(etcd_binary(), members)
    try:
        cluster.start()
        kv = EtcdKV(cluster.client_urls, op_timeout=op_timeout, serializable=serializable)
        try:
            await _wait_ready(cluster, kv, start_timeout)
            if endpoints == "leader":
                leader = await kv.leader_url()
                if leader is not None:
                    kv.use_urls([leader])
            yield kv
        finally:
            await kv.close()
    finally:
        cluster.stop()


# ---------------------------------------------------------------------------
# raftstore: the hook for the other side
# ---------------------------------------------------------------------------

class RaftStoreKV:
    """KV over a RaftStoreClient: one client shared by all workload coroutines,
    as an apiserver shares one (its concurrent requests ride in batches)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def put(self, key: bytes, value: bytes) -> None:
        await self.client.put(key, value)

    async def get(self, key: bytes) -> bytes | None:
        kv = await self.client.get(key)
        return kv["value"] if kv else None

    async def close(self) -> None:
        return None


@contextlib.asynccontextmanager
async def raftstore_kv() -> AsyncIterator[KV]:
    """Start a 3-member raftstore (fsync on, like etcd) on Ray and yield a KV
    on it; stop it after. Uses the running Ray if there is one, else starts
    a local one for the run (and stops it)."""
    import ray

    from raftstore.client import RaftStoreClient
    from raftstore.cluster import EtcdCluster

    own_ray = not ray.is_initialized()
    if own_ray:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    data = tempfile.mkdtemp(prefix="raykube-bench-raftstore-")
    cluster = None
    try:
        cluster = await asyncio.to_thread(EtcdCluster.start, f"bench{os.getpid()}", 3, data)
        yield RaftStoreKV(RaftStoreClient(cluster.name, timeout=30.0))
    finally:
        if cluster is not None:
            await asyncio.to_thread(cluster.down)
        shutil.rmtree(data, ignore_errors=True)
        if own_ray:
            ray.shutdown()


SYSTEMS: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[KV]]] = {
    "etcd": etcd_kv,
    "raftstore": raftstore_kv,
}


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

async def run_system(name: str, sizes: Mapping[str, int]) -> dict[str, Any]:
    async with SYSTEMS[name]() as kv:
        return await run_workload(kv, **sizes)


def client_loop_name() -> str:
    """The event loop `run_async` will use: CLIENT_LOOP if it is importable, else "asyncio"."""
    if CLIENT_LOOP == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            return "asyncio"
        return "uvloop"
    return "asyncio"


def run_async(coro: Awaitable[Any]) -> Any:
    """Run `coro` to completion on a fresh event loop of `client_loop_name()`'s kind."""
    if client_loop_name() == "uvloop":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.etcd_compare",
                                 description="raftstore vs a 3-member etcd cluster, same workload, same machine")
    ap.add_argument("--quick", action="store_true", help="small sizes: a few seconds per system")
    ap.add_argument("--json", metavar="PATH", help="also write all figures and machine info to PATH")
    ap.add_argument("--only", choices=("etcd", "raftstore", "both"), default="both",
                    help="which system(s) to run (default: both)")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    names = list(SYSTEM_NAMES) if args.only == "both" else [args.only]
    if "etcd" in names and shutil.which("etcd") is None:
        raise SystemExit(ETCD_MISSING)
    machine = machine_info()

    results: dict[str, dict[str, Any] | None] = {n: None for n in SYSTEM_NAMES}
    for name in names:
        print(f"etcd_compare: running {name} ({'quick' if args.quick else 'full'} sizes: "
              + ", ".join(f"{k}={v}" for k, v in sizes.items()) + ")", file=sys.stderr, flush=True)
        try:
            results[name] = run_async(run_system(name, sizes))
        except (EtcdNotFound, EtcdStartError, WorkloadError) as e:
            raise SystemExit(f"etcd_compare: {name}: {e}") from None

    print(format_table(results))
    if args.json:
        write_json(args.json, build_report(results, sizes=sizes, quick=args.quick,
                                           machine=machine))
        print(f"etcd_compare: wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
