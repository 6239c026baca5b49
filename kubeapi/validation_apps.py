"""Defaulting and validation of workload, coordination, discovery, scheduling and RBAC objects.

Covers apps/v1 (Deployment, ReplicaSet, DaemonSet, StatefulSet), batch/v1 Job,
coordination.k8s.io/v1 Lease, discovery.k8s.io/v1 EndpointSlice, scheduling.k8s.io/v1
PriorityClass and rbac.authorization.k8s.io/v1 (Role, ClusterRole, RoleBinding,
ClusterRoleBinding), with upstream's defaults, field paths, error types and messages. Everything
registers into :data:`kubeapi.defaults.DEFAULTERS` and :data:`kubeapi.validation.VALIDATORS` on
import; :mod:`kubeapi.validation` imports this module at its end, so ``import kubeapi.validation``
is enough.

Pure and synchronous: no I/O, no Ray.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from kubeapi.defaults import default_pod_spec, register_defaulter
from kubeapi.field import (
    ErrorList,
    ErrorType,
    Path,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    too_many,
)
from kubeapi.models import apps, batch, coordination, core, discovery, rbac, scheduling
from kubeapi.models.meta import LabelSelector
from kubeapi.names import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_valid_path_segment_name,
    validate_annotations,
    validate_labels,
)
from kubeapi.selectors import (
    SelectorError,
    label_selector_from_dict,
    label_value_errors,
    qualified_name_errors,
)
from kubeapi.validation import (
    port_num_errors,
    register_validator,
    validate_object_meta,
    validate_object_meta_update,
    validate_pod_spec,
)

__all__ = [
    "HIGHEST_USER_DEFINABLE_PRIORITY",
    "PERCENT_MSG",
    "PREEMPTION_POLICIES",
    "SYSTEM_CLUSTER_CRITICAL",
    "SYSTEM_CRITICAL_PRIORITY",
    "SYSTEM_NODE_CRITICAL",
    "SYSTEM_PRIORITY_CLASSES",
    "SYSTEM_PRIORITY_CLASS_PREFIX",
    "validate_label_selector",
    "validate_pod_template_spec",
    "validate_positive_int_or_percent",
]

_IMMUTABLE = "field is immutable"
_NONNEG = "must be greater than or equal to 0"
_MISMATCH = "`selector` does not match template `labels`"
RBAC_GROUP = "rbac.authorization.k8s.io"

_PERCENT_FMT = "[0-9]+%"
_PERCENT_RE = re.compile(_PERCENT_FMT)
PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' "
               f"(e.g. '1%',  or '93%', regex used for validation is '{_PERCENT_FMT}')")

MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_PORTS = 20000
MAX_PARALLELISM_INDEXED = 100_000
MAX_COMPLETIONS_INDEXED = 100_000


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _nonneg(value: int | None, path: Path) -> ErrorList:
    if value is not None and value < 0:
        return ErrorList([invalid(path, value, _NONNEG)])
    return ErrorList()


def _json(model: Any) -> Any:
    return model.to_json() if model is not None and hasattr(model, "to_json") else model


def _meta(obj: Any, old: Any, kind: str, namespaced: bool) -> ErrorList:
    if old is None:
        return validate_object_meta(obj.metadata, namespaced, kind)
    return validate_object_meta_update(obj.metadata, old.metadata)


def _is_valid_percent(value: Any) -> bool:
    return isinstance(value, str) and _PERCENT_RE.fullmatch(value) is not None


def _percent_value(value: Any) -> int | None:
    """The number of a valid percent string, None for anything else (upstream getPercentValue)."""
    return int(value[:-1]) if _is_valid_percent(value) else None


def _int_or_percent_value(value: Any) -> int:
    """upstream getIntOrPercentValue: the percent number, the int, or Atoi of a string (0 if bad)."""
    pct = _percent_value(value)
    if pct is not None:
        return pct
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value):
        return int(value)
    return 0


def validate_positive_int_or_percent(value: Any, path: Path) -> ErrorList:
    """An int >= 0 or a percent string (upstream ValidatePositiveIntOrPercent)."""
    if isinstance(value, str):
        if not _is_valid_percent(value):
            return ErrorList([invalid(path, value, PERCENT_MSG)])
        return ErrorList()
    if isinstance(value, int):
        return _nonneg(value, path)
    return ErrorList()


def _not_more_than_100_percent(value: Any, path: Path) -> ErrorList:
    pct = _percent_value(value)
    if pct is None or pct <= 100:
        return ErrorList()
    return ErrorList([invalid(path, value, "must not be greater than 100%")])


def validate_label_selector(sel: LabelSelector | None, path: Path) -> ErrorList:
    """A metav1.LabelSelector (upstream ValidateLabelSelector, invalid values not allowed)."""
    errs = ErrorList()
    if sel is None:
        return errs
    errs.extend(validate_labels(sel.match_labels, path.child("matchLabels")))
    for i, expr in enumerate(sel.match_expressions or []):
        p = path.child("matchExpressions").index(i)
        values = expr.values or []
        if expr.operator in ("In", "NotIn"):
            if not values:
                errs.append(required(p.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif expr.operator in ("Exists", "DoesNotExist"):
            if values:
                errs.append(forbidden(p.child("values"),
                                      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(invalid(p.child("operator"), expr.operator, "not a valid selector operator"))
        errs.extend(invalid(p.child("key"), expr.key, m) for m in qualified_name_errors(expr.key))
        for j, v in enumerate(values):
            errs.extend(invalid(p.child("values").index(j), v, m) for m in label_value_errors(v))
    return errs


def _selector_matcher(sel: LabelSelector | None) -> Any:
    """The selector as a matcher, or None when it cannot be converted (upstream LabelSelectorAsSelector).

    Upstream converts a nil selector to "nothing" and an empty one to "everything".
    """
    if sel is None:
        return label_selector_from_dict(None, empty_matches_all=False)
    try:
        return label_selector_from_dict(sel.to_json())
    except SelectorError:
        return None


def _selector_empty(sel: LabelSelector) -> bool:
    return not sel.match_labels and not sel.match_expressions


def _template_labels(template: core.PodTemplateSpec | None) -> dict[str, str]:
    if template is None or template.metadata is None:
        return {}
    return dict(template.metadata.labels or {})


def validate_pod_template_spec(template: core.PodTemplateSpec | None, path: Path) -> ErrorList:
    """Template metadata (labels, annotations) and its pod spec at ``<path>.spec``."""
    if template is None:
        return ErrorList([required(path)])
    errs = ErrorList()
    if template.metadata is not None:
        errs.extend(validate_labels(template.metadata.labels, path.child("metadata", "labels")))
        errs.extend(validate_annotations(template.metadata.annotations, path.child("metadata", "annotations")))
    errs.extend(validate_pod_spec(template.spec, path.child("spec")))
    return errs


def _restart_policy(template: core.PodTemplateSpec | None) -> str:
    if template is None or template.spec is None:
        return ""
    return template.spec.restart_policy or ""


def _workload_selector(sel: LabelSelector | None, path: Path, kind_word: str) -> ErrorList:
    """Deployment/ReplicaSet/StatefulSet: selector required, valid and non-empty."""
    if sel is None:
        return ErrorList([required(path)])
    errs = validate_label_selector(sel, path)
    if _selector_empty(sel):
        errs.append(invalid(path, sel.to_json(), f"empty selector is invalid for {kind_word}"))
    return errs


def _template_for_replica_set(template: core.PodTemplateSpec | None, sel: LabelSelector | None,
                              path: Path, kind_word: str) -> ErrorList:
    """upstream ValidatePodTemplateSpecForReplicaSet (shared by Deployments)."""
    matcher = _selector_matcher(sel)
    if matcher is None:
        return ErrorList([invalid(path.parent or path, _json(sel), "invalid label selector")])
    if template is None:
        return ErrorList([required(path)])
    errs = ErrorList()
    if not matcher.is_empty() and not matcher.matches(_template_labels(template)):
        errs.append(invalid(path.child("metadata", "labels"), _template_labels(template), _MISMATCH))
    errs.extend(validate_pod_template_spec(template, path))
    rp = _restart_policy(template)
    if rp != "Always":
        errs.append(not_supported(path.child("spec", "restartPolicy"), rp, ["Always"]))
    if template.spec is not None and template.spec.active_deadline_seconds is not None:
        errs.append(forbidden(path.child("spec", "activeDeadlineSeconds"),
                              f"activeDeadlineSeconds in {kind_word} is not Supported"))
    return errs


def _selector_immutable(obj: Any, old: Any) -> ErrorList:
    new_sel = obj.spec.selector if obj.spec is not None else None
    old_sel = old.spec.selector if old.spec is not None else None
    if _json(new_sel) != _json(old_sel):
        return ErrorList([invalid(Path("spec", "selector"), _json(new_sel), _IMMUTABLE)])
    return ErrorList()


def _default_template(template: core.PodTemplateSpec | None) -> None:
    if template is not None and template.spec is not None:
        default_pod_spec(template.spec)


# --------------------------------------------------------------------------------------------
# Deployment
# --------------------------------------------------------------------------------------------


@register_defaulter("Deployment")
def _default_deployment(d: apps.Deployment, **_: Any) -> None:
    spec = d.spec
    if spec is None:
        return
    if spec.replicas is None:
        spec.replicas = 1
    if spec.strategy is None:
        spec.strategy = apps.DeploymentStrategy()
    if not spec.strategy.type:
        spec.strategy.type = "RollingUpdate"
    if spec.strategy.type == "RollingUpdate":
        if spec.strategy.rolling_update is None:
            spec.strategy.rolling_update = apps.RollingUpdateDeployment()
        ru = spec.strategy.rolling_update
        if ru.max_unavailable is None:
            ru.max_unavailable = "25%"
        if ru.max_surge is None:
            ru.max_surge = "25%"
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    if spec.progress_deadline_seconds is None:
        spec.progress_deadline_seconds = 600
    _default_template(spec.template)


def _deployment_strategy_errors(strategy: apps.DeploymentStrategy | None, path: Path) -> ErrorList:
    strategy = strategy or apps.DeploymentStrategy()
    errs = ErrorList()
    if strategy.type == "Recreate":
        if strategy.rolling_update is not None:
            errs.append(forbidden(path.child("rollingUpdate"),
                                  "may not be specified when strategy `type` is 'Recreate'"))
    elif strategy.type == "RollingUpdate":
        ru = strategy.rolling_update
        p = path.child("rollingUpdate")
        if ru is None:
            errs.append(required(p, "this should be defaulted and never be nil"))
        else:
            errs.extend(validate_positive_int_or_percent(ru.max_unavailable, p.child("maxUnavailable")))
            errs.extend(validate_positive_int_or_percent(ru.max_surge, p.child("maxSurge")))
            if _int_or_percent_value(ru.max_unavailable) == 0 and _int_or_percent_value(ru.max_surge) == 0:
                errs.append(invalid(p.child("maxUnavailable"), ru.max_unavailable,
                                    "may not be 0 when `maxSurge` is 0"))
            errs.extend(_not_more_than_100_percent(ru.max_unavailable, p.child("maxUnavailable")))
    else:
        errs.append(not_supported(path, strategy.to_json(), ["Recreate", "RollingUpdate"]))
    return errs


@register_validator("Deployment")
def _validate_deployment(d: apps.Deployment, old: apps.Deployment | None) -> ErrorList:
    errs = _meta(d, old, "Deployment", True)
    spec, p = d.spec, Path("spec")
    if spec is None:
        errs.append(required(p))
        return errs
    errs.extend(_nonneg(spec.replicas, p.child("replicas")))
    errs.extend(_workload_selector(spec.selector, p.child("selector"), "deployment"))
    errs.extend(_template_for_replica_set(spec.template, spec.selector, p.child("template"), "ReplicaSet"))
    errs.extend(_deployment_strategy_errors(spec.strategy, p.child("strategy")))
    errs.extend(_nonneg(spec.min_ready_seconds, p.child("minReadySeconds")))
    errs.extend(_nonneg(spec.revision_history_limit, p.child("revisionHistoryLimit")))
    pds = spec.progress_deadline_seconds
    if pds is not None:
        errs.extend(_nonneg(pds, p.child("progressDeadlineSeconds")))
        if pds <= (spec.min_ready_seconds or 0):
            errs.append(invalid(p.child("progressDeadlineSeconds"), pds, "must be greater than minReadySeconds"))
    if old is not None:
        errs.extend(_selector_immutable(d, old))
    return errs


# --------------------------------------------------------------------------------------------
# ReplicaSet
# --------------------------------------------------------------------------------------------


@register_defaulter("ReplicaSet")
def _default_replica_set(rs: apps.ReplicaSet, **_: Any) -> None:
    if rs.spec is None:
        return
    if rs.spec.replicas is None:
        rs.spec.replicas = 1
    _default_template(rs.spec.template)


@register_validator("ReplicaSet")
def _validate_replica_set(rs: apps.ReplicaSet, old: apps.ReplicaSet | None) -> ErrorList:
    errs = _meta(rs, old, "ReplicaSet", True)
    spec, p = rs.spec, Path("spec")
    if spec is None:
        errs.append(required(p))
        return errs
    errs.extend(_nonneg(spec.replicas, p.child("replicas")))
    errs.extend(_nonneg(spec.min_ready_seconds, p.child("minReadySeconds")))
    # Upstream reuses the Deployment wording for an empty ReplicaSet selector.
    errs.extend(_workload_selector(spec.selector, p.child("selector"), "deployment"))
    errs.extend(_template_for_replica_set(spec.template, spec.selector, p.child("template"), "ReplicaSet"))
    if old is not None:
        errs.extend(_selector_immutable(rs, old))
    return errs


# --------------------------------------------------------------------------------------------
# DaemonSet
# --------------------------------------------------------------------------------------------


@register_defaulter("DaemonSet")
def _default_daemon_set(ds: apps.DaemonSet, **_: Any) -> None:
    spec = ds.spec
    if spec is None:
        return
    if spec.update_strategy is None:
        spec.update_strategy = apps.DaemonSetUpdateStrategy()
    us = spec.update_strategy
    if not us.type:
        us.type = "RollingUpdate"
    if us.type == "RollingUpdate":
        if us.rolling_update is None:
            us.rolling_update = apps.RollingUpdateDaemonSet()
        if us.rolling_update.max_unavailable is None:
            us.rolling_update.max_unavailable = 1
        if us.rolling_update.max_surge is None:
            us.rolling_update.max_surge = 0
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    _default_template(spec.template)


def _daemon_set_strategy_errors(us: apps.DaemonSetUpdateStrategy | None, path: Path) -> ErrorList:
    us = us or apps.DaemonSetUpdateStrategy()
    errs = ErrorList()
    if us.type == "OnDelete":
        return errs
    if us.type != "RollingUpdate":
        errs.append(not_supported(path, us.to_json(), ["RollingUpdate", "OnDelete"]))
        return errs
    ru, p = us.rolling_update, path.child("rollingUpdate")
    if ru is None:
        errs.append(required(p))
        return errs
    mu, ms = p.child("maxUnavailable"), p.child("maxSurge")
    errs.extend(validate_positive_int_or_percent(ru.max_unavailable, mu))
    errs.extend(validate_positive_int_or_percent(ru.max_surge, ms))
    errs.extend(_not_more_than_100_percent(ru.max_unavailable, mu))
    errs.extend(_not_more_than_100_percent(ru.max_surge, ms))
    has_unavailable = _int_or_percent_value(ru.max_unavailable) != 0
    has_surge = _int_or_percent_value(ru.max_surge) != 0
    if has_unavailable and has_surge:
        errs.append(invalid(ms, ru.max_surge, "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(required(mu, "cannot be 0 when maxSurge is 0"))
    return errs


@register_validator("DaemonSet")
def _validate_daemon_set(ds: apps.DaemonSet, old: apps.DaemonSet | None) -> ErrorList:
    errs = _meta(ds, old, "DaemonSet", True)
    spec, p = ds.spec, Path("spec")
    if spec is None:
        errs.append(required(p))
        return errs
    sel_path = p.child("selector")
    errs.extend(validate_label_selector(spec.selector, sel_path))
    matcher = _selector_matcher(spec.selector)
    if matcher is not None and not matcher.matches(_template_labels(spec.template)):
        errs.append(invalid(p.child("template", "metadata", "labels"), _template_labels(spec.template), _MISMATCH))
    if spec.selector is not None and _selector_empty(spec.selector):
        errs.append(invalid(sel_path, spec.selector.to_json(), "empty selector is invalid for daemonset"))
    errs.extend(validate_pod_template_spec(spec.template, p.child("template")))
    rp = _restart_policy(spec.template)
    if rp != "Always":
        errs.append(not_supported(p.child("template", "spec", "restartPolicy"), rp, ["Always"]))
    if spec.template is not None and spec.template.spec is not None \
            and spec.template.spec.active_deadline_seconds is not None:
        errs.append(invalid(p.child("template", "spec", "activeDeadlineSeconds"),
                            spec.template.spec.active_deadline_seconds,
                            "activeDeadlineSeconds in DaemonSet is not Supported"))
    errs.extend(_nonneg(spec.min_ready_seconds, p.child("minReadySeconds")))
    errs.extend(_daemon_set_strategy_errors(spec.update_strategy, p.child("updateStrategy")))
    errs.extend(_nonneg(spec.revision_history_limit, p.child("revisionHistoryLimit")))
    if old is not None:
        errs.extend(_selector_immutable(ds, old))
    return errs


# --------------------------------------------------------------------------------------------
# StatefulSet
# --------------------------------------------------------------------------------------------


@register_defaulter("StatefulSet")
def _default_stateful_set(ss: apps.StatefulSet, **_: Any) -> None:
    spec = ss.spec
    if spec is None:
        return
    if not spec.pod_management_policy:
        spec.pod_management_policy = "OrderedReady"
    if spec.update_strategy is None:
        spec.update_strategy = apps.StatefulSetUpdateStrategy()
    us = spec.update_strategy
    if not us.type:
        us.type = "RollingUpdate"
        if us.rolling_update is None:
            us.rolling_update = apps.RollingUpdateStatefulSetStrategy()
    if us.type == "RollingUpdate" and us.rolling_update is not None and us.rolling_update.partition is None:
        us.rolling_update.partition = 0
    if spec.persistent_volume_claim_retention_policy is None:
        spec.persistent_volume_claim_retention_policy = apps.StatefulSetPersistentVolumeClaimRetentionPolicy()
    policy = spec.persistent_volume_claim_retention_policy
    if not policy.when_deleted:
        policy.when_deleted = "Retain"
    if not policy.when_scaled:
        policy.when_scaled = "Retain"
    if spec.replicas is None:
        spec.replicas = 1
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    _default_template(spec.template)


def _stateful_set_pod_spec_errors(spec: apps.StatefulSetSpec, path: Path) -> ErrorList:
    """The template's pod spec; mounts of volumeClaimTemplates count as declared volumes."""
    claims = {c.metadata.name for c in spec.volume_claim_templates or [] if c.metadata and c.metadata.name}
    errs = validate_pod_template_spec(spec.template, path)
    return ErrorList(e for e in errs
                     if not (e.type is ErrorType.NOT_FOUND and ".volumeMounts[" in e.field
                             and e.field.endswith(".name") and e.bad_value in claims))


