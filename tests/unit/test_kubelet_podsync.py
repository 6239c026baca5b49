"""The kubelet's pure pod sync: the actions it takes (sandbox, init order,
restarts by policy with CrashLoopBackOff, probe kills), the status it reports
(phase, conditions, container states), the back-off sequence and the probe
state machine."""
from __future__ import annotations

import pytest

from actors.kubelet.backoff import RestartBackoff
from actors.kubelet.podsync import (EXITED, RUNNING, ContainerView, SandboxView, compute_pod_actions, get_phase,
                                    pod_status)
from actors.kubelet.probes import LIVENESS, READINESS, ContainerProbes, ProbeState, probe_spec

NOW = 1_700_000_000.0
SANDBOX = SandboxView("sb1", True, "10.244.1.5")


def pod(*containers: str, inits: tuple[str, ...] = (), policy: str = "Always", **extra) -> dict:
    spec = {"containers": [{"name": n, "image": "busybox", **extra.get(n, {})} for n in containers],
            "restartPolicy": policy}
    if inits:
        spec["initContainers"] = [{"name": n, "image": "busybox"} for n in inits]
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "spec": spec, "status": {}}


def ran(name: str, code: int | None, attempt: int = 0, started: float = NOW - 20, finished: float = NOW - 5) -> ContainerView:
    """An instance: running when ``code`` is None, else exited with it."""
    if code is None:
        return ContainerView(f"{name}-{attempt}", name, attempt, RUNNING, started_at=started, image_ref="sha256:ab")
    return ContainerView(f"{name}-{attempt}", name, attempt, EXITED, exit_code=code, started_at=started,
                         finished_at=finished, image_ref="sha256:ab")


def actions(p: dict, instances: dict, sandbox=SANDBOX, probes=None, backoff=None, now=NOW):
    return compute_pod_actions(p, sandbox, instances, probes or {}, backoff or RestartBackoff(), now)


def test_a_new_pod_gets_a_sandbox_then_its_init_containers_in_order_then_its_containers():
    a = actions(pod("app", "side"), {}, sandbox=None)
    assert (a.create_sandbox, a.kill_pod, a.start, a.start_init) == (True, False, ["app", "side"], None)
    p = pod("app", inits=("one", "two"))
    assert actions(p, {}, sandbox=None).start_init == "one"
    assert actions(p, {"one": [ran("one", 0)]}).start_init == "two"
    a = actions(p, {"one": [ran("one", 0)], "two": [ran("two", None)]})
    assert (a.start_init, a.start) == (None, [])  # waits for the running init container
    assert actions(p, {"one": [ran("one", 0)], "two": [ran("two", 0)]}).start == ["app"]
    # a sandbox that died is replaced: everything is killed and started over, init containers first
    a = actions(p, {"one": [ran("one", 0)], "two": [ran("two", 0)], "app": [ran("app", None)]},
                sandbox=SandboxView("sb1", False, attempt=2))
    assert (a.kill_pod, a.create_sandbox, a.sandbox_attempt, a.start_init) == (True, True, 3, "one")


@pytest.mark.parametrize("policy,code,restarts", [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 1, True), ("OnFailure", 0, False),
    ("Never", 1, False), ("Never", 0, False)])
def test_restart_policy(policy, code, restarts):
    a = actions(pod("app", policy=policy), {"app": [ran("app", code)]})
    assert (a.start == ["app"]) == restarts
    assert a.kill_pod == (not restarts)  # a finished pod gives its sandbox back


def test_crash_loop_back_off_doubles_to_five_minutes_and_resets_after_a_long_run():
    b = RestartBackoff()
    key, waits, t = ("u1", "app"), [], NOW
    for _ in range(8):
        w = b.wait(key, t, 1.0, t)
        waits.append(w)
        b.restarting(key, ran_for=1.0)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300]
    assert b.wait(key, t, 601.0, t) == 0  # ran 10 minutes: starts over
    b.restarting(key, ran_for=601.0)
    assert b.delay(key) == 10


def test_a_container_in_back_off_waits_and_says_why():
    b = RestartBackoff()
    b.restarting(("u1", "app"), 1.0)
    b.restarting(("u1", "app"), 1.0)  # the next window is 20 s
    p = pod("app")
    crashed = ran("app", 1, attempt=2, started=NOW - 6, finished=NOW - 5)
    a = actions(p, {"app": [crashed, ran("app", 1, attempt=1)]}, backoff=b)
    assert a.start == [] and a.requeue_after == pytest.approx(15.0)
    reason, message = a.waiting["app"]
    assert reason == "CrashLoopBackOff" and message.startswith("back-off 20s restarting failed container=app pod=p_ns(u1)")
    st = pod_status(p, SANDBOX, {"app": [crashed, ran("app", 1, attempt=1)]}, {}, a.waiting, runtime="sim",
                    host_ip="192.168.0.2", now=NOW)
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 2 and not cs["ready"]
    assert st["phase"] == "Running"  # restarting under Always
    assert a.requeue_after is not None
    later = actions(p, {"app": [crashed]}, backoff=b, now=NOW + 16)
    assert later.start == ["app"]


