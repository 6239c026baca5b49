"""Service accounts: the JWTs (issue, verify, refuse tampering), the
TokenRequest subresource's rules, admission's projected token volume, and
the controllers that keep each namespace's default account and CA bundle."""
from __future__ import annotations

import asyncio
import time

import pytest

from actors.apiserver.satoken import Bound, InvalidToken, TokenSigner, new_signing_key
from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.serviceaccounts import MOUNT_PATH
from actors.apiserver.storage import LocalKV
from actors.controllers.serviceaccount import RootCACertPublisher, ServiceAccountController
from kubeapi import errors
from kubeapi.client import Client
from kubeapi.informer import SharedInformer
from tests.fakes import eventually

from .ctrl_fakes import run

NOW = 1_700_000_000.0
KEY = new_signing_key()
SIGNER = TokenSigner(KEY)


def _issue(**kw) -> str:
    args = dict(namespace="ns", name="robot", uid="sa-uid", audiences=[SIGNER.issuer], now=NOW,
                expiration_seconds=3600)
    args.update(kw)
    return SIGNER.issue(**args)[0]


def test_a_token_carries_upstreams_claims_and_verifies():
    token = _issue(bound=Bound("Pod", "web-1", "pod-uid"))
    claims = SIGNER.verify(token, [SIGNER.issuer], NOW + 10)
    assert claims["sub"] == "system:serviceaccount:ns:robot" and claims["exp"] == NOW + 3600
    assert claims["kubernetes.io"] == {"namespace": "ns", "serviceaccount": {"name": "robot", "uid": "sa-uid"},
                                       "pod": {"name": "web-1", "uid": "pod-uid"}}


@pytest.mark.parametrize("token,audiences,at,why", [
    (lambda: _issue(), ["someone-else"], NOW, "audiences"),
    (lambda: _issue(), [SIGNER.issuer], NOW + 3600, "expired"),
    (lambda: TokenSigner(new_signing_key()).issue(namespace="ns", name="r", uid="u", audiences=[SIGNER.issuer],
                                                  now=NOW, expiration_seconds=3600)[0],
     [SIGNER.issuer], NOW, "signature"),
    (lambda: _issue()[:-2] + "xx", [SIGNER.issuer], NOW, "signature"),
    (lambda: "a.b", [SIGNER.issuer], NOW, "JWS"),
    (lambda: TokenSigner(KEY, issuer="https://elsewhere").issue(
        namespace="ns", name="r", uid="u", audiences=[SIGNER.issuer], now=NOW, expiration_seconds=3600)[0],
     [SIGNER.issuer], NOW, "issuer"),
])
def test_tokens_that_are_refused(token, audiences, at, why):
    with pytest.raises(InvalidToken, match=why):
        SIGNER.verify(token(), audiences, at)


async def _server(**kw) -> tuple[APIServer, Client]:
    server = APIServer(LocalKV(), **kw)
    client = Client(LocalTransport(server), poll_seconds=0.05)
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    return server, client


async def _token(client: Client, name: str, spec: dict) -> dict:
    r = await client.transport.request("create", "", "v1", "serviceaccounts", "ns", name, "token",
                                       {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                        "spec": spec}, None, {})
    return r


