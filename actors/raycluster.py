"""Finding, starting and stopping the Ray cluster that raykube runs on.

``raykube`` commands connect to the cluster given by ``--address`` (or
``RAY_ADDRESS``), else to the local head that an earlier ``raykube`` command
started, else they start one: ``ray start --head --block`` in its own process
group, remembered in a state file so that ``down`` stops exactly it (by its
process group id) and nothing else on the machine.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

STATE_DIR = os.environ.get("RAYKUBE_HOME", os.path.join(os.path.expanduser("~"), ".raykube"))
STATE_FILE = os.path.join(STATE_DIR, "ray-head.json")


class RayClusterError(RuntimeError):
    pass


@dataclass
class HeadState:
    pid: int
    address: str
    temp_dir: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def load_state() -> HeadState | None:
    try:
        with open(STATE_FILE) as f:
            st = HeadState(**json.load(f))
    except (OSError, ValueError, TypeError):
        return None
    return st if _alive(st.pid) else None


def _ray_bin() -> str:
    cand = os.path.join(os.path.dirname(sys.executable), "ray")
    if os.path.exists(cand):
        return cand
    raise RayClusterError(f"the ray command is not installed next to {sys.executable}")


def start_head(timeout: float = 90.0) -> HeadState:
    """Start a local Ray head for raykube and wait until it accepts drivers."""
    os.makedirs(STATE_DIR, exist_ok=True)
    port = _free_port()
    temp_dir = os.path.join(STATE_DIR, "ray")
    log_path = os.path.join(STATE_DIR, "ray-head.log")
    env = dict(os.environ, RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "disabled"))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [_ray_bin(), "start", "--head", "--block", f"--port={port}", "--include-dashboard=false",
             "--disable-usage-stats", f"--temp-dir={temp_dir}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env)
    st = HeadState(proc.pid, f"127.0.0.1:{port}", temp_dir)
    with open(STATE_FILE, "w") as f:
        json.dump(asdict(st), f)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RayClusterError(f"ray start exited with {proc.returncode}; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return st
        except OSError:
            time.sleep(0.5)
    stop_head(st)
    raise RayClusterError(f"the Ray head did not come up within {timeout}s; see {log_path}")


def stop_head(st: HeadState | None = None, timeout: float = 30.0) -> bool:
    """Stop the head raykube started (its whole process group, by id)."""
    st = st or load_state()
    if st is None:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(st.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(st.pid):
            time.sleep(0.2)
        if not _alive(st.pid):
            break
    try:
        os.remove(STATE_FILE)
    except OSError:
        pass
    return True


def connect(address: str | None = None, start: bool = False) -> str:
    """ray.init() to the chosen cluster; returns its address."""
    import ray

    addr = address or os.environ.get("RAY_ADDRESS")
    if not addr:
        st = load_state()
        if st is None:
            if not start:
                raise RayClusterError("no Ray cluster: run `raykube etcd up` first or pass --address")
            st = start_head()
        addr = st.address
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address=addr, namespace="raykube", log_to_driver=False, logging_level="ERROR")
    return addr
