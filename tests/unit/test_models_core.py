"""core/v1 and meta/v1 models: exact JSON round trips, upstream's schemas, unknown fields,
omitempty, wire names and type strictness.

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

import jsonschema
import kubernetes_validate
import pytest
import referencing
from pydantic import ValidationError

from kubeapi.models import base, core, meta
from kubeapi.models import (
    Binding,
    ConfigMap,
    ConfigMapList,
    DeleteOptions,
    Endpoints,
    EndpointsList,
    Event,
    EventList,
    KubeObject,
    ListMeta,
    Namespace,
    NamespaceList,
    Node,
    NodeList,
    ObjectMeta,
    Pod,
    PodList,
    Secret,
    SecretList,
    Service,
    ServiceAccount,
    ServiceAccountList,
    ServiceList,
    Status,
    WatchEvent,
    to_json,
    unknown_fields,
)
from kubeapi.models.core import (
    Container,
    ContainerImage,
    ContainerPort,
    ContainerStatus,
    DaemonEndpoint,
    PodSpec,
    PodStatus,
    PodIP,
    ProjectedVolumeSource,
    ServicePort,
    ServiceSpec,
    Volume,
)

SCHEMA_VERSION = "1.34"
"""The Kubernetes release whose API the models follow, field for field."""

# --------------------------------------------------------------------------------------------
# Realistic manifests: what users write, and what kubelets and controllers report
# --------------------------------------------------------------------------------------------

NGINX_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-0",
        "namespace": "default",
        "labels": {"app": "web", "tier": "frontend"},
        "annotations": {"prometheus.io/scrape": "true"},
    },
    "spec": {
        "volumes": [
            {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "config", "configMap": {
                "name": "nginx-conf", "items": [{"key": "nginx.conf", "path": "nginx.conf"}],
                "defaultMode": 420}},
            {"name": "tls", "secret": {"secretName": "web-tls", "optional": False}},
            {"name": "logs", "hostPath": {"path": "/var/log/web", "type": "DirectoryOrCreate"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "web-data", "readOnly": True}},
            {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ]}},
            {"name": "podinfo", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "cpu_limit", "resourceFieldRef": {
                    "containerName": "nginx", "resource": "limits.cpu", "divisor": "1m"}},
            ]}},
            {"name": "share", "nfs": {"server": "10.0.0.5", "path": "/exports/web", "readOnly": True}},
        ],
        "initContainers": [{
            "name": "init-perms",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "chown -R 101:101 /cache"],
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
        }],
        "containers": [
            {
                "name": "nginx",
                "image": "nginx:1.25",
                "imagePullPolicy": "IfNotPresent",
                "command": ["nginx"],
                "args": ["-g", "daemon off;"],
                "workingDir": "/usr/share/nginx",
                "ports": [
                    {"name": "http", "containerPort": 80, "protocol": "TCP"},
                    {"name": "https", "containerPort": 443, "hostPort": 8443, "hostIP": "0.0.0.0",
                     "protocol": "TCP"},
                ],
                "env": [
                    {"name": "MODE", "value": "production"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "MEM_LIMIT", "valueFrom": {"resourceFieldRef": {
                        "resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {
                        "name": "web-config", "key": "log_level", "optional": True}}},
                    {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {
                        "name": "web-secret", "key": "token"}}},
                ],
                "envFrom": [
                    {"configMapRef": {"name": "web-env"}},
                    {"prefix": "DB_", "secretRef": {"name": "db-creds", "optional": True}},
                ],
                "resources": {
                    "requests": {"cpu": "250m", "memory": "64Mi"},
                    "limits": {"cpu": 1, "memory": "128Mi", "ephemeral-storage": 0.5},
                },
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf",
                     "readOnly": True},
                    {"name": "cache", "mountPath": "/var/cache/nginx"},
                    {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                     "readOnly": True},
                ],
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                                "httpHeaders": [{"name": "X-Probe", "value": "liveness"}]},
                    "initialDelaySeconds": 10, "timeoutSeconds": 1, "periodSeconds": 10,
                    "successThreshold": 1, "failureThreshold": 3,
                },
                "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
                "startupProbe": {"exec": {"command": ["cat", "/tmp/started"]},
                                 "periodSeconds": 2, "failureThreshold": 30},
                "lifecycle": {
                    "postStart": {"httpGet": {"path": "/warm", "port": 80}},
                    "preStop": {"exec": {"command": ["nginx", "-s", "quit"]}},
                },
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {
                    "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                    "runAsUser": 101, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
                    "allowPrivilegeEscalation": False,
                },
                "stdin": True,
                "tty": True,
            },
            {
                "name": "health-sidecar",
                "image": "example.com/grpc-health:1.0",
                "readinessProbe": {"grpc": {"port": 9090, "service": "web"}},
                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
            },
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "activeDeadlineSeconds": 3600,
        "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "serviceAccountName": "web",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsGroup": 101, "fsGroup": 101,
            "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}],
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "hostname": "web-0",
        "subdomain": "web",
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In",
                                           "values": ["amd64", "arm64"]}]},
                ]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 50, "preference": {"matchExpressions": [
                        {"key": "disktype", "operator": "In", "values": ["ssd"]}]}},
                ],
            },
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "cache"}},
                 "topologyKey": "topology.kubernetes.io/zone"},
            ]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {
                    "labelSelector": {"matchExpressions": [
                        {"key": "app", "operator": "In", "values": ["web"]}]},
                    "topologyKey": "kubernetes.io/hostname"}},
            ]},
        },
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
        ],
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["web.local"]}],
        "priorityClassName": "high-priority",
        "priority": 1000,
        "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["svc.example.com"],
                      "options": [{"name": "ndots", "value": "2"}]},
        "readinessGates": [{"conditionType": "example.com/lb-ready"}],
        "enableServiceLinks": False,
        "preemptionPolicy": "PreemptLowerPriority",
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 2,
        }],
    },
}

RUNNING_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "api-7c9d8f6b5-x2x4q",
        "generateName": "api-7c9d8f6b5-",
        "namespace": "prod",
        "uid": "3f0c3f5e-8a1b-4c2d-9e4f-5a6b7c8d9e0f",
        "resourceVersion": "48213",
        "creationTimestamp": "2024-05-01T12:00:00Z",
        "labels": {"app": "api", "pod-template-hash": "7c9d8f6b5"},
        "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7c9d8f6b5",
            "uid": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", "controller": True,
            "blockOwnerDeletion": True,
        }],
        "finalizers": ["example.com/drain"],
        "managedFields": [{
            "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
            "time": "2024-05-01T12:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
        }],
    },
    "spec": {
        "containers": [
            {"name": "api", "image": "example.com/api:2.3.1",
             "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
             "terminationMessagePath": "/dev/termination-log",
             "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"},
            {"name": "proxy", "image": "example.com/proxy:1.0", "resources": {}},
        ],
        "initContainers": [{"name": "migrate", "image": "example.com/api:2.3.1",
                            "args": ["migrate", "--to", "latest"]}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 0,
        "nodeName": "node-a",
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "schedulerName": "default-scheduler",
        "priority": 0,
    },
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True",
             "lastTransitionTime": "2024-05-01T12:00:03Z"},
            {"type": "Initialized", "status": "True", "lastTransitionTime": "2024-05-01T12:00:09Z"},
            {"type": "Ready", "status": "False", "lastTransitionTime": "2024-05-01T12:00:10Z",
             "reason": "ContainersNotReady", "message": "containers with unready status: [proxy]"},
            {"type": "ContainersReady", "status": "False",
             "lastTransitionTime": "2024-05-01T12:00:10Z", "reason": "ContainersNotReady",
             "message": "containers with unready status: [proxy]"},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-05-01T12:00:00Z"},
        ],
        "hostIP": "10.0.1.7",
        "hostIPs": [{"ip": "10.0.1.7"}],
        "podIP": "10.244.1.23",
        "podIPs": [{"ip": "10.244.1.23"}, {"ip": "fd00:10:244:1::17"}],
        "startTime": "2024-05-01T12:00:00Z",
        "initContainerStatuses": [{
            "name": "migrate",
            "state": {"terminated": {
                "exitCode": 0, "reason": "Completed", "startedAt": "2024-05-01T12:00:04Z",
                "finishedAt": "2024-05-01T12:00:08Z", "containerID": "containerd://aa11"}},
            "lastState": {},
            "ready": True, "restartCount": 0, "image": "example.com/api:2.3.1",
            "imageID": "example.com/api@sha256:0123abcd", "containerID": "containerd://aa11",
            "started": False,
        }],
        "containerStatuses": [
            {
                "name": "api",
                "state": {"running": {"startedAt": "2024-05-01T12:05:00Z"}},
                "lastState": {"terminated": {
                    "exitCode": 137, "signal": 9, "reason": "OOMKilled",
                    "message": "memory limit exceeded",
                    "startedAt": "2024-05-01T12:00:10Z", "finishedAt": "2024-05-01T12:04:59Z",
                    "containerID": "containerd://bb22"}},
                "ready": True, "restartCount": 2, "image": "example.com/api:2.3.1",
                "imageID": "example.com/api@sha256:0123abcd", "containerID": "containerd://cc33",
                "started": True,
                "volumeMounts": [{"name": "kube-api-access",
                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                  "readOnly": True, "recursiveReadOnly": "Disabled"}],
            },
            {
                "name": "proxy",
                "state": {"waiting": {"reason": "ImagePullBackOff",
                                      "message": "Back-off pulling image \"example.com/proxy:1.0\""}},
                "lastState": {},
                "ready": False, "restartCount": 0, "image": "example.com/proxy:1.0", "imageID": "",
                "started": False,
            },
        ],
        "qosClass": "Burstable",
    },
}

NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "node-a",
        "uid": "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a",
        "resourceVersion": "50001",
        "creationTimestamp": "2024-04-30T08:00:00Z",
        "labels": {"kubernetes.io/hostname": "node-a", "kubernetes.io/os": "linux",
                   "kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": "zone-a"},
        "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
    },
    "spec": {
        "podCIDR": "10.244.1.0/24",
        "podCIDRs": ["10.244.1.0/24", "fd00:10:244:1::/64"],
        "providerID": "raykube://zone-a/node-a",
        "unschedulable": True,
        "taints": [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
             "timeAdded": "2024-05-01T09:00:00Z"},
            {"key": "dedicated", "value": "gpu", "effect": "NoExecute"},
        ],
    },
    "status": {
        "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi",
                     "hugepages-2Mi": "0"},
        "allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": "110",
                        "ephemeral-storage": "95Gi", "hugepages-2Mi": "0"},
        "conditions": [
            {"type": "MemoryPressure", "status": "False",
             "lastHeartbeatTime": "2024-05-01T12:00:00Z",
             "lastTransitionTime": "2024-04-30T08:00:00Z",
             "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
            {"type": "DiskPressure", "status": "False",
             "lastHeartbeatTime": "2024-05-01T12:00:00Z",
             "lastTransitionTime": "2024-04-30T08:00:00Z",
             "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
            {"type": "PIDPressure", "status": "False",
             "lastHeartbeatTime": "2024-05-01T12:00:00Z",
             "lastTransitionTime": "2024-04-30T08:00:00Z",
             "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
            {"type": "Ready", "status": "True",
             "lastHeartbeatTime": "2024-05-01T12:00:00Z",
             "lastTransitionTime": "2024-04-30T08:00:30Z",
             "reason": "KubeletReady", "message": "kubelet is posting ready status"},
        ],
        "addresses": [
            {"type": "InternalIP", "address": "10.0.1.7"},
            {"type": "Hostname", "address": "node-a"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "4f6c1e2d3b4a5968778695a4b3c2d1e0",
            "systemUUID": "6a7b8c9d-0e1f-2a3b-4c5d-6e7f8a9b0c1d",
            "bootID": "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
            "kernelVersion": "6.1.0-18-amd64",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "containerRuntimeVersion": "raykube-cri://0.1.0",
            "kubeletVersion": "v1.34.0",
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
            "swap": {"capacity": 0},
        },
        "images": [
            {"names": ["docker.io/library/nginx@sha256:abcd", "docker.io/library/nginx:1.25"],
             "sizeBytes": 70520312},
            {"names": ["registry.k8s.io/pause:3.9"], "sizeBytes": 321520},
        ],
        "runtimeHandlers": [{"name": "", "features": {"recursiveReadOnlyMounts": True,
                                                       "userNamespaces": False}}],
        "features": {"supplementalGroupsPolicy": True},
    },
}

NODEPORT_SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {
        "ports": [
            {"name": "http", "protocol": "TCP", "appProtocol": "http", "port": 80,
             "targetPort": "http", "nodePort": 30080},
            {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 8443, "nodePort": 30443},
        ],
        "selector": {"app": "web"},
        "clusterIP": "10.96.12.34",
        "clusterIPs": ["10.96.12.34"],
        "type": "NodePort",
        "externalIPs": ["192.0.2.10"],
        "sessionAffinity": "ClientIP",
        "externalTrafficPolicy": "Local",
        "publishNotReadyAddresses": True,
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    },
    "status": {"loadBalancer": {}},
}

LOADBALANCER_SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "edge", "namespace": "default"},
    "spec": {
        "ports": [{"protocol": "TCP", "port": 443, "targetPort": 8443, "nodePort": 31443}],
        "selector": {"app": "edge"},
        "type": "LoadBalancer",
        "loadBalancerIP": "203.0.113.7",
        "loadBalancerSourceRanges": ["198.51.100.0/24"],
        "externalTrafficPolicy": "Local",
        "healthCheckNodePort": 32100,
        "allocateLoadBalancerNodePorts": False,
        "loadBalancerClass": "raykube.io/simulated",
    },
    "status": {
        "loadBalancer": {"ingress": [
            {"ip": "203.0.113.7", "ipMode": "VIP", "ports": [{"port": 443, "protocol": "TCP"}]},
            {"hostname": "edge.lb.example.com"},
        ]},
        "conditions": [{
            "type": "LoadBalancerReady", "status": "True", "observedGeneration": 2,
            "lastTransitionTime": "2024-05-01T12:00:00Z", "reason": "Provisioned",
            "message": "",
        }],
    },
}

EXTERNALNAME_SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "db", "namespace": "default"},
    "spec": {"type": "ExternalName", "externalName": "db.example.com"},
}

NAMESPACE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "prod", "labels": {"kubernetes.io/metadata.name": "prod"}},
    "spec": {"finalizers": ["kubernetes"]},
    "status": {"phase": "Active"},
}

TERMINATING_NAMESPACE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "old", "deletionTimestamp": "2024-05-01T12:30:00Z",
                 "deletionGracePeriodSeconds": 0},
    "spec": {"finalizers": ["kubernetes"]},
    "status": {"phase": "Terminating", "conditions": [{
        "type": "NamespaceContentRemaining", "status": "True",
        "lastTransitionTime": "2024-05-01T12:30:05Z", "reason": "SomeResourcesRemain",
        "message": "Some resources are remaining: pods. has 2 resource instances",
    }]},
}

ENDPOINTS: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Endpoints",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "subsets": [{
        "addresses": [
            {"ip": "10.244.1.23", "hostname": "web-0", "nodeName": "node-a",
             "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0",
                           "uid": "3f0c3f5e-8a1b-4c2d-9e4f-5a6b7c8d9e0f"}},
            {"ip": "10.244.2.9", "nodeName": "node-b",
             "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1"}},
        ],
        "notReadyAddresses": [{"ip": "10.244.3.4", "nodeName": "node-c"}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "http"},
                  {"name": "https", "port": 8443, "protocol": "TCP"}],
    }],
}

CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "nginx-conf", "namespace": "default"},
    "immutable": True,
    "data": {"nginx.conf": "events {}\nhttp { server { listen 80; } }\n", "log_level": "info"},
    "binaryData": {"favicon.ico": "AAABAAEAEBA=", "blob": "3q2+7w=="},
}

SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "web-tls", "namespace": "default"},
    "immutable": False,
    "data": {"tls.crt": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t", "tls.key": "a2V5"},
    "type": "kubernetes.io/tls",
}

STRINGDATA_SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db-creds", "namespace": "default"},
    "stringData": {"username": "app", "password": "s3cr3t"},
    "type": "Opaque",
}

SERVICE_ACCOUNT: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ServiceAccount",
    "metadata": {"name": "web", "namespace": "default"},
    "secrets": [{"name": "web-token-abcde"}],
    "imagePullSecrets": [{"name": "registry-creds"}],
    "automountServiceAccountToken": False,
}

EVENT: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web-0.17c8f2a1b3d4e5f6", "namespace": "default",
                 "creationTimestamp": "2024-05-01T12:00:01Z"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0",
                       "uid": "3f0c3f5e-8a1b-4c2d-9e4f-5a6b7c8d9e0f", "apiVersion": "v1",
                       "resourceVersion": "48213", "fieldPath": "spec.containers{nginx}"},
    "reason": "BackOff",
    "message": "Back-off restarting failed container nginx in pod web-0_default",
    "source": {"component": "kubelet", "host": "node-a"},
    "firstTimestamp": "2024-05-01T12:00:01Z",
    "lastTimestamp": "2024-05-01T12:03:41Z",
    "count": 7,
    "type": "Warning",
    "eventTime": "2024-05-01T12:00:01.123456Z",
    "series": {"count": 6, "lastObservedTime": "2024-05-01T12:03:41.654321Z"},
    "action": "Restarting",
    "related": {"kind": "Node", "name": "node-a"},
    "reportingComponent": "kubelet",
    "reportingInstance": "node-a",
}

LEGACY_EVENT: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web-0.17c8f2a1b3d4e5f7", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0"},
    "reason": "Scheduled",
    "message": "Successfully assigned default/web-0 to node-a",
    "source": {"component": "default-scheduler"},
    "type": "Normal",
    "reportingComponent": "",
    "reportingInstance": "",
}

BINDING: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Binding",
    "metadata": {"name": "web-0", "namespace": "default",
                 "uid": "3f0c3f5e-8a1b-4c2d-9e4f-5a6b7c8d9e0f"},
    "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"},
}

MANIFESTS: list[tuple[str, type[KubeObject], dict[str, Any]]] = [
    ("nginx-pod", Pod, NGINX_POD),
    ("running-pod", Pod, RUNNING_POD),
    ("node", Node, NODE),
    ("nodeport-service", Service, NODEPORT_SERVICE),
    ("loadbalancer-service", Service, LOADBALANCER_SERVICE),
    ("externalname-service", Service, EXTERNALNAME_SERVICE),
    ("namespace", Namespace, NAMESPACE),
    ("terminating-namespace", Namespace, TERMINATING_NAMESPACE),
    ("endpoints", Endpoints, ENDPOINTS),
    ("configmap", ConfigMap, CONFIGMAP),
    ("secret", Secret, SECRET),
    ("stringdata-secret", Secret, STRINGDATA_SECRET),
    ("serviceaccount", ServiceAccount, SERVICE_ACCOUNT),
    ("event", Event, EVENT),
    ("legacy-event", Event, LEGACY_EVENT),
    ("binding", Binding, BINDING),
]


def _list_of(list_cls: type[KubeObject], *items: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": list_cls.KIND,
        "metadata": {"resourceVersion": "50123", "continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ",
                     "remainingItemCount": 0},
        "items": [copy.deepcopy(i) for i in items],
    }


LISTS: list[tuple[str, type[KubeObject], dict[str, Any]]] = [
    ("PodList", PodList, _list_of(PodList, NGINX_POD, RUNNING_POD)),
    ("NodeList", NodeList, _list_of(NodeList, NODE)),
    ("ServiceList", ServiceList,
     _list_of(ServiceList, NODEPORT_SERVICE, LOADBALANCER_SERVICE, EXTERNALNAME_SERVICE)),
    ("NamespaceList", NamespaceList, _list_of(NamespaceList, NAMESPACE, TERMINATING_NAMESPACE)),
    ("EndpointsList", EndpointsList, _list_of(EndpointsList, ENDPOINTS)),
    ("ConfigMapList", ConfigMapList, _list_of(ConfigMapList, CONFIGMAP)),
    ("SecretList", SecretList, _list_of(SecretList, SECRET, STRINGDATA_SECRET)),
    ("ServiceAccountList", ServiceAccountList, _list_of(ServiceAccountList, SERVICE_ACCOUNT)),
    ("EventList", EventList, _list_of(EventList, EVENT, LEGACY_EVENT)),
    ("EmptyPodList", PodList, {"apiVersion": "v1", "kind": "PodList",
                               "metadata": {"resourceVersion": "7"}, "items": []}),
]

ALL_DOCUMENTS = MANIFESTS + LISTS

CONFLICT_STATUS: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
    "message": "pods \"web-0\" already exists", "reason": "AlreadyExists",
    "details": {"name": "web-0", "kind": "pods"}, "code": 409,
}

INVALID_STATUS: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
    "message": "Pod \"web-0\" is invalid: spec.containers[0].name: Required value",
    "reason": "Invalid",
    "details": {"name": "web-0", "kind": "Pod", "causes": [
        {"reason": "FieldValueRequired", "message": "Required value",
         "field": "spec.containers[0].name"}]},
    "code": 422,
}

THROTTLED_STATUS: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
    "message": "Too many requests", "reason": "TooManyRequests",
    "details": {"retryAfterSeconds": 1}, "code": 429,
}

EXPIRED_STATUS: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Status",
    "metadata": {"resourceVersion": "12", "continue": "abc"}, "status": "Failure",
    "message": "The provided continue parameter is too old", "reason": "Expired", "code": 410,
}

DELETE_OPTIONS: dict[str, Any] = {
    "kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
    "preconditions": {"uid": "3f0c3f5e-8a1b-4c2d-9e4f-5a6b7c8d9e0f", "resourceVersion": "48213"},
    "orphanDependents": False, "propagationPolicy": "Foreground", "dryRun": ["All"],
}

WATCH_EVENT: dict[str, Any] = {"type": "MODIFIED", "object": copy.deepcopy(RUNNING_POD)}

META_DOCUMENTS: list[tuple[str, type, dict[str, Any], str]] = [
    ("status-409", Status, CONFLICT_STATUS, "Status"),
    ("status-422", Status, INVALID_STATUS, "Status"),
    ("status-429", Status, THROTTLED_STATUS, "Status"),
    ("status-410", Status, EXPIRED_STATUS, "Status"),
    ("delete-options", DeleteOptions, DELETE_OPTIONS, "DeleteOptions"),
    ("watch-event", WatchEvent, WATCH_EVENT, "WatchEvent"),
]

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


@functools.cache
def _definition_validator(name: str) -> jsonschema.protocols.Validator:
    """A strict validator for one upstream definition, for the meta/v1 types that
    kubernetes-validate cannot look up by apiVersion/kind (Status, DeleteOptions...)."""
    defs = _definitions()
    registry = referencing.Resource.from_contents(defs) @ referencing.Registry()
    schema = {"$ref": f"{defs['$id']}#/$defs/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _upstream_definition(cls: type) -> dict[str, Any]:
    prefix = {
        meta.__name__: "io.k8s.apimachinery.pkg.apis.meta.v1.",
        core.__name__: "io.k8s.api.core.v1.",
    }[cls.__module__]
    return _definitions()["$defs"][prefix + cls.__name__]


def _models_of(module: Any) -> list[type[base.KubeModel]]:
    return [
        cls for cls in vars(module).values()
        if inspect.isclass(cls) and issubclass(cls, base.KubeModel) and cls.__module__ == module.__name__
        and cls not in (meta.TypeMeta, meta.KubeObject)
    ]


ALL_MODELS = _models_of(meta) + _models_of(core)

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


@pytest.mark.parametrize("cls, doc, definition", [(c, d, n) for _, c, d, n in META_DOCUMENTS],
                         ids=[n for n, _, _, _ in META_DOCUMENTS])
def test_meta_documents_round_trip_and_pass_schema(cls: type, doc: dict[str, Any], definition: str) -> None:
    out = to_json(cls.from_json(copy.deepcopy(doc)))
    assert out == doc
    _definition_validator(f"io.k8s.apimachinery.pkg.apis.meta.v1.{definition}").validate(out)
    if cls is WatchEvent:
        _validate_kind(out["object"])


def test_schema_check_rejects_what_upstream_rejects() -> None:
    """The schema check has teeth: a Python-side name or an unknown field fails it."""
    pod = to_json(Pod.from_json(NGINX_POD))
    pod["spec"]["containers"][0]["image_pull_policy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_kind(pod)
    status = dict(CONFLICT_STATUS, retry_after=1)
    with pytest.raises(jsonschema.ValidationError):
        _definition_validator("io.k8s.apimachinery.pkg.apis.meta.v1.Status").validate(status)


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


# --------------------------------------------------------------------------------------------
# Unknown fields
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, doc", [(c, d) for _, c, d in ALL_DOCUMENTS],
                         ids=[n for n, _, _ in ALL_DOCUMENTS])
def test_valid_documents_have_no_unknown_fields(cls: type[KubeObject], doc: dict[str, Any]) -> None:
    assert unknown_fields(cls.from_json(doc)) == []


def test_unknown_fields_are_reported_at_their_paths() -> None:
    doc = copy.deepcopy(NGINX_POD)
    doc["metadata"]["lables"] = {"app": "web"}
    doc["spec"]["containers"][0]["imagePullPolizy"] = "Always"
    doc["spec"]["containers"][1]["readinessProbe"]["grpc"]["svc"] = "x"
    doc["spec"]["volumes"][2]["configMap"]["items"][0]["mod"] = 420
    doc["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"][0]["value"] = "amd64"
    doc["specc"] = {}
    pod = Pod.from_json(doc)
    assert unknown_fields(pod) == [
        "specc",
        "metadata.lables",
        "spec.volumes[2].configMap.items[0].mod",
        "spec.containers[0].imagePullPolizy",
        "spec.containers[1].readinessProbe.grpc.svc",
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].value",
    ]
    assert unknown_fields(pod.spec, "spec") == [p for p in unknown_fields(pod) if p.startswith("spec.")]


def test_unknown_fields_in_status_lists_and_nested_lists() -> None:
    doc = _list_of(PodList, RUNNING_POD)
    doc["items"][0]["status"]["containerStatuses"][0]["state"]["running"]["startedat"] = "x"
    doc["metadata"]["continu"] = "x"
    assert unknown_fields(PodList.from_json(doc)) == [
        "metadata.continu",
        "items[0].status.containerStatuses[0].state.running.startedat",
    ]


def test_python_names_on_the_wire_are_unknown_fields() -> None:
    """``image_pull_policy`` is how Python spells it, not the API: a request using it has an
    unknown field (and the value is not applied), exactly as upstream would treat it."""
    pod = Pod.from_json({"metadata": {"name": "p", "resource_version": "3"},
                         "spec": {"containers": [{"name": "c", "image_pull_policy": "Always"}]}})
    assert pod.spec.containers[0].image_pull_policy is None
    assert unknown_fields(pod) == ["metadata.resource_version", "spec.containers[0].image_pull_policy"]


def test_to_json_drops_unknown_fields() -> None:
    doc = copy.deepcopy(CONFIGMAP)
    doc["dataa"] = {"x": "y"}
    doc["metadata"]["nmae"] = "typo"
    assert to_json(ConfigMap.from_json(doc)) == CONFIGMAP


def test_opaque_volume_sources_are_known_but_unchecked() -> None:
    vol = Volume.from_json({"name": "v", "csi": {"driver": "x.example.com", "anything": {"a": [1]}}})
    assert unknown_fields(vol) == []
    assert to_json(vol) == {"name": "v", "csi": {"driver": "x.example.com", "anything": {"a": [1]}}}


# --------------------------------------------------------------------------------------------
# omitempty
# --------------------------------------------------------------------------------------------


def test_python_object_with_only_required_fields_has_no_empty_keys() -> None:
    pod = Pod(metadata=ObjectMeta(name="p"), spec=PodSpec(containers=[Container(name="c")]))
    assert to_json(pod) == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c"}]},
    }
    assert to_json(Binding(target=core.ObjectReference(name="n"))) == {
        "apiVersion": "v1", "kind": "Binding", "metadata": {}, "target": {"name": "n"}}


def test_omitempty_values_are_left_out() -> None:
    container = Container(
        name="c", image="", args=[], env=[], stdin=False, tty=False,
        ports=[ContainerPort(container_port=80, host_port=0, name="")],
        resources=core.ResourceRequirements(limits={}),
    )
    assert to_json(container) == {"name": "c", "ports": [{"containerPort": 80}], "resources": {}}
    spec = PodSpec(containers=[], host_network=False, node_selector={}, volumes=[])
    assert to_json(spec) == {"containers": []}
    assert to_json(ObjectMeta(name="x", generation=0, labels={}, finalizers=[])) == {"name": "x"}
    assert to_json(ServicePort(port=80, node_port=0)) == {"port": 80}


def test_pointer_fields_keep_false_and_zero() -> None:
    spec = PodSpec(containers=[Container(name="c")], termination_grace_period_seconds=0,
                   automount_service_account_token=False, priority=0, host_network=True)
    assert to_json(spec) == {
        "containers": [{"name": "c"}], "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False, "hostNetwork": True, "priority": 0,
    }
    assert to_json(ListMeta(remaining_item_count=0)) == {"remainingItemCount": 0}
    assert to_json(DeleteOptions(grace_period_seconds=0, orphan_dependents=False)) == {
        "gracePeriodSeconds": 0, "orphanDependents": False}


def test_fields_without_omitempty_are_always_written() -> None:
    status = ContainerStatus(name="c", ready=False, restart_count=0, image="", image_id="")
    assert to_json(status) == {"name": "c", "ready": False, "restartCount": 0, "image": "",
                               "imageID": ""}
    assert to_json(ContainerImage(names=[])) == {"names": []}
    assert to_json(ProjectedVolumeSource(sources=[])) == {"sources": []}
    event = Event(involved_object=core.ObjectReference(), reporting_component="",
                  reporting_instance="")
    assert to_json(event) == {"apiVersion": "v1", "kind": "Event", "metadata": {},
                              "involvedObject": {}, "reportingComponent": "",
                              "reportingInstance": ""}
    assert to_json(PodList()) == {"apiVersion": "v1", "kind": "PodList", "metadata": {},
                                  "items": []}


def test_none_is_never_written() -> None:
    out = to_json(Pod.from_json(RUNNING_POD))

    def walk(value: Any) -> None:
        assert value is not None
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(out)


# --------------------------------------------------------------------------------------------
# Names and kinds
# --------------------------------------------------------------------------------------------


def test_aliases_for_keywords_and_initialisms() -> None:
    lm = ListMeta.from_json({"continue": "tok", "remainingItemCount": 3})
    assert lm.continue_ == "tok" and lm.remaining_item_count == 3
    assert to_json(ListMeta(continue_="tok")) == {"continue": "tok"}
    assert to_json(DaemonEndpoint(port=10250)) == {"Port": 10250}
    status = PodStatus(pod_ip="10.0.0.1", pod_ips=[PodIP(ip="10.0.0.1")], host_ip="10.1.0.1",
                       qos_class="BestEffort")
    assert to_json(status) == {"hostIP": "10.1.0.1", "podIP": "10.0.0.1",
                               "podIPs": [{"ip": "10.0.0.1"}], "qosClass": "BestEffort"}
    spec = ServiceSpec(cluster_ips=["10.96.0.1"], external_ips=["1.2.3.4"], ip_families=["IPv4"])
    assert to_json(spec) == {"clusterIPs": ["10.96.0.1"], "externalIPs": ["1.2.3.4"],
                             "ipFamilies": ["IPv4"]}
    ps = PodSpec(containers=[], host_ipc=True, host_pid=True, set_hostname_as_fqdn=True)
    assert to_json(ps) == {"containers": [], "hostPID": True, "hostIPC": True,
                           "setHostnameAsFQDN": True}
    assert base.to_camel("image_pull_policy") == "imagePullPolicy"
    assert base.to_camel("api_version") == "apiVersion"
    assert base.to_camel("downward_api") == "downwardAPI"


def test_keyword_construction_accepts_python_and_wire_names() -> None:
    a = Container(name="c", image_pull_policy="Always")
    b = Container.model_validate({"name": "c", "imagePullPolicy": "Always"})
    assert to_json(a) == to_json(b) == {"name": "c", "imagePullPolicy": "Always"}


@pytest.mark.parametrize("cls, group, version, kind", [
    (Pod, "", "v1", "Pod"), (PodList, "", "v1", "PodList"), (Node, "", "v1", "Node"),
    (Service, "", "v1", "Service"), (Endpoints, "", "v1", "Endpoints"),
    (EndpointsList, "", "v1", "EndpointsList"), (ConfigMap, "", "v1", "ConfigMap"),
    (Secret, "", "v1", "Secret"), (ServiceAccount, "", "v1", "ServiceAccount"),
    (Event, "", "v1", "Event"), (Binding, "", "v1", "Binding"), (Namespace, "", "v1", "Namespace"),
    (Status, "", "v1", "Status"),
])
def test_kind_constants_match_defaults(cls: type[KubeObject], group: str, version: str, kind: str) -> None:
    assert (cls.GROUP, cls.VERSION, cls.KIND) == (group, version, kind)
    fields = cls.model_fields
    assert fields["api_version"].default == version and fields["kind"].default == kind


def test_kind_constants_follow_a_grouped_api_version() -> None:
    class Widget(KubeObject):
        api_version: str = "example.com/v1beta1"
        kind: str = "Widget"

    assert (Widget.GROUP, Widget.VERSION, Widget.KIND) == ("example.com", "v1beta1", "Widget")
    assert to_json(Widget()) == {"apiVersion": "example.com/v1beta1", "kind": "Widget"}


def test_a_kind_without_fixed_defaults_is_refused() -> None:
    with pytest.raises(TypeError, match="fixed defaults"):
        class Broken(KubeObject):  # noqa: F841
            kind: str = "Broken"


def test_metadata_is_always_present_for_convenience() -> None:
    assert Pod().metadata.name is None
    assert Pod.from_json({"apiVersion": "v1", "kind": "Pod"}).metadata == ObjectMeta()


# --------------------------------------------------------------------------------------------
# Types: Go's decoder does not coerce, and neither do the models
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, doc, loc", [
    (ContainerPort, {"containerPort": "eighty"}, ("containerPort",)),
    (ContainerPort, {"containerPort": "80"}, ("containerPort",)),
    (ContainerPort, {"containerPort": 80.0}, ("containerPort",)),
    (ContainerPort, {"containerPort": True}, ("containerPort",)),
    (ContainerPort, {"containerPort": 2**31}, ("containerPort",)),
    (Container, {"name": "c", "stdin": "true"}, ("stdin",)),
    (Container, {"name": 7}, ("name",)),
    (Container, {}, ("name",)),
    (ObjectMeta, {"labels": {"app": 1}}, ("labels", "app")),
    (ObjectMeta, {"creationTimestamp": "yesterday"}, ("creationTimestamp",)),
    (ObjectMeta, {"generation": 2**63}, ("generation",)),
    (PodSpec, {"containers": {"name": "c"}}, ("containers",)),
    (PodSpec, {}, ("containers",)),
    (Secret, {"data": {"k": "not base64!"}}, ("data", "k")),
    (ServicePort, {"port": 80, "targetPort": 8.5}, ("targetPort",)),
    (ServicePort, {"port": 80, "targetPort": True}, ("targetPort",)),
    (Node, {"status": {"capacity": {"cpu": True}}}, ("status", "capacity", "cpu")),
    (ListMeta, {"remainingItemCount": "3"}, ("remainingItemCount",)),
    (DaemonEndpoint, {"port": 10250}, ("Port",)),
])
def test_wrong_types_raise(cls: type[base.KubeModel], doc: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        cls.from_json(doc)
    locs = [e["loc"][: len(loc)] for e in info.value.errors()]
    assert loc in locs


def test_wrong_type_deep_in_a_pod_names_the_wire_path() -> None:
    doc = copy.deepcopy(NGINX_POD)
    doc["spec"]["containers"][0]["ports"][1]["containerPort"] = "eighty"
    with pytest.raises(ValidationError) as info:
        Pod.from_json(doc)
    assert [e["loc"] for e in info.value.errors()] == [
        ("spec", "containers", 0, "ports", 1, "containerPort")]


def test_int_or_string_and_quantities_keep_their_json_type() -> None:
    port = ServicePort.from_json({"port": 80, "targetPort": "8080"})
    assert port.target_port == "8080"
    assert ServicePort.from_json({"port": 80, "targetPort": 8080}).target_port == 8080
    node = Node.from_json({"status": {"capacity": {"cpu": 4, "memory": "1Gi", "x": 0.5}}})
    assert node.status.capacity == {"cpu": 4, "memory": "1Gi", "x": 0.5}
