"""Kubernetes' four networking problems, each solved and tested here, on
agnhost Deployments over four hollow nodes in two network hosts (see
:mod:`tests.unit.netsim_cluster`): container-to-container in a pod,
pod-to-pod, pod-to-Service (ClusterIP, DNS, readiness, endpoint changes,
session affinity, traffic policies) and external-to-Service (NodePort,
LoadBalancer)."""
from __future__ import annotations

import collections

import pytest

from actors.proxy.curl import CurlError, curl
from tests.fakes import eventually

from .ctrl_fakes import run
from .netsim_cluster import AGNHOST, BUSYBOX, netcluster, netexec


def hostnames(replies: list[tuple[int, str, object]]) -> collections.Counter:
    return collections.Counter(body for status, body, _ in replies if status == 200)


# ------------------------------------------------------------ container to container
def test_containers_of_a_pod_share_localhost_and_its_ports():
    async def go() -> None:
        async with netcluster() as c:
            await c.namespace("app")
            await c.deployment("app", "duo", 1, [netexec(8080), {"name": "side", "image": BUSYBOX,
                                                                "command": ["sleep", "3600"]}])
            await c.deployment("app", "other", 1, [{"name": "side", "image": BUSYBOX, "command": ["sleep", "3600"]}])
            duo = (await c.running("app", "duo", 1))[0]
            other = (await c.running("app", "other", 1))[0]
            r = await c.exec(duo, ["wget", "-qO-", "http://localhost:8080/hostname"], container="side")
            assert (r.exit_code, r.stdout.decode()) == (0, duo["metadata"]["name"])
            r = await c.exec(other, ["wget", "-qO-", "http://localhost:8080/hostname"])   # its own localhost
            assert r.exit_code == 1 and b"Connection refused" in r.stderr
            # a second server on the pod's port conflicts: that container fails, with the reason logged
            await c.deployment("app", "clash", 1, [netexec(8080), dict(netexec(8080), name="web2")])

            async def clashed() -> bool:
                pods = await c.pods("app", "clash")
                statuses = {s["name"]: s for p in pods for s in (p.get("status") or {}).get("containerStatuses") or ()}
                web2 = statuses.get("web2") or {}
                last = (web2.get("lastState") or {}).get("terminated") or (web2.get("state") or {}).get("terminated")
                return bool(last) and last.get("exitCode") == 1 and statuses["web"].get("ready") is True
            await eventually(clashed, "the second server fails to bind", tries=400, every=0.05)
            pod = (await c.pods("app", "clash"))[0]
            text = await c.kubelet_of(pod["spec"]["nodeName"]).logs("app", pod["metadata"]["name"], "web2",
                                                                    previous=False)
            assert "address already in use" in text
    run(go(), timeout=60)


# ------------------------------------------------------------ pod to pod
def test_pods_reach_each_other_on_one_node_and_across_nodes_and_hosts():
    async def go() -> None:
        async with netcluster() as c:
            await c.namespace("app")
            await c.deployment("app", "web", 4, [netexec()])
            pods = await c.running("app", "web", 4)
            by_node = {p["spec"]["nodeName"]: p for p in pods}
            assert len(by_node) == 4                      # the binder spread them over every node
            a = by_node["node-00"]
            for target in pods:
                status, body, reply = await c.get(a, target["status"]["podIP"], 8080)
                assert (status, body) == (200, target["metadata"]["name"])
                where = " | ".join(str(h) for h in reply.hops)
                node = target["spec"]["nodeName"]
                if target is a:
                    assert "route" not in where
                elif node == "node-01":                    # another node of the same host
                    assert "route 10.244." in where and f"-> node {node}" in where
                else:                                      # another host: over the fabric
                    assert f"node {node}: receives" in where
            # the client's own address is what the server sees
            _, body, _ = await c.get(a, by_node["node-10"]["status"]["podIP"], 8080, "/clientip")
            assert body.split(":")[0] == a["status"]["podIP"]
            # an address nobody has, a closed port
            _, _, reply = await c.get(a, "10.244.250.7", 8080)
            assert reply.error == "no-route"
            _, _, reply = await c.get(a, by_node["node-11"]["status"]["podIP"], 9999)
            assert reply.error == "refused"
    run(go(), timeout=60)


