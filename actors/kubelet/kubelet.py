"""The kubelet: registers its Node, renews its Lease, posts node status,
watches the pods bound to it and keeps each one true through the CRI.

Every pod has a worker (one task, so a pod's syncs never overlap) that runs
:func:`~.podsync.compute_pod_actions` over what the runtime reports and
carries the actions out: a sandbox, image pulls (``imagePullPolicy``, with
``ErrImagePull`` then ``ImagePullBackOff``), init containers in order,
containers, probe kills and restarts with back-off. A pod being deleted is
stopped within its grace period, then deleted for good. Statuses go out only
when they changed. A relist of the runtime (upstream's PLEG) wakes the
worker of any pod whose containers changed on their own.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable


from kubeapi import errors
from kubeapi.events import event_for
from kubeapi.informer import SharedInformer, field_index_func

from netsim.addresses import CLUSTER_DNS_IP, CLUSTER_DOMAIN
from netsim.dns import ResolverConfig, pod_dns_config

from ..cri import api
from ..cri.images import ErrImageNeverPull, ImageStore, should_pull
from ..cri.logformat import render_log
from ..scheduler.nodeinfo import Resource, pod_requests
from ..scheduler.plugins.nodeaffinity import RequiredNodeAffinity
from .backoff import RestartBackoff
from .node import (LEASE_NAMESPACE, NodeConfig, allocatable, lease_object, node_labels, node_object, node_status,
                   same_status)
from .podsync import (CREATED, EXITED, RUNNING, UNKNOWN, ContainerView, PodActions, SandboxView,
                      compute_pod_actions, pod_status)
from .probes import ContainerProbes, ProbeState

log = logging.getLogger("raykube.kubelet")

# the labels the kubelet puts on sandboxes and containers (upstream's keys)
POD_UID, POD_NAME, POD_NAMESPACE = "io.kubernetes.pod.uid", "io.kubernetes.pod.name", "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
STATE = {api.ContainerState.CONTAINER_RUNNING: RUNNING, api.ContainerState.CONTAINER_EXITED: EXITED,
         api.ContainerState.CONTAINER_CREATED: CREATED, api.ContainerState.CONTAINER_UNKNOWN: UNKNOWN}
NS = 1e9


FOLLOW_POLL = 0.25   # seconds between log reads while following


@dataclass
class LogPage:
    """A page of a followed log: the text, where the next page starts, and whether
    the container has ended (no page will follow)."""

    text: str
    cursor: str
    done: bool


@dataclass
class KubeletConfig:
    node: NodeConfig
    lease_duration: int = 40            # nodeLeaseDurationSeconds
    renew_interval: float = 10.0        # Lease renewals (upstream: a quarter of the duration)
    status_interval: float = 10.0       # node status checks (nodeStatusUpdateFrequency); sent on change ...
    status_report: float = 300.0        # ... or this long after the last one (nodeStatusReportFrequency)
    relist_period: float = 1.0          # the runtime relist (PLEG)
    housekeeping_period: float = 10.0   # sandboxes of pods no longer bound here are removed (HandlePodCleanups)
    runtime_name: str = "raykube-sim"
    log_root: str = "/var/log/pods"     # container logs, a directory per pod ("": the runtime's own)
    pull_backoff: RestartBackoff = field(default_factory=RestartBackoff)
    cluster_dns: list[str] = field(default_factory=lambda: [CLUSTER_DNS_IP])   # --cluster-dns
    cluster_domain: str = CLUSTER_DOMAIN                                      # --cluster-domain
    host_dns: ResolverConfig = field(default_factory=ResolverConfig)          # the node's own resolv.conf


UID_INDEX, NODE_INDEX = "metadata.uid", "spec.nodeName"


def index_pods(pods: SharedInformer) -> None:
    """The indexes a kubelet reads pods by (once per informer, however many kubelets share it)."""
    missing = {k: field_index_func(k) for k in (UID_INDEX, NODE_INDEX) if k not in pods.indexer.indexer_names}
    if missing:
        pods.indexer.add_indexers(missing)


async def every(period: float, fn: Callable[[], Any], stop: asyncio.Event) -> None:
    """Call ``fn`` every ``period`` until ``stop``; a failed round is logged and the next one tries again."""
    while not stop.is_set():
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the next round tries again
            log.warning("%s: %s", getattr(fn, "__qualname__", fn), e)
        try:
            await asyncio.wait_for(stop.wait(), period)
        except asyncio.TimeoutError:
            pass


class Prober:
    """Runs one probe try; the kubelet's exec probes go through the CRI, the
    network ones through ``network`` (the node's pod network: an object with
    ``request(src_ip, method, url, body, timeout)`` returning (status, body),
    and ``connect(host, port, timeout)`` for TCP probes), from the node
    itself as upstream's kubelet probes from the host."""

    def __init__(self, runtime: api.RuntimeService, network: Any = None) -> None:
        self.runtime = runtime
        self.network = network

    async def probe(self, state: ProbeState, container_id: str, pod_ip: str) -> bool:
        spec = state.spec
        try:
            if spec.kind == "exec":
                r = await self.runtime.ExecSync(container_id, list(spec.command), int(spec.timeout))
                return r.exit_code == 0
            if self.network is None:
                return True  # nothing to reach the pod through: the probe cannot say it is down
            host = spec.host or pod_ip
            if spec.kind in ("tcpSocket", "grpc"):   # grpc: the port answering is what is checked here
                await self.network.connect(host, spec.port, spec.timeout)
                return True
            status, _ = await self.network.request("", "GET", f"http://{host}:{spec.port}{spec.path}", b"",
                                                   spec.timeout)
            return 200 <= status < 400
        except (api.CRIError, OSError, asyncio.TimeoutError, ValueError):
            return False