@register_validator("StatefulSet")
def _validate_stateful_set(ss: apps.StatefulSet, old: apps.StatefulSet | None) -> ErrorList:
    errs = _meta(ss, old, "StatefulSet", True)
    spec, p = ss.spec, Path("spec")
    if spec is None:
        errs.append(required(p))
        return errs
    pmp = spec.pod_management_policy
    if not pmp:
        errs.append(required(p.child("podManagementPolicy")))
    elif pmp not in ("OrderedReady", "Parallel"):
        errs.append(invalid(p.child("podManagementPolicy"), pmp, "must be 'OrderedReady' or 'Parallel'"))
    us = spec.update_strategy or apps.StatefulSetUpdateStrategy()
    up = p.child("updateStrategy")
    if not us.type:
        errs.append(required(up))
    elif us.type == "OnDelete":
        if us.rolling_update is not None:
            errs.append(invalid(up.child("rollingUpdate"), us.rolling_update.to_json(),
                                "only allowed for updateStrategy 'RollingUpdate'"))
    elif us.type == "RollingUpdate":
        ru = us.rolling_update
        if ru is not None:
            rp = up.child("rollingUpdate")
            errs.extend(_nonneg(ru.partition, rp.child("partition")))
            if ru.max_unavailable is not None:
                mu = rp.child("maxUnavailable")
                errs.extend(validate_positive_int_or_percent(ru.max_unavailable, mu))
                if _int_or_percent_value(ru.max_unavailable) == 0:
                    errs.append(invalid(mu, ru.max_unavailable, "cannot be 0"))
                errs.extend(_not_more_than_100_percent(ru.max_unavailable, mu))
    else:
        errs.append(invalid(up, us.to_json(), "must be 'RollingUpdate' or 'OnDelete'"))
    errs.extend(_nonneg(spec.revision_history_limit, p.child("revisionHistoryLimit")))
    policy = spec.persistent_volume_claim_retention_policy
    if policy is not None:
        pp = p.child("persistentVolumeClaimRetentionPolicy")
        for value, name in ((policy.when_deleted, "whenDeleted"), (policy.when_scaled, "whenScaled")):
            if value not in ("Retain", "Delete"):
                errs.append(not_supported(pp.child(name), value or "", ["Retain", "Delete"]))
    errs.extend(_nonneg(spec.replicas, p.child("replicas")))
    if spec.ordinals is not None:
        errs.extend(_nonneg(spec.ordinals.start, p.child("ordinals", "start")))
    errs.extend(_nonneg(spec.min_ready_seconds, p.child("minReadySeconds")))
    if spec.service_name:
        errs.extend(invalid(p.child("serviceName"), spec.service_name, m)
                    for m in is_dns1035_label(spec.service_name))
    errs.extend(_workload_selector(spec.selector, p.child("selector"), "statefulset"))
    matcher = _selector_matcher(spec.selector)
    if matcher is None:
        errs.append(invalid(p.child("selector"), _json(spec.selector), "invalid label selector"))
    elif not matcher.matches(_template_labels(spec.template)):
        errs.append(invalid(p.child("template", "metadata", "labels"), _template_labels(spec.template), _MISMATCH))
    errs.extend(_stateful_set_pod_spec_errors(spec, p.child("template")))
    rp = _restart_policy(spec.template)
    if rp != "Always":
        errs.append(not_supported(p.child("template", "spec", "restartPolicy"), rp, ["Always"]))
    if spec.template is not None and spec.template.spec is not None \
            and spec.template.spec.active_deadline_seconds is not None:
        errs.append(forbidden(p.child("template", "spec", "activeDeadlineSeconds"),
                              "activeDeadlineSeconds in StatefulSet is not Supported"))
    if old is not None and old.spec is not None:
        errs.extend(_stateful_set_update_errors(spec, old.spec))
    return errs


