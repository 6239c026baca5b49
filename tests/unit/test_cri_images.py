"""Unit tests for actors.cri.images: references, argv rule, pulls, removal, GC, pull policy."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable

import pytest

from actors.cri import api
from actors.cri.images import (
    CATALOG,
    MB,
    ErrImageNeverPull,
    ImageDef,
    ImageStore,
    container_argv,
    normalize,
    should_pull,
)

BUSYBOX = "docker.io/library/busybox:1.36"
PAUSE = "registry.k8s.io/pause:3.10"


def run(coro: Awaitable[Any], limit: float = 2.0) -> Any:
    async def capped() -> Any:
        return await asyncio.wait_for(coro, limit)
    return asyncio.run(capped())


class FakeTime:
    """A clock that only moves when the store sleeps (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        for _ in range(5):          # let concurrent callers interleave
            await asyncio.sleep(0)
        self.now += seconds


def store(t: FakeTime, catalog: dict[str, ImageDef] = CATALOG, **kw: Any) -> ImageStore:
    return ImageStore(catalog, clock=t.clock, sleep=t.sleep, now_ns=lambda: 42, **kw)


def spec(image: str) -> api.ImageSpec:
    return api.ImageSpec(image=image)


# ----------------------------------------------------------------- references
@pytest.mark.parametrize("given,want", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("agnhost:2.52", "docker.io/library/agnhost:2.52"),
    ("library/nginx:1.27", "docker.io/library/nginx:1.27"),
    ("docker.io/nginx", "docker.io/library/nginx:latest"),
    ("index.docker.io/library/python:3.12", "docker.io/library/python:3.12"),
    ("myuser/app", "docker.io/myuser/app:latest"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.52", "registry.k8s.io/e2e-test-images/agnhost:2.52"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("localhost/app:v1", "localhost/app:v1"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64),
    ("busybox:1.36@sha256:" + "b" * 64, "docker.io/library/busybox:1.36@sha256:" + "b" * 64),
])
def test_normalize(given: str, want: str) -> None:
    assert normalize(given) == want


@pytest.mark.parametrize("bad", ["", "BusyBox", "busybox:", "busybox@sha256:short", " busybox",
                                 "a" * 64, "busybox:bad/tag", "-busybox"])
def test_normalize_rejects_malformed(bad: str) -> None:
    with pytest.raises(api.InvalidArgument):
        normalize(bad)


def test_catalog_keys_are_normalized_names_and_ids_stable() -> None:
    for key, d in CATALOG.items():
        assert normalize(key) == key == d.name
        assert d.id.startswith("sha256:") and len(d.id) == 71
    bb = CATALOG[BUSYBOX]
    assert bb.id == ImageDef("docker.io/library/busybox", "1.36", 1).id   # from the name only
    assert bb.id != CATALOG["docker.io/library/busybox:latest"].id
    assert bb.cmd == ("sh",) and bb.entrypoint == ()
    assert CATALOG["docker.io/library/python:3.12"].cmd == ("python3",)
    assert CATALOG["docker.io/library/nginx:1.27"].cmd == ("nginx", "-g", "daemon off;")
    for name in ("registry.k8s.io/e2e-test-images/agnhost:2.52", "docker.io/library/agnhost:2.52"):
        assert CATALOG[name].entrypoint == ("/agnhost",)
    assert CATALOG[PAUSE].entrypoint == ("/pause",) and CATALOG[PAUSE].pinned
    assert 4 * MB < bb.size < 5 * MB
    assert CATALOG[PAUSE].size < MB


# ----------------------------------------------------------------- argv rule
AGN = ImageDef("docker.io/library/agnhost", "2.52", 1, entrypoint=("/agnhost",), cmd=("pause",))


@pytest.mark.parametrize("command,args,want", [
    ([], [], ["/agnhost", "pause"]),                              # image defaults
    ([], ["netexec", "--http-port=8080"], ["/agnhost", "netexec", "--http-port=8080"]),
    (["sh", "-c", "echo hi"], [], ["sh", "-c", "echo hi"]),        # image cmd dropped
    (["/agnhost"], ["serve-hostname"], ["/agnhost", "serve-hostname"]),
])
def test_container_argv(command: list[str], args: list[str], want: list[str]) -> None:
    assert container_argv(AGN, command, args) == want


def test_container_argv_nothing_to_run() -> None:
    with pytest.raises(api.InvalidArgument):
        container_argv(ImageDef("docker.io/library/empty", "1", 1), [], [])


# ----------------------------------------------------------------- pulls
def test_pull_takes_size_over_bandwidth_and_second_pull_is_instant() -> None:
    t = FakeTime()
    s = store(t, bandwidth=2 * MB)

    async def go() -> None:
        image_id = await s.PullImage(spec("busybox:1.36"))
        assert image_id == CATALOG[BUSYBOX].id
        assert t.sleeps == [pytest.approx(4_261_550 / (2 * MB))]
        assert t.now == pytest.approx(1000 + 2.130775)
        assert await s.PullImage(spec("docker.io/library/busybox:1.36")) == image_id
        assert len(t.sleeps) == 1
        assert s.pulled("busybox:1.36") is CATALOG[BUSYBOX]
        assert s.pulled(image_id) is CATALOG[BUSYBOX]
        assert s.pulled(image_id.removeprefix("sha256:")) is CATALOG[BUSYBOX]
        assert s.pulled("busybox@" + CATALOG[BUSYBOX].digest) is CATALOG[BUSYBOX]
    run(go())


def test_concurrent_pulls_share_one_download() -> None:
    t = FakeTime()
    s = store(t)

    async def go() -> list[str]:
        return await asyncio.gather(s.PullImage(spec("nginx:1.27")),
                                    s.PullImage(spec("docker.io/library/nginx:1.27")),
                                    s.PullImage(spec("busybox")))
    ids = run(go())
    nginx = CATALOG["docker.io/library/nginx:1.27"]
    assert ids[0] == ids[1] == nginx.id
    assert ids[2] == CATALOG["docker.io/library/busybox:latest"].id
    assert sorted(t.sleeps) == pytest.approx(sorted([nginx.size / (100 * MB), 4_277_910 / (100 * MB)]))


def test_cancelled_waiter_does_not_abort_shared_download() -> None:
    t = FakeTime()
    s = store(t)

    async def go() -> str:
        first = asyncio.ensure_future(s.PullImage(spec("python:3.12")))
        second = asyncio.ensure_future(s.PullImage(spec("python:3.12")))
        await asyncio.sleep(0)
        first.cancel()
        return await second
    assert run(go()) == CATALOG["docker.io/library/python:3.12"].id
    assert len(t.sleeps) == 1


def test_pull_by_digest_and_short_agnhost_alias() -> None:
    t = FakeTime()
    s = store(t)
    agn = CATALOG["registry.k8s.io/e2e-test-images/agnhost:2.52"]

    async def go() -> None:
        assert await s.PullImage(spec("registry.k8s.io/e2e-test-images/agnhost@" + agn.digest)) == agn.id
        assert await s.PullImage(spec("agnhost:2.52")) == CATALOG["docker.io/library/agnhost:2.52"].id
        assert len(await s.ListImages()) == 2
    run(go())


@pytest.mark.parametrize("image,suffix", [
    ("nope:1", '"docker.io/library/nope:1": docker.io/library/nope:1: not found'),
    ("busybox:9.99", '"docker.io/library/busybox:9.99": docker.io/library/busybox:9.99: manifest unknown'),
    ("registry.k8s.io/pause:0.1", "registry.k8s.io/pause:0.1: manifest unknown"),
    ("busybox@sha256:" + "c" * 64, "manifest unknown"),
])
def test_pull_errors(image: str, suffix: str) -> None:
    t = FakeTime()
    s = store(t)
    with pytest.raises(api.ImagePullError) as err:
        run(s.PullImage(spec(image)))
    assert err.value.message.startswith(f'failed to pull and unpack image "{normalize(image)}": ')
    assert err.value.message.endswith(suffix)
    assert err.value.code == api.Code.NOT_FOUND
    assert t.sleeps == []
    with pytest.raises(api.NotFound):
        s.pulled(image)


def test_pull_without_space_fails() -> None:
    t = FakeTime()
    s = store(t, capacity_bytes=500 * MB)
    with pytest.raises(api.ImagePullError, match="no space left on device"):
        run(s.PullImage(spec("python:3.12")))
    assert run(s.ImageFsInfo())[0].used_bytes == 0


# ----------------------------------------------------------------- status, list, remove
def test_status_list_fsinfo_and_remove() -> None:
    t = FakeTime()
    s = store(t)

    async def go() -> None:
        assert await s.ImageStatus(spec("busybox:1.36")) is None
        await s.PullImage(spec("busybox:1.36"))
        await s.PullImage(spec("registry.k8s.io/pause:3.10"))
        st = await s.ImageStatus(spec("busybox:1.36"))
        assert st == api.Image(id=CATALOG[BUSYBOX].id, repo_tags=[BUSYBOX],
                               repo_digests=[CATALOG[BUSYBOX].repo_digest], size=4_261_550,
                               username="", spec=api.ImageSpec(image=BUSYBOX), pinned=False)
        pause = await s.ImageStatus(spec(CATALOG[PAUSE].id))
        assert pause is not None and pause.pinned and pause.username == ""
        assert [i.repo_tags[0] for i in await s.ListImages()] == [BUSYBOX, PAUSE]
        only = await s.ListImages(api.ImageFilter(image=spec("registry.k8s.io/pause:3.10")))
        assert [i.id for i in only] == [CATALOG[PAUSE].id]
        assert await s.ListImages(api.ImageFilter(image=spec("nginx"))) == []
        fs = await s.ImageFsInfo()
        assert len(fs) == 1 and fs[0].used_bytes == 4_261_550 + 320_368 and fs[0].timestamp == 42
        assert fs[0].inodes_used == 4_261_550 // 32768 + 320_368 // 32768
        await s.RemoveImage(spec("busybox:1.36"))
        await s.RemoveImage(spec("busybox:1.36"))          # absent: not an error
        await s.RemoveImage(spec("not a reference!"))
        assert await s.ImageStatus(spec("busybox:1.36")) is None
        assert (await s.ImageFsInfo())[0].used_bytes == 320_368
    run(go())


def test_remove_in_use_fails_until_released() -> None:
    t = FakeTime()
    s = store(t)
    image_id = run(s.PullImage(spec("busybox:1.36")))
    s.mark_in_use(image_id, "c1")
    s.mark_in_use("busybox:1.36", "c2")
    with pytest.raises(api.FailedPrecondition, match="c1"):
        run(s.RemoveImage(spec(image_id)))
    s.release(image_id, "c1")
    s.release(image_id, "c1")                                # idempotent
    with pytest.raises(api.FailedPrecondition, match="c2"):
        run(s.RemoveImage(spec("busybox:1.36")))
    s.release(image_id, "c2")
    run(s.RemoveImage(spec("busybox:1.36")))
    with pytest.raises(api.NotFound):
        s.pulled(image_id)
    with pytest.raises(api.NotFound):
        s.mark_in_use(image_id, "c3")


# ----------------------------------------------------------------- GC
def _gc_catalog() -> dict[str, ImageDef]:
    defs = [ImageDef("docker.io/library/img", f"v{i}", 10) for i in range(1, 7)]
    defs.append(ImageDef("registry.k8s.io/pause", "3.10", 10, entrypoint=("/pause",), pinned=True))
    return {d.name: d for d in defs}


def _gc_store(t: FakeTime, **kw: Any) -> ImageStore:
    # capacity 100 bytes: high 85 -> GC from 85 bytes used, low 80 -> free down to 80.
    return store(t, _gc_catalog(), bandwidth=10, capacity_bytes=100, **kw)


def _id(short: str) -> str:
    return _gc_catalog()[normalize(short)].id


def _name(image_id: str) -> str:
    return next(d.tag for d in _gc_catalog().values() if d.id == image_id)


def test_gc_below_high_threshold_does_nothing() -> None:
    t = FakeTime()
    s = _gc_store(t)
    for tag in ("v1", "v2", "v3", "v4", "v5", "v6"):          # 60 bytes, then pause -> 70
        run(s.PullImage(spec(f"img:{tag}")))
    run(s.PullImage(spec(PAUSE)))
    assert s.garbage_collect() == []
    assert s.used_bytes == 70


def test_gc_removes_least_recently_used_until_low_threshold() -> None:
    t = FakeTime()
    big = {**_gc_catalog(), "docker.io/library/big:1": ImageDef("docker.io/library/big", "1", 20)}
    s = store(t, big, bandwidth=10, capacity_bytes=100)
    run(s.PullImage(spec(PAUSE)))                            # pinned, oldest
    for tag in ("v1", "v2", "v3", "v4", "v5", "v6"):
        run(s.PullImage(spec(f"img:{tag}")))
    run(s.PullImage(spec("big:1")))                           # 90 bytes used (>= 85)
    run(s.PullImage(spec("img:v1")))                          # v1 used again: now recent
    s.mark_in_use(_id("img:v2"), "c1")                        # v2 in use: skipped
    removed = s.garbage_collect()
    assert [_name(i) for i in removed] == ["v3"]              # 90 -> 80: one 10-byte image
    assert s.used_bytes == 80

    t.now += 1
    run(s.PullImage(spec("img:v3")))                          # 90 again
    s.release(_id("img:v2"), "c1")                     # v2 released now: most recent
    removed = s.garbage_collect()
    assert [_name(i) for i in removed] == ["v4"]
    assert s.used_bytes == 80
    assert s.pulled(PAUSE).pinned


def test_gc_skips_in_use_image_even_when_least_recently_used() -> None:
    t = FakeTime()
    s = store(t, _gc_catalog(), bandwidth=10, capacity_bytes=60)
    run(s.PullImage(spec("img:v1")))
    s.mark_in_use(_id("img:v1"), "c1")                        # used long ago, still running
    t.now += 100
    for tag in ("v2", "v3", "v4", "v5", "v6"):                # 60 of 60 bytes
        run(s.PullImage(spec(f"img:{tag}")))
    assert [_name(i) for i in s.garbage_collect()] == ["v2", "v3"]   # 60 -> 40 (<= 48)
    assert s.pulled("img:v1").tag == "v1"


def test_gc_frees_several_and_never_pinned() -> None:
    t = FakeTime()
    cat = {d.name: d for d in (
        ImageDef("registry.k8s.io/pause", "3.10", 50, pinned=True),
        ImageDef("docker.io/library/a", "1", 20),
        ImageDef("docker.io/library/b", "1", 20),
        ImageDef("docker.io/library/c", "1", 5),
    )}
    s = store(t, cat, bandwidth=1000, capacity_bytes=100, high_threshold_percent=90,
              low_threshold_percent=50)
    for name in ("registry.k8s.io/pause:3.10", "a:1", "b:1", "c:1"):   # 95 bytes
        run(s.PullImage(spec(name)))
    removed = s.garbage_collect()
    assert removed == [cat["docker.io/library/a:1"].id, cat["docker.io/library/b:1"].id,
                       cat["docker.io/library/c:1"].id]
    assert s.used_bytes == 50                                # cannot get below: pause is pinned
    assert s.pulled("registry.k8s.io/pause:3.10").pinned
    assert s.garbage_collect() == []                         # 50% < 90%


def test_gc_respects_min_age() -> None:
    t = FakeTime()
    s = store(t, _gc_catalog(), bandwidth=1000, capacity_bytes=60, min_age_seconds=120)
    for tag in ("v1", "v2", "v3", "v4", "v5", "v6"):          # 60 of 60 bytes
        run(s.PullImage(spec(f"img:{tag}")))
    assert s.garbage_collect() == []                         # all younger than 2 minutes
    t.now += 121
    assert [_name(i) for i in s.garbage_collect()] == ["v1", "v2"]   # 60 -> 40 (<= 48)
    assert s.used_bytes == 40


# ----------------------------------------------------------------- pull policy
@pytest.mark.parametrize("policy,image,present,want", [
    ("Always", "busybox:1.36", True, True),
    ("Always", "busybox:1.36", False, True),
    ("IfNotPresent", "busybox:1.36", True, False),
    ("IfNotPresent", "busybox", False, True),
    ("Never", "busybox", True, False),
    ("", "busybox", True, True),                              # untagged -> Always
    ("", "busybox:latest", True, True),
    ("", "busybox:1.36", True, False),                        # tagged -> IfNotPresent
    ("", "busybox:1.36", False, True),
    ("", "busybox@sha256:" + "a" * 64, True, False),          # digest only -> IfNotPresent
])
def test_should_pull(policy: str, image: str, present: bool, want: bool) -> None:
    assert should_pull(policy, image, present) is want


def test_should_pull_never_absent_and_bad_policy() -> None:
    with pytest.raises(ErrImageNeverPull) as err:
        should_pull("Never", "busybox:1.36", False)
    assert err.value.message == 'Container image "busybox:1.36" is not present with pull policy of Never'
    assert err.value.reason == "ErrImageNeverPull" and isinstance(err.value, api.CRIError)
    with pytest.raises(api.InvalidArgument):
        should_pull("Sometimes", "busybox", True)