class PodWorker:
    """One pod's serialized syncs."""

    def __init__(self, kubelet: "Kubelet", uid: str) -> None:
        self.kubelet = kubelet
        self.uid = uid
        self.wake = asyncio.Event()
        self.wake.set()
        self.probes: dict[str, tuple[str, ContainerProbes]] = {}  # name -> (container id, its probes)
        self.waiting: dict[str, tuple[str, str]] = {}
        self.admitted = False
        self.finished = False
        self.requeue: float | None = None
        self.retry: float | None = None
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while not self.finished:
            delay = None
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self._next_wake())
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            try:
                delay = await self.kubelet.sync_pod(self)
            except asyncio.CancelledError:
                raise
            except (errors.ApiError, api.CRIError) as e:  # the API or the runtime said no: try again soon
                log.warning("%s: syncing pod %s: %s", self.kubelet.name, self.uid, e)
                delay = 1.0
            except Exception:  # noqa: BLE001 - one bad sync must not end the worker
                log.exception("syncing pod %s", self.uid)
                delay = 1.0
            self.requeue = delay

    def retry_in(self, seconds: float) -> None:
        """Sync again within ``seconds`` (an image pull back-off ends)."""
        self.retry = seconds if self.retry is None else min(self.retry, seconds)

    def _next_wake(self) -> float:
        times = [self.requeue] if self.requeue is not None else []
        now = self.kubelet.clock()
        for _, pr in self.probes.values():
            at = pr.next_at()
            if at is not None:
                times.append(max(0.0, at - now))
        return max(0.05, min(times)) if times else 30.0