_STS_MUTABLE = ("replicas", "ordinals", "template", "update_strategy", "revision_history_limit",
                "persistent_volume_claim_retention_policy", "min_ready_seconds")


def _stateful_set_update_errors(new: apps.StatefulSetSpec, old: apps.StatefulSetSpec) -> ErrorList:
    # Upstream compares the whole spec minus the mutable fields (so a selector change is Forbidden).
    strip = {f: getattr(old, f) for f in _STS_MUTABLE}
    if new.model_copy(update=strip).to_json() != old.to_json():
        return ErrorList([forbidden(Path("spec"), "updates to statefulset spec for fields other than 'replicas', "
                                                  "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
                                                  "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                                                  "are forbidden")])
    return ErrorList()


# --------------------------------------------------------------------------------------------
# Job
# --------------------------------------------------------------------------------------------


@register_defaulter("Job")
def _default_job(job: batch.Job, **_: Any) -> None:
    spec = job.spec
    if spec is None:
        return
    if spec.completions is None and spec.parallelism is None:
        spec.completions = 1
        spec.parallelism = 1
    if spec.parallelism is None:
        spec.parallelism = 1
    if spec.backoff_limit is None:
        spec.backoff_limit = 2**31 - 1 if spec.backoff_limit_per_index is not None else 6
    labels = _template_labels(spec.template)
    if labels and not job.metadata.labels:
        job.metadata.labels = labels
    if spec.completion_mode is None:
        spec.completion_mode = "NonIndexed"
    if spec.suspend is None:
        spec.suspend = False
    if spec.pod_failure_policy is not None:
        for rule in spec.pod_failure_policy.rules:
            for pattern in rule.on_pod_conditions or []:
                if not pattern.status:
                    pattern.status = "True"
    if spec.pod_replacement_policy is None:
        spec.pod_replacement_policy = "Failed" if spec.pod_failure_policy is not None else "TerminatingOrFailed"
    _default_template(spec.template)


def _job_spec_errors(spec: batch.JobSpec, p: Path) -> ErrorList:
    errs = ErrorList()
    errs.extend(_nonneg(spec.parallelism, p.child("parallelism")))
    errs.extend(_nonneg(spec.completions, p.child("completions")))
    errs.extend(_nonneg(spec.active_deadline_seconds, p.child("activeDeadlineSeconds")))
    errs.extend(_nonneg(spec.backoff_limit, p.child("backoffLimit")))
    errs.extend(_nonneg(spec.ttl_seconds_after_finished, p.child("ttlSecondsAfterFinished")))
    if spec.backoff_limit_per_index is not None:
        errs.extend(_nonneg(spec.backoff_limit_per_index, p.child("backoffLimitPerIndex")))
        if spec.completion_mode != "Indexed":
            errs.append(forbidden(p.child("backoffLimitPerIndex"), "requires indexed completion mode"))
    mode = spec.completion_mode
    if mode is not None:
        if mode not in ("NonIndexed", "Indexed"):
            errs.append(not_supported(p.child("completionMode"), mode, ["NonIndexed", "Indexed"]))
        if mode == "Indexed":
            if spec.completions is None:
                errs.append(required(p.child("completions"), "when completion mode is Indexed"))
            if spec.parallelism is not None and spec.parallelism > MAX_PARALLELISM_INDEXED:
                errs.append(invalid(p.child("parallelism"), spec.parallelism,
                                    f"must be less than or equal to {MAX_PARALLELISM_INDEXED} "
                                    "when completion mode is Indexed"))
            if spec.completions is not None and spec.completions > MAX_COMPLETIONS_INDEXED:
                errs.append(invalid(p.child("completions"), spec.completions,
                                    f"must be less than or equal to {MAX_COMPLETIONS_INDEXED} "
                                    "when completion mode is Indexed"))
    prp = spec.pod_replacement_policy
    if prp is not None:
        if spec.pod_failure_policy is not None:
            if prp != "Failed":
                errs.append(not_supported(p.child("podReplacementPolicy"), prp, ["Failed"]))
        elif prp not in ("Failed", "TerminatingOrFailed"):
            errs.append(not_supported(p.child("podReplacementPolicy"), prp, ["Failed", "TerminatingOrFailed"]))
    errs.extend(validate_pod_template_spec(spec.template, p.child("template")))
    rp = _restart_policy(spec.template)
    rp_path = p.child("template", "spec", "restartPolicy")
    if rp in ("Always", ""):
        errs.append(required(rp_path, 'valid values: "OnFailure", "Never"'))
    elif rp not in ("OnFailure", "Never"):
        errs.append(not_supported(rp_path, rp, ["OnFailure", "Never"]))
    elif spec.pod_failure_policy is not None and rp != "Never":
        errs.append(invalid(rp_path, rp, 'only "Never" is supported when podFailurePolicy is specified'))
    # Whether manual or generated, the selector must match the pods the job creates.
    sel_path = p.child("selector")
    if spec.selector is None:
        errs.append(required(sel_path))
    else:
        errs.extend(validate_label_selector(spec.selector, sel_path))
    matcher = _selector_matcher(spec.selector)
    if matcher is not None and spec.selector is not None:
        if matcher.is_empty():
            errs.append(required(sel_path))
        if not matcher.matches(_template_labels(spec.template)):
            errs.append(invalid(p.child("template", "metadata", "labels"), _template_labels(spec.template),
                                _MISMATCH))
    return errs


@register_validator("Job")
def _validate_job(job: batch.Job, old: batch.Job | None) -> ErrorList:
    errs = _meta(job, old, "Job", True)
    spec, p = job.spec, Path("spec")
    if spec is None:
        errs.append(required(p))
        return errs
    errs.extend(_job_spec_errors(spec, p))
    if spec.completion_mode == "Indexed" and spec.completions is not None and spec.completions > 0:
        hostname = f"{job.metadata.name or ''}-{spec.completions - 1}"
        if is_dns1123_label(hostname):
            errs.append(invalid(Path("metadata", "name"), job.metadata.name or "",
                                f"will not able to create pod with invalid DNS label: {hostname}"))
    if old is not None and old.spec is not None:
        o = old.spec
        if _json(spec.selector) != _json(o.selector):
            errs.append(invalid(p.child("selector"), _json(spec.selector), _IMMUTABLE))
        if spec.completion_mode != o.completion_mode:
            errs.append(invalid(p.child("completionMode"), spec.completion_mode, _IMMUTABLE))
        if _json(spec.pod_failure_policy) != _json(o.pod_failure_policy):
            errs.append(invalid(p.child("podFailurePolicy"), _json(spec.pod_failure_policy), _IMMUTABLE))
        elastic = spec.completion_mode == "Indexed" and spec.completions == spec.parallelism
        if spec.completions != o.completions and not elastic:
            errs.append(invalid(p.child("completions"), spec.completions, _IMMUTABLE))
        # Only a suspended job may have its (scheduling directives of the) template changed.
        if not o.suspend and _json(spec.template) != _json(o.template):
            errs.append(invalid(p.child("template"), _json(spec.template), _IMMUTABLE))
    return errs


# --------------------------------------------------------------------------------------------
# Lease
# --------------------------------------------------------------------------------------------


@register_validator("Lease")
def _validate_lease(lease: coordination.Lease, old: coordination.Lease | None) -> ErrorList:
    errs = _meta(lease, old, "Lease", True)
    spec, p = lease.spec or coordination.LeaseSpec(), Path("spec")
    if spec.lease_duration_seconds is not None and spec.lease_duration_seconds <= 0:
        errs.append(invalid(p.child("leaseDurationSeconds"), spec.lease_duration_seconds, "must be greater than 0"))
    errs.extend(_nonneg(spec.lease_transitions, p.child("leaseTransitions")))
    if spec.preferred_holder and not spec.strategy:
        errs.append(forbidden(p.child("preferredHolder"), "may only be specified if `strategy` is defined"))
    return errs


# --------------------------------------------------------------------------------------------
# PriorityClass
# --------------------------------------------------------------------------------------------

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_CRITICAL_PRIORITY = 2 * HIGHEST_USER_DEFINABLE_PRIORITY
SYSTEM_PRIORITY_CLASS_PREFIX = "system-"
SYSTEM_CLUSTER_CRITICAL = SYSTEM_PRIORITY_CLASS_PREFIX + "cluster-critical"
SYSTEM_NODE_CRITICAL = SYSTEM_PRIORITY_CLASS_PREFIX + "node-critical"
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")

#: The classes only the system may define (upstream's SystemPriorityClasses), as the apiserver
#: creates them at start.
SYSTEM_PRIORITY_CLASSES: tuple[dict[str, Any], ...] = (
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
     "metadata": {"name": SYSTEM_NODE_CRITICAL}, "value": SYSTEM_CRITICAL_PRIORITY + 1000,
     "description": "Used for system critical pods that must not be moved from their current node."},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
     "metadata": {"name": SYSTEM_CLUSTER_CRITICAL}, "value": SYSTEM_CRITICAL_PRIORITY,
     "description": "Used for system critical pods that must run in the cluster, but can be moved to "
                    "another node if necessary."},
)


def _known_system_priority_class_error(pc: scheduling.PriorityClass) -> str | None:
    """Why ``pc`` is not one of the system classes (upstream IsKnownSystemPriorityClass), or None."""
    for spc in SYSTEM_PRIORITY_CLASSES:
        if spc["metadata"]["name"] == pc.metadata.name:
            if spc["value"] != pc.value:
                return f"value of {pc.metadata.name} PriorityClass must be {spc['value']}"
            if bool(pc.global_default):
                return f"globalDefault of {pc.metadata.name} PriorityClass must be false"
            return None
    return f"{pc.metadata.name} is not a known system priority class"


@register_defaulter("PriorityClass")
def _default_priority_class(pc: scheduling.PriorityClass, **_: Any) -> None:
    if pc.preemption_policy is None:
        pc.preemption_policy = "PreemptLowerPriority"


@register_validator("PriorityClass")
def _validate_priority_class(pc: scheduling.PriorityClass, old: scheduling.PriorityClass | None) -> ErrorList:
    if old is not None:
        errs = validate_object_meta_update(pc.metadata, old.metadata)
        if pc.value != old.value:
            errs.append(forbidden(Path("value"), "may not be changed in an update."))
        if pc.preemption_policy != old.preemption_policy:
            errs.append(invalid(Path("preemptionPolicy"), pc.preemption_policy, _IMMUTABLE))
        return errs
    errs = validate_object_meta(pc.metadata, False, "PriorityClass")
    if pc.value is None:
        errs.append(required(Path("value"), ""))
    elif (pc.metadata.name or "").startswith(SYSTEM_PRIORITY_CLASS_PREFIX):
        problem = _known_system_priority_class_error(pc)
        if problem:
            errs.append(forbidden(Path("metadata", "name"),
                                  f"priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are "
                                  f"reserved for system use only. error: {problem}"))
    elif pc.value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errs.append(forbidden(Path("value"), "maximum allowed value of a user defined priority is "
                                             f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))
    if pc.preemption_policy is not None:
        if pc.preemption_policy == "":
            errs.append(required(Path("preemptionPolicy"), ""))
        elif pc.preemption_policy not in PREEMPTION_POLICIES:
            errs.append(not_supported(Path("preemptionPolicy"), pc.preemption_policy, PREEMPTION_POLICIES))
    return errs


# --------------------------------------------------------------------------------------------
# EndpointSlice
# --------------------------------------------------------------------------------------------

_ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_FQDN_MSG = "should be a domain with at least two segments separated by dots"


@register_defaulter("EndpointSlice")
def _default_endpoint_slice(es: discovery.EndpointSlice, **_: Any) -> None:
    for port in es.ports or []:
        if port.name is None:
            port.name = ""
        if port.protocol is None:
            port.protocol = "TCP"


def _address_errors(address: str, address_type: str, path: Path) -> ErrorList:
    if address_type in ("IPv4", "IPv6"):
        family = ipaddress.IPv4Address if address_type == "IPv4" else ipaddress.IPv6Address
        try:
            family(address)
        except ValueError:
            return ErrorList([invalid(path, address, f"must be a valid {address_type} address")])
        return ErrorList()
    if address_type == "FQDN":
        if len(address.split(".")) < 2:
            return ErrorList([invalid(path, address, _FQDN_MSG)])
        return ErrorList(invalid(path, address, m) for m in is_dns1123_subdomain(address.lower()))
    return ErrorList()


@register_validator("EndpointSlice")
def _validate_endpoint_slice(es: discovery.EndpointSlice, old: discovery.EndpointSlice | None) -> ErrorList:
    errs = _meta(es, old, "EndpointSlice", True)
    at = es.address_type or ""
    if not at:
        errs.append(required(Path("addressType")))
    elif at not in _ADDRESS_TYPES:
        errs.append(not_supported(Path("addressType"), at, _ADDRESS_TYPES))
    ep_path = Path("endpoints")
    if len(es.endpoints) > MAX_ENDPOINTS:
        errs.append(too_many(ep_path, len(es.endpoints), MAX_ENDPOINTS))
    else:
        for i, ep in enumerate(es.endpoints):
            ip = ep_path.index(i)
            ap = ip.child("addresses")
            if not ep.addresses:
                errs.append(required(ap, "must contain at least 1 address"))
            elif len(ep.addresses) > MAX_ADDRESSES:
                errs.append(too_many(ap, len(ep.addresses), MAX_ADDRESSES))
            for j, addr in enumerate(ep.addresses):
                errs.extend(_address_errors(addr, at, ap.index(j)))
            if ep.node_name is not None:
                errs.extend(invalid(ip.child("nodeName"), ep.node_name, m)
                            for m in is_dns1123_subdomain(ep.node_name))
            if ep.hostname is not None:
                errs.extend(invalid(ip.child("hostname"), ep.hostname, m) for m in is_dns1123_label(ep.hostname))
    port_path = Path("ports")
    ports = es.ports or []
    if len(ports) > MAX_PORTS:
        errs.append(too_many(port_path, len(ports), MAX_PORTS))
    else:
        names: set[str] = set()
        for i, port in enumerate(ports):
            ip = port_path.index(i)
            name = port.name or ""
            if name:
                errs.extend(invalid(ip.child("name"), name, m) for m in is_dns1123_label(name))
            if name in names:
                errs.append(duplicate(ip.child("name"), name))
            names.add(name)
            if port.protocol is None:
                errs.append(required(ip.child("protocol")))
            elif port.protocol not in _PROTOCOLS:
                errs.append(not_supported(ip.child("protocol"), port.protocol, _PROTOCOLS))
            if port.port is not None:
                errs.extend(invalid(ip.child("port"), port.port, m) for m in port_num_errors(port.port))
            if port.app_protocol is not None:
                errs.extend(invalid(ip.child("appProtocol"), port.app_protocol, m)
                            for m in qualified_name_errors(port.app_protocol))
    if old is not None and old.address_type in _ADDRESS_TYPES and es.address_type != old.address_type:
        errs.append(invalid(Path("addressType"), es.address_type, _IMMUTABLE))
    return errs


# --------------------------------------------------------------------------------------------
# RBAC
# --------------------------------------------------------------------------------------------


def _default_subjects(subjects: list[rbac.Subject] | None) -> None:
    for s in subjects or []:
        if not s.api_group and s.kind in ("User", "Group"):
            s.api_group = RBAC_GROUP
        elif s.api_group is None and s.kind == "ServiceAccount":
            s.api_group = ""


@register_defaulter("RoleBinding")
@register_defaulter("ClusterRoleBinding")
def _default_binding(b: rbac.RoleBinding | rbac.ClusterRoleBinding, **_: Any) -> None:
    if b.role_ref is not None and not b.role_ref.api_group:
        b.role_ref.api_group = RBAC_GROUP
    _default_subjects(b.subjects)


def _policy_rule_errors(rule: rbac.PolicyRule, namespaced: bool, path: Path) -> ErrorList:
    errs = ErrorList()
    if not rule.verbs:
        errs.append(required(path.child("verbs"), "verbs must contain at least one value"))
    if rule.non_resource_urls:
        if namespaced:
            errs.append(invalid(path.child("nonResourceURLs"), rule.non_resource_urls,
                                "namespaced rules cannot apply to non-resource URLs"))
        if rule.api_groups or rule.resources or rule.resource_names:
            errs.append(invalid(path.child("nonResourceURLs"), rule.non_resource_urls,
                                "rules cannot apply to both regular resources and non-resource URLs"))
        return errs
    if not rule.api_groups:
        errs.append(required(path.child("apiGroups"), "resource rules must supply at least one api group"))
    if not rule.resources:
        errs.append(required(path.child("resources"), "resource rules must supply at least one resource"))
    return errs


@register_validator("Role")
def _validate_role(role: rbac.Role, old: rbac.Role | None) -> ErrorList:
    errs = _meta(role, old, "Role", True)
    for i, rule in enumerate(role.rules or []):
        errs.extend(_policy_rule_errors(rule, True, Path("rules").index(i)))
    return errs


@register_validator("ClusterRole")
def _validate_cluster_role(role: rbac.ClusterRole, old: rbac.ClusterRole | None) -> ErrorList:
    errs = _meta(role, old, "ClusterRole", False)
    for i, rule in enumerate(role.rules or []):
        errs.extend(_policy_rule_errors(rule, False, Path("rules").index(i)))
    if role.aggregation_rule is not None:
        sp = Path("aggregationRule", "clusterRoleSelectors")
        if not role.aggregation_rule.cluster_role_selectors:
            errs.append(required(sp, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
        for i, sel in enumerate(role.aggregation_rule.cluster_role_selectors or []):
            errs.extend(validate_label_selector(sel, sp.index(i)))
    return errs


def _subject_errors(s: rbac.Subject, namespaced: bool, path: Path) -> ErrorList:
    errs = ErrorList()
    if not s.name:
        errs.append(required(path.child("name")))
    if s.kind == "ServiceAccount":
        if s.name:
            errs.extend(invalid(path.child("name"), s.name, m) for m in is_dns1123_subdomain(s.name))
        if s.api_group:
            errs.append(not_supported(path.child("apiGroup"), s.api_group, [""]))
        if not namespaced and not s.namespace:
            errs.append(required(path.child("namespace")))
    elif s.kind in ("User", "Group"):
        if s.api_group != RBAC_GROUP:
            errs.append(not_supported(path.child("apiGroup"), s.api_group or "", [RBAC_GROUP]))
    else:
        errs.append(not_supported(path.child("kind"), s.kind, ["ServiceAccount", "User", "Group"]))
    return errs


def _binding_errors(b: Any, old: Any, kind: str, namespaced: bool, ref_kinds: list[str]) -> ErrorList:
    errs = _meta(b, old, kind, namespaced)
    ref, rp = b.role_ref, Path("roleRef")
    if ref.api_group != RBAC_GROUP:
        errs.append(not_supported(rp.child("apiGroup"), ref.api_group, [RBAC_GROUP]))
    if ref.kind not in ref_kinds:
        errs.append(not_supported(rp.child("kind"), ref.kind, ref_kinds))
    if not ref.name:
        errs.append(required(rp.child("name")))
    else:
        errs.extend(invalid(rp.child("name"), ref.name, m) for m in is_valid_path_segment_name(ref.name))
    for i, s in enumerate(b.subjects or []):
        errs.extend(_subject_errors(s, namespaced, Path("subjects").index(i)))
    if old is not None and ref.to_json() != old.role_ref.to_json():
        errs.append(invalid(rp, ref.to_json(), "cannot change roleRef"))
    return errs


@register_validator("RoleBinding")
def _validate_role_binding(b: rbac.RoleBinding, old: rbac.RoleBinding | None) -> ErrorList:
    return _binding_errors(b, old, "RoleBinding", True, ["Role", "ClusterRole"])


@register_validator("ClusterRoleBinding")
def _validate_cluster_role_binding(b: rbac.ClusterRoleBinding, old: rbac.ClusterRoleBinding | None) -> ErrorList:
    return _binding_errors(b, old, "ClusterRoleBinding", False, ["ClusterRole"])
