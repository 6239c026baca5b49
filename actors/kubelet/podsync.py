"""The kubelet's pod sync, as pure functions: what to do next for a pod
(upstream's ``computePodActions``) and what its status is
(``generateAPIPodStatus`` and ``getPhase``), from the pod spec and what the
runtime reports. The kubelet's pod worker carries the actions out through
the CRI and writes the status; neither needs a runtime to be tested.

Each container of the pod may have had several instances (restarts); the
views here are newest first, and ``attempt`` is the restart count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeapi.models.base import format_time
from kubeapi.strategy import pod_qos_class

from .backoff import RestartBackoff
from .probes import ContainerProbes

RUNNING, EXITED, CREATED, UNKNOWN = "running", "exited", "created", "unknown"


@dataclass
class SandboxView:
    id: str
    ready: bool
    ip: str = ""
    attempt: int = 0


@dataclass
class ContainerView:
    """One runtime instance of a pod container."""

    id: str
    name: str
    attempt: int
    state: str                           # running | exited | created | unknown
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    image_ref: str = ""


@dataclass
class PodActions:
    kill_pod: bool = False               # stop every container and the sandbox
    create_sandbox: bool = False
    sandbox_attempt: int = 0
    start_init: str | None = None        # the next init container to (re)start
    start: list[str] = field(default_factory=list)
    kill: list[tuple[str, str, str]] = field(default_factory=list)  # (container id, name, why)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (reason, message)
    requeue_after: float | None = None   # look again then (a back-off ends)

    def wait_until(self, seconds: float) -> None:
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)


def _spec(pod: dict) -> dict:
    return pod.get("spec") or {}


def restart_policy(pod: dict) -> str:
    return _spec(pod).get("restartPolicy") or "Always"


def should_restart(policy: str, view: ContainerView) -> bool:
    """Whether an exited container of a pod with ``policy`` runs again."""
    return policy == "Always" or (policy == "OnFailure" and view.exit_code != 0)


def pod_completed(pod: dict, instances: dict[str, list[ContainerView]]) -> bool:
    """Every container ran and ended, and none is to run again: the pod is done."""
    policy = restart_policy(pod)
    views = [instances.get(c["name"]) or [] for c in _spec(pod).get("containers") or ()]
    return bool(views) and all(v and v[0].state == EXITED and not should_restart(policy, v[0]) for v in views)


def init_failed(pod: dict, instances: dict[str, list[ContainerView]]) -> bool:
    """An init container failed and, the policy being Never, never runs again: the pod failed."""
    if restart_policy(pod) != "Never":
        return False
    for c in _spec(pod).get("initContainers") or ():
        v = (instances.get(c["name"]) or [None])[0]
        if v is None or v.state != EXITED:
            return False
        if v.exit_code != 0:
            return True
    return False


def _backoff_key(pod: dict, name: str) -> tuple[str, str]:
    return (pod["metadata"].get("uid", ""), name)


def _restart_or_wait(pod: dict, name: str, latest: ContainerView, backoff: RestartBackoff, now: float,
                     actions: PodActions) -> bool:
    """True when ``name`` may restart now; otherwise records its CrashLoopBackOff wait."""
    key = _backoff_key(pod, name)
    left = backoff.wait(key, latest.finished_at, latest.finished_at - latest.started_at, now)
    if left <= 0:
        return True
    meta = pod["metadata"]
    actions.waiting[name] = ("CrashLoopBackOff", f"back-off {int(backoff.delay(key))}s restarting failed "
                             f"container={name} pod={meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})")
    actions.wait_until(left)
    return False


def compute_pod_actions(pod: dict, sandbox: SandboxView | None, instances: dict[str, list[ContainerView]],
                        probes: dict[str, ContainerProbes], backoff: RestartBackoff, now: float) -> PodActions:
    """What the pod needs next, given the runtime's view of it."""
    spec = _spec(pod)
    policy = restart_policy(pod)
    actions = PodActions()
    done = pod_completed(pod, instances) or init_failed(pod, instances)
    if sandbox is None or not sandbox.ready:
        if done:
            return actions  # finished: no new sandbox
        actions.kill_pod = sandbox is not None
        actions.create_sandbox = True
        actions.sandbox_attempt = sandbox.attempt + 1 if sandbox is not None else 0
        inits = spec.get("initContainers") or []
        if inits:
            actions.start_init = inits[0]["name"]
        else:
            actions.start = [c["name"] for c in spec.get("containers") or ()]
        return actions
    if done:
        actions.kill_pod = True  # stop the sandbox and give its IP back
        return actions
    for c in spec.get("initContainers") or ():
        latest = (instances.get(c["name"]) or [None])[0]
        if latest is None or latest.state == CREATED:
            actions.start_init = c["name"]
            return actions
        if latest.state == RUNNING:
            return actions  # one at a time, in order
        if latest.exit_code == 0:
            continue
        if _restart_or_wait(pod, c["name"], latest, backoff, now, actions):
            actions.start_init = c["name"]
        return actions
    for c in spec.get("containers") or ():
        name = c["name"]
        latest = (instances.get(name) or [None])[0]
        if latest is None or latest.state == CREATED:
            actions.start.append(name)
        elif latest.state == RUNNING:
            pr = probes.get(name)
            if pr is not None and not pr.live:
                why = "startup probe" if pr.startup is not None and not pr.startup.done else "liveness probe"
                actions.kill.append((latest.id, name, f"Container {name} failed {why}, will be restarted"))
        elif should_restart(policy, latest) and _restart_or_wait(pod, name, latest, backoff, now, actions):
            actions.start.append(name)
    return actions