def test_token_requests():
    async def go() -> None:
        server, client = await _server()
        sa = await client.create({"apiVersion": "v1", "kind": "ServiceAccount",
                                  "metadata": {"name": "robot", "namespace": "ns"}})
        ok = await _token(client, "robot", {"expirationSeconds": 600, "audiences": ["vault"]})
        assert ok["code"] == 201, ok
        status = ok["body"]["status"]
        claims = server.handler.signer.verify(status["token"], ["vault"], time.time())
        assert claims["kubernetes.io"]["serviceaccount"]["uid"] == sa["metadata"]["uid"]
        short = await _token(client, "robot", {"expirationSeconds": 599})
        assert short["code"] == 422 and short["body"]["details"]["causes"][0]["field"] == "spec.expirationSeconds"
        assert "less than 10 minutes" in short["body"]["message"]
        missing = await _token(client, "nobody", {})
        assert missing["code"] == 404
        bad_kind = await _token(client, "robot", {"boundObjectRef": {"kind": "Deployment", "name": "x"}})
        assert bad_kind["code"] == 422 and "spec.boundObjectRef.kind" in bad_kind["body"]["message"]
        await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
                             "spec": {"containers": [{"name": "c", "image": "x"}]}})
        stale = await _token(client, "robot", {"boundObjectRef": {"kind": "Pod", "name": "p", "uid": "old"}})
        assert stale["code"] == 409 and "does not match the UID in record" in stale["body"]["message"]
        gone = await _token(client, "robot", {"boundObjectRef": {"kind": "Pod", "name": "q"}})
        assert gone["code"] == 404
        # the account deleted (and made again: another uid): its old tokens stop working
        token = (await _token(client, "robot", {}))["body"]["status"]["token"]
        assert (await server.authenticate_service_account(token)).name == "system:serviceaccount:ns:robot"
        await client.delete("serviceaccounts", "robot", "ns")
        await client.create({"apiVersion": "v1", "kind": "ServiceAccount",
                             "metadata": {"name": "robot", "namespace": "ns"}})
        assert await server.authenticate_service_account(token) is None
        await server.close()
    run(go())


def test_admission_requires_the_account_and_mounts_a_projected_token():
    async def go() -> None:
        server, client = await _server(service_accounts=True)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
               "spec": {"initContainers": [{"name": "i", "image": "x"}], "containers": [{"name": "c", "image": "x"}]}}
        with pytest.raises(errors.ApiError) as e:
            await client.create(pod)
        assert e.value.code == 403 and 'serviceaccount "default" not found' in str(e.value)
        await client.create({"apiVersion": "v1", "kind": "ServiceAccount",
                             "metadata": {"name": "default", "namespace": "ns"}})
        made = await client.create(pod)
        vols = [v for v in made["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
        assert len(vols) == 1
        sources = vols[0]["projected"]["sources"]
        assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
        assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
        for c in made["spec"]["initContainers"] + made["spec"]["containers"]:
            assert {"name": vols[0]["name"], "readOnly": True, "mountPath": MOUNT_PATH} in c["volumeMounts"]
        opted_out = dict(pod, metadata={"name": "q", "namespace": "ns"},
                         spec=dict(pod["spec"], automountServiceAccountToken=False))
        assert "volumes" not in (await client.create(opted_out))["spec"]
        await server.close()
    run(go())


def test_every_namespace_gets_a_default_account_and_the_ca_bundle_back_if_removed():
    async def go() -> None:
        server, client = await _server()
        inf = {r: SharedInformer(client, r) for r in ("namespaces", "serviceaccounts", "configmaps")}
        sa = ServiceAccountController(inf["namespaces"].indexer, inf["serviceaccounts"].indexer, client)
        ca = RootCACertPublisher(inf["namespaces"].indexer, inf["configmaps"].indexer, client, "PEM")
        for c, objs in ((sa, "serviceaccounts"), (ca, "configmaps")):
            inf["namespaces"].add_event_handler(c.on_namespace, c.on_namespace_update)
            inf[objs].add_event_handler(on_update=c.on_object_update, on_delete=c.on_object_delete)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(i.run(stop)) for i in inf.values()]
        tasks += [asyncio.create_task(sa.run(1, stop)), asyncio.create_task(ca.run(1, stop))]
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})

        async def present(ns: str, data: str = "PEM") -> bool:
            try:
                await client.get("serviceaccounts", "default", ns)
                cm = await client.get("configmaps", "kube-root-ca.crt", ns)
            except errors.ApiError:
                return False
            return cm["data"] == {"ca.crt": data}
        await eventually(lambda: present("ns"), "the account and CA in ns")
        await eventually(lambda: present("team"), "the account and CA in team")
        await client.delete("serviceaccounts", "default", "team")
        cm = await client.get("configmaps", "kube-root-ca.crt", "team")
        await client.update(dict(cm, data={"ca.crt": "tampered"}))
        await eventually(lambda: present("team"), "both put back")
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
    run(go())