# ------------------------------------------------------------ pod to service
def test_pods_reach_a_service_by_cluster_ip_and_dns_name_over_every_ready_endpoint():
    async def go() -> None:
        async with netcluster() as c:
            for ns in ("app", "client"):
                await c.namespace(ns)
            probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
            await c.deployment("app", "web", 3, [netexec(readinessProbe=probe)])
            await c.deployment("client", "cli", 1, [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}])
            svc = await c.service("app", "web", [{"name": "http", "port": 80, "targetPort": 8080}])
            vip = svc["spec"]["clusterIP"]
            assert vip.startswith("10.9") or vip.startswith("10.10") or vip.startswith("10.11")
            pods = await c.running("app", "web", 3, ready=False)
            names = sorted(p["metadata"]["name"] for p in pods)
            local = (await c.pods("app", "web"))[0]
            cli = (await c.running("client", "cli", 1))[0]
            # nobody is ready yet: the service has no endpoints and rejects
            _, _, reply = await c.get(cli, vip, 80)
            assert reply.error == "refused" and "no endpoints" in str(reply.hops[-1])
            for p in pods[:2]:
                assert (await c.exec(p, ["touch", "/tmp/ready"])).exit_code == 0
            await c.running("app", "web", 2)
            ready = sorted(p["metadata"]["name"] for p in pods[:2])

            async def spread(source: dict, host: str, want: list[str], n: int = 40) -> collections.Counter:
                async def check() -> collections.Counter | None:
                    got = hostnames([await c.get(source, host, 80) for _ in range(n)])
                    return got if sorted(got) == want else None
                return await eventually(check, f"{host} spreads over {want}", tries=100, every=0.1)
            got = await spread(cli, vip, ready)
            assert sum(got.values()) == 40                 # every request answered, only by ready pods
            # by name: from another namespace the namespace is needed, from the same one it is not
            await spread(cli, "web.app", ready)
            await spread(cli, "web.app.svc.cluster.local", ready)
            await spread(local, "web", ready)
            status, _, reply = await c.get(cli, "web", 80)   # "web" alone searches client's namespace
            assert status == 0 and reply.error == "nxdomain"
            # the third becomes ready: it joins; the first stops being ready: it leaves
            await c.exec(pods[2], ["touch", "/tmp/ready"])
            await spread(cli, vip, names)
            await c.exec(pods[0], ["rm", "/tmp/ready"])
            await spread(cli, vip, sorted(names[1:] if pods[0]["metadata"]["name"] == names[0] else
                                          [n for n in names if n != pods[0]["metadata"]["name"]]))
            # the hops tell the story
            _, _, reply = await c.get(cli, "web.app", 80)
            text = reply.path()
            assert "dns: web.app -> web.app.svc.cluster.local A " + vip in text
            assert "kube-proxy" in text and f"ClusterIP {vip}:80 (app/web:http) -> " in text
    run(go(), timeout=90)


def test_requests_stop_going_to_a_deleted_endpoint_pod():
    async def go() -> None:
        async with netcluster() as c:
            await c.namespace("app")
            await c.deployment("app", "web", 3, [netexec()])
            svc = await c.service("app", "web", [{"port": 80, "targetPort": 8080}])
            vip = svc["spec"]["clusterIP"]
            pods = await c.running("app", "web", 3)
            client = pods[0]
            victim = pods[1]["metadata"]["name"]
            await c.client.delete("pods", victim, "app", grace_period_seconds=0)

            async def gone() -> bool:
                got = hostnames([await c.get(client, vip, 80) for _ in range(30)])
                return victim not in got and len(got) >= 2
            await eventually(gone, "the deleted pod out of rotation", tries=200, every=0.1)
            for _ in range(30):
                status, body, _ = await c.get(client, vip, 80)
                assert status == 200 and body != victim
    run(go(), timeout=90)