class Kubelet:
    def __init__(self, cfg: KubeletConfig, client: Any, runtime: api.RuntimeService, images: ImageStore, *,
                 prober: Prober | None = None, pods: SharedInformer | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``pods``: a pod informer shared with other kubelets (a node pool's,
        which routes events here by node name); none: a watch of our own."""
        self.cfg = cfg
        self.name = cfg.node.name
        self.client = client
        self.runtime = runtime
        self.images = images
        self.prober = prober or Prober(runtime)
        self.clock = clock
        self.backoff = RestartBackoff()
        self.own_informer = pods is None
        if pods is None:
            pods = SharedInformer(client, "pods", field_selector=f"spec.nodeName={self.name}")
            pods.add_event_handler(self.on_pod, lambda _old, new: self.on_pod(new), self.on_pod_delete)
        index_pods(pods)
        self.pods = pods
        self.workers: dict[str, PodWorker] = {}
        self.sent: dict[str, dict] = {}        # pod uid -> the status last written
        self.node_uid = ""
        self.pod_cidr: str | None = None
        self._lease: dict | None = None
        self.last_status: dict = {}
        self.last_status_at = 0.0
        self._relisted: dict[str, tuple] = {}
        self._pull_failed_at: dict[tuple[str, str], float] = {}
        self._events: dict[tuple[str, str], tuple[str, float]] = {}
        self._background: set[asyncio.Future] = set()

    # ------------------------------------------------------------- running
    async def run(self, stop: asyncio.Event) -> None:
        """A standalone kubelet: its own pod watch and periodic work until ``stop``."""
        await self.register()
        tasks = [asyncio.create_task(every(self.cfg.renew_interval, self.renew_lease, stop)),
                 asyncio.create_task(every(self.cfg.status_interval, self.post_node_status, stop)),
                 asyncio.create_task(every(self.cfg.relist_period, self.relist, stop)),
                 asyncio.create_task(every(self.cfg.housekeeping_period, self.housekeeping, stop))]
        if self.own_informer:
            tasks.append(asyncio.create_task(self.pods.run(stop)))
        try:
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.stop_workers()

    async def stop_workers(self) -> None:
        """End every pod worker (the pods keep running in the runtime)."""
        workers = list(self.workers.values())
        for w in workers:
            w.finished = True
            w.task.cancel()
        await asyncio.gather(*(w.task for w in workers), return_exceptions=True)

    # ---------------------------------------------------------------- node
    async def register(self) -> None:
        """Create the Node (or take over an existing one of the same name)."""
        try:
            node = await self.client.create(node_object(self.cfg.node))
        except errors.ApiError as e:
            if not errors.is_already_exists(e):
                raise
            node = await self.client.get("nodes", self.name)
        self.node_uid = node["metadata"]["uid"]
        for first in (lambda: self.post_node_status(force=True), self.renew_lease):
            try:
                await first()
            except errors.ApiError as e:  # the periodic rounds try again
                log.info("%s: registering: %s", self.name, e)

    async def renew_lease(self) -> None:
        """One write per renewal, as upstream's lease controller: the lease last
        written is updated in place; a conflict or a missing lease costs a read."""
        now = self.clock()
        lease = self._lease
        if lease is None:
            try:
                lease = await self.client.get("leases", self.name, LEASE_NAMESPACE)
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    raise
                self._lease = await self.client.create(
                    lease_object(self.name, self.node_uid, self.cfg.lease_duration, now))
                return
        spec = dict(lease.get("spec") or {}, holderIdentity=self.name,
                    leaseDurationSeconds=self.cfg.lease_duration,
                    renewTime=lease_object(self.name, self.node_uid, 0, now)["spec"]["renewTime"])
        try:
            self._lease = await self.client.update(dict(lease, spec=spec))
        except errors.ApiError:
            self._lease = None  # read it afresh next time
            raise

    async def post_node_status(self, force: bool = False) -> None:
        now = self.clock()
        images = [{"names": [i.repo_tags[0] if i.repo_tags else i.id], "sizeBytes": i.size}
                  for i in await self.images.ListImages()]
        status = node_status(self.cfg.node, self.last_status, now, images=images)
        if not force and self.pod_cidr is not None and same_status(status, self.last_status) and \
                now - self.last_status_at < self.cfg.status_report:
            return
        node = await self.client.get("nodes", self.name)
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr and cidr != self.pod_cidr:
            await self._learn_cidr(cidr)
        # a merge patch of the status alone: controllers writing the node's spec meanwhile do not conflict
        await self.client.patch("nodes", self.name, {"status": status}, subresource="status")
        self.last_status, self.last_status_at = status, now

    async def _learn_cidr(self, cidr: str) -> None:
        """The node's pod CIDR, from the node IPAM controller: pod IPs come from it."""
        await self.runtime.UpdateRuntimeConfig(cidr)   # the runtime's CNI config takes it, as upstream
        self.pod_cidr = cidr

    # -------------------------------------------------------------- events
    EVENT_REPEAT = 60.0   # seconds before the same event about the same pod is written again

    async def event(self, pod: dict, reason: str, message: str, type: str = "Warning") -> None:
        """An Event about ``pod`` from this kubelet; the same one again within
        EVENT_REPEAT is dropped (upstream's recorder aggregates it)."""
        key = (pod["metadata"].get("uid", ""), reason)
        now = self.clock()
        last = self._events.get(key)
        if last is not None and last[0] == message and now - last[1] < self.EVENT_REPEAT:
            return
        self._events[key] = (message, now)
        if len(self._events) > 10_000:
            self._events.clear()
        try:
            await self.client.create(event_for(pod, reason, message, component="kubelet", host=self.name, type=type,
                                               now=now))
        except errors.ApiError as e:
            log.debug("%s: event %s about %s: %s", self.name, reason, pod["metadata"].get("name"), e)

    def _later(self, work: Any) -> None:
        """Run ``work`` (a coroutine) in the background, holding on to it until done."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- pods
    def on_pod(self, pod: dict) -> None:
        uid = pod["metadata"].get("uid", "")
        w = self.workers.get(uid)
        if w is None:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") and \
                    not pod["metadata"].get("deletionTimestamp") and uid in self.sent:
                return
            w = self.workers[uid] = PodWorker(self, uid)
        w.wake.set()

    def on_pod_delete(self, pod: Any) -> None:
        obj = getattr(pod, "obj", pod)
        w = self.workers.get((obj.get("metadata") or {}).get("uid", ""))
        if w is not None:
            w.wake.set()

    def _pod(self, uid: str) -> dict | None:
        for p in self.pods.indexer.by_index(UID_INDEX, uid):
            if (p.get("spec") or {}).get("nodeName") == self.name:
                return p
        return None

    async def _runtime_view(self, uid: str) -> tuple[SandboxView | None, dict[str, list[ContainerView]]]:
        sandboxes = await self.runtime.ListPodSandbox(api.PodSandboxFilter(label_selector={POD_UID: uid}))
        sandbox = None
        if sandboxes:
            newest = max(sandboxes, key=lambda s: (s.metadata.attempt, s.created_at))
            st = await self.runtime.PodSandboxStatus(newest.id)
            sandbox = SandboxView(st.id, st.state == api.PodSandboxState.SANDBOX_READY, st.network.ip,
                                  st.metadata.attempt)
        instances: dict[str, list[ContainerView]] = {}
        for c in await self.runtime.ListContainers(api.ContainerFilter(label_selector={POD_UID: uid})):
            s = await self.runtime.ContainerStatus(c.id)
            name = c.labels.get(CONTAINER_NAME, c.metadata.name)
            instances.setdefault(name, []).append(ContainerView(
                s.id, name, s.metadata.attempt, STATE.get(s.state, UNKNOWN), s.exit_code, s.reason, s.message,
                s.created_at / NS, s.started_at / NS, s.finished_at / NS, s.image_ref))
        for views in instances.values():
            views.sort(key=lambda v: (v.attempt, v.created_at), reverse=True)
        return sandbox, instances

    async def sync_pod(self, w: PodWorker) -> float | None:
        """One sync of ``w``'s pod; seconds until it wants another (None: on events)."""
        pod = self._pod(w.uid)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            await self._terminate(w, pod)
            return None
        if not w.admitted:
            why = self._admit(pod)
            if why is not None:
                await self._reject(pod, *why)
                w.finished = True
                self.workers.pop(w.uid, None)
                return None
            w.admitted = True
        now = self.clock()
        sandbox, instances = await self._runtime_view(w.uid)
        probes = {name: pr for name, (cid, pr) in w.probes.items()
                  if instances.get(name) and instances[name][0].id == cid}
        actions = compute_pod_actions(pod, sandbox, instances, probes, self.backoff, now)
        w.retry = None
        w.waiting = dict(actions.waiting)
        if actions.kill_pod or actions.create_sandbox or actions.kill or actions.start_init or actions.start:
            await self._act(pod, w, actions, sandbox, instances)
            sandbox, instances = await self._runtime_view(w.uid)  # what the actions made of it
        self._refresh_probes(pod, w, instances)
        await self._run_probes(w, instances, sandbox)
        status = pod_status(pod, sandbox, instances, {n: pr for n, (_, pr) in w.probes.items()}, w.waiting,
                            runtime=self.cfg.runtime_name, host_ip=self.cfg.node.node_ip, now=self.clock())
        await self._send_status(pod, status)
        waits = [t for t in (actions.requeue_after, w.retry) if t is not None]
        return min(waits) if waits else None

    def _admit(self, pod: dict) -> tuple[str, str] | None:
        """(reason, message) when the pod cannot run here (upstream's admission handlers)."""
        spec = pod.get("spec") or {}
        alloc = Resource.from_list(allocatable(self.cfg.node))
        used = Resource()
        count = 0
        for other in self.pods.indexer.by_index(NODE_INDEX, self.name):
            if other["metadata"].get("uid") == pod["metadata"].get("uid") or other["metadata"].get("uid") \
                    not in self.workers or (other.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            if self.workers[other["metadata"]["uid"]].admitted:
                used.add(pod_requests(other.get("spec") or {}))
                count += 1
        if not RequiredNodeAffinity(spec).matches(node_labels(self.cfg.node), self.name):
            return "NodeAffinity", "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
        want = pod_requests(spec)
        if alloc.allowed_pod_number and count + 1 > alloc.allowed_pod_number:
            return "OutOfpods", f"Node didn't have enough resource: pods, requested: 1, used: {count}, " \
                                f"capacity: {alloc.allowed_pod_number}"
        for name in want.names():
            need, have, taken = want.get(name), alloc.get(name), used.get(name)
            if need and taken + need > have:
                return f"OutOf{name}", (f"Node didn't have enough resource: {name}, requested: {need}, "
                                         f"used: {taken}, capacity: {have}")
        return None

    async def _reject(self, pod: dict, reason: str, message: str) -> None:
        status = dict(pod.get("status") or {}, phase="Failed", reason=reason,
                      message=f"Pod was rejected: {message}")
        await self._send_status(pod, status)

    async def _act(self, pod: dict, w: PodWorker, actions: PodActions, sandbox: SandboxView | None,
                   instances: dict[str, list[ContainerView]]) -> None:
        if actions.kill_pod and sandbox is not None:
            await self._stop_all(pod, instances, sandbox, grace=0)
        if actions.create_sandbox:
            try:
                sid = await self.runtime.RunPodSandbox(self._sandbox_config(pod, actions.sandbox_attempt))
            except api.CRIError as e:  # e.g. no pod network yet: the pod stays ContainerCreating
                log.info("%s: pod %s: creating its sandbox: %s", self.name, pod["metadata"]["name"], e.message)
                await self.event(pod, "FailedCreatePodSandBox",
                                 f"Failed to create pod sandbox: rpc error: code = {e.code.value} desc = {e.message}")
                w.retry_in(1.0)
                return
            st = await self.runtime.PodSandboxStatus(sid)
            sandbox = SandboxView(sid, True, st.network.ip, actions.sandbox_attempt)
            instances = {}
        for cid, name, why in actions.kill:
            log.info("%s: %s", self.name, why)
            await self.runtime.StopContainer(cid, self._grace(pod))
        if sandbox is None or not sandbox.ready:
            return
        spec = pod.get("spec") or {}
        if actions.start_init:
            c = next(c for c in spec.get("initContainers") or () if c["name"] == actions.start_init)
            await self._start(pod, w, c, sandbox, instances)
        for name in actions.start:
            c = next(c for c in spec.get("containers") or () if c["name"] == name)
            await self._start(pod, w, c, sandbox, instances)

    def _dns_config(self, pod: dict) -> api.DNSConfig:
        """The pod's resolv.conf by its dnsPolicy and dnsConfig (upstream's
        GetPodDNS); what upstream would say in an event goes into one here."""
        cfg = pod_dns_config(pod, cluster_dns=self.cfg.cluster_dns, cluster_domain=self.cfg.cluster_domain,
                             host=self.cfg.host_dns)
        for warning in cfg.warnings:
            reason, _, message = warning.partition(": ")
            self._later(self.event(pod, reason, message))
        return api.DNSConfig(list(cfg.nameservers), list(cfg.searches), cfg.option_list)

    def _sandbox_config(self, pod: dict, attempt: int) -> api.PodSandboxConfig:
        meta = pod["metadata"]
        spec = pod.get("spec") or {}
        return api.PodSandboxConfig(
            api.PodSandboxMetadata(meta["name"], meta.get("uid", ""), meta.get("namespace", ""), attempt),
            hostname=spec.get("hostname") or meta["name"],
            dns_config=self._dns_config(pod),
            log_directory=f"{self.cfg.log_root}/{meta.get('namespace')}_{meta['name']}_{meta.get('uid')}"
            if self.cfg.log_root else "",  # none: the runtime keeps logs in its own directory
            port_mappings=[api.PortMapping(p.get("containerPort", 0), p.get("protocol", "TCP"),
                                           p.get("hostPort", 0)) for c in spec.get("containers") or ()
                           for p in c.get("ports") or ()],
            labels={POD_UID: meta.get("uid", ""), POD_NAME: meta["name"], POD_NAMESPACE: meta.get("namespace", "")})

    async def _start(self, pod: dict, w: PodWorker, c: dict, sandbox: SandboxView,
                     instances: dict[str, list[ContainerView]]) -> None:
        name = c["name"]
        uid = pod["metadata"].get("uid", "")
        image = c.get("image", "")
        try:
            present = await self.images.ImageStatus(api.ImageSpec(image)) is not None
            if should_pull(c.get("imagePullPolicy", ""), image, present):
                key = (uid, f"pull:{image}")
                previous = self.cfg.pull_backoff.delay(key)
                left = self.cfg.pull_backoff.wait(key, self._pull_failed_at.get(key, 0.0), 0, self.clock()) \
                    if previous else 0.0
                if left > 0:
                    w.waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
                    w.retry_in(left)
                    return
                try:
                    await self.images.PullImage(api.ImageSpec(image))
                except api.ImagePullError as e:
                    self.cfg.pull_backoff.restarting(key, 0)
                    self._pull_failed_at[key] = self.clock()
                    w.waiting[name] = ("ErrImagePull", e.message)
                    w.retry_in(self.cfg.pull_backoff.delay(key))
                    return
        except ErrImageNeverPull as e:
            w.waiting[name] = ("ErrImageNeverPull", e.message)
            return
        views = instances.get(name) or []
        attempt = views[0].attempt + 1 if views else 0
        if views and views[0].state == EXITED:
            self.backoff.restarting((uid, name), views[0].finished_at - views[0].started_at)
        config = api.ContainerConfig(
            api.ContainerMetadata(name, attempt), api.ImageSpec(image), command=list(c.get("command") or ()),
            args=list(c.get("args") or ()), working_dir=c.get("workingDir", ""),
            envs=[api.KeyValue(e["name"], str(e.get("value", ""))) for e in c.get("env") or () if "name" in e],
            labels={POD_UID: uid, CONTAINER_NAME: name}, log_path=f"{name}/{attempt}.log")
        try:
            cid = await self.runtime.CreateContainer(sandbox.id, config,
                                                     self._sandbox_config(pod, sandbox.attempt))
        except api.CRIError as e:
            w.waiting[name] = ("CreateContainerError", e.message)
            return
        try:
            await self.runtime.StartContainer(cid)
        except api.CRIError as e:
            w.waiting[name] = ("RunContainerError", e.message)
            return
        w.waiting.pop(name, None)

    def _grace(self, pod: dict) -> int:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        g = meta.get("deletionGracePeriodSeconds")
        return int(g if g is not None else spec.get("terminationGracePeriodSeconds", 30))

    async def _stop_all(self, pod: dict | None, instances: dict[str, list[ContainerView]],
                        sandbox: SandboxView | None, grace: int) -> None:
        running = [v for views in instances.values() for v in views if v.state in (RUNNING, CREATED)]
        await asyncio.gather(*(self.runtime.StopContainer(v.id, grace) for v in running))
        if sandbox is not None:
            await self.runtime.StopPodSandbox(sandbox.id)

    async def _terminate(self, w: PodWorker, pod: dict | None) -> None:
        """Stop the pod within its grace period, remove it from the runtime and
        (a pod still in the API) delete it for good."""
        sandbox, instances = await self._runtime_view(w.uid)
        grace = self._grace(pod) if pod is not None else 0
        await self._stop_all(pod, instances, sandbox, grace)
        for views in instances.values():
            for v in views:
                await self.runtime.RemoveContainer(v.id)
        for sb in await self.runtime.ListPodSandbox(api.PodSandboxFilter(label_selector={POD_UID: w.uid})):
            await self.runtime.RemovePodSandbox(sb.id)
        self.backoff.forget_pod(w.uid)
        w.finished = True
        self.workers.pop(w.uid, None)
        self.sent.pop(w.uid, None)
        if pod is not None:
            meta = pod["metadata"]
            try:
                await self.client.delete("pods", meta["name"], meta.get("namespace"), grace_period_seconds=0,
                                         preconditions={"uid": w.uid})
            except errors.ApiError as e:
                if not (errors.is_not_found(e) or errors.is_conflict(e)):
                    raise

    def _refresh_probes(self, pod: dict, w: PodWorker, instances: dict[str, list[ContainerView]]) -> None:
        """A new probe state per new running container instance."""
        for c in (pod.get("spec") or {}).get("containers") or ():
            latest = (instances.get(c["name"]) or [None])[0]
            if latest is None or latest.state != RUNNING:
                w.probes.pop(c["name"], None)
                continue
            current = w.probes.get(c["name"])
            if current is None or current[0] != latest.id:
                w.probes[c["name"]] = (latest.id, ContainerProbes.for_container(c, latest.started_at))

    async def _run_probes(self, w: PodWorker, instances: dict[str, list[ContainerView]],
                          sandbox: SandboxView | None) -> None:
        now = self.clock()
        ip = sandbox.ip if sandbox is not None else ""
        for name, (cid, pr) in list(w.probes.items()):
            for state in pr.due(now):
                state.observe(await self.prober.probe(state, cid, ip), self.clock())
            if not pr.live:
                w.wake.set()  # the next sync kills it

    async def _send_status(self, pod: dict, status: dict) -> None:
        uid = pod["metadata"].get("uid", "")
        if self.sent.get(uid) == status:
            return
        try:
            await self.client.patch("pods", pod["metadata"]["name"], {"status": status},
                                     pod["metadata"].get("namespace"), subresource="status")
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return
            raise
        self.sent[uid] = status

    async def _instances(self, namespace: str, name: str, container: str,
                         ) -> tuple[str, list[ContainerView]]:
        """The container ``kubectl logs``/``exec`` means (the only one when none is
        named) and its runtime instances, newest first; errors as the apiserver words them."""
        pod = next((p for p in self.pods.indexer.by_index(NODE_INDEX, self.name)
                    if p["metadata"]["name"] == name and p["metadata"].get("namespace") == namespace), None)
        if pod is None:
            raise api.NotFound(f'pods "{name}" not found')
        names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or ()]
        inits = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or ()]
        if not container:
            if len(names) != 1:
                raise api.InvalidArgument(f"a container name must be specified for pod {name}, choose one of: "
                                          f"[{' '.join(names)}]" + (f" or one of the init containers: "
                                                                    f"[{' '.join(inits)}]" if inits else ""))
            container = names[0]
        if container not in names + inits:
            raise api.InvalidArgument(f"container {container} is not valid for pod {name}")
        _, instances = await self._runtime_view(pod["metadata"].get("uid", ""))
        return container, instances.get(container) or []

    async def _log_target(self, namespace: str, name: str, container: str, previous: bool) -> ContainerView:
        container, views = await self._instances(namespace, name, container)
        if previous and len(views) < 2:
            raise api.InvalidArgument(f'previous terminated container "{container}" in pod "{name}" not found')
        if not views:
            raise api.InvalidArgument(f'container "{container}" in pod "{name}" is waiting to start: '
                                      f"ContainerCreating")
        return views[1 if previous else 0]

    async def logs(self, namespace: str, name: str, container: str = "", *, previous: bool = False,
                   tail: int | None = None, timestamps: bool = False, since: str = "") -> str:
        """``kubectl logs``: a container's output from its CRI log (the previous
        instance's with ``previous``; lines stamped at or after ``since``, an
        RFC 3339 nano time, only)."""
        view = await self._log_target(namespace, name, container, previous)
        return render_log((await self.runtime.read_log(view.id)).lines, tail, timestamps, since)

    async def follow_logs(self, namespace: str, name: str, container: str = "", *, cursor: str = "",
                          previous: bool = False, tail: int | None = None, timestamps: bool = False,
                          since: str = "", wait: float = 1.0) -> LogPage:
        """``kubectl logs -f``, one page at a time: the first call (no ``cursor``) gives
        what ``logs`` would; each next one what was written since, waiting up to
        ``wait`` s for some. ``done`` once the container has ended and all is read."""
        if cursor:
            cid, _, at = cursor.rpartition("@")
            offset = int(at)
        else:
            cid, offset = (await self._log_target(namespace, name, container, previous)).id, 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait)
        while True:
            chunk = await self.runtime.read_log(cid, offset)
            ended = (await self.runtime.ContainerStatus(cid)).state != api.ContainerState.CONTAINER_RUNNING
            if chunk.lines or ended or not cursor or loop.time() >= deadline:
                break
            await asyncio.sleep(min(FOLLOW_POLL, max(0.0, deadline - loop.time())))
        if ended:   # the last lines may have landed after the first read
            chunk = await self.runtime.read_log(cid, offset)
        text = render_log(chunk.lines, None if cursor else tail, timestamps, since)
        return LogPage(text, f"{cid}@{chunk.cursor}", ended)

    async def exec(self, namespace: str, name: str, container: str, command: list[str], *,
                   stdin: bool = False, tty: bool = False, stdout: bool = True, stderr: bool = True,
                   start: bool = True) -> str:
        """``kubectl exec``: start ``command`` in the container; returns the session that
        ``exec_stream`` carries its I/O over (without ``start``, only checks it could)."""
        container, views = await self._instances(namespace, name, container)
        if not views or views[0].state != RUNNING:
            raise api.FailedPrecondition(f'container not found ("{container}")' if not views else
                                         f'container "{container}" in pod "{name}" is not running')
        if not start:
            return ""
        r = await self.runtime.Exec(api.ExecRequest(views[0].id, list(command), tty=tty, stdin=stdin,
                                                    stdout=stdout, stderr=stderr and not tty))
        return r.url

    async def exec_stream(self, session: str, stdin: bytes = b"", close_stdin: bool = False,
                          resize: tuple[int, int] | None = None, wait: float = 1.0) -> api.ExecOutput:
        return await self.runtime.exec_stream(session, stdin, close_stdin, resize, wait)

    async def exec_cancel(self, session: str) -> None:
        await self.runtime.exec_cancel(session)

    async def housekeeping(self) -> None:
        """Remove the sandboxes of pods this kubelet no longer has (deleted while
        it was down, say): their containers stop and their addresses go back.
        Only once the pod informer has listed, so nothing is taken for an orphan
        merely because it was not seen yet."""
        if not self.pods.has_synced():
            return
        for sb in await self.runtime.ListPodSandbox():
            uid = sb.labels.get(POD_UID, "")
            if uid in self.workers or self.pods.indexer.by_index(UID_INDEX, uid):
                continue
            log.info("%s: removing sandbox %s of pod %s/%s, which is no longer here", self.name, sb.id[:12],
                     sb.metadata.namespace, sb.metadata.name)
            try:
                await self.runtime.StopPodSandbox(sb.id)
                await self.runtime.RemovePodSandbox(sb.id)
            except api.CRIError as e:
                log.warning("%s: removing sandbox %s: %s", self.name, sb.id[:12], e)

    async def relist(self) -> None:
        """The PLEG: wake the worker of every pod whose containers changed state
        (a node with no pods and nothing seen before has nothing to relist)."""
        if not self.workers and not self._relisted:
            return
        seen: dict[str, tuple] = {}
        for c in await self.runtime.ListContainers():
            uid = c.labels.get(POD_UID, "")
            seen[c.id] = (uid, c.state)
        for cid, (uid, state) in seen.items():
            if self._relisted.get(cid) != (uid, state) and uid in self.workers:
                self.workers[uid].wake.set()
        for cid, (uid, _) in self._relisted.items():
            if cid not in seen and uid in self.workers:
                self.workers[uid].wake.set()
        self._relisted = seen