def test_a_failed_liveness_probe_kills_the_container():
    c = {"name": "app", "image": "x", "livenessProbe": {"exec": {"command": ["true"]}, "failureThreshold": 2}}
    pr = ContainerProbes.for_container(c, NOW - 100)
    p = pod("app")
    assert actions(p, {"app": [ran("app", None)]}, probes={"app": pr}).kill == []
    pr.liveness.observe(False, NOW)
    pr.liveness.observe(False, NOW + 10)
    a = actions(p, {"app": [ran("app", None)]}, probes={"app": pr})
    assert a.kill == [("app-0", "app", "Container app failed liveness probe, will be restarted")]


def test_status_phases_conditions_and_container_states():
    p = pod("app", "side", inits=("init",))
    c_app = {"name": "app", "image": "x", "readinessProbe": {"httpGet": {"port": 80}}}
    pr = ContainerProbes.for_container(c_app, NOW - 50)
    instances = {"init": [ran("init", 0)], "app": [ran("app", None)], "side": [ran("side", None, attempt=1),
                                                                              ran("side", 2)]}
    st = pod_status(p, SANDBOX, instances, {"app": pr}, {}, runtime="sim", host_ip="192.168.0.2", now=NOW)
    assert st["phase"] == "Running" and st["podIP"] == "10.244.1.5" and st["podIPs"] == [{"ip": "10.244.1.5"}]
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds == {"PodReadyToStartContainers": "True", "Initialized": "True", "ContainersReady": "False",
                     "Ready": "False"}
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["message"] == "containers with unready status: [app]"
    app, side = st["containerStatuses"]
    assert (app["ready"], app["started"], side["ready"], side["restartCount"]) == (False, True, True, 1)
    assert side["lastState"]["terminated"]["exitCode"] == 2 and "running" in side["state"]
    assert st["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    pr.readiness.observe(True, NOW)
    st = pod_status(dict(p, status=st), SANDBOX, instances, {"app": pr}, {}, runtime="sim", host_ip="h", now=NOW + 5)
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"
    # a pod still initializing: its containers wait with PodInitializing
    st = pod_status(p, SANDBOX, {"init": [ran("init", None)]}, {}, {}, runtime="sim", host_ip="h", now=NOW)
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


@pytest.mark.parametrize("policy,codes,phase", [
    ("Never", [0, 0], "Succeeded"), ("Never", [0, 1], "Failed"), ("OnFailure", [0, 0], "Succeeded"),
    ("OnFailure", [0, 1], "Running"), ("Always", [0, 0], "Running")])
def test_phase_of_finished_containers(policy, codes, phase):
    p = pod("a", "b", policy=policy)
    views = {"a": [ran("a", codes[0])], "b": [ran("b", codes[1])]}
    a = actions(p, views)
    st = pod_status(p, SANDBOX, views, {}, a.waiting, runtime="sim", host_ip="h", now=NOW)
    assert st["phase"] == phase


def test_an_init_container_failing_under_never_fails_the_pod():
    p = pod("app", inits=("init",), policy="Never")
    views = {"init": [ran("init", 3)]}
    a = actions(p, views)
    assert (a.start_init, a.start, a.kill_pod) == (None, [], True)
    assert get_phase(p, [], [{"state": {"terminated": {"exitCode": 3}}}]) == "Failed"
    assert actions(p, views, sandbox=None).create_sandbox is False  # done: no new sandbox


def test_probe_thresholds_delays_and_startup_gating():
    spec = probe_spec({"readinessProbe": {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 5,
                                          "periodSeconds": 2, "successThreshold": 2, "failureThreshold": 2},
                       "ports": [{"name": "http", "containerPort": 8080}]}, READINESS)
    assert (spec.kind, spec.port, spec.period) == ("tcpSocket", 8080, 2.0)
    st = ProbeState(READINESS, spec, started_at=NOW)
    assert not st.result and not st.due(NOW + 4) and st.due(NOW + 5)
    assert st.observe(True, NOW + 5) is False and st.observe(True, NOW + 7) is True and st.result
    assert st.next_at() == NOW + 9
    assert not st.observe(False, NOW + 9) and st.observe(False, NOW + 11) and not st.result
    live = ProbeState(LIVENESS, probe_spec({"livenessProbe": {"exec": {"command": ["x"]}}}, LIVENESS), NOW)
    assert live.result  # passing until proven otherwise
    c = {"name": "app", "startupProbe": {"exec": {"command": ["x"]}, "failureThreshold": 2, "periodSeconds": 1},
         "livenessProbe": {"exec": {"command": ["y"]}}}
    pr = ContainerProbes.for_container(c, NOW)
    assert pr.due(NOW) == [pr.startup] and not pr.started and not pr.ready and pr.live
    pr.startup.observe(False, NOW)
    pr.startup.observe(False, NOW + 1)
    assert not pr.live  # the startup probe ran out: killed as for liveness
    pr = ContainerProbes.for_container(c, NOW)
    pr.startup.observe(True, NOW)
    assert pr.started and pr.startup.done and pr.due(NOW) == [pr.liveness]