def test_session_affinity_keeps_a_client_on_one_endpoint():
    async def go() -> None:
        async with netcluster() as c:
            await c.namespace("app")
            await c.deployment("app", "web", 3, [netexec()])
            await c.deployment("app", "cli", 2, [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}])
            sticky = await c.service("app", "sticky", [{"port": 80, "targetPort": 8080}], selector={"app": "web"},
                                     sessionAffinity="ClientIP")
            plain = await c.service("app", "plain", [{"port": 80, "targetPort": 8080}], selector={"app": "web"})
            await c.running("app", "web", 3)
            clients = await c.running("app", "cli", 2)

            async def answers(source: dict, vip: str) -> collections.Counter:
                async def check() -> collections.Counter | None:
                    got = hostnames([await c.get(source, vip, 80) for _ in range(30)])
                    return got if sum(got.values()) == 30 else None
                return await eventually(check, "30 answers", tries=100, every=0.1)
            for cl in clients:
                got = await answers(cl, sticky["spec"]["clusterIP"])
                assert len(got) == 1, got                  # one backend for every request of this client
            assert len(await answers(clients[0], plain["spec"]["clusterIP"])) > 1
    run(go(), timeout=90)


def test_round_robin_mode_takes_endpoints_in_turn():
    async def go() -> None:
        async with netcluster(pools=1, nodes_per_pool=2, proxy_mode="round-robin") as c:
            await c.namespace("app")
            await c.deployment("app", "web", 3, [netexec()])
            svc = await c.service("app", "web", [{"port": 80, "targetPort": 8080}])
            pods = await c.running("app", "web", 3)

            async def even() -> bool:
                got = hostnames([await c.get(pods[0], svc["spec"]["clusterIP"], 80) for _ in range(9)])
                return sorted(got.values()) == [3, 3, 3]
            await eventually(even, "three each", tries=100, every=0.1)
    run(go(), timeout=60)


def test_internal_traffic_policy_local_keeps_traffic_on_the_node():
    async def go() -> None:
        async with netcluster() as c:
            await c.namespace("app")
            await c.deployment("app", "web", 2, [netexec()])
            svc = await c.service("app", "web", [{"port": 80, "targetPort": 8080}], internalTrafficPolicy="Local")
            pods = await c.running("app", "web", 2)
            nodes = {p["spec"]["nodeName"]: p for p in pods}

            async def local_only() -> bool:
                for node, pod in nodes.items():
                    got = hostnames([await c.get(node, svc["spec"]["clusterIP"], 80) for _ in range(6)])
                    if list(got) != [pod["metadata"]["name"]]:
                        return False
                return True
            await eventually(local_only, "each node's own endpoint only", tries=100, every=0.1)
            empty = next(n for n in c.node_names if n not in nodes)
            _, _, reply = await c.get(empty, svc["spec"]["clusterIP"], 80, timeout=0.3)
            assert reply.error == "timeout" and "no local endpoints" in reply.path()
    run(go(), timeout=60)


