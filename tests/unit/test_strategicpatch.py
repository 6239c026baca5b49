"""Unit tests for kubeapi.strategicpatch: strategic merge patch as the reference
apiserver applies it (list merge keys and strategies, the $patch,
$retainKeys, $setElementOrder and $deleteFromPrimitiveList directives, and the
resulting element order)."""
from __future__ import annotations

import copy

import pytest

from kubeapi.patch import apply_merge_patch
from kubeapi.strategicpatch import (
    TYPES,
    ListField,
    StrategicPatchError,
    apply_strategic_merge_patch,
    kind_type,
)


def ctr(name: str, image: str | None = None, **fields) -> dict:
    c = {"name": name}
    if image is not None:
        c["image"] = image
    c.update(fields)
    return c


def pod(*containers: dict, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": list(containers), **spec}}


def workload(kind: str, *containers: dict, **pod_spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "w"}},
                     "template": {"metadata": {"labels": {"app": "w"}},
                                  "spec": {"containers": list(containers), **pod_spec}}}}


def pod_patch(**spec) -> dict:
    return {"spec": spec}


def template_patch(**spec) -> dict:
    return {"spec": {"template": {"spec": spec}}}


def with_containers(obj: dict, containers: list) -> dict:
    out = copy.deepcopy(obj)
    out["spec"]["containers"] = containers
    return out


def with_template_containers(obj: dict, containers: list) -> dict:
    out = copy.deepcopy(obj)
    out["spec"]["template"]["spec"]["containers"] = containers
    return out


def names(lst: list) -> list:
    return [x["name"] for x in lst]


# The Deployment of "Update API Objects in Place Using kubectl patch".
PATCH_DEMO = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "patch-demo"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "nginx"}},
             "template": {"metadata": {"labels": {"app": "nginx"}},
                          "spec": {"containers": [{"name": "patch-demo-ctr", "image": "nginx"}],
                                   "tolerations": [{"effect": "NoSchedule", "key": "dedicated",
                                                    "value": "test-team"}]}}},
}
RETAIN_DEMO = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "retainkeys-demo"},
    "spec": {"selector": {"matchLabels": {"app": "nginx"}},
             "strategy": {"type": "RollingUpdate",
                          "rollingUpdate": {"maxSurge": "30%", "maxUnavailable": "25%"}},
             "template": {"metadata": {"labels": {"app": "nginx"}},
                          "spec": {"containers": [{"name": "retainkeys-demo-ctr",
                                                   "image": "nginx"}]}}},
}

ABC = pod(ctr("a", "img-a"), ctr("b", "img-b"), ctr("c", "img-c"))
TWO = pod(ctr("nginx", "nginx:1.25"), ctr("sidecar", "busybox"))
DEP_TWO = workload("Deployment", ctr("nginx", "nginx:1.25"), ctr("sidecar", "busybox"))
ENV_POD = pod(ctr("app", "app:1", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                  ports=[{"containerPort": 80, "name": "http", "protocol": "TCP"},
                         {"containerPort": 443, "name": "https", "protocol": "TCP"}],
                  volumeMounts=[{"name": "data", "mountPath": "/data"},
                                {"name": "cfg", "mountPath": "/etc/cfg"}],
                  args=["--a", "--b"], command=["/bin/app"],
                  resources={"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}}),
              volumes=[{"name": "data", "emptyDir": {}},
                       {"name": "cfg", "configMap": {"name": "cfg-v1"}}])


def env_pod_container(**changes) -> dict:
    out = copy.deepcopy(ENV_POD)
    c = out["spec"]["containers"][0]
    for k, v in changes.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return out


def env_pod_spec(**changes) -> dict:
    out = copy.deepcopy(ENV_POD)
    out["spec"].update(changes)
    return out


def updated(obj: dict, path: str, value) -> dict:
    """``obj`` with the dotted ``path`` set to ``value`` (or removed, for None)."""
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return out


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
           "spec": {"selector": {"app": "w"}, "type": "ClusterIP",
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                              {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]},
           "status": {"loadBalancer": {}}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "spec": {"podCIDRs": ["10.0.1.0/24"]},
        "status": {"conditions": [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                          {"type": "Hostname", "address": "n1"}]}}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"a": "1"}},
             "data": {"k1": "v1", "k2": "v2"}}

