"""The Job controller (upstream's ``pkg/controller/job``, batch/v1, pods
tracked with finalizers) and the TTL-after-finished controller.

``JobController.sync(key)`` reconciles one Job from the informers' state:

1. claims its pods (adopting a matching orphan adds the tracking finalizer);
2. counts what finished: every pod the controller creates carries the
   finalizer ``batch.kubernetes.io/job-tracking``, so a finished pod cannot
   vanish before it is counted. A finished pod's uid is first written to
   ``status.uncountedTerminatedPods``, then its finalizer is removed, then it
   moves into ``status.succeeded``/``failed``: a restart between any two
   steps neither loses nor doubles a count (Indexed jobs record succeeded
   *indexes* in ``completedIndexes`` instead of uids);
3. decides whether the Job is done: failures past ``backoffLimit`` (for
   ``restartPolicy: OnFailure``, container restarts), ``activeDeadlineSeconds``
   since ``startTime``, or enough successes. A verdict is first recorded as
   ``FailureTarget``/``SuccessCriteriaMet``; the terminal ``Failed``/``Complete``
   follows once no pod is uncounted or still terminating (as upstream 1.31);
4. otherwise keeps ``min(parallelism, completions - succeeded)`` pods active
   (work-queue Jobs without completions: ``parallelism`` until one succeeds),
   creating Indexed pods for the lowest pending indexes, waiting out the
   failure back-off (10 s doubling, at most 6 min) and the expectations of
   earlier creates and deletes; ``suspend`` deletes every active pod.

Pods holding the finalizer whose Job is gone, finished or no longer theirs
are queued as ``orphan-pod:<ns>/<name>`` and have the finalizer removed.

Besides upstream's expectations (creates/deletes, and finalizer removals not
yet seen in the pod informer), a sync waits until the Job informer shows the
status this controller last wrote: released pods are counted only there, and
a slow Job watch would otherwise make them look never run, and run again.
"""
from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kubeapi import errors
from kubeapi.informer import Indexer
from kubeapi.models.base import format_time, parse_time
from kubeapi.names import MAX_GENERATED_NAME_LENGTH

from .base import Controller, Writer, by_namespace, labels_of, object_key, spec_selector, unwrap
from .owned import resolve_controller_ref, selecting
from .expectations import Expectations
from .podutil import (controller_ref, deletion_order, is_pod_active, is_pod_ready, is_terminating, pod_condition,
                      pod_phase)
from .refmanager import RefManager
from .replicaset import pod_from_template, slow_start_batch

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
CONTROLLER_NAME = "kubernetes.io/job-controller"  # the spec.managedBy this controller serves
DEFAULT_BACKOFF = 10.0  # DefaultJobPodFailureBackOff
MAX_BACKOFF = 360.0  # MaxJobPodFailureBackOff
MAX_UNCOUNTED = 500  # MaxUncountedPods: keeps the uid lists (and one sync's removals) bounded
MAX_CREATE_DELETE = 500  # MaxPodCreateDeletePerSync
STATUS_WAIT = 300.0  # how long a status write may stay unseen before the informer is trusted again
ORPHAN = "orphan-pod:"  # queue-key prefix (a namespace never holds ':')
TTL_PROPAGATION = "Foreground"  # what upstream's ttl-after-finished controller deletes with

_FINISHED = ("Succeeded", "Failed")


# ---------------------------------------------------------------------- helpers
def job_condition(job: dict, ctype: str) -> dict | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype:
            return c
    return None


def finished_condition(job: dict) -> dict | None:
    """The Job's true ``Complete`` or ``Failed`` condition: it will do nothing more."""
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return c
    return None


def has_tracking_finalizer(pod: dict) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or ())


def completion_index(pod: dict) -> int | None:
    """The pod's index annotation, None when missing or not a non-negative integer."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX)
    if raw is None or not str(raw).isdigit():
        return None
    return int(raw)


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """``"1,3-5"`` as {1, 3, 4, 5}, keeping indexes below ``completions``."""
    out: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.strip().partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            continue
        out.update(range(max(lo, 0), min(hi, completions - 1) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """Sorted indexes as intervals: {1, 3, 4, 5} is ``"1,3-5"``."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(parts)


def indexed_generate_name(job_name: str, index: int) -> str:
    """``<job>-<index>-``, the job name cut so a generated name still fits."""
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME_LENGTH:
        prefix = job_name[:MAX_GENERATED_NAME_LENGTH - len(suffix)] + suffix
    return prefix


def _spec(job: dict) -> dict:
    return job.get("spec") or {}


def is_indexed(job: dict) -> bool:
    return _spec(job).get("completionMode") == "Indexed"


def only_replace_failed(job: dict) -> bool:
    """A replacement waits for the pod's Failed phase, not just its deletion."""
    spec = _spec(job)
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: dict, job: dict) -> bool:
    """Failed, or (unless replacements wait for Failed) deleted before it
    succeeded: an orphaned pod may never reach a terminal phase."""
    if pod_phase(pod) == "Failed":
        return True
    if only_replace_failed(job):
        return False
    return is_terminating(pod) and pod_phase(pod) != "Succeeded"


