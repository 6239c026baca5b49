"""The Job and TTL-after-finished controllers: given the listers' state, the
API calls they make; then the Job controller against an in-process apiserver."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.job import (COMPLETION_INDEX, TRACKING_FINALIZER, JobController, TTLAfterFinishedController,
                                   backoff_remaining, format_indexes, indexed_generate_name, parse_indexes)
from kubeapi.client import Client
from kubeapi.informer import Indexer, SharedInformer
from kubeapi.models.base import format_time
from kubeapi.patch import apply_json_patch
from tests.fakes import eventually

from .ctrl_fakes import Recorder, run

NOW = 1_700_000_000.0
T = format_time
UID_LABEL = "batch.kubernetes.io/controller-uid"


def job(name: str = "pi", uid: str = "job-uid", *, completions: int | None = 1, parallelism: int = 1,
        status: dict | None = None, restart: str = "Never", **spec: Any) -> dict:
    """A Job as the apiserver stores it after defaulting."""
    labels = {UID_LABEL: uid, "batch.kubernetes.io/job-name": name, "controller-uid": uid, "job-name": name}
    s: dict[str, Any] = {"parallelism": parallelism, "completions": completions, "backoffLimit": 6,
                         "completionMode": "NonIndexed", "suspend": False,
                         "podReplacementPolicy": "TerminatingOrFailed",
                         "selector": {"matchLabels": {UID_LABEL: uid}},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}],
                                               "restartPolicy": restart}}}
    s.update(spec)
    if completions is None:
        s.pop("completions")
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "ns", "uid": uid, "generation": 1, "resourceVersion": "10"},
            "spec": s, "status": status or {}}


def pod(name: str, owner: dict | None, phase: str = "Running", *, finalizer: bool = True, index: int | None = None,
        ready: bool = False, finished_at: float | None = None, restarts: list[int] | None = None,
        deleting: bool = False) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "5",
                            "labels": dict(owner["spec"]["template"]["metadata"]["labels"]) if owner else {},
                            "creationTimestamp": T(NOW - 100)}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True,
                                    "blockOwnerDeletion": True}]
    if finalizer:
        meta["finalizers"] = [TRACKING_FINALIZER]
    if index is not None:
        meta["annotations"] = {COMPLETION_INDEX: str(index)}
        meta["labels"][COMPLETION_INDEX] = str(index)
    if deleting:
        meta["deletionTimestamp"] = T(NOW - 1)
    status: dict[str, Any] = {"phase": phase,
                              "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                              "lastTransitionTime": T(NOW - 50)}]}
    if finished_at is not None:
        status["containerStatuses"] = [{"name": "c", "state": {"terminated": {"finishedAt": T(finished_at)}}}]
    if restarts is not None:
        status["containerStatuses"] = [{"name": f"c{i}", "restartCount": r} for i, r in enumerate(restarts)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {}, "status": status}


def controller(jobs: list[dict], pods: list[dict], api: Recorder | None = None):
    ji, pi = Indexer(), Indexer()
    for j in jobs:
        ji.add(j)
    for p in pods:
        pi.add(p)
    api = api or Recorder(*copy.deepcopy(jobs), *copy.deepcopy(pods))
    wall = [NOW]
    c = JobController(ji, pi, api, clock=lambda: 0.0, wall=lambda: wall[0])
    return c, api, wall


def statuses(api: Recorder) -> list[dict]:
    return [a[3]["status"] for a in api.verbs("update")]


def created(api: Recorder) -> list[dict]:
    return [a[3] for a in api.verbs("create")]


def finalizer_patch(name: str, i: int = 0) -> tuple:
    return ("patch", "pods", "ns", name, "json",
            [{"op": "test", "path": "/metadata/uid", "value": f"uid-{name}"},
             {"op": "test", "path": f"/metadata/finalizers/{i}", "value": TRACKING_FINALIZER},
             {"op": "remove", "path": f"/metadata/finalizers/{i}"}])


def apply_writes(c: JobController, api: Recorder) -> None:
    """What the informers would show next: the last status written, the pods as patched."""
    ups = api.verbs("update")
    if ups:
        c.jobs.add(copy.deepcopy(ups[-1][3]))
    for a in api.verbs("patch"):
        key = f"ns/{a[3]}"
        current = c.pods.get(key)
        if current is not None:
            c.pods.add(apply_json_patch(current, a[5]))


def cond(ctype: str, status: str, reason: str, message: str, at: float = NOW) -> dict:
    return {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastProbeTime": T(at), "lastTransitionTime": T(at)}


# ------------------------------------------------------------ how many active
@pytest.mark.parametrize("completions,parallelism,succeeded,running,creates,deletes", [
    (5, 2, 0, 0, 2, 0),   # min(parallelism, remaining)
    (5, 3, 3, 0, 2, 0),   # 2 completions left
    (5, 3, 4, 1, 0, 0),   # the one running is the last one needed
    (3, 5, 0, 1, 2, 0),   # parallelism above completions: completions bound it
    (4, 0, 0, 0, 0, 0),   # parallelism 0: nothing runs
    (2, 2, 1, 2, 0, 1),   # one too many: delete one
])
def test_active_pods_are_min_of_parallelism_and_remaining_completions(completions, parallelism, succeeded,
                                                                       running, creates, deletes):
    owner = job(completions=completions, parallelism=parallelism,
                status={"startTime": T(NOW - 10), "succeeded": succeeded, "active": running})
    c, api, _ = controller([owner], [pod(f"r{i}", owner) for i in range(running)])
    run(c.sync("ns/pi"))
    assert len(api.verbs("create")) == creates
    assert len(api.verbs("delete")) == deletes
    if deletes:  # a pod it no longer wants loses its finalizer first: it is not a failure
        assert api.verbs("patch")[0][0:4] == ("patch", "pods", "ns", api.verbs("delete")[0][3])
    if creates or deletes:
        assert statuses(api)[-1]["active"] == running + creates - deletes


def test_creates_pods_from_the_template_with_owner_and_finalizer_once():
    owner = job(completions=5, parallelism=2)
    c, api, _ = controller([owner], [])
    run(c.sync("ns/pi"))
    made = created(api)
    assert len(made) == 2
    meta = made[0]["metadata"]
    assert meta["generateName"] == "pi-"
    assert meta["finalizers"] == [TRACKING_FINALIZER]
    assert meta["labels"] == owner["spec"]["template"]["metadata"]["labels"]
    assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "job-uid",
                                        "controller": True, "blockOwnerDeletion": True}]
    assert made[0]["spec"] == owner["spec"]["template"]["spec"]
    assert statuses(api) == [{"startTime": T(NOW), "active": 2, "ready": 0, "terminating": 0,
                              "uncountedTerminatedPods": {}}]
    assert c.expectations.pending("ns/pi") == (2, 0)
    run(c.sync("ns/pi"))  # the informer has not shown them: no second round
    assert len(api.verbs("create")) == 2
    seen = pod("pi-1", owner)
    c.pods.add(seen)
    c.on_pod_add(seen)
    assert c.expectations.pending("ns/pi") == (1, 0)


# ------------------------------------------------------------------ work queue
def test_work_queue_runs_parallelism_pods_until_one_succeeds():
    owner = job(completions=None, parallelism=3)
    c, api, _ = controller([owner], [])
    run(c.sync("ns/pi"))
    assert len(api.verbs("create")) == 3

    owner = job(completions=None, parallelism=3, status={"startTime": T(NOW - 10), "active": 3})
    pods = [pod("s1", owner, "Succeeded"), pod("r1", owner), pod("r2", owner)]
    c, api, _ = controller([owner], pods)
    run(c.sync("ns/pi"))
    assert api.verbs("create") == [] and api.verbs("delete") == []  # the others may finish; none start
    final = statuses(api)[-1]
    assert (final["succeeded"], final["active"]) == (1, 2) and "conditions" not in final


def test_work_queue_completes_when_one_succeeded_and_none_are_active():
    owner = job(completions=None, parallelism=3, status={"startTime": T(NOW - 10), "succeeded": 1, "active": 1})
    c, api, _ = controller([owner], [pod("s2", owner, "Succeeded", finalizer=False)])
    run(c.sync("ns/pi"))
    first, last = statuses(api)
    met = cond("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods")
    assert first["conditions"] == [met]  # the verdict first, then the terminal condition
    assert last["conditions"] == [met, cond("Complete", "True", "CompletionsReached",
                                            "Reached expected number of succeeded pods")]
    assert last["completionTime"] == T(NOW) and last["succeeded"] == 1 and "active" not in last


def test_completions_reached_sets_complete_after_the_last_pod_is_counted():
    owner = job(completions=2, parallelism=2, status={"startTime": T(NOW - 10), "succeeded": 1, "active": 1})
    c, api, _ = controller([owner], [pod("s2", owner, "Succeeded")])
    run(c.sync("ns/pi"))
    kinds = [a[0] for a in api.actions]
    assert kinds == ["update", "patch", "update"]
    first, last = statuses(api)
    assert first["uncountedTerminatedPods"] == {"succeeded": ["uid-s2"]} and first["succeeded"] == 1
    assert [x["type"] for x in first["conditions"]] == ["SuccessCriteriaMet"]
    assert last["succeeded"] == 2 and last["uncountedTerminatedPods"] == {}
    assert [x["type"] for x in last["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert last["completionTime"] == T(NOW)
    c.jobs.add(api.verbs("update")[-1][3])
    api.actions.clear()
    run(c.sync("ns/pi"))
    assert api.actions == []  # finished: nothing more


# --------------------------------------------------------------------- indexed
@pytest.mark.parametrize("indexes,text", [
    ({1, 3, 4, 5}, "1,3-5"), (set(), ""), ({0}, "0"), ({0, 1, 2, 7, 9, 10}, "0-2,7,9-10")])
def test_completed_indexes_is_a_compressed_interval_string(indexes, text):
    assert format_indexes(indexes) == text
    assert parse_indexes(text, 100) == indexes
    assert parse_indexes("0-4,8", 3) == {0, 1, 2}  # beyond completions: dropped


def test_indexed_pods_get_index_annotation_label_hostname_and_env():
    owner = job(completions=5, parallelism=3, completionMode="Indexed",
                status={"startTime": T(NOW - 10), "completedIndexes": "0-1,3", "succeeded": 3, "active": 1})
    c, api, _ = controller([owner], [pod("p2", owner, index=2)])
    run(c.sync("ns/pi"))
    (made,) = created(api)  # 2 remaining, 1 running: index 4 (0, 1, 3 done, 2 running)
    meta = made["metadata"]
    assert meta["generateName"] == "pi-4-"
    assert meta["annotations"] == {COMPLETION_INDEX: "4"} and meta["labels"][COMPLETION_INDEX] == "4"
    assert made["spec"]["hostname"] == "pi-4"
    assert made["spec"]["containers"][0]["env"] == [
        {"name": "JOB_COMPLETION_INDEX",
         "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}]
    assert owner["spec"]["template"]["spec"]["containers"][0].get("env") is None  # the Job is untouched
    assert indexed_generate_name("x" * 70, 12) == "x" * 54 + "-12-"


def test_indexed_reruns_a_failed_index_but_never_a_succeeded_one():
    owner = job(completions=3, parallelism=3, completionMode="Indexed",
                status={"startTime": T(NOW - 10), "completedIndexes": "0", "succeeded": 1, "failed": 1,
                        "active": 1})
    pods = [pod("p1", owner, "Failed", finalizer=False, index=1), pod("p2", owner, index=2)]
    c, api, _ = controller([owner], pods)
    run(c.sync("ns/pi"))
    assert [m["metadata"]["annotations"][COMPLETION_INDEX] for m in created(api)] == ["1"]


def test_indexed_success_is_recorded_as_completed_indexes_before_finalizers_go():
    owner = job(completions=6, parallelism=6, completionMode="Indexed", status={"startTime": T(NOW - 10)})
    pods = [pod(f"s{i}", owner, "Succeeded", index=i) for i in (5, 1, 4, 3)]
    c, api, _ = controller([owner], pods)
    run(c.sync("ns/pi"))
    (written,) = statuses(api)
    assert written["completedIndexes"] == "1,3-5" and written["succeeded"] == 4
    assert written["uncountedTerminatedPods"] == {}  # indexes, not uids, make the record
    kinds = [a[0] for a in api.actions]
    assert kinds.index("update") < kinds.index("patch")
    assert {a[3] for a in api.verbs("patch")} == {"s1", "s3", "s4", "s5"}
    assert sorted(m["metadata"]["annotations"][COMPLETION_INDEX] for m in created(api)) == ["0", "2"]


# ----------------------------------------------------------------- failures
def test_backoff_limit_exceeded_stops_active_pods_and_fails_after_they_are_gone():
    owner = job(completions=3, parallelism=3, backoffLimit=1, status={"startTime": T(NOW - 10), "active": 1})
    pods = [pod("f1", owner, "Failed", finished_at=NOW - 5), pod("f2", owner, "Failed", finished_at=NOW - 4),
            pod("r1", owner)]
    c, api, _ = controller([owner], pods)
    run(c.sync("ns/pi"))
    assert api.actions[0][0:4] == ("delete", "pods", "ns", "r1")  # finalizer kept: tracking counts it
    assert [a[0] for a in api.actions] == ["delete", "update", "patch", "patch", "patch", "update"]
    target = cond("FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    first, second = statuses(api)
    assert first["uncountedTerminatedPods"] == {"failed": ["uid-f1", "uid-f2", "uid-r1"]}
    assert first["conditions"] == [target] and first["terminating"] == 1
    assert second["failed"] == 3 and second["uncountedTerminatedPods"] == {}
    assert second["conditions"] == [target]  # r1 is still terminating: not Failed yet
    apply_writes(c, api)
    c.pods.delete(c.pods.get("ns/r1"))
    api.actions.clear()
    run(c.sync("ns/pi"))
    last = statuses(api)[-1]
    assert last["conditions"] == [target, cond("Failed", "True", "BackoffLimitExceeded",
                                               "Job has reached the specified backoff limit")]
    assert "completionTime" not in last and last["failed"] == 3


@pytest.mark.parametrize("limit,restarts,fails", [
    (2, [1, 1], True),    # restarts summed across containers reach the limit
    (2, [1], False),
    (3, [1, 1], False),
    (0, [1], True),       # a limit of 0: any restart
    (0, [0], False),
])
def test_on_failure_counts_container_restarts_toward_the_backoff_limit(limit, restarts, fails):
    owner = job(restart="OnFailure", backoffLimit=limit, status={"startTime": T(NOW - 10), "active": 1})
    c, api, _ = controller([owner], [pod("r1", owner, restarts=restarts)])
    run(c.sync("ns/pi"))
    conds = [x for s in statuses(api) for x in s.get("conditions") or ()]
    assert any(x["reason"] == "BackoffLimitExceeded" for x in conds) == fails
    assert bool(api.verbs("delete")) == fails


def test_active_deadline_fails_the_job_or_schedules_a_look_when_due():
    owner = job(activeDeadlineSeconds=60, status={"startTime": T(NOW - 100), "active": 1})
    c, api, _ = controller([owner], [pod("r1", owner)])
    run(c.sync("ns/pi"))
    assert api.verbs("delete")[0][3] == "r1"
    assert statuses(api)[0]["conditions"] == [cond("FailureTarget", "True", "DeadlineExceeded",
                                                   "Job was active longer than specified deadline")]
    owner = job(activeDeadlineSeconds=300, status={"startTime": T(NOW - 100), "active": 1, "ready": 0,
                                                   "terminating": 0})
    c, api, _ = controller([owner], [pod("r1", owner)])
    run(c.sync("ns/pi"))
    assert api.actions == [] and c.queue.core.next_deadline() == 200


@pytest.mark.parametrize("failures,elapsed,wait", [
    (0, 0, 0), (1, 0, 10), (1, 4, 6), (2, 0, 20), (3, 0, 40), (6, 0, 320), (7, 0, 360), (20, 0, 360),
    (2, 30, 0)])
def test_failure_backoff_doubles_from_10s_capped_at_6min(failures, elapsed, wait):
    assert backoff_remaining(failures, NOW - elapsed, NOW) == wait


def test_replacing_a_failed_pod_waits_out_the_backoff():
    owner = job(status={"startTime": T(NOW - 60)})
    c, api, wall = controller([owner], [pod("f1", owner, "Failed", finished_at=NOW - 3)])
    run(c.sync("ns/pi"))
    assert api.verbs("create") == [] and c.queue.core.next_deadline() == 7
    assert statuses(api)[-1]["failed"] == 1
    apply_writes(c, api)
    api.actions.clear()
    wall[0] = NOW + 8  # 11 s since the failure
    run(c.sync("ns/pi"))
    assert len(api.verbs("create")) == 1


# --------------------------------------------------------------------- suspend
def test_suspend_deletes_active_pods_and_sets_suspended():
    owner = job(completions=3, parallelism=2, suspend=True, status={"startTime": T(NOW - 10), "active": 2})
    c, api, _ = controller([owner], [pod("a", owner, ready=True), pod("b", owner)])
    run(c.sync("ns/pi"))
    assert {a[3] for a in api.verbs("patch")} == {"a", "b"} and {a[3] for a in api.verbs("delete")} == {"a", "b"}
    assert api.verbs("create") == []
    (written,) = statuses(api)
    assert written["conditions"] == [cond("Suspended", "True", "JobSuspended", "Job suspended")]
    assert "active" not in written and (written["ready"], written["terminating"]) == (0, 2)
    assert written["startTime"] == T(NOW - 10)
    assert c.expectations.pending("ns/pi") == (0, 2)


def test_a_job_created_suspended_gets_no_start_time():
    c, api, _ = controller([job(suspend=True)], [])
    run(c.sync("ns/pi"))
    (written,) = statuses(api)
    assert "startTime" not in written and [x["type"] for x in written["conditions"]] == ["Suspended"]


def test_resume_resets_start_time_and_creates_pods():
    old = cond("Suspended", "True", "JobSuspended", "Job suspended", NOW - 500)
    owner = job(completions=3, parallelism=2, status={"startTime": T(NOW - 1000), "conditions": [old]})
    c, api, _ = controller([owner], [])
    run(c.sync("ns/pi"))
    assert len(api.verbs("create")) == 2
    (written,) = statuses(api)
    assert written["conditions"] == [cond("Suspended", "False", "JobResumed", "Job resumed")]
    assert written["startTime"] == T(NOW)


# -------------------------------------------------------------------- tracking
def test_a_finished_pod_is_recorded_then_released_then_counted():
    owner = job(completions=2, parallelism=1, status={"startTime": T(NOW - 10), "active": 1})
    c, api, _ = controller([owner], [pod("s1", owner, "Succeeded")])
    run(c.sync("ns/pi"))
    updates = [i for i, a in enumerate(api.actions) if a[0] == "update"]
    patch_at = api.actions.index(finalizer_patch("s1"))
    assert updates[0] < patch_at < updates[1]
    first, second = statuses(api)
    assert (first.get("succeeded"), first["uncountedTerminatedPods"]) == (None, {"succeeded": ["uid-s1"]})
    assert (second["succeeded"], second["uncountedTerminatedPods"]) == (1, {})


@pytest.mark.parametrize("status,finalizer,writes,patches", [
    # crashed after recording the uid: release it, then count it
    ({"uncountedTerminatedPods": {"succeeded": ["uid-s1"]}}, True, 1, 1),
    # crashed after releasing the pod: just count it
    ({"uncountedTerminatedPods": {"succeeded": ["uid-s1"]}}, False, 1, 0),
    # all done: nothing to do
    ({"succeeded": 1}, False, 0, 0),
])
def test_no_count_is_lost_or_doubled_by_a_restart_between_steps(status, finalizer, writes, patches):
    owner = job(completions=2, parallelism=1,
                status={"startTime": T(NOW - 10), "active": 1, "ready": 0, "terminating": 0, **status})
    c, api, _ = controller([owner], [pod("s1", owner, "Succeeded", finalizer=finalizer),
                                     pod("r2", owner)])
    run(c.sync("ns/pi"))  # a fresh controller: no memory of what the old one did
    assert (len(api.verbs("update")), len(api.verbs("patch"))) == (writes, patches)
    final = statuses(api)[-1] if writes else owner["status"]
    assert final["succeeded"] == 1 and not (final.get("uncountedTerminatedPods") or {}).get("succeeded")


def test_a_new_controller_over_the_written_state_counts_nothing_twice():
    owner = job(completions=3, parallelism=1, status={"startTime": T(NOW - 10), "active": 1})
    c1, api, _ = controller([owner], [pod("s1", owner, "Succeeded"), pod("f1", owner, "Failed")])
    api.fail["patch"] = [None, RuntimeError("connection lost")]  # one release fails mid-way
    with pytest.raises(RuntimeError):
        run(c1.sync("ns/pi"))
    partial = statuses(api)[-1]
    apply_writes(c1, api)
    c2, api2, _ = controller([c1.jobs.get("ns/pi")], c1.pods.list())
    run(c2.sync("ns/pi"))
    apply_writes(c2, api2)
    final = c2.jobs.get("ns/pi")["status"]
    assert (final["succeeded"], final["failed"], final["uncountedTerminatedPods"]) == (1, 1, {})
    assert sum(len(v) for v in partial["uncountedTerminatedPods"].values()) == 1  # one left for the retry


def test_a_stale_pod_informer_does_not_count_a_released_pod_again():
    owner = job(completions=3, parallelism=1, status={"startTime": T(NOW - 10), "active": 1})
    c, api, _ = controller([owner], [pod("s1", owner, "Succeeded"), pod("r1", owner)])
    run(c.sync("ns/pi"))
    c.jobs.add(api.verbs("update")[-1][3])  # the job informer caught up, the pod informer did not
    api.actions.clear()
    run(c.sync("ns/pi"))
    assert api.verbs("patch") == [] and api.verbs("update") == []
    released = apply_json_patch(c.pods.get("ns/s1"), finalizer_patch("s1")[5])
    released["metadata"]["resourceVersion"] = "6"
    old = c.pods.get("ns/s1")
    c.pods.add(released)
    c.on_pod_update(old, released)
    assert "ns/pi" not in c.finalizer_expectations


class VersioningRecorder(Recorder):
    """Each status write returns a newer resourceVersion, as the apiserver does."""

    async def update(self, obj, *, subresource=None):
        out = copy.deepcopy(await super().update(obj, subresource=subresource))
        out["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        return out


def test_a_slow_job_watch_never_causes_extra_pods():
    owner = job(completions=3, parallelism=2, status={"startTime": T(NOW - 10), "active": 2})
    pods = [pod("s1", owner, "Succeeded"), pod("s2", owner, "Succeeded")]
    api = VersioningRecorder(copy.deepcopy(owner), *copy.deepcopy(pods))
    c, api, _ = controller([owner], pods, api)
    run(c.sync("ns/pi"))
    assert len(api.verbs("create")) == 1 and statuses(api)[-1]["succeeded"] == 2
    written = api.verbs("update")[-1][3]
    for a in api.verbs("patch"):  # the pod informer shows the released pods and the new one...
        c.pods.add(apply_json_patch(c.pods.get(f"ns/{a[3]}"), a[5]))
    new = dict(pod("pi-3", owner), metadata=dict(pod("pi-3", owner)["metadata"], uid="made-1"))
    c.pods.add(new)
    c.on_pod_add(new)
    api.actions.clear()
    run(c.sync("ns/pi"))  # ...the job informer still the status from before: it would count 0 succeeded
    assert api.actions == []
    c.jobs.add(dict(written, metadata=dict(written["metadata"], resourceVersion="12")))
    run(c.sync("ns/pi"))
    assert api.actions == []  # caught up: 2 counted, 1 running, nothing to do


def test_pods_deleted_by_others_are_still_counted():
    owner = job(completions=5, parallelism=2,
                status={"startTime": T(NOW - 10), "active": 1,
                        "uncountedTerminatedPods": {"succeeded": ["uid-gone"]}})
    # one pod recorded and then removed entirely; one being deleted while running
    c, api, _ = controller([owner], [pod("d1", owner, deleting=True)])
    run(c.sync("ns/pi"))
    final = statuses(api)[-1]
    assert (final["succeeded"], final["failed"]) == (1, 1) and final["uncountedTerminatedPods"] == {}
    assert api.verbs("patch")[0] == finalizer_patch("d1")
    # with podReplacementPolicy Failed a deleted pod counts only once it is Failed
    owner = job(completions=5, parallelism=2, podReplacementPolicy="Failed",
                status={"startTime": T(NOW - 10), "active": 1})
    c, api, _ = controller([owner], [pod("d1", owner, deleting=True)])
    run(c.sync("ns/pi"))
    assert api.verbs("patch") == [] and "failed" not in statuses(api)[-1]
    assert statuses(api)[-1]["terminating"] == 1 and len(api.verbs("create")) == 1  # 2 - 1 terminating


# --------------------------------------------------------------------- orphans
def test_orphaned_pods_lose_the_finalizer_and_running_jobs_keep_theirs():
    gone = job("gone", "gone-uid")
    live = job(completions=2, parallelism=1, status={"startTime": T(NOW - 10), "active": 1, "ready": 0,
                                                     "terminating": 0})
    orphan, kept = pod("orphan", gone), pod("kept", live)
    c, api, _ = controller([live], [orphan, kept])
    c.on_pod_add(orphan)
    c.on_pod_add(kept)
    run(c.drain())
    assert api.verbs("patch") == [finalizer_patch("orphan")]
    c.on_job_delete(live)
    c.jobs.delete(live)
    api.actions.clear()
    run(c.drain())
    assert api.verbs("patch") == [finalizer_patch("kept")]


# ------------------------------------------------------------------------- TTL
class DeleteRecorder(Recorder):
    async def delete(self, resource, name, namespace=None, *, grace_period_seconds=None,
                     propagation_policy=None, preconditions=None):
        self.actions.append(("delete", resource, namespace, name, propagation_policy, preconditions))
        return {}


def finished(ttl: int | None, at: float, **kw: Any) -> dict:
    spec = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    return job(status={"conditions": [cond("Complete", "True", "", "", at)], "completionTime": T(at)},
               **spec, **kw)


@pytest.mark.parametrize("ttl,fresh_ttl,deleted,due", [
    (30, 30, True, None),     # expired 20 s ago
    (100, 100, False, 50),    # 50 s to go: looks again then
    (30, 1000, False, None),  # the cache was stale: the fresh TTL has not passed
])
def test_ttl_after_finished_deletes_a_finished_job_once_due(ttl, fresh_ttl, deleted, due):
    cached = finished(ttl, NOW - 50)
    api = DeleteRecorder(finished(fresh_ttl, NOW - 50))
    ji = Indexer()
    ji.add(cached)
    c = TTLAfterFinishedController(ji, api, clock=lambda: 0.0, wall=lambda: NOW)
    c.on_job(cached)
    run(c.drain())
    assert api.verbs("delete") == ([("delete", "jobs", "ns", "pi", "Foreground", {"uid": "job-uid"})]
                                   if deleted else [])
    if due is not None:
        assert c.queue.core.next_deadline() == due


def test_ttl_ignores_unfinished_jobs_and_jobs_without_ttl():
    ji = Indexer()
    c = TTLAfterFinishedController(ji, DeleteRecorder(), clock=lambda: 0.0, wall=lambda: NOW)
    for j in (job(ttlSecondsAfterFinished=0), finished(None, NOW - 500)):
        c.on_job(j)
    assert len(c.queue.core) == 0


# ------------------------------------------------ against an in-process apiserver
def test_job_runs_to_completion_against_a_real_apiserver():
    async def go() -> None:
        server = APIServer(LocalKV())
        client = Client(LocalTransport(server), poll_seconds=0.05)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        ji, pi = SharedInformer(client, "jobs"), SharedInformer(client, "pods")
        c = JobController(ji.indexer, pi.indexer, client)
        ji.add_event_handler(c.on_job, c.on_job_update, c.on_job_delete)
        pi.add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(ji.run(stop)), asyncio.create_task(pi.run(stop)),
                 asyncio.create_task(c.run(2, stop))]
        made = await client.create({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "ns"},
            "spec": {"completions": 3, "parallelism": 2,
                     "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                           "restartPolicy": "Never"}}}})
        uid = made["metadata"]["uid"]
        most_running = [0]

        async def job_pods() -> list[dict]:
            items = (await client.list("pods", "ns"))["items"]
            return [p for p in items if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or ())]

        async def finish_pods_then_done() -> bool:
            pods = await job_pods()
            running = [p for p in pods if p["status"].get("phase") != "Succeeded"]
            most_running[0] = max(most_running[0], len(running))
            for p in running:  # the kubelet's part: each pod runs to success
                p["status"]["phase"] = "Succeeded"
                await client.update_status(p)
            got = await client.get("jobs", "pi", "ns")
            return any(x["type"] == "Complete" and x["status"] == "True"
                       for x in (got.get("status") or {}).get("conditions") or ())

        await eventually(finish_pods_then_done, "the job to complete")
        got = await client.get("jobs", "pi", "ns")
        st = got["status"]
        assert st["succeeded"] == 3 and not st.get("failed") and not st.get("active")
        assert [x["type"] for x in st["conditions"]] == ["SuccessCriteriaMet", "Complete"]
        assert st["completionTime"] and st["startTime"]
        assert not (st.get("uncountedTerminatedPods") or {}).get("succeeded")
        pods = await job_pods()
        assert len(pods) == 3 and most_running[0] <= 2
        assert all(TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or ()) for p in pods)
        assert all(p["metadata"]["labels"].get(UID_LABEL) == uid for p in pods)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
    run(go())