# (name, kind, original, patch, expected)
CASES = [
    # ------------------------------------------------------------ containers, merged by name
    ("kubectl patch docs: a container added to the template goes first, tolerations kept",
     "Deployment", PATCH_DEMO,
     template_patch(containers=[{"name": "patch-demo-ctr-2", "image": "redis"}]),
     with_template_containers(PATCH_DEMO, [{"name": "patch-demo-ctr-2", "image": "redis"},
                                           {"name": "patch-demo-ctr", "image": "nginx"}])),
    ("container image changed by name, other fields and containers kept, order kept",
     "Pod", ABC, pod_patch(containers=[{"name": "b", "image": "img-b2"}]),
     with_containers(ABC, [ctr("a", "img-a"), ctr("b", "img-b2"), ctr("c", "img-c")])),
    ("container added to a pod goes before the server's containers",
     "Pod", ABC, pod_patch(containers=[ctr("d", "img-d")]),
     with_containers(ABC, [ctr("d", "img-d"), ctr("a", "img-a"), ctr("b", "img-b"), ctr("c", "img-c")])),
    ("patch order wins over the live order; untouched containers keep their place",
     "Pod", ABC, pod_patch(containers=[{"name": "c", "tty": True}, {"name": "a", "tty": True}]),
     with_containers(ABC, [ctr("b", "img-b"), ctr("c", "img-c", tty=True), ctr("a", "img-a", tty=True)])),
    ("a new and an existing container in one patch",
     "Pod", pod(ctr("a", "1"), ctr("b", "1")), pod_patch(containers=[ctr("x", "1"), ctr("a", "2")]),
     pod(ctr("x", "1"), ctr("a", "2"), ctr("b", "1"))),
    ("$patch: delete removes a container by name",
     "Pod", ABC, pod_patch(containers=[{"name": "b", "$patch": "delete"}]),
     with_containers(ABC, [ctr("a", "img-a"), ctr("c", "img-c")])),
    ("$patch: delete removes every element carrying that key",
     "Pod", pod(ctr("a", "1"), ctr("b", "1"), ctr("a", "2")),
     pod_patch(containers=[{"name": "a", "$patch": "delete"}]),
     pod(ctr("b", "1"))),
    ("$patch: delete of a missing container changes nothing",
     "Pod", ABC, pod_patch(containers=[{"name": "zz", "$patch": "delete"}]), ABC),
    ("delete one container and change another",
     "Pod", ABC, pod_patch(containers=[{"name": "a", "$patch": "delete"}, {"name": "c", "image": "img-c2"}]),
     with_containers(ABC, [ctr("b", "img-b"), ctr("c", "img-c2")])),
    ("null in a container removes that field",
     "Pod", pod(ctr("a", "1", workingDir="/w")), pod_patch(containers=[{"name": "a", "workingDir": None}]),
     pod(ctr("a", "1"))),
    ("container list absent from the original: taken from the patch, deletions dropped",
     "Pod", {"kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
     pod_patch(containers=[ctr("b", "1"), {"name": "z", "$patch": "delete"}, ctr("a", "1")]),
     {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [ctr("b", "1"), ctr("a", "1")]}}),
    ("initContainers merge by name",
     "Pod", pod(ctr("main", "m"), initContainers=[ctr("init1", "i"), ctr("init2", "i")]),
     pod_patch(initContainers=[{"name": "init2", "image": "j"}]),
     pod(ctr("main", "m"), initContainers=[ctr("init1", "i"), ctr("init2", "j")])),
    ("ephemeralContainers merge by name",
     "Pod", pod(ctr("main", "m"), ephemeralContainers=[ctr("debug", "busybox")]),
     pod_patch(ephemeralContainers=[{"name": "debug", "stdin": True}]),
     pod(ctr("main", "m"), ephemeralContainers=[ctr("debug", "busybox", stdin=True)])),
    ("resources inside a container merge as maps",
     "Pod", ENV_POD, pod_patch(containers=[{"name": "app", "resources": {"limits": {"memory": "1Gi"}}}]),
     env_pod_container(resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}})),
    # ------------------------------------------------------------ env / ports / volumeMounts
    ("env merged by name: one changed, one added, the rest kept in place",
     "Pod", ENV_POD,
     pod_patch(containers=[{"name": "app", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]),
     env_pod_container(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "3"},
                            {"name": "C", "value": "4"}])),
    ("env var deleted by name",
     "Pod", ENV_POD, pod_patch(containers=[{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]),
     env_pod_container(env=[{"name": "B", "value": "2"}])),
    ("env var turned from value to valueFrom with a null",
     "Pod", ENV_POD,
     pod_patch(containers=[{"name": "app", "env": [
         {"name": "B", "value": None, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]),
     env_pod_container(env=[{"name": "A", "value": "1"},
                            {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])),
    ("ports merged by containerPort",
     "Pod", ENV_POD, pod_patch(containers=[{"name": "app", "ports": [{"containerPort": 80, "name": "web"}]}]),
     env_pod_container(ports=[{"containerPort": 80, "name": "web", "protocol": "TCP"},
                              {"containerPort": 443, "name": "https", "protocol": "TCP"}])),
    ("a new port goes first",
     "Pod", ENV_POD, pod_patch(containers=[{"name": "app", "ports": [{"containerPort": 8080}]}]),
     env_pod_container(ports=[{"containerPort": 8080},
                              {"containerPort": 80, "name": "http", "protocol": "TCP"},
                              {"containerPort": 443, "name": "https", "protocol": "TCP"}])),
    ("port deleted by containerPort",
     "Pod", ENV_POD,
     pod_patch(containers=[{"name": "app", "ports": [{"containerPort": 443, "$patch": "delete"}]}]),
     env_pod_container(ports=[{"containerPort": 80, "name": "http", "protocol": "TCP"}])),
    ("volumeMounts merged by mountPath",
     "Pod", ENV_POD,
     pod_patch(containers=[{"name": "app", "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}]),
     env_pod_container(volumeMounts=[{"name": "data", "mountPath": "/data", "readOnly": True},
                                     {"name": "cfg", "mountPath": "/etc/cfg"}])),
    # ------------------------------------------------------------ volumes
    ("volumes merged by name",
     "Pod", ENV_POD, pod_patch(volumes=[{"name": "cfg", "configMap": {"name": "cfg-v2"}}]),
     env_pod_spec(volumes=[{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cfg-v2"}}])),
    ("volume deleted by name",
     "Pod", ENV_POD, pod_patch(volumes=[{"name": "data", "$patch": "delete"}]),
     env_pod_spec(volumes=[{"name": "cfg", "configMap": {"name": "cfg-v1"}}])),
    ("volume source switched with $retainKeys (as kubectl apply sends it)",
     "Pod", ENV_POD,
     pod_patch(volumes=[{"name": "data", "$retainKeys": ["name", "secret"], "secret": {"secretName": "s"}}]),
     env_pod_spec(volumes=[{"name": "data", "secret": {"secretName": "s"}},
                           {"name": "cfg", "configMap": {"name": "cfg-v1"}}])),
    ("volume source merged without $retainKeys keeps both sources",
     "Pod", ENV_POD, pod_patch(volumes=[{"name": "data", "secret": {"secretName": "s"}}]),
     env_pod_spec(volumes=[{"name": "data", "emptyDir": {}, "secret": {"secretName": "s"}},
                           {"name": "cfg", "configMap": {"name": "cfg-v1"}}])),
    # ------------------------------------------------------------ other keyed pod-spec lists
    ("imagePullSecrets merged by name",
     "Pod", pod(ctr("a", "1"), imagePullSecrets=[{"name": "r1"}]), pod_patch(imagePullSecrets=[{"name": "r2"}]),
     pod(ctr("a", "1"), imagePullSecrets=[{"name": "r2"}, {"name": "r1"}])),
    ("hostAliases merged by ip",
     "Pod", pod(ctr("a", "1"), hostAliases=[{"ip": "10.0.0.1", "hostnames": ["a"]},
                                            {"ip": "10.0.0.2", "hostnames": ["b"]}]),
     pod_patch(hostAliases=[{"ip": "10.0.0.1", "hostnames": ["c"]}]),
     pod(ctr("a", "1"), hostAliases=[{"ip": "10.0.0.1", "hostnames": ["c"]},
                                     {"ip": "10.0.0.2", "hostnames": ["b"]}])),
    ("topologySpreadConstraints merged by topologyKey",
     "Pod", pod(ctr("a", "1"), topologySpreadConstraints=[
         {"topologyKey": "zone", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}]),
     pod_patch(topologySpreadConstraints=[{"topologyKey": "zone", "maxSkew": 2}]),
     pod(ctr("a", "1"), topologySpreadConstraints=[
         {"topologyKey": "zone", "maxSkew": 2, "whenUnsatisfiable": "DoNotSchedule"}])),
    ("a scheduling gate removed by name",
     "Pod", pod(ctr("a", "1"), schedulingGates=[{"name": "g1"}, {"name": "g2"}]),
     pod_patch(schedulingGates=[{"name": "g1", "$patch": "delete"}]),
     pod(ctr("a", "1"), schedulingGates=[{"name": "g2"}])),
    # ------------------------------------------------------------ atomic lists and maps
    ("kubectl patch docs: tolerations (no patch strategy) are replaced",
     "Deployment", PATCH_DEMO,
     template_patch(tolerations=[{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]),
     updated(PATCH_DEMO, "spec.template.spec.tolerations",
             [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}])),
    ("args are replaced, not merged",
     "Pod", ENV_POD, pod_patch(containers=[{"name": "app", "args": ["--c"]}]),
     env_pod_container(args=["--c"])),
    ("command replaced by an empty list",
     "Pod", ENV_POD, pod_patch(containers=[{"name": "app", "command": []}]),
     env_pod_container(command=[])),
    ("nodeSelector (a map) merges key by key",
     "Pod", pod(ctr("a", "1"), nodeSelector={"disk": "ssd", "zone": "a"}),
     pod_patch(nodeSelector={"zone": "b", "gpu": "yes"}),
     pod(ctr("a", "1"), nodeSelector={"disk": "ssd", "zone": "b", "gpu": "yes"})),
    ("affinity's term lists are atomic",
     "Pod", pod(ctr("a", "1"), affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}}}),
     pod_patch(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [{"key": "b", "operator": "Exists"}]}]}}}),
     pod(ctr("a", "1"), affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [{"key": "b", "operator": "Exists"}]}]}}})),
    # ------------------------------------------------------------ $patch on lists and maps
    ("$patch: replace in a list replaces the whole list",
     "Pod", ABC, pod_patch(containers=[ctr("z", "img-z"), {"$patch": "replace"}]),
     with_containers(ABC, [ctr("z", "img-z")])),
    ("$patch: replace in a list drops the other directive elements",
     "Pod", ABC, pod_patch(containers=[{"$patch": "replace"}, ctr("z", "1"), {"name": "a", "$patch": "delete"}]),
     with_containers(ABC, [ctr("z", "1")])),
    ("$patch: replace alone empties the list",
     "Pod", ABC, pod_patch(containers=[{"$patch": "replace"}]), with_containers(ABC, [])),
    ("$patch: replace on a map replaces it",
     "Pod", updated(ABC, "metadata.labels", {"a": "1", "b": "2"}),
     {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
     updated(ABC, "metadata.labels", {"c": "3"})),
    ("$patch: replace on a container's resources",
     "Pod", ENV_POD,
     pod_patch(containers=[{"name": "app", "resources": {"$patch": "replace", "limits": {"memory": "1Gi"}}}]),
     env_pod_container(resources={"limits": {"memory": "1Gi"}})),
    ("$patch: replace on the whole object",
     "ConfigMap", CONFIGMAP, {"$patch": "replace", "kind": "ConfigMap", "data": {"x": "y"}},
     {"kind": "ConfigMap", "data": {"x": "y"}}),
    ("design doc: $patch: delete on a map deletes it",
     "Deployment", RETAIN_DEMO, {"spec": {"strategy": {"rollingUpdate": {"$patch": "delete"}}}},
     updated(RETAIN_DEMO, "spec.strategy.rollingUpdate", None)),
    ("$patch: delete on a map that is not there changes nothing",
     "Pod", ABC, {"metadata": {"annotations": {"$patch": "delete"}}}, ABC),
    ("null deletes a map, as $patch: delete does",
     "Deployment", RETAIN_DEMO, {"spec": {"strategy": {"rollingUpdate": None}}},
     updated(RETAIN_DEMO, "spec.strategy.rollingUpdate", None)),
    ("null deletes a key; a null for a missing key adds nothing",
     "Pod", updated(ABC, "metadata.labels", {"a": "1", "b": "2"}),
     {"metadata": {"labels": {"a": None, "zz": None}}},
     updated(ABC, "metadata.labels", {"b": "2"})),
    ("nulls inside a new map are dropped",
     "Pod", ABC, {"metadata": {"annotations": {"x": None, "y": "1"}}},
     updated(ABC, "metadata.annotations", {"y": "1"})),
    ("a whole list deleted with null",
     "Pod", ENV_POD, pod_patch(volumes=None), updated(ENV_POD, "spec.volumes", None)),
    # ------------------------------------------------------------ $retainKeys
    ("kubectl patch docs: $retainKeys clears rollingUpdate when switching to Recreate",
     "Deployment", RETAIN_DEMO, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
     updated(RETAIN_DEMO, "spec.strategy", {"type": "Recreate"})),
    ("without $retainKeys the old rollingUpdate stays",
     "Deployment", RETAIN_DEMO, {"spec": {"strategy": {"type": "Recreate"}}},
     updated(RETAIN_DEMO, "spec.strategy.type", "Recreate")),
    ("$retainKeys keeps listed keys the patch does not set",
     "Deployment", RETAIN_DEMO,
     {"spec": {"strategy": {"$retainKeys": ["rollingUpdate", "type"], "rollingUpdate": {"maxSurge": "1"}}}},
     updated(RETAIN_DEMO, "spec.strategy",
             {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "1", "maxUnavailable": "25%"}})),
    ("design doc: union fields cleared by $retainKeys",
     "ConfigMap", {"kind": "ConfigMap", "union": {"foo": "a", "other": "b"}},
     {"union": {"$retainKeys": ["another", "bar"], "another": "d", "bar": "c"}},
     {"kind": "ConfigMap", "union": {"another": "d", "bar": "c"}}),
    ("$retainKeys allows a null for an unlisted key",
     "ConfigMap", {"kind": "ConfigMap", "u": {"a": "1", "b": "2"}},
     {"u": {"$retainKeys": ["a"], "b": None}},
     {"kind": "ConfigMap", "u": {"a": "1"}}),
    # ------------------------------------------------------------ $setElementOrder
    ("$setElementOrder/containers reorders the list",
     "Pod", ABC, pod_patch(**{"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}),
     with_containers(ABC, [ctr("c", "img-c"), ctr("a", "img-a"), ctr("b", "img-b")])),
    ("kubectl apply adding a container: appended as the manifest orders it",
     "Deployment", workload("Deployment", ctr("nginx", "nginx:1.25")),
     template_patch(**{"$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                       "containers": [ctr("sidecar", "busybox")]}),
     DEP_TWO),
    ("kubectl apply removing a container from the manifest",
     "Deployment", DEP_TWO,
     {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "nginx"}],
                                     "containers": [{"$patch": "delete", "name": "sidecar"}]}}}},
     workload("Deployment", ctr("nginx", "nginx:1.25"))),
    ("kubectl apply removing a container the server put first",
     "Deployment", workload("Deployment", ctr("sidecar", "busybox"), ctr("nginx", "nginx:1.25")),
     {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "nginx"}],
                                     "containers": [{"$patch": "delete", "name": "sidecar"}]}}}},
     workload("Deployment", ctr("nginx", "nginx:1.25"))),
    ("$setElementOrder keeps a server-only container where it was relative to its neighbours",
     "Pod", pod(ctr("a", "1"), ctr("s", "1"), ctr("b", "1")),
     pod_patch(**{"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                  "containers": [{"name": "b", "image": "2"}]}),
     pod(ctr("s", "1"), ctr("b", "2"), ctr("a", "1"))),
    ("$setElementOrder with a change, an addition and the rest of the manifest",
     "Pod", ABC,
     pod_patch(**{"$setElementOrder/containers": [{"name": "a"}, {"name": "d"}, {"name": "b"}, {"name": "c"}],
                  "containers": [ctr("d", "img-d"), {"name": "b", "image": "img-b2"}]}),
     with_containers(ABC, [ctr("a", "img-a"), ctr("d", "img-d"), ctr("b", "img-b2"), ctr("c", "img-c")])),
    ("$setElementOrder/env orders environment variables",
     "Pod", ENV_POD,
     pod_patch(containers=[{"name": "app", "$setElementOrder/env": [{"name": "B"}, {"name": "A"}]}]),
     env_pod_container(env=[{"name": "B", "value": "2"}, {"name": "A", "value": "1"}])),
    ("$setElementOrder for a list the object lacks changes nothing",
     "Pod", ABC, pod_patch(**{"$setElementOrder/volumes": [{"name": "x"}]}), ABC),
    ("design doc: $setElementOrder/finalizers orders a set",
     "Pod", updated(ABC, "metadata.finalizers", ["a", "b", "c"]),
     {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"]}},
     updated(ABC, "metadata.finalizers", ["b", "c", "a"])),
    # ------------------------------------------------------------ finalizers: a set
    ("finalizers merge as a set: nothing duplicated, the server's kept",
     "Pod", updated(ABC, "metadata.finalizers", ["a", "b"]),
     {"metadata": {"finalizers": ["b", "c"]}},
     updated(ABC, "metadata.finalizers", ["a", "b", "c"])),
    ("a finalizer new to the server goes first",
     "Pod", updated(ABC, "metadata.finalizers", ["a", "b"]),
     {"metadata": {"finalizers": ["c"]}},
     updated(ABC, "metadata.finalizers", ["c", "a", "b"])),
    ("finalizers added to an object with none",
     "Pod", ABC, {"metadata": {"finalizers": ["x", "y"]}},
     updated(ABC, "metadata.finalizers", ["x", "y"])),
    ("design doc: $deleteFromPrimitiveList/finalizers",
     "Pod", updated(ABC, "metadata.finalizers", ["a", "b", "c"]),
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "c"]}},
     updated(ABC, "metadata.finalizers", ["a"])),
    ("$deleteFromPrimitiveList removes every copy of a duplicated value",
     "Pod", updated(ABC, "metadata.finalizers", ["a", "b", "a"]),
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
     updated(ABC, "metadata.finalizers", ["b"])),
    ("deleting the last finalizer drops the list",
     "Pod", updated(ABC, "metadata.finalizers", ["a"]),
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, ABC),
    ("$deleteFromPrimitiveList of a missing value or list changes nothing",
     "Pod", updated(ABC, "metadata.finalizers", ["a"]),
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["zz"],
                   "$deleteFromPrimitiveList/other": ["x"]}},
     updated(ABC, "metadata.finalizers", ["a"])),
    ("kubectl apply: add one finalizer, delete another, in manifest order",
     "Pod", updated(ABC, "metadata.finalizers", ["a", "b"]),
     {"metadata": {"$setElementOrder/finalizers": ["a", "c"], "finalizers": ["c"],
                   "$deleteFromPrimitiveList/finalizers": ["b"]}},
     updated(ABC, "metadata.finalizers", ["a", "c"])),
    ("ownerReferences merge by uid",
     "Pod", updated(ABC, "metadata.ownerReferences", [{"uid": "u1", "kind": "ReplicaSet", "name": "rs"}]),
     {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}},
     updated(ABC, "metadata.ownerReferences",
             [{"uid": "u1", "kind": "ReplicaSet", "name": "rs", "controller": True}])),
    # ------------------------------------------------------------ pod template in workloads
    ("Deployment: template containers merge by name, template labels by key",
     "Deployment", DEP_TWO,
     {"spec": {"replicas": 3, "template": {"metadata": {"labels": {"tier": "web"}},
                                           "spec": {"containers": [{"name": "sidecar", "image": "bb:2"}]}}}},
     updated(updated(with_template_containers(DEP_TWO, [ctr("nginx", "nginx:1.25"), ctr("sidecar", "bb:2")]),
                     "spec.replicas", 3), "spec.template.metadata.labels", {"app": "w", "tier": "web"})),
    ("Deployment: template env merges by name",
     "Deployment", workload("Deployment", ctr("c", "i", env=[{"name": "A", "value": "1"}])),
     template_patch(containers=[{"name": "c", "env": [{"name": "A", "value": "2"}]}]),
     workload("Deployment", ctr("c", "i", env=[{"name": "A", "value": "2"}]))),
    # ------------------------------------------------------------ Service, Node, statuses
    ("Service spec.ports merged by port",
     "Service", SERVICE, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
     updated(SERVICE, "spec.ports", [{"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"},
                                     {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}])),
    ("Service port deleted by port",
     "Service", SERVICE, {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}},
     updated(SERVICE, "spec.ports", [{"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}])),
    ("Service selector merged as a map",
     "Service", SERVICE, {"spec": {"selector": {"app": None, "tier": "web"}}},
     updated(SERVICE, "spec.selector", {"tier": "web"})),
    ("Node status condition updated by type, others kept in place",
     "Node", NODE, {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}},
     updated(NODE, "status.conditions", [
         {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
         {"type": "Ready", "status": "False", "reason": "KubeletNotReady"}])),
    ("Node addresses merged by type",
     "Node", NODE, {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.9"}]}},
     updated(NODE, "status.addresses", [{"type": "InternalIP", "address": "10.0.0.9"},
                                        {"type": "Hostname", "address": "n1"}])),
    ("Node spec.podCIDRs merge as a set",
     "Node", NODE, {"spec": {"podCIDRs": ["10.0.1.0/24", "fd00::/64"]}},
     updated(NODE, "spec.podCIDRs", ["10.0.1.0/24", "fd00::/64"])),
    ("Node taints are atomic",
     "Node", updated(NODE, "spec.taints", [{"key": "a", "effect": "NoSchedule"}]),
     {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}},
     updated(NODE, "spec.taints", [{"key": "b", "effect": "NoExecute"}])),
    ("Pod status: conditions by type, podIPs and hostIPs by ip",
     "Pod", updated(ABC, "status", {"phase": "Pending",
                                    "conditions": [{"type": "PodScheduled", "status": "True"}],
                                    "podIPs": [{"ip": "10.1.0.5"}], "hostIPs": [{"ip": "10.0.0.1"}]}),
     {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                 "podIPs": [{"ip": "fd00::5"}], "hostIPs": [{"ip": "10.0.0.1"}]}},
     updated(ABC, "status", {"phase": "Running",
                             "conditions": [{"type": "Ready", "status": "True"},
                                            {"type": "PodScheduled", "status": "True"}],
                             "podIPs": [{"ip": "fd00::5"}, {"ip": "10.1.0.5"}],
                             "hostIPs": [{"ip": "10.0.0.1"}]})),
    ("Pod status containerStatuses are atomic",
     "Pod", updated(ABC, "status.containerStatuses", [{"name": "a", "ready": False}, {"name": "b"}]),
     {"status": {"containerStatuses": [{"name": "a", "ready": True}]}},
     updated(ABC, "status.containerStatuses", [{"name": "a", "ready": True}])),
    ("Deployment status conditions by type",
     "Deployment", updated(DEP_TWO, "status", {"conditions": [{"type": "Available", "status": "False"},
                                                               {"type": "Progressing", "status": "True"}]}),
     {"status": {"conditions": [{"type": "Available", "status": "True"}]}},
     updated(DEP_TWO, "status", {"conditions": [{"type": "Available", "status": "True"},
                                                {"type": "Progressing", "status": "True"}]})),
    ("ServiceAccount secrets merge by name",
     "ServiceAccount", {"kind": "ServiceAccount", "metadata": {"name": "sa"}, "secrets": [{"name": "t1"}]},
     {"secrets": [{"name": "t2"}]},
     {"kind": "ServiceAccount", "metadata": {"name": "sa"}, "secrets": [{"name": "t2"}, {"name": "t1"}]}),
    # ------------------------------------------------------------ kinds without list strategies
    ("ConfigMap: a JSON merge patch on data",
     "ConfigMap", CONFIGMAP, {"data": {"k1": None, "k2": "new", "k3": "v3"}, "metadata": {"labels": {"b": "2"}}},
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}},
      "data": {"k2": "new", "k3": "v3"}}),
    ("ConfigMap: metadata.finalizers still merge as a set",
     "ConfigMap", updated(CONFIGMAP, "metadata.finalizers", ["a"]), {"metadata": {"finalizers": ["b", "a"]}},
     updated(CONFIGMAP, "metadata.finalizers", ["b", "a"])),
    ("Endpoints: lists are replaced",
     "Endpoints", {"kind": "Endpoints", "subsets": [{"addresses": [{"ip": "10.1.0.1"}], "ports": [{"port": 80}]}]},
     {"subsets": [{"addresses": [{"ip": "10.1.0.2"}]}]},
     {"kind": "Endpoints", "subsets": [{"addresses": [{"ip": "10.1.0.2"}]}]}),
    # ------------------------------------------------------------ type changes
    ("a scalar replaces a map, a map replaces a scalar",
     "ConfigMap", {"kind": "ConfigMap", "a": {"x": 1}, "b": "s"}, {"a": 5, "b": {"y": None, "z": 2}},
     {"kind": "ConfigMap", "a": 5, "b": {"z": 2}}),
    ("an empty patch changes nothing",
     "Pod", ENV_POD, {}, ENV_POD),
]