def is_pod_terminating(pod: dict) -> bool:
    return is_terminating(pod) and pod_phase(pod) not in _FINISHED


def past_backoff_limit_on_failure(job: dict, pods: list[dict]) -> bool:
    """With ``restartPolicy: OnFailure`` the kubelet restarts containers in
    place, so the restarts of running and pending pods are the failures."""
    if (((_spec(job).get("template") or {}).get("spec") or {}).get("restartPolicy")) != "OnFailure":
        return False
    restarts = 0
    for p in pods:
        if pod_phase(p) in ("Running", "Pending"):
            st = p.get("status") or {}
            for c in [*(st.get("initContainerStatuses") or ()), *(st.get("containerStatuses") or ())]:
                restarts += c.get("restartCount") or 0
    limit = _spec(job).get("backoffLimit")
    limit = 6 if limit is None else int(limit)
    return restarts > 0 if limit == 0 else restarts >= limit


def pod_finish_time(pod: dict, default: float) -> float:
    """When the pod finished: its last container termination, else its Ready
    turning False, else its deletion."""
    st = pod.get("status") or {}
    ends = [parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
            for c in st.get("containerStatuses") or ()]
    ends = [t for t in ends if t is not None]
    if ends:
        return max(ends)
    ready = pod_condition(pod, "Ready")
    if ready is not None and ready.get("status") == "False":
        t = parse_time(ready.get("lastTransitionTime"))
        if t is not None:
            return t
    return parse_time((pod.get("metadata") or {}).get("deletionTimestamp")) or default


