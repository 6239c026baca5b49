"""The images' programs: in the simulated context with a hand-driven clock,
and a few as real processes through ``python -m actors.cri.programs``."""
from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from actors.cri.programs import PROGRAMS, run_program
from actors.cri.programs.base import SIGTERM_EXIT, Stdin, task_exit_code
from actors.cri.programs.shell import ShellSyntaxError, parse_script
from actors.cri.programs.simctx import SimContext
from netsim.pods import PodNetwork

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


# ------------------------------------------------------------------ fakes
class FakeClock:
    """Virtual time: ``sleep`` parks until ``advance`` moves past its deadline."""

    def __init__(self) -> None:
        self.t = T0
        self._timers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.t + seconds, next(self._seq), fut))
        await fut

    async def settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    def pending(self) -> float | None:
        while self._timers and self._timers[0][2].done():
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    async def advance(self, seconds: float) -> None:
        end = self.t + seconds
        await self.settle()
        while (due := self.pending()) is not None and due <= end:
            _, _, fut = heapq.heappop(self._timers)
            self.t = max(self.t, due)
            fut.set_result(None)
            await self.settle()
        self.t = end
        await self.settle()

    async def finish(self, task: asyncio.Task, limit: float = 3600.0) -> int:
        """Run virtual time until ``task`` ends (fails if it blocks for good)."""
        start = self.t
        await self.settle()
        while not task.done():
            due = self.pending()
            assert due is not None, "the program blocked without a timer"
            assert due - start <= limit, "the program did not end in time"
            await self.advance(due - self.t)
        return task.result()


class Pod:
    """A pod in the simulation: its IP, shared files, containers' contexts."""

    def __init__(self, clock: FakeClock, net: PodNetwork, ip: str, hostname: str = "pod-a") -> None:
        self.clock, self.net, self.ip, self.hostname = clock, net, ip, hostname
        self.files: dict[str, bytes] = {}

    def ctx(self, env: dict[str, str] | None = None, stdin: Stdin | None = None, tty: bool = False) -> SimContext:
        return SimContext(env if env is not None else {"PATH": "/bin", "HOSTNAME": self.hostname}, self.hostname, self.ip,
                          clock=self.clock.now, sleep=self.clock.sleep, network=self.net, files=self.files,
                          stdin=stdin, tty=tty)

    def start(self, argv: list[str], env: dict[str, str] | None = None, stdin: Stdin | None = None,
              tty: bool = False) -> tuple[SimContext, asyncio.Task]:
        c = self.ctx(env, stdin, tty)
        return c, asyncio.ensure_future(run_program(c, argv))


def sim(test):
    """Run an async test body with a clock, a network and two pods."""
    def wrapper():
        async def body():
            clock = FakeClock()
            net = PodNetwork.standalone(sleep=clock.sleep)
            net.plugin.store.set_last_reserved("10.244.0.4")  # the pods below get .5 and .6
            a = Pod(clock, net, net.setup("sandbox-a", pod="default/pod-a").ip, "pod-a")
            b = Pod(clock, net, net.setup("sandbox-b", pod="default/pod-b").ip, "pod-b")
            await test(clock, a, b)
        asyncio.run(asyncio.wait_for(body(), timeout=20))
    wrapper.__name__ = test.__name__
    return wrapper


