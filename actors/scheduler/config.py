"""The scheduler's configuration file: upstream's ``KubeSchedulerConfiguration``
(``kubescheduler.config.k8s.io/v1``) read into a :class:`Profile`.

As upstream, a profile starts from the default plugins; ``multiPoint``
enables a plugin at every extension point it implements (with its score
weight) or disables it everywhere (``"*"``: all defaults), and a single
point's ``enabled``/``disabled`` adds or removes a plugin there only (a
score plugin with its weight). ``pluginConfig`` gives plugins their args;
``percentageOfNodesToScore`` may be set for the whole file or per profile.

Queue sorting, pre-enqueue and binding are built into the scheduler
(``PrioritySort``, ``SchedulingGates``, ``DefaultBinder``): those names are
accepted at their points and nothing else is.
"""
from __future__ import annotations

from typing import Any

from .framework import PluginSpec, Profile
from .plugins import DEFAULT_PLUGINS, REGISTRY

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"

# config point name -> the framework's extension point
POINTS = {"preFilter": "pre_filter", "filter": "filter", "postFilter": "post_filter", "preScore": "pre_score",
          "score": "score", "reserve": "reserve", "permit": "permit", "preBind": "pre_bind", "bind": "bind"}
BUILT_IN = {"queueSort": "PrioritySort", "preEnqueue": "SchedulingGates", "bind": "DefaultBinder"}


class ConfigError(ValueError):
    """A configuration the scheduler cannot run; the message names the field."""


def _plugin_list(value: Any, path: str) -> list[tuple[str, int | None]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{path}: must be a list of {{name, weight}}")
    out = []
    for i, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{path}[{i}].name: required")
        weight = item.get("weight")
        if weight is not None and (not isinstance(weight, int) or isinstance(weight, bool)
                                   or not 1 <= weight <= 100):
            raise ConfigError(f"{path}[{i}].weight: must be an integer in [1, 100], got {weight!r}")
        out.append((name, weight))
    return out


def _percentage(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise ConfigError(f"{path}: must be an integer in [0, 100], got {value!r}")
    return value


class _Builder:
    """One profile's plugins: per plugin its weight, args and the points it is kept at."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.weights: dict[str, int] = {}
        self.points: dict[str, set[str] | None] = {}  # None: every point it implements

    def enable(self, name: str, weight: int | None, point: str | None) -> None:
        if name not in self.order:
            self.order.append(name)
            self.points[name] = set()
        if weight is not None:
            self.weights[name] = weight
        if point is None:
            self.points[name] = None
        elif self.points[name] is not None:
            self.points[name].add(point)  # type: ignore[union-attr]

    def disable(self, name: str, point: str | None) -> None:
        names = list(self.order) if name == "*" else [name]
        for n in names:
            if n not in self.points:
                continue
            if point is None:
                self.order.remove(n)
                del self.points[n]
            else:
                kept = self.points[n]
                if kept is None:
                    kept = {p for p in POINTS.values() if callable(getattr(REGISTRY[n], p, None))}
                kept.discard(point)
                self.points[n] = kept

    def specs(self, args: dict[str, dict]) -> list[PluginSpec]:
        out = []
        for n in self.order:
            pts = self.points[n]
            if pts is not None and not pts:
                continue  # disabled at every point it had
            out.append(PluginSpec(n, self.weights.get(n, 1), dict(args.get(n) or {}),
                                  None if pts is None else frozenset(pts)))
        return out


def profile_from_config(doc: Any) -> Profile:
    """The profile of a ``KubeSchedulerConfiguration`` document (a parsed YAML
    or JSON object); :class:`ConfigError` names what is wrong."""
    if not isinstance(doc, dict):
        raise ConfigError("the scheduler configuration must be an object")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise ConfigError(f"apiVersion/kind: must be {API_VERSION} {KIND}, got "
                          f"{doc.get('apiVersion')!r} {doc.get('kind')!r}")
    default_pct = _percentage(doc.get("percentageOfNodesToScore"), "percentageOfNodesToScore")
    profiles = doc.get("profiles") or [{}]
    if not isinstance(profiles, list):
        raise ConfigError("profiles: must be a list")
    if len(profiles) != 1:
        raise ConfigError("profiles: a scheduler replica runs one profile; start another scheduler group "
                          "for another schedulerName")
    prof = profiles[0]
    if not isinstance(prof, dict):
        raise ConfigError("profiles[0]: must be an object")
    path = "profiles[0]"
    b = _Builder()
    for name, weight in DEFAULT_PLUGINS:
        b.enable(name, weight, None)
    plugins = prof.get("plugins") or {}
    if not isinstance(plugins, dict):
        raise ConfigError(f"{path}.plugins: must be an object")
    for point, sets in plugins.items():
        ppath = f"{path}.plugins.{point}"
        if point != "multiPoint" and point not in POINTS and point not in BUILT_IN:
            raise ConfigError(f"{ppath}: unknown extension point")
        if not isinstance(sets, dict):
            raise ConfigError(f"{ppath}: must be an object with enabled/disabled")
        target = None if point == "multiPoint" else POINTS.get(point)
        for name, _ in _plugin_list(sets.get("disabled"), f"{ppath}.disabled"):
            if target is not None or point == "multiPoint":
                b.disable(name, target)
        for i, (name, weight) in enumerate(_plugin_list(sets.get("enabled"), f"{ppath}.enabled")):
            if BUILT_IN.get(point) == name:
                continue  # built into the scheduler
            if name not in REGISTRY:
                raise ConfigError(f"{ppath}.enabled[{i}].name: unknown plugin {name!r}")
            if target is not None and not callable(getattr(REGISTRY[name], target, None)):
                raise ConfigError(f"{ppath}.enabled[{i}].name: plugin {name!r} does not extend {point}")
            if point in BUILT_IN and target is None:
                raise ConfigError(f"{ppath}.enabled[{i}].name: only {BUILT_IN[point]} is supported at {point}")
            b.enable(name, weight, target)
    args: dict[str, dict] = {}
    for i, pc in enumerate(prof.get("pluginConfig") or []):
        name = pc.get("name") if isinstance(pc, dict) else None
        if name not in REGISTRY:
            raise ConfigError(f"{path}.pluginConfig[{i}].name: unknown plugin {name!r}")
        if name in args:
            raise ConfigError(f"{path}.pluginConfig[{i}].name: {name!r} configured twice")
        if not isinstance(pc.get("args") or {}, dict):
            raise ConfigError(f"{path}.pluginConfig[{i}].args: must be an object")
        args[name] = dict(pc.get("args") or {})
    pct = _percentage(prof.get("percentageOfNodesToScore"), f"{path}.percentageOfNodesToScore")
    name = prof.get("schedulerName") or "default-scheduler"
    if not isinstance(name, str):
        raise ConfigError(f"{path}.schedulerName: must be a string")
    return Profile(name, b.specs(args), pct if pct is not None else (default_pct or 0))