def backoff_remaining(failures: int, last_failure: float | None, now: float,
                      base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """Seconds until a replacement may be created after ``failures`` failures
    in a row (``base`` doubling per failure, at most ``cap``)."""
    if failures <= 0 or last_failure is None:
        return 0.0
    delay = base
    for _ in range(1, failures):
        delay *= 2
        if delay >= cap:
            delay = cap
            break
    return max(0.0, delay - (now - last_failure))


def new_condition(ctype: str, status: str, reason: str, message: str, now: float) -> dict:
    cond = {"type": ctype, "status": status, "lastProbeTime": format_time(now),
            "lastTransitionTime": format_time(now)}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def ensure_condition(conditions: list[dict], ctype: str, status: str, reason: str, message: str,
                     now: float) -> bool:
    """Set the condition (a False one only where it already exists); whether it changed."""
    for i, c in enumerate(conditions):
        if c.get("type") == ctype:
            if (c.get("status"), c.get("reason") or "", c.get("message") or "") == (status, reason, message):
                return False
            conditions[i] = new_condition(ctype, status, reason, message, now)
            return True
    if status == "False":
        return False
    conditions.append(new_condition(ctype, status, reason, message, now))
    return True


def _wire_status(status: dict) -> dict:
    """The status as the API writes it: zero counters and empty uid lists omitted."""
    out = {k: v for k, v in status.items() if v is not None}
    for k in ("active", "succeeded", "failed"):
        if not out.get(k):
            out.pop(k, None)
    if "uncountedTerminatedPods" in out:
        out["uncountedTerminatedPods"] = {k: v for k, v in out["uncountedTerminatedPods"].items() if v}
    for k in ("completedIndexes", "conditions"):
        if not out.get(k):
            out.pop(k, None)
    return out


class _JobRefManager(RefManager):
    """Adopting a pod also puts the tracking finalizer on it, so it is counted."""

    def _adopt_ops(self, obj: dict) -> list[dict]:
        ops = super()._adopt_ops(obj)
        finalizers = obj["metadata"].get("finalizers")
        if not finalizers:
            ops.append({"op": "add", "path": "/metadata/finalizers", "value": [TRACKING_FINALIZER]})
        elif TRACKING_FINALIZER not in finalizers:
            ops.append({"op": "add", "path": "/metadata/finalizers/-", "value": TRACKING_FINALIZER})
        return ops


@dataclass
class _Backoff:
    failures: int = 0  # failures since the last success
    last_failure: float | None = None


@dataclass
class _Ctx:
    """One sync's view of a Job."""

    job: dict
    pods: list[dict]
    active_pods: list[dict]
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    expected_rm: set[str]
    succeeded: int = 0
    failed: int = 0
    ready: int = 0
    terminating: int = 0
    finished: dict | None = None
    backoff: _Backoff = field(default_factory=_Backoff)
    prev_indexes: set[int] = field(default_factory=set)
    succeeded_indexes: set[int] = field(default_factory=set)


# ------------------------------------------------------------------- controller
class JobController(Controller):
    name = "job"

    def __init__(self, jobs: Indexer, pods: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.jobs = jobs
        self.pods = pods
        self.client = client
        self.wall = wall
        self.expectations = Expectations(clock=clock)
        self.finalizer_expectations: dict[str, set[str]] = {}  # job key -> pod uids whose removal is unseen
        self.backoffs: dict[str, _Backoff] = {}
        self.status_written: dict[str, tuple[str, float]] = {}  # job key -> (resourceVersion, when)

    # ------------------------------------------------------------- handlers
    def _resolve(self, namespace: str, ref: dict | None) -> dict | None:
        """The Job ``ref`` names, if we know it (same uid)."""
        return resolve_controller_ref(namespace, ref, "Job", self.jobs)

    def _enqueue_orphan(self, pod: dict) -> None:
        self.queue.add(ORPHAN + object_key(pod))

    def _finalizer_removal_observed(self, key: str, uid: str | None) -> None:
        pending = self.finalizer_expectations.get(key)
        if pending is not None:
            pending.discard(uid or "")
            if not pending:
                del self.finalizer_expectations[key]

    def on_job(self, job: dict) -> None:
        self.enqueue(job)
        if finished_condition(job) is not None:
            self._orphan_pods_of(job)

    def on_job_update(self, old: dict, new: dict) -> None:
        self.enqueue(new)
        if finished_condition(new) is not None:
            self._orphan_pods_of(new)  # a backup: a finished Job's pods should hold no finalizer
        start = parse_time((new.get("status") or {}).get("startTime"))
        ads = _spec(new).get("activeDeadlineSeconds")
        if start is not None and ads is not None and ads != _spec(old).get("activeDeadlineSeconds"):
            self.enqueue_after(new, ads - (self.wall() - start))

    def on_job_delete(self, job: Any) -> None:
        self.enqueue(object_key(job))
        job = unwrap(job)
        if isinstance(job, dict):
            self._orphan_pods_of(job)

    def _orphan_pods_of(self, job: dict) -> None:
        uid = job["metadata"].get("uid")
        for pod in by_namespace(self.pods, job["metadata"].get("namespace", "")):
            if (controller_ref(pod) or {}).get("uid") == uid and has_tracking_finalizer(pod):
                self._enqueue_orphan(pod)

    def on_pod_add(self, pod: dict) -> None:
        if is_terminating(pod):
            self._pod_deleted(pod, final=False)  # a restarted informer may see it already going
            return
        ref = controller_ref(pod)
        if ref is not None:
            job = self._resolve(pod["metadata"].get("namespace", ""), ref)
            if job is None or finished_condition(job) is not None:
                if has_tracking_finalizer(pod):
                    self._enqueue_orphan(pod)
                return
            key = object_key(job)
            self.expectations.creation_observed(key)
            self.enqueue(key)
            return
        if has_tracking_finalizer(pod):
            self._enqueue_orphan(pod)
        for job in selecting(self.jobs, pod):
            self.enqueue(job)

    def on_pod_update(self, old: dict, new: dict) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return  # a resync
        if is_terminating(new):
            self._pod_deleted(new, final=False)
            return
        ns = new["metadata"].get("namespace", "")
        uid = new["metadata"].get("uid")
        removed = not has_tracking_finalizer(new)
        old_ref, cur_ref = controller_ref(old), controller_ref(new)
        if old_ref != cur_ref and old_ref is not None:
            job = self._resolve(ns, old_ref)
            if job is not None:
                if removed:
                    self._finalizer_removal_observed(object_key(job), uid)
                self.enqueue(job)
        if cur_ref is not None:
            job = self._resolve(ns, cur_ref)
            if job is None or finished_condition(job) is not None:
                if not removed:
                    self._enqueue_orphan(new)
                return
            if removed:
                self._finalizer_removal_observed(object_key(job), uid)
            self.enqueue(job)
            return
        if not removed:
            self._enqueue_orphan(new)
        if labels_of(old) != labels_of(new) or old_ref != cur_ref:
            for job in selecting(self.jobs, new):
                self.enqueue(job)

    def on_pod_delete(self, pod: Any) -> None:
        pod = unwrap(pod)
        if isinstance(pod, dict):
            self._pod_deleted(pod, final=True)

    def _pod_deleted(self, pod: dict, final: bool) -> None:
        """``final``: gone from the store; otherwise marked for deletion."""
        ref = controller_ref(pod)
        job = self._resolve(pod["metadata"].get("namespace", ""), ref)
        if job is None or finished_condition(job) is not None:
            if has_tracking_finalizer(pod) and not final:
                self._enqueue_orphan(pod)
            return
        key = object_key(job)
        self.expectations.deletion_observed(key, object_key(pod))
        if final or not has_tracking_finalizer(pod):
            self._finalizer_removal_observed(key, pod["metadata"].get("uid"))
        self.enqueue(key)

    # ----------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        if key.startswith(ORPHAN):
            await self._sync_orphan_pod(key[len(ORPHAN):])
            return
        shared = self.jobs.get(key)
        if shared is None:
            self.expectations.delete(key)
            self.finalizer_expectations.pop(key, None)
            self.backoffs.pop(key, None)
            self.status_written.pop(key, None)
            return
        if not self._status_observed(key, shared):
            return  # counting from an older status would undercount: wait for the newer one's event
        if finished_condition(shared) is not None:
            self.backoffs.pop(key, None)
            self.status_written.pop(key, None)
            return
        spec = _spec(shared)
        if spec.get("managedBy") not in (None, CONTROLLER_NAME):
            return  # another controller's
        if spec.get("completionMode") not in (None, "NonIndexed", "Indexed"):
            return  # a mode this controller does not know
        selector = spec_selector(shared)
        if selector is None:
            return  # validation keeps these out
        job = copy.deepcopy(shared)
        status = job.setdefault("status", {})
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        uncounted["succeeded"] = list(uncounted.get("succeeded") or ())
        uncounted["failed"] = list(uncounted.get("failed") or ())
        for k in ("active", "succeeded", "failed"):
            status[k] = status.get(k) or 0
        status["conditions"] = list(status.get("conditions") or ())

        # expectations first: a pod created after this read must not sneak into the count
        satisfied = self.expectations.satisfied(key)
        ns = job["metadata"].get("namespace", "")
        pods = await _JobRefManager(self.client, "pods", job, "jobs", selector).claim(by_namespace(self.pods, ns))
        active_pods = [p for p in pods if is_pod_active(p)]
        ctx = _Ctx(job, pods, active_pods, set(uncounted["succeeded"]), set(uncounted["failed"]),
                   set(self.finalizer_expectations.get(key, ())))
        ctx.terminating = sum(1 for p in pods if is_pod_terminating(p))
        ctx.ready = sum(1 for p in active_pods if is_pod_ready(p))
        active = len(active_pods)
        new_succeeded, new_failed = self._new_finished_pods(ctx)
        ctx.succeeded = status["succeeded"] + len(new_succeeded) + len(ctx.uncounted_succeeded)
        ctx.failed = status["failed"] + len(new_failed) + len(ctx.uncounted_failed)
        now = self.wall()
        suspended = bool(spec.get("suspend"))
        if not status.get("startTime") and not suspended:
            status["startTime"] = format_time(now)
        ctx.backoff = self._new_backoff(key, new_succeeded, new_failed, now)

        backoff_limit = 6 if spec.get("backoffLimit") is None else int(spec["backoffLimit"])
        met = job_condition(job, "SuccessCriteriaMet")
        ctx.finished = met if met is not None and met.get("status") == "True" else None
        if ctx.finished is None:
            target = job_condition(job, "FailureTarget")
            if target is not None and target.get("status") == "True":
                ctx.finished = new_condition("Failed", "True", target.get("reason") or "",
                                             target.get("message") or "", now)
        if ctx.finished is None:
            start = parse_time(status.get("startTime"))
            ads = spec.get("activeDeadlineSeconds")
            if ctx.failed > backoff_limit or past_backoff_limit_on_failure(job, pods):
                ctx.finished = new_condition("FailureTarget", "True", "BackoffLimitExceeded",
                                             "Job has reached the specified backoff limit", now)
            elif ads is not None and start is not None and not suspended and now - start >= ads:
                ctx.finished = new_condition("FailureTarget", "True", "DeadlineExceeded",
                                             "Job was active longer than specified deadline", now)
            elif ads is not None and start is not None and not suspended:
                self.enqueue_after(key, ads - (now - start))
        if is_indexed(job):
            completions = int(spec.get("completions") or 0)
            ctx.prev_indexes = parse_indexes(status.get("completedIndexes"), completions)
            ctx.succeeded_indexes = ctx.prev_indexes | {
                ix for p in pods if pod_phase(p) == "Succeeded" and has_tracking_finalizer(p)
                and (ix := completion_index(p)) is not None and ix < completions}
            ctx.succeeded = len(ctx.succeeded_indexes)

        err: Exception | None = None
        suspend_changed = False
        if ctx.finished is not None:
            deleted_ready, deleted, err = await self._delete_active(active_pods)
            if deleted != active or not satisfied:
                ctx.finished = None  # pods or finalizers the informer has not shown yet may remain
            active -= deleted
            ctx.terminating += deleted
            ctx.ready -= deleted_ready
        else:
            managed = False
            if satisfied and not is_terminating(job):
                active, err = await self._manage(key, ctx, now)
                managed = True
            completions = spec.get("completions")
            if completions is None:
                # work queue: done once any pod succeeded and the others have stopped
                complete = ctx.succeeded > 0 and active == 0
            else:
                complete = ctx.succeeded >= int(completions) and active == 0
            if complete:
                ctx.finished = new_condition("SuccessCriteriaMet", "True", "CompletionsReached",
                                             "Reached expected number of succeeded pods", now)
            elif managed:
                if suspended:
                    suspend_changed = ensure_condition(status["conditions"], "Suspended", "True",
                                                       "JobSuspended", "Job suspended", now)
                else:
                    suspend_changed = ensure_condition(status["conditions"], "Suspended", "False",
                                                       "JobResumed", "Job resumed", now)
                    if suspend_changed:
                        # the deadline counts the time a Job is continuously active
                        status["startTime"] = format_time(now)

        needs_flush = (suspend_changed or active != status["active"] or ctx.ready != status.get("ready")
                       or ctx.terminating != status.get("terminating"))
        status["active"] = active
        status["ready"] = ctx.ready
        status["terminating"] = ctx.terminating
        await self._track(key, ctx, needs_flush, now)
        if err is not None:
            raise err

    def _status_observed(self, key: str, job: dict) -> bool:
        """Whether the informer shows the status this controller last wrote:
        pods it released are counted only there, so an older status would
        count them as never having run (and have them run again)."""
        written = self.status_written.get(key)
        if written is None:
            return True
        rv, at = written
        seen = job["metadata"].get("resourceVersion") or ""
        newer = seen == rv or (seen.isdigit() and rv.isdigit() and int(seen) > int(rv))
        if newer or self.clock() - at > STATUS_WAIT:
            del self.status_written[key]
            return True
        self.enqueue_after(key, STATUS_WAIT - (self.clock() - at) + 0.001)  # in case the event never comes
        return False

    # ------------------------------------------------------------- counting
    def _valid_index(self, job: dict, pod: dict) -> bool:
        if not is_indexed(job):
            return True
        ix = completion_index(pod)
        return ix is not None and ix < int(_spec(job).get("completions") or 0)

    def _new_finished_pods(self, ctx: _Ctx) -> tuple[list[dict], list[dict]]:
        """Finished pods not yet in the status: they still hold the finalizer
        and are in neither uncounted list nor awaiting their finalizer removal."""
        succeeded, failed = [], []
        for p in ctx.pods:
            uid = p["metadata"].get("uid")
            if not has_tracking_finalizer(p) or uid in ctx.expected_rm or not self._valid_index(ctx.job, p):
                continue
            if pod_phase(p) == "Succeeded" and uid not in ctx.uncounted_succeeded:
                succeeded.append(p)
            elif is_pod_failed(p, ctx.job) and uid not in ctx.uncounted_failed:
                failed.append(p)
        return succeeded, failed

    def _new_backoff(self, key: str, succeeded: list[dict], failed: list[dict], now: float) -> _Backoff:
        """The failure streak after this sync's newly finished pods (stored once they are recorded)."""
        old = self.backoffs.get(key) or _Backoff()
        fail_times = sorted(pod_finish_time(p, now) for p in failed)
        if not succeeded:
            if not fail_times:
                return _Backoff(old.failures, old.last_failure)
            return _Backoff(old.failures + len(fail_times), fail_times[-1])
        last_success = max(pod_finish_time(p, now) for p in succeeded)
        after = [t for t in fail_times if t > last_success]
        return _Backoff(len(after), after[-1] if after else None)

    async def _track(self, key: str, ctx: _Ctx, needs_flush: bool, now: float) -> None:
        """Record finished pods as uncounted, remove their finalizers, count
        them; then, if the verdict holds, set the terminal condition."""
        job, status = ctx.job, ctx.job["status"]
        uncounted = status["uncountedTerminatedPods"]
        indexed = is_indexed(job)
        completions = int(_spec(job).get("completions") or 0)
        pods = sorted(ctx.pods, key=lambda p: -1 if completion_index(p) is None else completion_index(p)) \
            if indexed else ctx.pods
        with_finalizer = {p["metadata"].get("uid") for p in pods
                          if has_tracking_finalizer(p) and p["metadata"].get("uid") not in ctx.expected_rm}
        needs_flush = self._count_released(status, with_finalizer) or needs_flush
        to_release: list[dict] = []
        new_indexes: list[int] = []
        reached_max = False
        job_going = is_terminating(job)
        for p in pods:
            uid = p["metadata"].get("uid")
            if not has_tracking_finalizer(p) or uid in ctx.expected_rm:
                continue  # handled by an earlier sync
            failed = is_pod_failed(p, job)
            if not (job_going or ctx.finished is not None or pod_phase(p) == "Succeeded" or failed):
                continue
            to_release.append(p)
            if pod_phase(p) == "Succeeded" and uid not in ctx.uncounted_failed:
                if indexed:
                    ix = completion_index(p)
                    if ix is not None and ix < completions and ix not in ctx.prev_indexes:
                        new_indexes.append(ix)
                        needs_flush = True
                elif uid not in ctx.uncounted_succeeded:
                    uncounted["succeeded"].append(uid)
                    needs_flush = True
            elif failed or (ctx.finished is not None and ctx.finished["type"] != "SuccessCriteriaMet"):
                # a Job that is over counts every pod it stops as failed
                if uid not in ctx.uncounted_failed and self._valid_index(job, p):
                    uncounted["failed"].append(uid)
                    needs_flush = True
            if len(new_indexes) + len(uncounted["succeeded"]) + len(uncounted["failed"]) >= MAX_UNCOUNTED:
                reached_max = True  # the rest next sync: the status and removals stay bounded
                break
        if indexed:
            ctx.succeeded_indexes |= set(new_indexes)
            text = format_indexes(ctx.succeeded_indexes)
            if text != (status.get("completedIndexes") or ""):
                needs_flush = True
            status["succeeded"] = len(ctx.succeeded_indexes)
            status["completedIndexes"] = text
        finished = ctx.finished
        if finished is not None and finished["type"] == "FailureTarget":
            status["conditions"].append(finished)
            needs_flush = True
            finished = new_condition("Failed", "True", finished.get("reason") or "", finished.get("message") or "",
                                     now)
        elif finished is not None and finished["type"] == "SuccessCriteriaMet":
            if job_condition(job, "SuccessCriteriaMet") is None:
                status["conditions"].append(finished)
                needs_flush = True
            finished = new_condition("Complete", "True", finished.get("reason") or "",
                                     finished.get("message") or "", now)

        # 1. the uncounted uids (and interim condition) are durable before any finalizer goes
        if needs_flush:
            await self._write_status(key, job)
            self.backoffs[key] = ctx.backoff
            needs_flush = False
        # 2. finalizers off
        rm_err: Exception | None = None
        if to_release:
            released, rm_err = await self._remove_finalizers(key, to_release)
            with_finalizer -= released
        # 3. what lost its finalizer moves into the counters
        if self._count_released(status, with_finalizer):
            needs_flush = True
        if rm_err is not None:
            if needs_flush:
                await self._write_status(key, job)
            raise rm_err
        if not reached_max and self._enact_finished(ctx, finished):
            needs_flush = True
        if needs_flush:
            await self._write_status(key, job)

    @staticmethod
    def _count_released(status: dict, with_finalizer: set[str]) -> bool:
        """Move uncounted uids whose pods no longer hold the finalizer into the counters."""
        uncounted, changed = status["uncountedTerminatedPods"], False
        for kind in ("succeeded", "failed"):
            keep = [u for u in uncounted[kind] if u in with_finalizer]
            if len(keep) != len(uncounted[kind]):
                status[kind] += len(uncounted[kind]) - len(keep)
                uncounted[kind] = keep
                changed = True
        return changed

    def _enact_finished(self, ctx: _Ctx, finished: dict | None) -> bool:
        """Set Complete/Failed once nothing is left uncounted or terminating."""
        if finished is None:
            return False
        status = ctx.job["status"]
        uncounted = status["uncountedTerminatedPods"]
        if uncounted["succeeded"] or uncounted["failed"] or ctx.terminating > 0:
            return False
        ensure_condition(status["conditions"], finished["type"], finished["status"], finished.get("reason") or "",
                         finished.get("message") or "", parse_time(finished["lastTransitionTime"]) or self.wall())
        if finished["type"] == "Complete":
            status["completionTime"] = finished["lastTransitionTime"]
        return True

    async def _write_status(self, key: str, job: dict) -> None:
        body = copy.deepcopy(dict(job, status=_wire_status(job["status"])))
        out = await self.client.update_status(body)
        rv = ((out or {}).get("metadata") or {}).get("resourceVersion") if isinstance(out, dict) else None
        if rv:
            job["metadata"]["resourceVersion"] = rv  # the next write of this sync builds on this one
            self.status_written[key] = (str(rv), self.clock())

    async def _remove_finalizers(self, key: str, pods: list[dict]) -> tuple[set[str], Exception | None]:
        """Remove the tracking finalizer from ``pods``; the uids done (a pod
        already gone counts) and the first error."""
        uids = [p["metadata"].get("uid") for p in pods]
        self.finalizer_expectations.setdefault(key, set()).update(uids)
        done: set[str] = set()

        async def one(pod: dict) -> None:
            uid = pod["metadata"].get("uid")
            try:
                await self._patch_out_finalizer(pod)
            except errors.ApiError as e:
                self._finalizer_removal_observed(key, uid)  # no update will show it
                if not errors.is_not_found(e):
                    raise
            done.add(uid)
        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        return done, next((r for r in results if isinstance(r, Exception)), None)

    async def _patch_out_finalizer(self, pod: dict) -> None:
        """A JSON patch that tests the uid and the finalizer's position first,
        so a replaced pod or a concurrent finalizer change is never clobbered."""
        meta = pod["metadata"]
        finalizers = meta.get("finalizers") or []
        if TRACKING_FINALIZER not in finalizers:
            return
        i = finalizers.index(TRACKING_FINALIZER)
        await self.client.patch("pods", meta["name"], [
            {"op": "test", "path": "/metadata/uid", "value": meta.get("uid")},
            {"op": "test", "path": f"/metadata/finalizers/{i}", "value": TRACKING_FINALIZER},
            {"op": "remove", "path": f"/metadata/finalizers/{i}"}], meta.get("namespace"), patch_type="json")

    # ------------------------------------------------------------- managing
    async def _manage(self, key: str, ctx: _Ctx, now: float) -> tuple[int, Exception | None]:
        """Create or delete pods toward the wanted number active; (active, error)."""
        job, spec = ctx.job, _spec(ctx.job)
        active = len(ctx.active_pods)
        parallelism = int(spec.get("parallelism") if spec.get("parallelism") is not None else 1)
        if spec.get("suspend"):
            victims = self._pods_for_removal(job, ctx.active_pods, active)
            removed_ready, removed, err = await self._delete_pods(key, victims)
            ctx.terminating += removed
            ctx.ready -= removed_ready
            return active - removed, err
        completions = spec.get("completions")
        if completions is None:
            # work queue: once one succeeded, let the others finish but start none
            want = active if ctx.succeeded > 0 else parallelism
        else:
            want = max(0, min(int(completions) - ctx.succeeded, parallelism))
        victims = self._pods_for_removal(job, ctx.active_pods, max(active - want, 0))[:MAX_CREATE_DELETE]
        if victims:  # deleting takes precedence: never both in one sync
            removed_ready, removed, err = await self._delete_pods(key, victims)
            ctx.terminating += removed
            ctx.ready -= removed_ready
            return active - removed, err
        terminating = ctx.terminating if only_replace_failed(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active, None
        wait = backoff_remaining(ctx.backoff.failures, ctx.backoff.last_failure, now)
        if wait > 0:
            self.enqueue_after(key, wait)
            return active, None
        diff = min(diff, MAX_CREATE_DELETE)
        indexes: list[int] = []
        if is_indexed(job):
            indexes = self._pending_indexes(ctx, diff, int(completions or 0))
            diff = len(indexes)
            if diff == 0:
                return active, None
        self.expectations.expect_creations(key, diff)
        template = copy.deepcopy(spec.get("template") or {})
        tmeta = template.setdefault("metadata", {})
        if TRACKING_FINALIZER not in (tmeta.get("finalizers") or ()):
            tmeta["finalizers"] = [*(tmeta.get("finalizers") or ()), TRACKING_FINALIZER]
        if indexes:
            _add_index_env(template)
        pending = iter(indexes)

        async def create() -> None:
            ix = next(pending, None)  # taken before any await: each call its own index
            pod = pod_from_template(job, _with_index(template, job, ix) if ix is not None else template)
            if ix is not None:
                pod["metadata"]["generateName"] = indexed_generate_name(job["metadata"]["name"], ix)
            await self.client.create(pod)
        done, err = await slow_start_batch(diff, 1, create)
        for _ in range(diff - done):  # failed or never tried: the informer will not see these
            self.expectations.creation_observed(key)
        return active + done, err

    @staticmethod
    def _pods_for_removal(job: dict, pods: list[dict], at_least: int) -> list[dict]:
        """For an Indexed Job, pods without a valid index and all but the best
        of a repeated index first; then the least valuable."""
        remove: list[dict] = []
        left = list(pods)
        if is_indexed(job):
            completions = int(_spec(job).get("completions") or 0)
            by_index: dict[int, list[dict]] = {}
            left = []
            for p in pods:
                ix = completion_index(p)
                if ix is None or ix >= completions:
                    remove.append(p)
                else:
                    by_index.setdefault(ix, []).append(p)
            for group in by_index.values():
                ranked = deletion_order(group)
                remove.extend(ranked[:-1])
                left.append(ranked[-1])
        if len(remove) < at_least:
            remove.extend(deletion_order(left)[:at_least - len(remove)])
        return remove

    @staticmethod
    def _pending_indexes(ctx: _Ctx, count: int, completions: int) -> list[int]:
        """The lowest ``count`` indexes neither succeeded nor running (nor, when
        replacements wait for Failed, still terminating)."""
        taken = set(ctx.succeeded_indexes)
        taken.update(ix for p in ctx.active_pods if (ix := completion_index(p)) is not None)
        if only_replace_failed(ctx.job):
            taken.update(ix for p in ctx.pods if is_pod_terminating(p) and (ix := completion_index(p)) is not None)
        out: list[int] = []
        for ix in range(completions):
            if len(out) >= count:
                break
            if ix not in taken:
                out.append(ix)
        return out

    async def _delete_pods(self, key: str, pods: list[dict]) -> tuple[int, int, Exception | None]:
        """Delete pods the Job no longer wants, finalizer first: they do not
        count as failures. (ready deleted, deleted, first error)."""
        self.expectations.expect_deletions(key, [object_key(p) for p in pods])
        counts = [0, 0]

        async def one(pod: dict) -> None:
            meta = pod["metadata"]
            try:
                await self._patch_out_finalizer(pod)
                await self.client.delete("pods", meta["name"], meta.get("namespace"),
                                         preconditions={"uid": meta.get("uid")})
            except errors.ApiError as e:
                self.expectations.deletion_observed(key, object_key(pod))
                if not (errors.is_not_found(e) or errors.is_conflict(e)):
                    raise
            counts[1] += 1
            counts[0] += is_pod_ready(pod)
        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        return counts[0], counts[1], next((r for r in results if isinstance(r, Exception)), None)

    async def _delete_active(self, pods: list[dict]) -> tuple[int, int, Exception | None]:
        """Stop the active pods of a Job that is over, keeping their finalizers
        (the tracking step counts them and removes those)."""
        counts = [0, 0]

        async def one(pod: dict) -> None:
            meta = pod["metadata"]
            try:
                await self.client.delete("pods", meta["name"], meta.get("namespace"))
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    raise
            counts[1] += 1
            counts[0] += is_pod_ready(pod)
        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        return counts[0], counts[1], next((r for r in results if isinstance(r, Exception)), None)

    # -------------------------------------------------------------- orphans
    async def _sync_orphan_pod(self, pod_key: str) -> None:
        """Remove the finalizer from a pod no running Job of ours controls."""
        pod = self.pods.get(pod_key)
        if pod is None or not has_tracking_finalizer(pod):
            return
        ref = controller_ref(pod)
        if ref is not None:
            if ref.get("kind") != "Job" or ref.get("apiVersion") != "batch/v1":
                return  # someone else's pod: its finalizers are not ours to touch
            job = self._resolve(pod["metadata"].get("namespace", ""), ref)
            if job is not None and _spec(job).get("managedBy") not in (None, CONTROLLER_NAME):
                return
            if job is not None and finished_condition(job) is None:
                return  # (re)adopted: its Job counts it
        try:
            await self._patch_out_finalizer(pod)
        except errors.ApiError as e:
            if not errors.is_not_found(e):
                raise


def _with_index(template: dict, job: dict, index: int) -> dict:
    """The template for the pod of ``index``: annotation, label and hostname."""
    t = copy.deepcopy(template)
    meta = t.setdefault("metadata", {})
    meta["annotations"] = {**(meta.get("annotations") or {}), COMPLETION_INDEX: str(index)}
    meta["labels"] = {**(meta.get("labels") or {}), COMPLETION_INDEX: str(index)}
    t.setdefault("spec", {})["hostname"] = f"{job['metadata']['name']}-{index}"
    return t


def _add_index_env(template: dict) -> None:
    """Every container learns its index as ``JOB_COMPLETION_INDEX`` (from the annotation)."""
    ref = {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}
    spec = template.setdefault("spec", {})
    for kind in ("initContainers", "containers"):
        for c in spec.get(kind) or ():
            env = c.setdefault("env", [])
            if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                env.append({"name": COMPLETION_INDEX_ENV, "valueFrom": copy.deepcopy(ref)})


# ------------------------------------------------------------ ttl-after-finished
class TTLAfterFinishedController(Controller):
    """Deletes a finished Job ``ttlSecondsAfterFinished`` after it finished
    (upstream's ``ttlafterfinished`` controller), its pods with it."""

    name = "ttl-after-finished"

    def __init__(self, jobs: Indexer, client: Writer, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.jobs = jobs
        self.client = client
        self.wall = wall

    @staticmethod
    def _needs_cleanup(job: dict) -> bool:
        return _spec(job).get("ttlSecondsAfterFinished") is not None and finished_condition(job) is not None

    def on_job(self, job: dict) -> None:
        if not is_terminating(job) and self._needs_cleanup(job):
            self.enqueue(job)

    def on_job_update(self, old: dict, new: dict) -> None:
        self.on_job(new)

    def _expired(self, job: dict) -> bool:
        """Whether its TTL ran out; if it will later, look again then."""
        if is_terminating(job) or not self._needs_cleanup(job):
            return False
        finished_at = parse_time((finished_condition(job) or {}).get("lastTransitionTime"))
        if finished_at is None:
            raise ValueError(f"cannot tell when job {object_key(job)} finished")
        left = finished_at + int(_spec(job)["ttlSecondsAfterFinished"]) - self.wall()
        if left <= 0:
            return True
        self.enqueue_after(job, left)
        return False

    async def sync(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None or not self._expired(job):
            return
        meta = job["metadata"]
        try:  # the cached TTL may be stale: decide on a fresh read
            fresh = await self.client.get("jobs", meta["name"], meta.get("namespace"))
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return
            raise
        if not self._expired(fresh):
            return
        fmeta = fresh["metadata"]
        try:
            await self.client.delete("jobs", fmeta["name"], fmeta.get("namespace"), propagation_policy=TTL_PROPAGATION,
                                     preconditions={"uid": fmeta.get("uid")})
        except errors.ApiError as e:
            if not (errors.is_not_found(e) or errors.is_conflict(e)):
                raise