# ------------------------------------------------------------ external to service
def test_external_clients_reach_a_service_through_any_node_port_and_the_load_balancer():
    async def go() -> None:
        async with netcluster() as c:
            await c.namespace("app")
            await c.deployment("app", "web", 2, [netexec()])
            svc = await c.service("app", "web", [{"port": 80, "targetPort": 8080}], type="LoadBalancer")
            node_port = svc["spec"]["ports"][0]["nodePort"]
            assert 30000 <= node_port <= 32767
            names = sorted(p["metadata"]["name"] for p in await c.running("app", "web", 2))
            nodes = (await c.client.list("nodes"))["items"]
            for node in nodes:
                ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")

                async def answered(ip: str = ip) -> bool:
                    status, body, reply = await c.get("external", ip, node_port)
                    return status == 200 and body in names
                await eventually(answered, f"NodePort on {ip}", tries=100, every=0.1)

            async def lb_ip() -> str | None:
                got = await c.client.get("services", "web", "app")
                ingress = ((got.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                return ingress[0]["ip"] if ingress else None
            ip = await eventually(lb_ip, "a load balancer IP", tries=200, every=0.05)

            async def spread() -> bool:
                got = hostnames([await c.get("external", ip, 80) for _ in range(20)])
                return sorted(got) == names
            await eventually(spread, "the load balancer spreads over both pods", tries=100, every=0.1)
            _, body, reply = await c.get("external", ip, 80, "/clientip")
            assert "load balancer " + ip in reply.path() and "masquerade" in reply.path()
            # the cluster IP and pod IPs are not reachable from outside
            _, _, reply = await c.get("external", svc["spec"]["clusterIP"], 80)
            assert reply.error == "no-route"
    run(go(), timeout=90)


def test_external_traffic_policy_local_keeps_the_client_address_and_skips_empty_nodes():
    async def go() -> None:
        async with netcluster() as c:
            await c.namespace("app")
            await c.deployment("app", "web", 1, [netexec()])
            svc = await c.service("app", "web", [{"port": 80, "targetPort": 8080}], type="NodePort",
                                  externalTrafficPolicy="Local")
            pod = (await c.running("app", "web", 1))[0]
            port = svc["spec"]["ports"][0]["nodePort"]
            host_ip = pod["status"]["hostIP"]

            async def answered() -> str | None:
                status, body, _ = await c.get("external", host_ip, port, "/clientip")
                return body if status == 200 else None
            body = await eventually(answered, "the pod's node answers", tries=100, every=0.1)
            assert body.split(":")[0] == c.outside.client_ip        # not masqueraded
            other = next(n for n in (await c.client.list("nodes"))["items"] if n["metadata"]["name"] !=
                         pod["spec"]["nodeName"])
            other_ip = other["status"]["addresses"][0]["address"]
            _, _, reply = await c.get("external", other_ip, port, timeout=0.3)
            assert reply.error == "timeout"                          # no local endpoint: dropped
    run(go(), timeout=60)


# ------------------------------------------------------------ routes from the cloud
def test_cloud_routes_carry_pod_traffic_between_nodes():
    async def go() -> None:
        async with netcluster(cloud_routes=True) as c:
            await c.namespace("app")
            await c.deployment("app", "web", 4, [netexec()])
            pods = await c.running("app", "web", 4)
            status, body, reply = await c.get(pods[0], pods[-1]["status"]["podIP"], 8080)
            assert status == 200 and "via cloud route" in reply.path()
            assert {r.via.split()[0] for h in c.hosts.values() for r in h.fabric.routes()} == {"cloud"}
    run(go(), timeout=60)


# ------------------------------------------------------------ headless and DNS
def test_headless_service_names_its_ready_pods():
    async def go() -> None:
        async with netcluster() as c:
            await c.namespace("app")
            await c.deployment("app", "web", 2, [netexec()])
            await c.deployment("app", "cli", 1, [{"name": "c", "image": AGNHOST, "args": ["pause"]}])
            await c.service("app", "web", [{"name": "http", "port": 8080}], clusterIP="None")
            pods = await c.running("app", "web", 2)
            cli = (await c.running("app", "cli", 1))[0]

            async def both() -> set[str] | None:
                got = {(await c.get(cli, "web", 8080))[1] for _ in range(20)}
                return got if got == {p["metadata"]["name"] for p in pods} else None
            await eventually(both, "the headless name answers with either pod", tries=100, every=0.1)
            answer = c.dns.lookup("web.app.svc.cluster.local", "A")
            assert sorted(r.data for r in answer.answers) == sorted(p["status"]["podIP"] for p in pods)
            _, _, reply = await c.get(cli, "web", 8080)
            assert "kube-proxy" not in reply.path()            # straight to a pod: no virtual IP
    run(go(), timeout=60)


def test_dns_policy_decides_what_a_pod_resolves():
    async def go() -> None:
        async with netcluster(pools=1, nodes_per_pool=1) as c:
            await c.namespace("app")
            await c.deployment("app", "web", 1, [netexec()])
            await c.service("app", "web", [{"port": 80, "targetPort": 8080}])
            sleeper = {"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}
            await c.deployment("app", "first", 1, [sleeper])
            await c.deployment("app", "none", 1, [sleeper], dnsPolicy="None",
                               dnsConfig={"nameservers": ["192.0.2.53"], "searches": ["example.com"],
                                          "options": [{"name": "ndots", "value": "2"}]})
            await c.deployment("app", "default", 1, [sleeper], dnsPolicy="Default")
            await c.running("app", "web", 1)
            first = (await c.running("app", "first", 1))[0]
            r = await c.exec(first, ["cat", "/etc/resolv.conf"])
            assert r.stdout.decode() == ("search app.svc.cluster.local svc.cluster.local cluster.local\n"
                                         "nameserver 10.96.0.10\noptions ndots:5\n")
            hosts = (await c.exec(first, ["cat", "/etc/hosts"])).stdout.decode()
            assert f"{first['status']['podIP']}\t{first['metadata']['name']}" in hosts

            async def answers() -> bool:
                return (await c.exec(first, ["wget", "-qO-", "http://web/hostname"])).exit_code == 0
            await eventually(answers, "web answers by its short name", tries=100, every=0.1)
            vip = (await c.client.get("services", "web", "app"))["spec"]["clusterIP"]
            r = await c.exec(first, ["nslookup", "web"])
            assert (r.exit_code, r.stdout.decode()) == (0, "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n"
                                                           f"Name:\tweb.app.svc.cluster.local\nAddress: {vip}\n\n")
            r = await c.exec(first, ["nslookup", "nope"])
            assert r.exit_code == 1 and "** server can't find nope: NXDOMAIN" in r.stdout.decode()
            none = (await c.running("app", "none", 1))[0]
            assert (await c.exec(none, ["cat", "/etc/resolv.conf"])).stdout.decode() == \
                "search example.com\nnameserver 192.0.2.53\noptions ndots:2\n"
            r = await c.exec(none, ["wget", "-qO-", "http://web/hostname"])
            assert r.exit_code == 1 and b"bad address 'web'" in r.stderr
            default = (await c.running("app", "default", 1))[0]
            r = await c.exec(default, ["wget", "-qO-", "http://web.app.svc.cluster.local/hostname"])
            assert r.exit_code == 1 and b"bad address" in r.stderr      # the node's resolver knows no cluster names
    run(go(), timeout=60)


def test_net_curl_from_a_pod_and_from_outside_prints_the_answer_and_the_path():
    async def go() -> None:
        async with netcluster() as c:
            await c.namespace("app")
            await c.deployment("app", "web", 2, [netexec()])
            await c.deployment("app", "cli", 1, [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}])
            svc = await c.service("app", "web", [{"name": "http", "port": 80, "targetPort": 8080}], type="NodePort")
            names = {p["metadata"]["name"] for p in await c.running("app", "web", 2)}
            await c.running("app", "cli", 1)
            cli = (await c.pods("app", "cli"))[0]

            async def send_from(host, src, dest, port, payload, timeout):
                h = c.hosts[host]
                return await h.request(h.pod(src), dest, port, payload, timeout=timeout)

            async def call(url: str, source: str = "") -> object:
                return await curl(c.client, url, source=source, links=c.hosts.get, send_from=send_from, timeout=1)

            async def from_pod() -> object:
                got = await call("http://web/hostname", f"app/{cli['metadata']['name']}")
                return got if got.exit_code == 0 else None
            got = await eventually(from_pod, "curl from the pod", tries=100, every=0.1)
            text = got.render()
            assert text.splitlines()[0] in names and "--- path (200):" in text and "dns: web -> " in text
            ip = (await c.client.get("nodes", "node-11"))["status"]["addresses"][0]["address"]
            got = await call(f"http://{ip}:{svc['spec']['ports'][0]['nodePort']}/hostname")
            assert got.exit_code == 0 and got.body.decode() in names
            assert got.reply.hops[0].where == "external client"
            refused = await call(f"http://{ip}:1/")
            assert refused.exit_code == 7 and refused.render().startswith("curl: (7) Connection refused")
            assert (await call("http://web.app/")).exit_code == 6          # no cluster names from outside
            with pytest.raises(CurlError, match="app/nope"):
                await call("http://web/", "app/nope")
            with pytest.raises(CurlError, match="expected NAMESPACE/POD"):
                await call("http://web/", "a/b/c")
            with pytest.raises(CurlError, match="unsupported scheme"):
                await call("ftp://web/")
    run(go(), timeout=60)
