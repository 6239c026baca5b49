"""apps/v1, batch/v1, discovery.k8s.io/v1, coordination.k8s.io/v1, scheduling.k8s.io/v1 and
rbac.authorization.k8s.io/v1 models: exact JSON round trips, upstream's schemas, unknown
fields, omitempty, wire names and type strictness.

The upstream JSON schemas come from the ``kubernetes-validate`` package (strict variants,
which reject any property upstream does not define).
"""
from __future__ import annotations

import copy
import functools
import importlib.resources
import inspect
import json
from typing import Any

import kubernetes_validate
import pytest
from pydantic import ValidationError

from kubeapi.models import apps, base, batch, coordination, core, discovery, rbac, scheduling
from kubeapi.models import (
    ClusterRole,
    ClusterRoleBinding,
    ClusterRoleBindingList,
    ClusterRoleList,
    ControllerRevision,
    ControllerRevisionList,
    DaemonSet,
    DaemonSetList,
    Deployment,
    DeploymentList,
    EndpointSlice,
    EndpointSliceList,
    Job,
    JobList,
    KubeObject,
    Lease,
    LeaseList,
    ObjectMeta,
    PersistentVolumeClaim,
    PriorityClass,
    PriorityClassList,
    ReplicaSet,
    ReplicaSetList,
    Role,
    RoleBinding,
    RoleBindingList,
    RoleList,
    StatefulSet,
    StatefulSetList,
    to_json,
    unknown_fields,
)
from kubeapi.models.apps import (
    DaemonSetStatus,
    DeploymentSpec,
    DeploymentStatus,
    ReplicaSetStatus,
    RollingUpdateDeployment,
    StatefulSetOrdinals,
    StatefulSetStatus,
)
from kubeapi.models.batch import JobSpec, JobStatus
from kubeapi.models.coordination import LeaseSpec
from kubeapi.models.core import Container, PodSpec, PodTemplateSpec
from kubeapi.models.discovery import Endpoint, EndpointConditions
from kubeapi.models.meta import LabelSelector
from kubeapi.models.rbac import PolicyRule, RoleRef, Subject

SCHEMA_VERSION = "1.34"
"""The Kubernetes release whose API the models follow, field for field."""

# --------------------------------------------------------------------------------------------
# Realistic manifests: what users write, and what controllers and kubelets report
# --------------------------------------------------------------------------------------------

NGINX_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "nginx",
        "namespace": "default",
        "uid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "resourceVersion": "90211",
        "generation": 3,
        "creationTimestamp": "2024-05-01T12:00:00Z",
        "labels": {"app": "nginx"},
        "annotations": {"deployment.kubernetes.io/revision": "2"},
    },
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"},
                         "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T13:00:00Z"}},
            "spec": {
                "containers": [{
                    "name": "nginx",
                    "image": "nginx:1.25",
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                  "limits": {"memory": "128Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                    "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "schedulerName": "default-scheduler",
                "securityContext": {},
            },
        },
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "minReadySeconds": 5,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    },
    "status": {
        "observedGeneration": 3,
        "replicas": 4,
        "updatedReplicas": 2,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "unavailableReplicas": 1,
        "terminatingReplicas": 0,
        "conditions": [
            {"type": "Available", "status": "True",
             "lastUpdateTime": "2024-05-01T12:00:30Z", "lastTransitionTime": "2024-05-01T12:00:30Z",
             "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True",
             "lastUpdateTime": "2024-05-01T13:00:10Z", "lastTransitionTime": "2024-05-01T12:00:00Z",
             "reason": "ReplicaSetUpdated",
             "message": "ReplicaSet \"nginx-5d8f7c9b6\" is progressing."},
        ],
        "collisionCount": 0,
    },
}

RECREATE_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "migrator", "namespace": "prod"},
    "spec": {
        "replicas": 0,
        "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["migrator"]}]},
        "template": {"metadata": {"labels": {"app": "migrator"}},
                     "spec": {"containers": [{"name": "m", "image": "example.com/migrator:4"}]}},
        "strategy": {"type": "Recreate"},
        "paused": True,
    },
    "status": {"observedGeneration": 1, "conditions": [
        {"type": "Progressing", "status": "Unknown", "lastUpdateTime": "2024-05-01T12:00:00Z",
         "lastTransitionTime": "2024-05-01T12:00:00Z", "reason": "DeploymentPaused",
         "message": "Deployment is paused"}]},
}

REPLICASET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": {
        "name": "nginx-5d8f7c9b6",
        "namespace": "default",
        "labels": {"app": "nginx", "pod-template-hash": "5d8f7c9b6"},
        "annotations": {"deployment.kubernetes.io/desired-replicas": "3",
                        "deployment.kubernetes.io/max-replicas": "4",
                        "deployment.kubernetes.io/revision": "2"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx",
                             "uid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "controller": True,
                             "blockOwnerDeletion": True}],
    },
    "spec": {
        "replicas": 2,
        "minReadySeconds": 5,
        "selector": {"matchLabels": {"app": "nginx", "pod-template-hash": "5d8f7c9b6"}},
        "template": {"metadata": {"labels": {"app": "nginx", "pod-template-hash": "5d8f7c9b6"}},
                     "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}},
    },
    "status": {
        "replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1, "availableReplicas": 1,
        "observedGeneration": 2,
        "conditions": [{"type": "ReplicaFailure", "status": "True",
                        "lastTransitionTime": "2024-05-01T13:00:05Z", "reason": "FailedCreate",
                        "message": "pods \"nginx-5d8f7c9b6-x\" is forbidden: exceeded quota"}],
    },
}