# -------------------------------------------------------------------- status
def get_phase(pod: dict, statuses: list[dict], init_statuses: list[dict]) -> str:
    """Upstream's getPhase over the container statuses the kubelet computed."""
    policy = restart_policy(pod)
    for s in init_statuses:
        term = (s.get("state") or {}).get("terminated")
        if term is not None and term.get("exitCode") == 0:
            continue
        if term is not None and policy == "Never":
            return "Failed"  # an init container failed for good
        return "Pending"
    waiting = running = stopped = succeeded = 0
    for s in statuses:
        state = s.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif (s.get("lastState") or {}).get("terminated") is not None:
            stopped += 1
            succeeded += s["lastState"]["terminated"].get("exitCode") == 0
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def _terminated(v: ContainerView, runtime: str) -> dict:
    out: dict[str, Any] = {"exitCode": v.exit_code, "reason": v.reason or ("Completed" if v.exit_code == 0 else "Error"),
                           "startedAt": format_time(v.started_at) if v.started_at else None,
                           "finishedAt": format_time(v.finished_at) if v.finished_at else None,
                           "containerID": f"{runtime}://{v.id}"}
    if v.message:
        out["message"] = v.message
    return out


def container_status(c: dict, views: list[ContainerView], probes: ContainerProbes | None,
                     waiting: tuple[str, str] | None, runtime: str, *, default_reason: str) -> dict:
    """One entry of ``containerStatuses`` (or ``initContainerStatuses``)."""
    latest = views[0] if views else None
    status: dict[str, Any] = {"name": c["name"], "image": c.get("image", ""), "imageID": "",
                              "ready": False, "started": False, "restartCount": latest.attempt if latest else 0,
                              "state": {}, "lastState": {}}
    if latest is None or latest.state == CREATED:
        reason, message = waiting or (default_reason, "")
        status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        if latest is None:
            return status
    status["imageID"] = latest.image_ref
    status["containerID"] = f"{runtime}://{latest.id}"
    previous = views[1] if len(views) > 1 else None
    if latest.state == RUNNING:
        status["state"] = {"running": {"startedAt": format_time(latest.started_at)}}
        status["started"] = probes.started if probes is not None else True
        status["ready"] = probes.ready if probes is not None else True
        if previous is not None:
            status["lastState"] = {"terminated": _terminated(previous, runtime)}
    elif latest.state in (EXITED, UNKNOWN):
        if waiting is not None:  # to run again after its back-off
            status["state"] = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
            status["lastState"] = {"terminated": _terminated(latest, runtime)}
        else:
            status["state"] = {"terminated": _terminated(latest, runtime)}
            if previous is not None:
                status["lastState"] = {"terminated": _terminated(previous, runtime)}
    return status


def _condition(ctype: str, ok: bool, old: dict, now: str, reason: str = "") -> dict:
    prev = next((c for c in old.get("conditions") or () if c.get("type") == ctype), None)
    truth = "True" if ok else "False"
    since = prev.get("lastTransitionTime") if prev and prev.get("status") == truth else now
    out = {"type": ctype, "status": truth, "lastProbeTime": None, "lastTransitionTime": since}
    if reason and not ok:
        out["reason"] = reason
    return out


def pod_status(pod: dict, sandbox: SandboxView | None, instances: dict[str, list[ContainerView]],
               probes: dict[str, ContainerProbes], waiting: dict[str, tuple[str, str]], *,
               runtime: str, host_ip: str, now: float) -> dict:
    """The pod's status as the kubelet reports it."""
    spec = _spec(pod)
    old = pod.get("status") or {}
    inits = spec.get("initContainers") or []
    init_statuses = [container_status(c, instances.get(c["name"]) or [], probes.get(c["name"]),
                                      waiting.get(c["name"]), runtime, default_reason="PodInitializing")
                     for c in inits]
    initialized = all((s["state"].get("terminated") or {}).get("exitCode", 1) == 0 for s in init_statuses)
    statuses = [container_status(c, instances.get(c["name"]) or [], probes.get(c["name"]),
                                 waiting.get(c["name"]), runtime,
                                 default_reason="ContainerCreating" if initialized else "PodInitializing")
                for c in spec.get("containers") or ()]
    phase = get_phase(pod, statuses, init_statuses)
    stamp = format_time(now)
    containers_ready = bool(statuses) and all(s["ready"] for s in statuses)
    gates = [g.get("conditionType") for g in spec.get("readinessGates") or ()]
    gates_ok = all(any(c.get("type") == g and c.get("status") == "True" for c in old.get("conditions") or ())
                   for g in gates)
    conditions = [c for c in old.get("conditions") or ()
                  if c.get("type") not in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")]
    unready = [s["name"] for s in statuses if not s["ready"]]
    why = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
    conditions += [
        _condition("PodReadyToStartContainers", sandbox is not None and sandbox.ready, old, stamp),
        _condition("Initialized", initialized, old, stamp, "ContainersNotInitialized"),
        _condition("ContainersReady", containers_ready, old, stamp, "ContainersNotReady"),
        _condition("Ready", containers_ready and gates_ok, old, stamp, "ContainersNotReady"),
    ]
    for c in conditions:
        if c["type"] in ("ContainersReady", "Ready") and c["status"] == "False" and why:
            c["message"] = why
    status: dict[str, Any] = {"phase": phase, "conditions": conditions, "hostIP": host_ip,
                              "hostIPs": [{"ip": host_ip}] if host_ip else [],
                              "startTime": old.get("startTime") or stamp,
                              "containerStatuses": statuses, "qosClass": pod_qos_class(spec)}
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if sandbox is not None and sandbox.ip:
        status["podIP"] = sandbox.ip
        status["podIPs"] = [{"ip": sandbox.ip}]
    elif old.get("podIP"):
        status["podIP"], status["podIPs"] = old["podIP"], old.get("podIPs") or [{"ip": old["podIP"]}]
    return status