@pytest.mark.parametrize("name,kind,original,patch,expected", CASES, ids=[c[0] for c in CASES])
def test_apply(name, kind, original, patch, expected):
    original_before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)
    assert apply_strategic_merge_patch(original, patch, kind) == expected
    assert original == original_before, "the original was mutated"
    assert patch == patch_before, "the patch was mutated"


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"])
def test_every_workload_merges_template_containers_by_name(kind):
    original = workload(kind, ctr("a", "1"), ctr("b", "1"))
    patch = template_patch(containers=[{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}])
    assert apply_strategic_merge_patch(original, patch, kind) == workload(kind, ctr("b", "2"))


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"])
def test_every_workload_keeps_template_finalizers_a_set(kind):
    original = updated(workload(kind, ctr("a", "1")), "spec.template.metadata.finalizers", ["f1"])
    out = apply_strategic_merge_patch(original, {"spec": {"template": {"metadata": {"finalizers": ["f1"]}}}},
                                      kind)
    assert out["spec"]["template"]["metadata"]["finalizers"] == ["f1"]


def test_configmap_matches_json_merge_patch():
    """Without lists to merge, a strategic merge patch is a JSON merge patch."""
    original = {"kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"a": "1"}, "annotations": {"x": "1"}},
                "data": {"k1": "v1", "k2": "v2"}, "extra": [1, 2, 3]}
    patch = {"metadata": {"labels": {"a": None, "b": "2"}, "annotations": None},
             "data": {"k2": "v2b", "k3": "v3"}, "extra": [4]}
    assert apply_strategic_merge_patch(original, patch, "ConfigMap") == apply_merge_patch(original, patch)
    assert apply_strategic_merge_patch(original, patch, "ConfigMap") == {
        "kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"b": "2"}},
        "data": {"k1": "v1", "k2": "v2b", "k3": "v3"}, "extra": [4]}