SCALED_DOWN_REPLICASET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": {"name": "nginx-7f6e5d4c3", "namespace": "default"},
    "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "nginx"}}},
    "status": {"replicas": 0, "observedGeneration": 4},
}

DAEMONSET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "fluent-bit", "namespace": "logging", "generation": 2,
                 "labels": {"app.kubernetes.io/name": "fluent-bit"}},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "fluent-bit"}},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "fluent-bit"}},
            "spec": {
                "serviceAccountName": "fluent-bit",
                "tolerations": [{"operator": "Exists", "effect": "NoSchedule"},
                                {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
                "priorityClassName": "system-node-critical",
                "containers": [{
                    "name": "fluent-bit",
                    "image": "fluent/fluent-bit:3.0",
                    "resources": {"requests": {"cpu": "50m", "memory": "50Mi"}},
                    "volumeMounts": [{"name": "varlog", "mountPath": "/var/log", "readOnly": True}],
                }],
                "volumes": [{"name": "varlog", "hostPath": {"path": "/var/log"}}],
                "hostNetwork": True,
            },
        },
        "updateStrategy": {"type": "RollingUpdate",
                           "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "minReadySeconds": 10,
        "revisionHistoryLimit": 10,
    },
    "status": {
        "currentNumberScheduled": 3, "numberMisscheduled": 0, "desiredNumberScheduled": 3,
        "numberReady": 2, "observedGeneration": 2, "updatedNumberScheduled": 3,
        "numberAvailable": 2, "numberUnavailable": 1, "collisionCount": 0,
    },
}

STATEFULSET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "web", "namespace": "default", "generation": 5},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "terminationGracePeriodSeconds": 10,
                "containers": [{
                    "name": "nginx",
                    "image": "registry.k8s.io/nginx-slim:0.24",
                    "ports": [{"containerPort": 80, "name": "web"}],
                    "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}],
                }],
            },
        },
        "volumeClaimTemplates": [{
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "www", "labels": {"app": "web"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "standard",
                "volumeMode": "Filesystem",
                "dataSourceRef": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot",
                                  "name": "www-seed"},
            },
            "status": {"phase": "Pending"},
        }],
        "serviceName": "web",
        "podManagementPolicy": "Parallel",
        "updateStrategy": {"type": "RollingUpdate",
                           "rollingUpdate": {"partition": 1, "maxUnavailable": "50%"}},
        "revisionHistoryLimit": 10,
        "minReadySeconds": 3,
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        "ordinals": {"start": 0},
    },
    "status": {
        "observedGeneration": 5,
        "replicas": 3,
        "readyReplicas": 3,
        "currentReplicas": 1,
        "updatedReplicas": 2,
        "currentRevision": "web-6d4b8c7f9d",
        "updateRevision": "web-7b9c5d4e8f",
        "collisionCount": 0,
        "availableReplicas": 3,
    },
}

CONTROLLER_REVISION: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "ControllerRevision",
    "metadata": {
        "name": "web-7b9c5d4e8f",
        "namespace": "default",
        "labels": {"app": "web", "controller.kubernetes.io/hash": "7b9c5d4e8f"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                             "uid": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", "controller": True,
                             "blockOwnerDeletion": True}],
    },
    "data": {"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"app": "web"}},
                                   "spec": {"containers": [{"name": "nginx",
                                                            "image": "registry.k8s.io/nginx-slim:0.24"}]}}}},
    "revision": 2,
}

INDEXED_JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "name": "render",
        "namespace": "batch",
        "uid": "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e",
        "labels": {"batch.kubernetes.io/job-name": "render"},
    },
    "spec": {
        "parallelism": 4,
        "completions": 10,
        "activeDeadlineSeconds": 7200,
        "podFailurePolicy": {"rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": "render", "operator": "In",
                                                  "values": [42]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [0, 1, 2]}},
            {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [3]}},
        ]},
        "backoffLimit": 6,
        "backoffLimitPerIndex": 1,
        "maxFailedIndexes": 3,
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid":
                                     "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e"}},
        "manualSelector": False,
        "template": {
            "metadata": {"labels": {"batch.kubernetes.io/job-name": "render"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "render", "image": "example.com/render:1.2",
                                "args": ["--frame", "$(JOB_COMPLETION_INDEX)"]}],
            },
        },
        "ttlSecondsAfterFinished": 3600,
        "completionMode": "Indexed",
        "suspend": False,
        "podReplacementPolicy": "Failed",
    },
    "status": {
        "conditions": [{"type": "Suspended", "status": "False",
                        "lastProbeTime": "2024-05-01T12:00:00Z",
                        "lastTransitionTime": "2024-05-01T12:00:00Z", "reason": "JobResumed",
                        "message": "Job resumed"}],
        "startTime": "2024-05-01T12:00:00Z",
        "active": 4,
        "succeeded": 5,
        "failed": 2,
        "terminating": 0,
        "completedIndexes": "0-3,5",
        "failedIndexes": "4",
        "uncountedTerminatedPods": {"succeeded": ["8c9d0e1f-2a3b-4c4d-8e5f-6a7b8c9d0e1f"]},
        "ready": 3,
    },
}

