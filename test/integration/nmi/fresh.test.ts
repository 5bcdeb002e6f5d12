// Fresh or nothing (issue 13), against a real kube-apiserver: while the NMI's pod watch is
// broken, a pod address reused by another pod must not get the old pod's token. The NMI
// re-reads the node's pods from the API server before it answers, and when it cannot (the
// API server is unreachable too) it answers 503 with Retry-After; /readyz says so meanwhile.
import assert from "node:assert/strict";
import { kubeRequest, resourcePath } from "../../../src/kube/request.ts";
import type { AzureIdentity } from "../../../src/model/types.ts";
import { buildNmiApp } from "../../../src/nmi/app.ts";
import { startKubeView, type KubeView } from "../../../src/nmi/kube-view.ts";
import type { TokenProvider } from "../../../src/nmi/tokens.ts";
import { registerNode, reportPodStatus } from "../../../src/playground/control-plane/kubelet.ts";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { startApiProxy, type ApiProxy } from "../../helpers/api-proxy.ts";
import { sharedRealCluster, uniqueNamespace } from "../../helpers/real-cluster.ts";
import {
  admittedPodBody,
  assign,
  create,
  createBinding,
  createTenant,
  installCrds,
  type RunningPod,
} from "./cluster-fixture.ts";
import { KEYS } from "../../unit/nmi/fixtures.ts";
import { within } from "../../helpers/eventually.ts";

const tokens: TokenProvider = {
  getToken: (identity: AzureIdentity, resource: string) =>
    Promise.resolve({
      token: { accessToken: `tok:${identity.metadata.name}`, expiresOn: Date.now() / 1000 + 3600, resource },
      outcome: "miss" as const,
    }),
};

const id = (name: string, n: number) => ({
  name,
  clientID: `${n}${n}${n}${n}${n}${n}${n}${n}-0000-4000-8000-00000000000${n}`,
  resourceID: `/subscriptions/0b1f6471-0000-4000-8000-00000000c10d/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
});

const waitFor = <T>(fn: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> =>
  within(30_000, fn, what);

describe("nmi: fresh or nothing, against a real API server", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let proxy: ApiProxy;
  let view: KubeView;
  let app: ReturnType<typeof buildNmiApp>;
  const ns = uniqueNamespace("fresh");
  const node = `node-${ns}`;
  const ip = "127.10.77.7";
  const first = id("first", 1);
  const second = id("second", 2);

  async function startPod(name: string, selector: string, identity: typeof first): Promise<RunningPod> {
    const identities = [{ name: identity.name, clientID: identity.clientID, resourceID: identity.resourceID }];
    const body = admittedPodBody({ name, namespace: ns, nodeName: node, selector, keys: KEYS, identities });
    const pod = (await create(cp.kc, "pods", "", "v1", ns, body)) as { metadata: { uid: string } };
    await reportPodStatus(cp.kc, ns, name, { podIP: ip, hostIP: "127.20.77.1" });
    const running = { name, namespace: ns, uid: pod.metadata.uid, podIP: ip, nodeName: node };
    await assign(cp.kc, running, identity, selector);
    return running;
  }

  const ask = () =>
    app.inject({
      method: "GET",
      url: "/metadata/identity/oauth2/token",
      query: { "api-version": "2018-02-01", resource: "https://storage.azure.com" },
      headers: { Metadata: "true" },
      remoteAddress: ip,
    });
  const ready = async () => (await app.inject({ method: "GET", url: "/readyz" })).statusCode;

  before(async () => {
    cp = await sharedRealCluster();
    await installCrds(cp.kc);
    await createTenant(cp.kc, ns, first, "first");
    await createBinding(cp.kc, ns, second, "second");
    await waitFor(async () => {
      const sa = await kubeRequest(cp.kc, { path: `/api/v1/namespaces/${ns}/serviceaccounts/default` }).catch(
        () => undefined,
      );
      return sa === undefined ? undefined : true;
    }, "the default ServiceAccount");
    await registerNode(cp.kc, { name: node, internalIP: "127.20.77.1" });
    proxy = await startApiProxy(cp);
    view = await startKubeView(proxy.kc, node, silentLogger());
    app = buildNmiApp({
      nodeName: node,
      view,
      admissionKeys: () => KEYS,
      tokens,
      imds: { get: () => Promise.reject(new Error("no IMDS in this test")) },
      assignmentWaitMs: 2000,
      retryAfterSeconds: 4,
    });
  });
  after(async () => {
    await app?.close();
    await view?.stop();
    await proxy?.stop();
  });

  it("serves the pod at the address while the watch is current", async () => {
    await startPod("old", "first", first);
    let last = "";
    const res = await waitFor(async () => {
      const r = await ask();
      last = r.body;
      return r.statusCode === 200 ? r : undefined;
    }, "the old pod's token").catch((e: Error) => {
      throw new Error(`${e.message}; the last answer: ${last}`);
    });
    assert.equal(res.json<{ access_token: string }>().access_token, "tok:first");
    assert.equal(await ready(), 200);
  });

  it("during a pod-watch outage, the pod that took over the address gets its own token, never the old one's", async () => {
    proxy.breakWatches("/api/v1/pods");
    await waitFor(() => (view.watching() ? undefined : true), "the broken watch to be noticed");
    assert.equal(await ready(), 503, "/readyz says the watch is broken");

    await kubeRequest(cp.kc, {
      method: "DELETE",
      path: resourcePath({ group: "", version: "v1", plural: "pods", namespace: ns, name: "old" }),
      body: { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0 },
    });
    await startPod("new", "second", second);
    // The assignment arrives through its own (healthy) watch; the pod only through a re-read.
    await waitFor(() => (view.assigned(ns).some((a) => a.spec.pod === "new") ? true : undefined), "the assignment");

    const res = await ask();
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<{ access_token: string }>().access_token, "tok:second");
  });

  it("when the pods cannot be re-read either, it answers 503 with Retry-After", async () => {
    proxy.breakAll();
    const res = await ask();
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(res.headers["retry-after"], "4");
    assert.match(res.body, /cannot vouch/);
    assert.equal(await ready(), 503);
  });

  it("is ready and serves from its watch again once the watch is back", async () => {
    proxy.restore();
    await waitFor(() => (view.watching() ? true : undefined), "the watches to resume");
    assert.equal(await ready(), 200);
    const res = await ask();
    assert.equal(res.json<{ access_token: string }>().access_token, "tok:second");
    assert.deepEqual(
      view.podsWithIp(ip).map((p) => p.name),
      ["new"],
    );
  });
});