async def run(pod: Pod, argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    c, task = pod.start(argv, env)
    code = await pod.clock.finish(task)
    return code, c.text("stdout"), c.text("stderr")


async def stop(clock: FakeClock, task: asyncio.Task) -> int:
    """SIGTERM as the sim runtime delivers it: cancel, then the exit code."""
    task.cancel()
    await clock.settle()
    assert task.done()
    return task_exit_code(task)


# ------------------------------------------------------------------ registry
def test_every_image_binary_is_registered():
    for name in ("sh", "sleep", "echo", "cat", "true", "false", "env", "wget", "hostname",
                 "agnhost", "nginx", "pause", "python", "python3"):
        assert name in PROGRAMS, name


@sim
async def test_unknown_program_is_127(clock, a, b):
    code, out, err = await run(a, ["/usr/bin/nope"])
    assert code == 127
    assert "nope" in err


# ------------------------------------------------------------------ shell
@sim
async def test_sh_echo_then_exit_code(clock, a, b):
    assert await run(a, ["sh", "-c", "echo a; exit 3"]) == (3, "a\n", "")


@sim
async def test_sh_and_or_quotes_and_variables(clock, a, b):
    script = ("false && echo no; false || echo yes; true && echo 'single $HOME' \"double $GREETING\"; "
              "X=1; echo ${X}${UNSET:-d} $? \"$0\" $1; ! false && echo negated")
    code, out, err = await run(a, ["sh", "-c", script, "zero", "one"], env={"HOME": "/root", "GREETING": "hi there"})
    assert (code, err) == (0, "")
    assert out == "yes\nsingle $HOME double hi there\n1d 0 zero one\nnegated\n"


@sim
async def test_sh_field_splitting_and_quoted_empty(clock, a, b):
    code, out, _ = await run(a, ["sh", "-c", 'V="a  b"; for w in $V "" "$V"; do echo "[$w]"; done'])
    assert out == "[a]\n[b]\n[]\n[a  b]\n"
    code, out, _ = await run(a, ["sh", "-c", '(exit 3); echo $?; X=$(exit 4); echo $?; false; Y=1; echo $?'])
    assert out == "3\n4\n0\n"


@sim
async def test_sh_while_loop_with_sleep_runs_on_the_clock(clock, a, b):
    c, task = a.start(["sh", "-c", "while true; do echo hello; sleep 1; done"])
    await clock.advance(3.5)
    assert c.text() == "hello\n" * 4
    assert await stop(clock, task) == SIGTERM_EXIT


@sim
async def test_sh_counter_example_with_arithmetic_and_substitution(clock, a, b):
    script = 'i=0; while [ $i -lt 3 ]; do echo "$i: $(date +%s)"; i=$((i + 1)); sleep 1; done; echo done $i'
    code, out, _ = await run(a, ["sh", "-c", script])
    t = int(T0)
    assert (code, out) == (0, f"0: {t}\n1: {t + 1}\n2: {t + 2}\ndone 3\n")


@sim
async def test_sh_busy_loop_yields_and_break_continue(clock, a, b):
    c, task = a.start(["sh", "-c", "while true; do :; done"])
    await clock.settle()
    assert not task.done()          # still looping, but the event loop ran
    assert await stop(clock, task) == SIGTERM_EXIT
    code, out, _ = await run(a, ["sh", "-c",
                                 "for i in 1 2 3 4; do if [ $i = 2 ]; then continue; elif [ $i = 4 ]; "
                                 "then break; else echo $i; fi; done"])
    assert out == "1\n3\n"


@sim
async def test_sh_redirections_and_exec_probe_files(clock, a, b):
    c, task = a.start(["sh", "-c", "touch /tmp/healthy; echo x > /tmp/out; echo err 1>&2 2>/dev/null; "
                                   "echo y >> /tmp/out; sleep 30; rm -f /tmp/healthy; sleep 600"])
    await clock.advance(1)
    assert a.files["/tmp/out"] == b"x\ny\n"
    assert c.text("stderr") == "err\n"
    assert (await run(a, ["cat", "/tmp/healthy"]))[0] == 0     # an exec probe: a second process
    await clock.advance(30)
    code, _, err = await run(a, ["cat", "/tmp/healthy"])
    assert code == 1
    assert err == "cat: can't open '/tmp/healthy': No such file or directory\n"
    assert await stop(clock, task) == SIGTERM_EXIT


@sim
async def test_sh_errors(clock, a, b):
    code, _, err = await run(a, ["sh", "-c", "echo ok; nope 1"])
    assert (code, err) == (127, "sh: nope: not found\n")
    code, _, err = await run(a, ["sh", "-c", "if true; then echo"])
    assert code == 2 and err.startswith("sh: syntax error")
    assert (await run(a, ["sh", "-c", "echo $((1 / 0))"]))[0] == 2
    with pytest.raises(ShellSyntaxError):
        parse_script("echo 'unterminated")
    assert (await run(a, ["sh"]))[0] == 0       # no stdin: nothing to read


@sim
async def test_sh_reads_commands_from_stdin_as_they_arrive(clock, a, b):
    stdin = Stdin()
    c, task = a.start(["sh"], stdin=stdin)
    stdin.feed(b"X=1; echo one $X\nwhile [ $X -lt 3 ]; do\n")
    await clock.settle()
    assert c.text() == "one 1\n" and not task.done()       # the loop is not whole yet
    stdin.feed(b"echo loop $X; X=$((X + 1)); done\nread A B; echo got $A/$B\nfirst second third\necho )\n")
    await clock.settle()
    assert c.text() == "one 1\nloop 1\nloop 2\ngot first/second third\n"
    assert c.text("stderr").startswith("sh: syntax error")   # a bad line is reported, the shell goes on
    stdin.feed(b"cat\npassed through cat\n")
    stdin.close()
    assert await clock.finish(task) == 0                     # end of file ends the shell with the last status
    assert c.text().endswith("passed through cat\n")


@sim
async def test_sh_on_a_terminal_prompts_and_exit_ends_it(clock, a, b):
    stdin = Stdin(b"echo hi\nexit 3\necho never\n")
    c, task = a.start(["sh", "-i"], stdin=stdin, tty=True)
    assert await clock.finish(task) == 3
    assert c.text() == "hi\n" and c.text("stderr") == "/ # / # "
    assert (await run(a, ["sh", "-c", "read X || echo eof"]))[1] == "eof\n"   # no stdin: end of file


@sim
async def test_sh_script_file_and_export_to_children(clock, a, b):
    a.files["/run.sh"] = b"#!/bin/sh\nexport A=1\nB=2\nenv\necho $# $@\n"
    code, out, _ = await run(a, ["sh", "/run.sh", "p", "q"], env={})
    assert code == 0
    assert out == "A=1\n2 p q\n"


@sim
async def test_sh_handled_termination_ends_the_shell_too(clock, a, b):
    c, task = a.start(["sh", "-c", "nginx; echo after"])
    await clock.settle()
    assert await stop(clock, task) == 0
    assert "after" not in c.text()


# ------------------------------------------------------------------ applets
@sim
async def test_sleep_advances_the_clock(clock, a, b):
    c, task = a.start(["sleep", "5"])
    await clock.advance(4.9)
    assert not task.done()
    await clock.advance(0.1)
    assert task.done() and task.result() == 0
    assert clock.t == T0 + 5
    assert (await run(a, ["sleep", "1m"]))[0] == 0 and clock.t == T0 + 65
    assert (await run(a, ["sleep", "x"]))[0] == 1


@sim
async def test_sleep_infinity_until_stopped(clock, a, b):
    c, task = a.start(["sleep", "infinity"])
    await clock.advance(10 ** 7)
    assert not task.done()
    assert await stop(clock, task) == SIGTERM_EXIT


@sim
async def test_simple_applets(clock, a, b):
    assert await run(a, ["echo", "-n", "a", "b"]) == (0, "a b", "")
    assert await run(a, ["echo", "-e", "x\\ty"]) == (0, "x\ty\n", "")
    assert await run(a, ["true"]) == (0, "", "")
    assert await run(a, ["false"]) == (1, "", "")
    assert await run(a, ["hostname"]) == (0, "pod-a\n", "")
    assert await run(a, ["env"], env={"A": "1", "B": "x y"}) == (0, "A=1\nB=x y\n", "")
    a.files["/etc/motd"] = b"hello\n"
    assert await run(a, ["cat", "/etc/motd"]) == (0, "hello\n", "")
    assert await run(a, ["test", "-f", "/etc/motd"]) == (0, "", "")
    assert await run(a, ["[", "3", "-gt", "4", "]"]) == (1, "", "")


# ------------------------------------------------------------------ network
@sim
async def test_netexec_endpoints_from_another_pod(clock, a, b):
    server, task = a.start(["/agnhost", "netexec", "--http-port=8080"])
    await clock.settle()
    code, out, err = await run(b, ["wget", "-qO-", "http://10.244.0.5:8080/echo?msg=hello"])
    assert (code, out, err) == (0, "hello", "")
    assert (await run(b, ["wget", "-q", "-O", "-", "10.244.0.5:8080/hostname"]))[1] == "pod-a"
    assert (await run(b, ["wget", "-qO-", "http://10.244.0.5:8080/clientip"]))[1].startswith("10.244.0.6:")
    status, body = await b.ctx().http_request("GET", "http://10.244.0.5:8080/shell?cmd=echo%20hi%3B%20hostname")
    assert (status, json.loads(body)) == (200, {"output": "hi\npod-a\n"})
    status, body = await b.ctx().http_request("GET", "http://10.244.0.5:8080/shell?cmd=exit%204")
    assert (status, json.loads(body)["error"]) == (417, "exit status 4")
    assert (await b.ctx().http_request("GET", "http://10.244.0.5:8080/healthz"))[0] == 200
    assert (await b.ctx().http_request("GET", "http://10.244.0.5:8080/exit?code=300"))[0] == 400
    # /dial: the server asks another address in turn (here: itself, and a closed port)
    status, body = await b.ctx().http_request(
        "GET", "http://10.244.0.5:8080/dial?request=hostname&host=10.244.0.5&port=8080&tries=2")
    assert (status, json.loads(body)) == (200, {"responses": ["pod-a", "pod-a"], "errors": []})
    status, body = await b.ctx().http_request("GET", "http://10.244.0.5:8080/dial?request=x&host=10.244.0.6&port=1")
    assert json.loads(body)["responses"] == [] and "Connection refused" in json.loads(body)["errors"][0]
    assert (await b.ctx().http_request("GET", "http://10.244.0.5:8080/dial?host=x"))[0] == 400
    assert not task.done()
    assert await b.ctx().http_request("GET", "http://10.244.0.5:8080/exit?code=7") == (200, b"")
    await clock.settle()
    assert task.done() and task.result() == 7
    assert a.net.namespace("10.244.0.5").listening() == []        # the port closed with the program


@sim
async def test_netexec_delay_shutdown_keeps_serving(clock, a, b):
    _, task = a.start(["agnhost", "netexec", "--http-port", "8080", "--delay-shutdown", "5"])
    await clock.settle()
    task.cancel()
    await clock.advance(4)
    assert not task.done()
    assert await b.ctx().http_request("GET", "http://10.244.0.5:8080/echo?msg=still") == (200, b"still")
    await clock.advance(1)
    assert task.done() and task_exit_code(task) == 0
    assert a.net.namespace("10.244.0.5").listening() == []


@sim
async def test_serve_hostname_and_localhost_is_the_pod(clock, a, b):
    _, task = a.start(["agnhost", "serve-hostname"])
    await clock.settle()
    assert await a.ctx().http_request("GET", "http://localhost:9376/") == (200, b"pod-a")
    assert await b.ctx().http_request("GET", "http://10.244.0.5:9376") == (200, b"pod-a")
    assert await stop(clock, task) == SIGTERM_EXIT


@sim
async def test_liveness_flips_after_ten_seconds(clock, a, b):
    _, task = a.start(["agnhost", "liveness"])
    await clock.settle()
    probe = b.ctx()
    assert await probe.http_request("GET", "http://10.244.0.5:8080/healthz") == (200, b"ok")
    await clock.advance(9.9)
    assert (await probe.http_request("GET", "http://10.244.0.5:8080/healthz"))[0] == 200
    await clock.advance(0.2)
    status, body = await probe.http_request("GET", "http://10.244.0.5:8080/healthz")
    assert status == 500 and body.startswith(b"error: 10.1")
    assert await stop(clock, task) == SIGTERM_EXIT


@sim
async def test_fail_exits_with_n_after_n_seconds(clock, a, b):
    _, task = a.start(["agnhost", "fail", "2"])
    await clock.advance(1.9)
    assert not task.done()
    await clock.advance(0.1)
    assert task.done() and task.result() == 2
    assert clock.t == T0 + 2


@sim
async def test_same_port_twice_in_one_pod_is_eaddrinuse(clock, a, b):
    _, first = a.start(["nginx", "-g", "daemon off;"])
    await clock.settle()
    code, _, err = await run(a, ["nginx", "-g", "daemon off;"])
    assert code == 1 and "bind() to 0.0.0.0:80 failed (98: Address already in use)" in err
    with pytest.raises(OSError) as info:
        await a.ctx().serve_http(80, None)  # type: ignore[arg-type]
    assert info.value.errno == 98
    _, other = b.start(["nginx"])            # another pod has its own ports
    await clock.settle()
    assert not other.done()
    assert await stop(clock, first) == 0 and await stop(clock, other) == 0


@sim
async def test_wget_failures_exit_1(clock, a, b):
    code, out, err = await run(a, ["wget", "-qO-", "http://localhost:8080/"])
    assert (code, out) == (1, "")
    assert err == "wget: can't connect to remote host (127.0.0.1): Connection refused\n"
    code, _, err = await run(a, ["wget", "-qO-", "http://10.9.9.9/"])
    assert code == 1 and err.endswith("No route to host\n")
    _, task = b.start(["nginx"])
    await clock.settle()
    code, _, err = await run(a, ["wget", "-qO-", "http://10.244.0.6/missing"])
    assert (code, err) == (1, "wget: server returned error: HTTP/1.1 404 Not Found\n")
    assert await stop(clock, task) == 0


@sim
async def test_wget_timeout_on_the_injected_clock(clock, a, b):
    async def slow(method, path, headers, body, client):
        await clock.sleep(60)
        return 200, {}, b"late"
    close = await b.net.listen("10.244.0.6", 9000, slow)
    c, task = a.start(["wget", "-T", "2", "-qO-", "http://10.244.0.6:9000/"])
    await clock.advance(2)
    assert task.done() and task.result() == 1
    assert c.text("stderr") == "wget: download timed out\n"
    close()


# ------------------------------------------------------------------ servers
@sim
async def test_nginx_serves_welcome_files_and_healthz(clock, a, b):
    a.files["/usr/share/nginx/html/page.html"] = b"<p>mine</p>"
    c, task = a.start(["nginx", "-g", "daemon off;"], env={"NGINX_VERSION": "1.27.2"})
    await clock.settle()
    status, body = await b.ctx().http_request("GET", "http://10.244.0.5/")
    assert status == 200 and b"<title>Welcome to nginx!</title>" in body
    assert await b.ctx().http_request("GET", "http://10.244.0.5/page.html") == (200, b"<p>mine</p>")
    assert (await b.ctx().http_request("GET", "http://10.244.0.5/healthz"))[0] == 200
    assert c.text().startswith('10.244.0.6 - - [')
    assert '"GET /page.html HTTP/1.1" 200 11' in c.text()
    assert await stop(clock, task) == 0
    assert "signal 15 (SIGTERM) received" in c.text("stderr")


@sim
async def test_pause_programs_exit_0_on_sigterm(clock, a, b):
    _, infra = a.start(["/pause"])
    _, agn = a.start(["agnhost", "pause"])
    await clock.advance(1000)
    assert not infra.done() and not agn.done()
    assert await stop(clock, infra) == 0
    assert await stop(clock, agn) == 0


@sim
async def test_python_in_the_simulation(clock, a, b):
    a.files["/srv/index.html"] = b"hi from python"
    c, server = a.start(["python3", "-m", "http.server", "8000", "--directory", "/srv"])
    await clock.settle()
    assert await b.ctx().http_request("GET", "http://10.244.0.5:8000/") == (200, b"hi from python")
    assert c.text() == "Serving HTTP on 0.0.0.0 port 8000 (http://0.0.0.0:8000/) ...\n"
    c2, idle = a.start(["python", "-c", "print(1)"])
    await clock.advance(100)
    assert not idle.done()
    assert "not" in c2.text("stderr") and c2.text() == ""
    assert await stop(clock, idle) == SIGTERM_EXIT
    assert await stop(clock, server) == SIGTERM_EXIT


@sim
async def test_consume_cpu_and_memory_in_the_simulation(clock, a, b):
    _, task = a.start(["agnhost", "consume-cpu", "--millicores", "500", "--duration", "30"])
    await clock.advance(29)
    assert not task.done()
    await clock.advance(1)
    assert task.result() == 0
    c, mem = a.start(["agnhost", "consume-memory", "--bytes=1048576"])
    await clock.settle()
    assert c.allocated == 1048576
    assert await stop(clock, mem) == SIGTERM_EXIT
    assert (await run(a, ["agnhost", "nope"]))[0] == 1
    assert (await run(a, ["agnhost", "netexec", "--bogus"]))[0] == 1


# ------------------------------------------------------------------ real processes
def _spawn(argv: list[str], cwd: Path, **env: str) -> subprocess.Popen:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **env}
    return subprocess.Popen([sys.executable, "-m", "actors.cri.programs", *argv], cwd=cwd, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run(argv: list[str], cwd: Path, **env: str) -> tuple[int, str, str]:
    proc = _spawn(argv, cwd, **env)
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    return proc.returncode, out.decode(), err.decode()


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_process_echo_exit_code_and_files(tmp_path):
    assert _run(["echo", "hello"], tmp_path) == (0, "hello\n", "")
    code, out, err = _run(["sh", "-c", "echo x > /data/f; cat data/f; echo oops >&2; exit 7"], tmp_path)
    assert (code, out, err) == (7, "x\n", "oops\n")
    assert (tmp_path / "data" / "f").read_bytes() == b"x\n"


def test_process_real_python(tmp_path):
    code, out, _ = _run(["python3", "-c", "import sys; print('py'); sys.exit(5)"], tmp_path)
    assert (code, out) == (5, "py\n")


def test_process_netexec_on_a_pod_address_then_sigterm(tmp_path):
    ip = "127.0.57.3"
    port = _free_port(ip)
    proc = _spawn(["agnhost", "netexec", f"--http-port={port}"], tmp_path, RAYKUBE_BIND_IP=ip, HOSTNAME="pod-x")
    try:
        deadline = time.monotonic() + 15
        assert _get(f"http://{ip}:{port}/hostname", deadline) == b"pod-x"
        assert _get(f"http://{ip}:{port}/echo?msg=yo", deadline) == b"yo"
        # another pod (its own 127.x address) asks for its client IP
        code, out, _ = _run(["wget", "-qO-", f"http://{ip}:{port}/clientip"], tmp_path,
                            RAYKUBE_BIND_IP="127.0.57.4")
        assert code == 0 and out.startswith("127.0.57.4:")
        code, _, err = _run(["wget", "-qO-", f"http://{ip}:{_free_port(ip)}/"], tmp_path)
        assert code == 1 and "Connection refused" in err
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == SIGTERM_EXIT
        assert time.monotonic() - started < 3
    finally:
        proc.kill()
        proc.communicate(timeout=5)


def test_process_pause_exits_0_on_sigterm(tmp_path):
    proc = _spawn(["sh", "-c", "echo ready; exec pause"], tmp_path)
    try:
        assert proc.stdout.readline() == b"ready\n"   # the signal handlers are in place by now
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.communicate(timeout=5)