FINISHED_JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "leader-elect", "namespace": "batch"},
    "spec": {
        "completions": 5,
        "parallelism": 5,
        "completionMode": "Indexed",
        "successPolicy": {"rules": [{"succeededIndexes": "0", "succeededCount": 1}]},
        "backoffLimit": 0,
        "template": {"spec": {"restartPolicy": "OnFailure",
                              "containers": [{"name": "main", "image": "busybox:1.36"}]}},
        "suspend": True,
        "managedBy": "kueue.x-k8s.io/multikueue",
    },
    "status": {
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True",
             "lastProbeTime": "2024-05-01T12:01:00Z", "lastTransitionTime": "2024-05-01T12:01:00Z",
             "reason": "SuccessPolicy", "message": "Matched rules at index 0"},
            {"type": "Complete", "status": "True",
             "lastProbeTime": "2024-05-01T12:01:02Z", "lastTransitionTime": "2024-05-01T12:01:02Z",
             "reason": "SuccessPolicy", "message": "Matched rules at index 0"},
        ],
        "startTime": "2024-05-01T12:00:00Z",
        "completionTime": "2024-05-01T12:01:02Z",
        "succeeded": 1,
        "terminating": 0,
        "completedIndexes": "0",
        "uncountedTerminatedPods": {},
        "ready": 0,
    },
}

ENDPOINT_SLICE: dict[str, Any] = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {
        "name": "web-abc12",
        "generateName": "web-",
        "namespace": "default",
        "labels": {"kubernetes.io/service-name": "web",
                   "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web",
                             "uid": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "controller": True,
                             "blockOwnerDeletion": True}],
    },
    "addressType": "IPv4",
    "endpoints": [
        {"addresses": ["10.244.1.23"],
         "conditions": {"ready": True, "serving": True, "terminating": False},
         "hostname": "web-0",
         "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0",
                       "uid": "3f0c3f5e-8a1b-4c2d-9e4f-5a6b7c8d9e0f"},
         "nodeName": "node-a",
         "zone": "zone-a",
         "hints": {"forZones": [{"name": "zone-a"}], "forNodes": [{"name": "node-a"}]}},
        {"addresses": ["10.244.2.9"],
         "conditions": {"ready": False, "serving": True, "terminating": True},
         "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"},
         "nodeName": "node-b",
         "zone": "zone-b"},
        {"addresses": ["10.244.3.4"], "conditions": {},
         "deprecatedTopology": {"topology.kubernetes.io/zone": "zone-c"}},
    ],
    "ports": [
        {"name": "http", "protocol": "TCP", "port": 80, "appProtocol": "http"},
        {"name": "", "protocol": "UDP", "port": 53},
    ],
}

EMPTY_ENDPOINT_SLICE: dict[str, Any] = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {"name": "headless-xyz99", "namespace": "default",
                 "labels": {"kubernetes.io/service-name": "headless"}},
    "addressType": "IPv6",
    "endpoints": [],
}

NODE_LEASE: dict[str, Any] = {
    "apiVersion": "coordination.k8s.io/v1",
    "kind": "Lease",
    "metadata": {
        "name": "node-a",
        "namespace": "kube-node-lease",
        "uid": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a",
        "resourceVersion": "50077",
        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "node-a",
                             "uid": "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a"}],
    },
    "spec": {
        "holderIdentity": "node-a",
        "leaseDurationSeconds": 40,
        "renewTime": "2024-05-01T12:00:07.123456Z",
    },
}

LEADER_LEASE: dict[str, Any] = {
    "apiVersion": "coordination.k8s.io/v1",
    "kind": "Lease",
    "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
    "spec": {
        "holderIdentity": "control-plane-0_5b0d6a1e-2f3c-4d5e-8f9a-0b1c2d3e4f5a",
        "leaseDurationSeconds": 15,
        "acquireTime": "2024-05-01T11:59:00.000000Z",
        "renewTime": "2024-05-01T12:00:01.987654Z",
        "leaseTransitions": 0,
        "strategy": "OldestEmulationVersion",
        "preferredHolder": "control-plane-1",
    },
}

POD_READER_ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "pod-reader", "namespace": "default"},
    "rules": [
        {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "pods/log"]},
        {"verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"],
         "resourceNames": ["leader-lock"]},
    ],
}

EMPTY_ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "nothing", "namespace": "default"},
    "rules": [],
}

AGGREGATED_CLUSTERROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "monitoring", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
    "aggregationRule": {"clusterRoleSelectors": [
        {"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}},
        {"matchExpressions": [{"key": "rbac.example.com/aggregate-to-view", "operator": "Exists"}]},
    ]},
    "rules": [],
}

CLUSTERROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "system:node-health",
                 "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
    "rules": [
        {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/healthz/*", "/readyz", "/livez"]},
        {"verbs": ["*"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"]},
        {"verbs": ["create", "patch"], "apiGroups": ["", "events.k8s.io"], "resources": ["events"]},
    ],
}

ROLEBINDING: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "RoleBinding",
    "metadata": {"name": "read-pods", "namespace": "default"},
    "subjects": [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "jane"},
        {"kind": "ServiceAccount", "name": "web", "namespace": "default"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"},
    ],
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
}

CLUSTERROLEBINDING: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "system:node-health"},
    "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:nodes"}],
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "system:node-health"},
}

HIGH_PRIORITY_CLASS: dict[str, Any] = {
    "apiVersion": "scheduling.k8s.io/v1",
    "kind": "PriorityClass",
    "metadata": {"name": "high-priority", "uid": "2c3e0b7e-0a51-4b1d-9d43-2f6a3c1d9e01",
                 "resourceVersion": "4411", "creationTimestamp": "2024-05-01T12:00:00Z"},
    "value": 1000000,
    "description": "This priority class should be used for XYZ service pods only.",
    "preemptionPolicy": "PreemptLowerPriority",
}

# A system class as the apiserver stores it.
SYSTEM_PRIORITY_CLASS: dict[str, Any] = {
    "apiVersion": "scheduling.k8s.io/v1",
    "kind": "PriorityClass",
    "metadata": {"name": "system-node-critical"},
    "value": 2000001000,
    "description": "Used for system critical pods that must not be moved from their current node.",
    "preemptionPolicy": "PreemptLowerPriority",
}

MANIFESTS: list[tuple[str, type[KubeObject], dict[str, Any]]] = [
    ("nginx-deployment", Deployment, NGINX_DEPLOYMENT),
    ("recreate-deployment", Deployment, RECREATE_DEPLOYMENT),
    ("replicaset", ReplicaSet, REPLICASET),
    ("scaled-down-replicaset", ReplicaSet, SCALED_DOWN_REPLICASET),
    ("daemonset", DaemonSet, DAEMONSET),
    ("statefulset", StatefulSet, STATEFULSET),
    ("controllerrevision", ControllerRevision, CONTROLLER_REVISION),
    ("indexed-job", Job, INDEXED_JOB),
    ("finished-job", Job, FINISHED_JOB),
    ("endpointslice", EndpointSlice, ENDPOINT_SLICE),
    ("empty-endpointslice", EndpointSlice, EMPTY_ENDPOINT_SLICE),
    ("node-lease", Lease, NODE_LEASE),
    ("leader-lease", Lease, LEADER_LEASE),
    ("priorityclass", PriorityClass, HIGH_PRIORITY_CLASS),
    ("system-priorityclass", PriorityClass, SYSTEM_PRIORITY_CLASS),
    ("role", Role, POD_READER_ROLE),
    ("empty-role", Role, EMPTY_ROLE),
    ("aggregated-clusterrole", ClusterRole, AGGREGATED_CLUSTERROLE),
    ("clusterrole", ClusterRole, CLUSTERROLE),
    ("rolebinding", RoleBinding, ROLEBINDING),
    ("clusterrolebinding", ClusterRoleBinding, CLUSTERROLEBINDING),
]


def _list_of(list_cls: type[KubeObject], *items: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": list_cls.model_fields["api_version"].default,
        "kind": list_cls.KIND,
        "metadata": {"resourceVersion": "90300", "continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ",
                     "remainingItemCount": 0},
        "items": [copy.deepcopy(i) for i in items],
    }


LISTS: list[tuple[str, type[KubeObject], dict[str, Any]]] = [
    ("DeploymentList", DeploymentList, _list_of(DeploymentList, NGINX_DEPLOYMENT, RECREATE_DEPLOYMENT)),
    ("ReplicaSetList", ReplicaSetList, _list_of(ReplicaSetList, REPLICASET, SCALED_DOWN_REPLICASET)),
    ("DaemonSetList", DaemonSetList, _list_of(DaemonSetList, DAEMONSET)),
    ("StatefulSetList", StatefulSetList, _list_of(StatefulSetList, STATEFULSET)),
    ("ControllerRevisionList", ControllerRevisionList,
     _list_of(ControllerRevisionList, CONTROLLER_REVISION)),
    ("JobList", JobList, _list_of(JobList, INDEXED_JOB, FINISHED_JOB)),
    ("EndpointSliceList", EndpointSliceList,
     _list_of(EndpointSliceList, ENDPOINT_SLICE, EMPTY_ENDPOINT_SLICE)),
    ("LeaseList", LeaseList, _list_of(LeaseList, NODE_LEASE, LEADER_LEASE)),
    ("PriorityClassList", PriorityClassList,
     _list_of(PriorityClassList, HIGH_PRIORITY_CLASS, SYSTEM_PRIORITY_CLASS)),
    ("RoleList", RoleList, _list_of(RoleList, POD_READER_ROLE, EMPTY_ROLE)),
    ("ClusterRoleList", ClusterRoleList, _list_of(ClusterRoleList, AGGREGATED_CLUSTERROLE, CLUSTERROLE)),
    ("RoleBindingList", RoleBindingList, _list_of(RoleBindingList, ROLEBINDING)),
    ("ClusterRoleBindingList", ClusterRoleBindingList,
     _list_of(ClusterRoleBindingList, CLUSTERROLEBINDING)),
    ("EmptyJobList", JobList, {"apiVersion": "batch/v1", "kind": "JobList",
                               "metadata": {"resourceVersion": "7"}, "items": []}),
]

ALL_DOCUMENTS = MANIFESTS + LISTS

# --------------------------------------------------------------------------------------------
# Schema helpers
# --------------------------------------------------------------------------------------------


def _validate_kind(doc: dict[str, Any]) -> None:
    """Validate a top-level object with kubernetes-validate (strict: no unknown properties)."""
    kubernetes_validate.validate(doc, SCHEMA_VERSION, strict=True)


@functools.cache
def _definitions() -> dict[str, Any]:
    path = f"kubernetes-json-schema/v{SCHEMA_VERSION}.0-local-strict/_definitions.json"
    text = importlib.resources.files("kubernetes_validate").joinpath(path).read_text()
    return json.loads(text)


_PREFIXES = {
    apps.__name__: "io.k8s.api.apps.v1.",
    batch.__name__: "io.k8s.api.batch.v1.",
    discovery.__name__: "io.k8s.api.discovery.v1.",
    coordination.__name__: "io.k8s.api.coordination.v1.",
    scheduling.__name__: "io.k8s.api.scheduling.v1.",
    rbac.__name__: "io.k8s.api.rbac.v1.",
    core.__name__: "io.k8s.api.core.v1.",
}


def _upstream_definition(cls: type) -> dict[str, Any]:
    return _definitions()["$defs"][_PREFIXES[cls.__module__] + cls.__name__]


def _models_of(module: Any) -> list[type[base.KubeModel]]:
    return [
        cls for cls in vars(module).values()
        if inspect.isclass(cls) and issubclass(cls, base.KubeModel) and cls.__module__ == module.__name__
    ]


# The core/v1 structs the new groups embed (pod templates and claim templates).
EMBEDDED_CORE_MODELS = [
    core.PodTemplateSpec, core.PersistentVolumeClaim, core.PersistentVolumeClaimSpec,
    core.PersistentVolumeClaimStatus, core.PersistentVolumeClaimCondition,
    core.VolumeResourceRequirements, core.TypedLocalObjectReference, core.TypedObjectReference,
    core.ModifyVolumeStatus,
]

ALL_MODELS = (_models_of(apps) + _models_of(batch) + _models_of(discovery) + _models_of(coordination)
              + _models_of(scheduling) + _models_of(rbac) + EMBEDDED_CORE_MODELS)

# --------------------------------------------------------------------------------------------
# Round trips and upstream's schemas
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, doc", [(c, d) for _, c, d in ALL_DOCUMENTS],
                         ids=[n for n, _, _ in ALL_DOCUMENTS])
def test_round_trip_is_exact(cls: type[KubeObject], doc: dict[str, Any]) -> None:
    original = copy.deepcopy(doc)
    obj = cls.from_json(doc)
    assert type(obj) is cls
    out = to_json(obj)
    assert out == original
    assert doc == original, "parsing must not modify its input"
    assert json.loads(json.dumps(out)) == out


@pytest.mark.parametrize("cls, doc", [(c, d) for _, c, d in ALL_DOCUMENTS],
                         ids=[n for n, _, _ in ALL_DOCUMENTS])
def test_output_passes_upstream_strict_schema(cls: type[KubeObject], doc: dict[str, Any]) -> None:
    _validate_kind(to_json(cls.from_json(doc)))


def test_every_new_kind_has_a_manifest_and_a_list() -> None:
    kinds = {c for _, c, _ in MANIFESTS}
    lists = {c for _, c, _ in LISTS}
    top_level = [c for c in ALL_MODELS if issubclass(c, KubeObject) and c.__module__ != core.__name__]
    for cls in top_level:
        assert cls in (lists if cls.KIND.endswith("List") else kinds), cls.__name__


def test_python_built_objects_pass_upstream_strict_schema() -> None:
    template = PodTemplateSpec(metadata=ObjectMeta(labels={"app": "a"}),
                               spec=PodSpec(containers=[Container(name="c", image="busybox")]))
    deployment = Deployment(
        metadata=ObjectMeta(name="a", namespace="default"),
        spec=DeploymentSpec(selector=LabelSelector(match_labels={"app": "a"}), template=template,
                            strategy=apps.DeploymentStrategy(
                                type="RollingUpdate",
                                rolling_update=RollingUpdateDeployment(max_unavailable=0, max_surge=1))),
    )
    job = Job(metadata=ObjectMeta(name="j"), spec=JobSpec(template=template, backoff_limit=0))
    binding = RoleBinding(metadata=ObjectMeta(name="b", namespace="default"),
                          subjects=[Subject(kind="ServiceAccount", name="a", namespace="default")],
                          role_ref=RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="r"))
    lease = Lease(metadata=ObjectMeta(name="node-a", namespace="kube-node-lease"),
                  spec=LeaseSpec(holder_identity="node-a", lease_duration_seconds=40,
                                 renew_time="2024-05-01T12:00:07.123456Z"))
    slice_ = EndpointSlice(metadata=ObjectMeta(name="s"), address_type="IPv4",
                           endpoints=[Endpoint(addresses=["10.0.0.1"],
                                               conditions=EndpointConditions(ready=True))])
    for obj in (deployment, job, binding, lease, slice_):
        _validate_kind(to_json(obj))


def test_schema_check_rejects_what_upstream_rejects() -> None:
    """The schema check has teeth: a misspelt or Python-side name fails it."""
    role = to_json(ClusterRole.from_json(CLUSTERROLE))
    role["rules"][0]["nonResourceUrls"] = role["rules"][0].pop("nonResourceURLs")
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_kind(role)
    deployment = to_json(Deployment.from_json(NGINX_DEPLOYMENT))
    deployment["spec"]["strategy"]["rollingUpdate"]["max_surge"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_kind(deployment)


@pytest.mark.parametrize("cls", ALL_MODELS, ids=lambda c: c.__name__)
def test_models_declare_exactly_upstreams_fields(cls: type[base.KubeModel]) -> None:
    """Every model has upstream's field names (so no valid field is reported unknown and no
    name is misspelt on the wire) and its required fields."""
    definition = _upstream_definition(cls)
    fields = cls.model_fields
    assert {f.alias for f in fields.values()} == set(definition.get("properties", {}))
    required = {f.alias for f in fields.values() if f.is_required()}
    always_written = {f.alias for f in fields.values() if f.is_required() or f.default_factory}
    upstream_required = set(definition.get("required", []))
    assert required <= upstream_required <= always_written


def test_every_upstream_struct_of_the_groups_is_modelled() -> None:
    """Nothing of the requested kinds is missing: every definition they reach is a model."""
    defs = _definitions()["$defs"]
    modelled = {_PREFIXES[c.__module__] + c.__name__ for c in ALL_MODELS}
    roots = [_PREFIXES[c.__module__] + c.__name__ for c in ALL_MODELS if issubclass(c, KubeObject)]
    seen: set[str] = set()

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            out = [node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else []
            return out + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or not name.startswith(tuple(_PREFIXES.values())):
            continue
        seen.add(name)
        stack.extend(refs(defs[name]))
    reached = {n for n in seen if not n.startswith("io.k8s.api.core.v1.")}
    assert reached <= modelled


# --------------------------------------------------------------------------------------------
# Unknown fields
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, doc", [(c, d) for _, c, d in ALL_DOCUMENTS],
                         ids=[n for n, _, _ in ALL_DOCUMENTS])
def test_valid_documents_have_no_unknown_fields(cls: type[KubeObject], doc: dict[str, Any]) -> None:
    assert unknown_fields(cls.from_json(doc)) == []


def test_unknown_fields_in_a_deployment() -> None:
    doc = copy.deepcopy(NGINX_DEPLOYMENT)
    doc["spec"]["replica"] = 3
    doc["spec"]["strategy"]["rollingUpdate"]["maxSurg"] = "25%"
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolizy"] = "Always"
    doc["spec"]["template"]["metadata"]["lables"] = {}
    doc["status"]["conditions"][1]["lastUpdate"] = "x"
    assert unknown_fields(Deployment.from_json(doc)) == [
        "spec.replica",
        "spec.template.metadata.lables",
        "spec.template.spec.containers[0].imagePullPolizy",
        "spec.strategy.rollingUpdate.maxSurg",
        "status.conditions[1].lastUpdate",
    ]


def test_unknown_fields_in_statefulset_daemonset_and_job() -> None:
    sts = copy.deepcopy(STATEFULSET)
    sts["spec"]["volumeClaimTemplates"][0]["spec"]["accessMode"] = ["ReadWriteOnce"]
    sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["request"] = {}
    sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDelete"] = "Retain"
    sts["spec"]["ordinals"]["begin"] = 1
    assert unknown_fields(StatefulSet.from_json(sts)) == [
        "spec.volumeClaimTemplates[0].spec.accessMode",
        "spec.volumeClaimTemplates[0].spec.resources.request",
        "spec.persistentVolumeClaimRetentionPolicy.whenDelete",
        "spec.ordinals.begin",
    ]
    ds = copy.deepcopy(DAEMONSET)
    ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailible"] = 1
    ds["status"]["numberMisScheduled"] = 0
    assert unknown_fields(DaemonSet.from_json(ds)) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailible", "status.numberMisScheduled"]
    job = copy.deepcopy(INDEXED_JOB)
    job["spec"]["podFailurePolicy"]["rules"][0]["onExitCode"] = {}
    job["spec"]["podFailurePolicy"]["rules"][1]["onPodConditions"][0]["reason"] = "x"
    job["spec"]["backOffLimit"] = 1
    job["status"]["uncountedTerminatedPods"]["succeded"] = []
    assert unknown_fields(Job.from_json(job)) == [
        "spec.backOffLimit",
        "spec.podFailurePolicy.rules[0].onExitCode",
        "spec.podFailurePolicy.rules[1].onPodConditions[0].reason",
        "status.uncountedTerminatedPods.succeded",
    ]


def test_unknown_fields_in_slices_leases_and_rbac() -> None:
    es = copy.deepcopy(ENDPOINT_SLICE)
    es["endpoints"][0]["conditions"]["readdy"] = True
    es["endpoints"][0]["hints"]["forZones"][0]["zone"] = "a"
    es["ports"][1]["targetPort"] = 53
    es["addresstype"] = "IPv4"
    assert unknown_fields(EndpointSlice.from_json(es)) == [
        "addresstype",
        "endpoints[0].conditions.readdy",
        "endpoints[0].hints.forZones[0].zone",
        "ports[1].targetPort",
    ]
    lease = copy.deepcopy(NODE_LEASE)
    lease["spec"]["holderIdentiy"] = "node-a"
    assert unknown_fields(LeaseList.from_json(_list_of(LeaseList, LEADER_LEASE, lease))) == [
        "items[1].spec.holderIdentiy"]
    role = copy.deepcopy(CLUSTERROLE)
    role["rules"][0]["nonResourceUrls"] = ["/metrics"]
    role["rules"][1]["apiGroup"] = ""
    role["aggregationRule"] = {"clusterRoleSelector": []}
    assert unknown_fields(ClusterRole.from_json(role)) == [
        "rules[0].nonResourceUrls", "rules[1].apiGroup", "aggregationRule.clusterRoleSelector"]
    binding = copy.deepcopy(ROLEBINDING)
    binding["subjects"][1]["namepace"] = "default"
    binding["roleRef"]["namespace"] = "default"
    assert unknown_fields(RoleBinding.from_json(binding)) == [
        "subjects[1].namepace", "roleRef.namespace"]


def test_to_json_drops_unknown_fields() -> None:
    doc = copy.deepcopy(NODE_LEASE)
    doc["spec"]["renewtime"] = "x"
    doc["statuss"] = {}
    assert to_json(Lease.from_json(doc)) == NODE_LEASE


def test_python_names_on_the_wire_are_unknown_fields() -> None:
    rule = PolicyRule.from_json({"verbs": ["get"], "non_resource_urls": ["/healthz"]})
    assert rule.non_resource_urls is None
    assert unknown_fields(rule) == ["non_resource_urls"]


# --------------------------------------------------------------------------------------------
# omitempty
# --------------------------------------------------------------------------------------------


def test_omitempty_counters_are_left_out_and_pointers_kept() -> None:
    status = DeploymentStatus(observed_generation=0, replicas=0, updated_replicas=0, ready_replicas=0,
                              available_replicas=0, unavailable_replicas=0, terminating_replicas=0,
                              collision_count=0, conditions=[])
    assert to_json(status) == {"terminatingReplicas": 0, "collisionCount": 0}
    template = PodTemplateSpec(spec=PodSpec(containers=[]))
    spec = DeploymentSpec(replicas=0, selector=LabelSelector(), template=template, min_ready_seconds=0,
                          paused=False, revision_history_limit=0)
    assert to_json(spec) == {"replicas": 0, "selector": {}, "template": {"spec": {"containers": []}},
                             "revisionHistoryLimit": 0}
    assert to_json(RollingUpdateDeployment(max_unavailable=0, max_surge="0%")) == {
        "maxUnavailable": 0, "maxSurge": "0%"}
    job = JobSpec(template=PodTemplateSpec(), backoff_limit=0, suspend=False, manual_selector=False,
                  completion_mode="")
    assert to_json(job) == {"template": {}, "backoffLimit": 0, "manualSelector": False,
                            "suspend": False}
    assert to_json(JobStatus(active=0, succeeded=0, failed=0, terminating=0, ready=0,
                             completed_indexes="")) == {"terminating": 0, "ready": 0}
    assert to_json(LeaseSpec(lease_transitions=0, holder_identity="")) == {"leaseTransitions": 0}
    assert to_json(PriorityClass(value=0, global_default=False, description="")) == {
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {}, "value": 0}
    assert to_json(EndpointConditions(ready=False)) == {"ready": False}
    assert to_json(discovery.EndpointPort(name="", port=53)) == {"name": "", "port": 53}
    assert to_json(discovery.EndpointPort(port=53)) == {"port": 53}


def test_fields_without_omitempty_are_always_written() -> None:
    assert to_json(ReplicaSetStatus(replicas=0, ready_replicas=0)) == {"replicas": 0}
    assert to_json(DaemonSetStatus(current_number_scheduled=0, number_misscheduled=0,
                                   desired_number_scheduled=0, number_ready=0, number_available=0)) == {
        "currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
        "numberReady": 0}
    assert to_json(StatefulSetStatus(replicas=0, available_replicas=0, ready_replicas=0)) == {
        "replicas": 0, "availableReplicas": 0}
    assert to_json(StatefulSetOrdinals(start=0)) == {"start": 0}
    assert to_json(Role(rules=[])) == {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                       "metadata": {}, "rules": []}
    assert to_json(PolicyRule(verbs=[], api_groups=[])) == {"verbs": []}
    assert to_json(EndpointSlice(address_type="FQDN")) == {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {},
        "addressType": "FQDN", "endpoints": []}
    assert to_json(Endpoint(addresses=[])) == {"addresses": []}
    assert to_json(ControllerRevision(revision=0)) == {
        "apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {}, "revision": 0}
    assert to_json(JobList()) == {"apiVersion": "batch/v1", "kind": "JobList", "metadata": {},
                                  "items": []}


def test_volume_claim_templates_are_full_claims() -> None:
    sts = StatefulSet.from_json(STATEFULSET)
    claim = sts.spec.volume_claim_templates[0]
    assert type(claim) is PersistentVolumeClaim
    assert claim.spec.resources.requests == {"storage": "1Gi"}
    assert claim.spec.data_source_ref.kind == "VolumeSnapshot"


# --------------------------------------------------------------------------------------------
# Names and kinds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, group, version, kind", [
    (Deployment, "apps", "v1", "Deployment"), (DeploymentList, "apps", "v1", "DeploymentList"),
    (ReplicaSet, "apps", "v1", "ReplicaSet"), (DaemonSet, "apps", "v1", "DaemonSet"),
    (StatefulSet, "apps", "v1", "StatefulSet"), (ControllerRevision, "apps", "v1", "ControllerRevision"),
    (Job, "batch", "v1", "Job"), (JobList, "batch", "v1", "JobList"),
    (EndpointSlice, "discovery.k8s.io", "v1", "EndpointSlice"),
    (Lease, "coordination.k8s.io", "v1", "Lease"),
    (PriorityClass, "scheduling.k8s.io", "v1", "PriorityClass"),
    (PriorityClassList, "scheduling.k8s.io", "v1", "PriorityClassList"),
    (Role, "rbac.authorization.k8s.io", "v1", "Role"),
    (ClusterRole, "rbac.authorization.k8s.io", "v1", "ClusterRole"),
    (RoleBinding, "rbac.authorization.k8s.io", "v1", "RoleBinding"),
    (ClusterRoleBinding, "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    (ClusterRoleBindingList, "rbac.authorization.k8s.io", "v1", "ClusterRoleBindingList"),
    (PersistentVolumeClaim, "", "v1", "PersistentVolumeClaim"),
])
def test_kind_constants_match_defaults(cls: type[KubeObject], group: str, version: str, kind: str) -> None:
    assert (cls.GROUP, cls.VERSION, cls.KIND) == (group, version, kind)
    fields = cls.model_fields
    expected = f"{group}/{version}" if group else version
    assert fields["api_version"].default == expected and fields["kind"].default == kind


def test_wire_names_that_no_rule_produces() -> None:
    rule = PolicyRule.from_json({"verbs": ["get"], "nonResourceURLs": ["/healthz"]})
    assert rule.non_resource_urls == ["/healthz"]
    assert to_json(PolicyRule(verbs=["get"], non_resource_urls=["/x"])) == {
        "verbs": ["get"], "nonResourceURLs": ["/x"]}
    spec = JobSpec(template=PodTemplateSpec(), ttl_seconds_after_finished=60)
    assert to_json(spec) == {"template": {}, "ttlSecondsAfterFinished": 60}


# --------------------------------------------------------------------------------------------
# Types: Go's decoder does not coerce, and neither do the models
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, doc, loc", [
    (DeploymentSpec, {"replicas": "3", "selector": {}, "template": {}}, ("replicas",)),
    (DeploymentSpec, {"replicas": 3.0, "selector": {}, "template": {}}, ("replicas",)),
    (DeploymentSpec, {"paused": "false", "selector": {}, "template": {}}, ("paused",)),
    (DeploymentSpec, {"selector": {}}, ("template",)),
    (RollingUpdateDeployment, {"maxSurge": 1.5}, ("maxSurge",)),
    (RollingUpdateDeployment, {"maxUnavailable": True}, ("maxUnavailable",)),
    (apps.ReplicaSetSpec, {"replicas": 1}, ("selector",)),
    (StatefulSetStatus, {"readyReplicas": 1}, ("replicas",)),
    (StatefulSetStatus, {"replicas": 2**31}, ("replicas",)),
    (apps.StatefulSetSpec, {"selector": {}, "template": {}, "volumeClaimTemplates": {}},
     ("volumeClaimTemplates",)),
    (DaemonSetStatus, {"currentNumberScheduled": 1, "numberMisscheduled": 0,
                       "desiredNumberScheduled": 1}, ("numberReady",)),
    (ControllerRevision, {"revision": 1.0}, ("revision",)),
    (JobSpec, {"template": {}, "backoffLimit": "6"}, ("backoffLimit",)),
    (JobSpec, {"template": {}, "suspend": 0}, ("suspend",)),
    (JobStatus, {"startTime": "yesterday"}, ("startTime",)),
    (batch.PodFailurePolicyOnExitCodesRequirement, {"operator": "In", "values": ["1"]}, ("values", 0)),
    (batch.PodFailurePolicyRule, {"onExitCodes": {"operator": "In", "values": [1]}}, ("action",)),
    (Endpoint, {"addresses": "10.0.0.1"}, ("addresses",)),
    (Endpoint, {}, ("addresses",)),
    (EndpointConditions, {"ready": "true"}, ("ready",)),
    (discovery.EndpointPort, {"port": "80"}, ("port",)),
    (EndpointSlice, {"endpoints": []}, ("addressType",)),
    (LeaseSpec, {"renewTime": "2024-05-01 12:00:00"}, ("renewTime",)),
    (LeaseSpec, {"leaseDurationSeconds": 2**31}, ("leaseDurationSeconds",)),
    (LeaseSpec, {"leaseTransitions": "1"}, ("leaseTransitions",)),
    (PriorityClass, {"metadata": {"name": "p"}}, ("value",)),
    (PriorityClass, {"value": "1000"}, ("value",)),
    (PriorityClass, {"value": 2**31}, ("value",)),
    (PriorityClass, {"value": 1, "globalDefault": "true"}, ("globalDefault",)),
    (PolicyRule, {"verbs": "get"}, ("verbs",)),
    (PolicyRule, {"resources": ["pods"]}, ("verbs",)),
    (RoleBinding, {"subjects": []}, ("roleRef",)),
    (RoleRef, {"kind": "Role", "name": "r"}, ("apiGroup",)),
    (Subject, {"kind": "User", "name": 7}, ("name",)),
    (core.PersistentVolumeClaimSpec, {"resources": {"requests": {"storage": True}}},
     ("resources", "requests", "storage")),
])
def test_wrong_types_raise(cls: type[base.KubeModel], doc: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        cls.from_json(doc)
    locs = [e["loc"][: len(loc)] for e in info.value.errors()]
    assert loc in locs


def test_wrong_type_deep_in_a_template_names_the_wire_path() -> None:
    doc = copy.deepcopy(STATEFULSET)
    doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    with pytest.raises(ValidationError) as info:
        StatefulSet.from_json(doc)
    assert [e["loc"] for e in info.value.errors()] == [
        ("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort")]


def test_int_or_string_keeps_its_json_type() -> None:
    d = Deployment.from_json(NGINX_DEPLOYMENT)
    assert d.spec.strategy.rolling_update.max_surge == "25%"
    ds = DaemonSet.from_json(DAEMONSET)
    assert ds.spec.update_strategy.rolling_update.max_unavailable == 1
    assert ds.spec.update_strategy.rolling_update.max_surge == 0
    assert to_json(ds.spec.update_strategy) == {"type": "RollingUpdate",
                                                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