def test_the_result_shares_no_list_the_caller_can_corrupt():
    original = copy.deepcopy(ABC)
    out = apply_strategic_merge_patch(original, pod_patch(containers=[{"name": "a", "image": "x"}]), "Pod")
    out["spec"]["containers"].append(ctr("zz"))
    out["spec"]["containers"][0]["image"] = "changed"
    assert original == ABC


def test_patch_applied_twice_is_idempotent():
    patch = template_patch(**{"$setElementOrder/containers": [{"name": "nginx"}],
                              "containers": [{"$patch": "delete", "name": "sidecar"}]})
    once = apply_strategic_merge_patch(DEP_TWO, patch, "Deployment")
    assert apply_strategic_merge_patch(once, patch, "Deployment") == once
    assert names(once["spec"]["template"]["spec"]["containers"]) == ["nginx"]


# (name, kind, original, patch, message fragment)
ERRORS = [
    ("a container without its merge key",
     "Pod", ABC, pod_patch(containers=[{"image": "x"}]), "does not contain declared merge key: name"),
    ("a $patch: delete element without its merge key",
     "Pod", ABC, pod_patch(containers=[{"$patch": "delete"}]), "does not contain declared merge key: name"),
    ("an env var without a name",
     "Pod", ENV_POD, pod_patch(containers=[{"name": "app", "env": [{"value": "1"}]}]),
     "does not contain declared merge key: name"),
    ("a port without containerPort",
     "Pod", ENV_POD, pod_patch(containers=[{"name": "app", "ports": [{"name": "http"}]}]),
     "does not contain declared merge key: containerPort"),
    ("a Service port without port",
     "Service", SERVICE, {"spec": {"ports": [{"name": "http", "targetPort": 1}]}},
     "does not contain declared merge key: port"),
    ("a Node condition without type",
     "Node", NODE, {"status": {"conditions": [{"status": "True"}]}}, "does not contain declared merge key: type"),
    ("a template container without its merge key",
     "Deployment", DEP_TWO, template_patch(containers=[{"image": "x"}]), "does not contain declared merge key"),
    ("a keyed list element that is not a map",
     "Pod", ABC, pod_patch(containers=["a"]), "expected a map with merge key 'name'"),
    ("an unknown $patch in a map",
     "Pod", ABC, {"metadata": {"labels": {"$patch": "frob"}}}, "Unknown patch type: frob"),
    ("$patch: merge in a map",
     "Pod", ABC, {"metadata": {"labels": {"$patch": "merge", "a": "1"}}}, "Unknown patch type: merge"),
    ("$patch: merge as a list element",
     "Pod", ABC, pod_patch(containers=[{"$patch": "merge"}]), "merging lists cannot yet be specified"),
    ("an unknown $patch as a list element",
     "Pod", ABC, pod_patch(containers=[{"name": "a", "$patch": "frob"}]), "Unknown patch type: frob"),
    ("$patch: delete on the whole object",
     "Pod", ABC, {"$patch": "delete"}, "cannot delete the whole object"),
    ("$retainKeys that is not a list",
     "Deployment", RETAIN_DEMO, {"spec": {"strategy": {"$retainKeys": "type", "type": "Recreate"}}},
     "$retainKeys must be a list"),
    ("$retainKeys that leaves out a key the patch sets",
     "Deployment", RETAIN_DEMO, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate",
                                                       "rollingUpdate": {"maxSurge": 1}}}},
     "invalid patch format of retainKeys"),
    ("$deleteFromPrimitiveList that is not a list",
     "Pod", ABC, {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "must be a list"),
    ("$setElementOrder that is not a list",
     "Pod", ABC, pod_patch(**{"$setElementOrder/containers": "a"}), "must be a list"),
    ("$setElementOrder in another order than the patch list",
     "Pod", ABC, pod_patch(**{"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                              "containers": [{"name": "b", "image": "1"}, {"name": "a", "image": "1"}]}),
     "doesn't match"),
    ("a patch list element missing from $setElementOrder",
     "Pod", ABC, pod_patch(**{"$setElementOrder/containers": [{"name": "a"}],
                              "containers": [{"name": "z", "image": "1"}]}),
     "doesn't match"),
    ("$setElementOrder entries without the merge key",
     "Pod", ABC, pod_patch(**{"$setElementOrder/containers": [{"image": "a"}]}),
     "does not contain declared merge key: name"),
    ("a patch that is not an object",
     "Pod", ABC, [{"op": "add"}], "must be a JSON object"),
]


@pytest.mark.parametrize("name,kind,original,patch,fragment", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(name, kind, original, patch, fragment):
    original_before = copy.deepcopy(original)
    with pytest.raises(StrategicPatchError) as info:
        apply_strategic_merge_patch(original, patch, kind)
    assert fragment in str(info.value)
    assert original == original_before


def test_error_is_a_value_error():
    assert issubclass(StrategicPatchError, ValueError)


@pytest.mark.parametrize("kind,expected", [
    ("Pod", "Pod"), ("Deployment", "Deployment"), ("Node", "Node"), ("Service", "Service"),
    ("ConfigMap", "ObjectMeta@top"), ("Secret", "ObjectMeta@top"), ("NoSuchKind", "ObjectMeta@top"),
])
def test_kind_type(kind, expected):
    assert kind_type(kind) == expected


# Upstream's patchMergeKey / patchStrategy tags for the fields the table covers.
UPSTREAM_TAGS = [
    ("ObjectMeta", "finalizers", "<set>"), ("ObjectMeta", "ownerReferences", "uid"),
    ("PodSpec", "containers", "name"), ("PodSpec", "initContainers", "name"),
    ("PodSpec", "ephemeralContainers", "name"), ("PodSpec", "volumes", "name"),
    ("PodSpec", "imagePullSecrets", "name"), ("PodSpec", "hostAliases", "ip"),
    ("PodSpec", "topologySpreadConstraints", "topologyKey"), ("PodSpec", "resourceClaims", "name"),
    ("PodSpec", "schedulingGates", "name"),
    ("Container", "ports", "containerPort"), ("Container", "env", "name"),
    ("Container", "volumeMounts", "mountPath"), ("Container", "volumeDevices", "devicePath"),
    ("PodStatus", "conditions", "type"), ("PodStatus", "podIPs", "ip"), ("PodStatus", "hostIPs", "ip"),
    ("NodeSpec", "podCIDRs", "<set>"),
    ("NodeStatus", "conditions", "type"), ("NodeStatus", "addresses", "type"),
    ("ServiceSpec", "ports", "port"), ("ServiceAccount", "secrets", "name"),
]


@pytest.mark.parametrize("typ,field,key", UPSTREAM_TAGS)
def test_types_table_matches_upstream_tags(typ, field, key):
    spec = TYPES[typ][field]
    assert isinstance(spec, ListField)
    assert spec.key == key


@pytest.mark.parametrize("typ,field", [
    ("PodSpec", "tolerations"), ("PodSpec", "readinessGates"), ("Container", "args"),
    ("Container", "command"), ("Container", "envFrom"), ("Container", "resizePolicy"),
])
def test_atomic_lists_have_no_entry(typ, field):
    assert field not in TYPES[typ]
