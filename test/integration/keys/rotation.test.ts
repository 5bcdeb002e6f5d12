// Rotating the admission-mark keys while pods are admitted and served, no request refused. The
// Secret lives in a real API server and `podid keys` (its functions) rotates it; the webhook and
// an NMI (the real apps) each read it through their own copy, the way each reads its own Secret
// volume, and the NMI's copy lags: that lag is what cut pods off with the old procedure. A first
// test shows it does (the control); the rotation then runs with every pod asked at every step.
import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import fastJsonPatch, { type Operation } from "fast-json-patch";
import { kubeRequest } from "../../../src/kube/request.ts";
import { promote, retire, stage, status, type KeysTarget } from "../../../src/keys/main.ts";
import { parseAzureIdentity, parseAzureIdentityBinding } from "../../../src/model/parse.ts";
import { buildNmiApp } from "../../../src/nmi/app.ts";
import type { NmiPod } from "../../../src/nmi/pod.ts";
import { parseAdmissionKeys, type AdmissionKeys } from "../../../src/policy/index.ts";
import type { ControlPlane } from "../../../src/playground/control-plane/index.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { buildWebhookApp } from "../../../src/webhook/app.ts";
import type { AdmissionResponse } from "../../../src/webhook/responses.ts";
import { seedDoc } from "../../fixtures/seed/index.ts";
import { eventually } from "../../helpers/eventually.ts";
import { sharedRealCluster, uniqueNamespace } from "../../helpers/real-cluster.ts";
import { assigned, MemoryView, pod as nmiPod } from "../../unit/nmi/fixtures.ts";
import { review, rsPod, seedState } from "../../unit/webhook/fixtures.ts";

const K1 = "rotation-key-one-0123456789abcdef0123";
const must = <T>(p: { ok: true; value: T } | { ok: false }): T => {
  if (!p.ok) throw new Error("seed object does not parse");
  return p.value;
};

describe("podid keys: two-phase rotation while pods are admitted and served", function () {
  this.timeout(90_000);
  let cp: ControlPlane;
  const ns = uniqueNamespace("keys");
  let t: KeysTarget;
  let clock = Date.parse("2026-06-01T12:00:00Z");
  // What each program has loaded from the Secret so far (its own volume, refreshed on its own time).
  let webhookKeys: AdmissionKeys;
  let nmiKeys: AdmissionKeys;
  let webhook: FastifyInstance;
  let nmi: FastifyInstance;
  const view = new MemoryView();
  const identity = must(parseAzureIdentity(seedDoc("AzureIdentity", "team-a")));
  const admittedPods: NmiPod[] = [];
  let podCount = 0;

  const secretText = async (): Promise<string> => {
    const s = await kubeRequest<{ data: { keys: string } }>(cp.kc, {
      path: `/api/v1/namespaces/${ns}/secrets/podid-admission-keys`,
    });
    return Buffer.from(s.data.keys, "base64").toString("utf8");
  };
  const syncWebhook = async (): Promise<void> => void (webhookKeys = parseAdmissionKeys(await secretText()));
  const syncNmi = async (): Promise<void> => void (nmiKeys = parseAdmissionKeys(await secretText()));

  /** A new pod through the webhook (mutate, validate), created in the API server, then served by the NMI. */
  async function admitNewPod(): Promise<number> {
    const pod = rsPod();
    const post = async (url: string, body: unknown): Promise<AdmissionResponse> =>
      (await webhook.inject({ method: "POST", url, payload: body as object })).json<{ response: AdmissionResponse }>()
        .response;
    const m = await post("/mutate/pods", review(pod, { namespace: "team-a" }));
    const ops = JSON.parse(Buffer.from(m.patch ?? "W10=", "base64").toString()) as Operation[];
    const mutated = fastJsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
    const v = await post("/validate/pods", review(mutated, { namespace: "team-a" }));
    assert.equal(v.allowed, true, v.status?.message);
    const name = `app-${podCount++}`;
    const annotations = (mutated.metadata as { annotations: Record<string, string> }).annotations;
    await kubeRequest(cp.kc, {
      method: "POST",
      path: `/api/v1/namespaces/${ns}/pods`,
      body: { metadata: { name, annotations }, spec: { containers: [{ name: "c", image: "x" }] } },
    });
    const p = nmiPod(name, "team-a", `127.10.7.${podCount}`, { labels: { aadpodidbinding: "myapp" }, annotations });
    view.pods.push(p);
    view.aais.push(assigned(p, identity, "Assigned"));
    view.changed();
    admittedPods.push(p);
    return ask(p);
  }
  async function ask(p: NmiPod): Promise<number> {
    const res = await nmi.inject({
      url: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com",
      headers: { Metadata: "true" },
      remoteAddress: p.podIPs[0]!,
    });
    return res.statusCode;
  }
  /** A new pod admitted and every pod so far asked: the statuses they got. */
  async function traffic(): Promise<number[]> {
    const fresh = await admitNewPod();
    const again = await Promise.all(admittedPods.map(ask));
    return [fresh, ...again];
  }
  async function recreateAllPods(): Promise<void> {
    for (const p of admittedPods.splice(0)) {
      await kubeRequest(cp.kc, { method: "DELETE", path: `/api/v1/namespaces/${ns}/pods/${p.name}` });
      view.pods = view.pods.filter((x) => x !== p);
    }
    await admitNewPod();
  }

  before(async () => {
    cp = await sharedRealCluster();
    await kubeRequest(cp.kc, { method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: ns } } });
    await kubeRequest(cp.kc, {
      method: "POST",
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { metadata: { name: "podid-admission-keys" }, stringData: { keys: `${K1}\n` } },
    });
    await eventually(
      () =>
        kubeRequest(cp.kc, { path: `/api/v1/namespaces/${ns}/serviceaccounts/default` }).then(
          () => true,
          () => undefined,
        ),
      "the namespace's default ServiceAccount",
    );
    t = { kc: cp.kc, namespace: ns, now: () => clock };
    await syncWebhook();
    await syncNmi();
    view.ids.push(identity);
    view.binds.push(must(parseAzureIdentityBinding(seedDoc("AzureIdentityBinding", "team-a"))));
    webhook = buildWebhookApp({
      state: seedState(),
      keys: () => webhookKeys,
      logger: silentLogger(),
      sidecarImage: "x",
    });
    nmi = buildNmiApp({
      nodeName: "node-1",
      view,
      admissionKeys: () => nmiKeys,
      tokens: {
        getToken: (_i, resource) =>
          Promise.resolve({
            token: { accessToken: "t", expiresOn: Date.now() / 1000 + 3600, resource },
            outcome: "hit",
          }),
      },
      imds: { get: () => Promise.reject(new Error("no IMDS")) },
      assignmentWaitMs: 0,
    });
  });
  after(async () => {
    await webhook?.close();
    await nmi?.close();
    await kubeRequest(cp.kc, { method: "DELETE", path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
  });

  it("control: a new key that signs before the NMI has it gets freshly admitted pods a 403", async () => {
    const old = await secretText();
    await kubeRequest(cp.kc, {
      method: "PATCH",
      path: `/api/v1/namespaces/${ns}/secrets/podid-admission-keys`,
      contentType: "application/merge-patch+json",
      body: { stringData: { keys: `control-key-0123456789abcdef012345\n${old}` } },
    });
    await syncWebhook();
    assert.equal(await admitNewPod(), 403, "the one-phase rotation cuts the new pod off");
    // Put things back as they were for the real rotation.
    await kubeRequest(cp.kc, {
      method: "PATCH",
      path: `/api/v1/namespaces/${ns}/secrets/podid-admission-keys`,
      contentType: "application/merge-patch+json",
      body: { stringData: { keys: old } },
    });
    await syncWebhook();
    await syncNmi();
    await recreateAllPods();
  });

  it("stage, promote, retire: every pod admitted and asked at every step gets its token", async () => {
    const refused = (codes: number[]): void =>
      assert.deepEqual(
        codes.filter((c) => c !== 200),
        [],
        `codes: ${codes.join(",")}`,
      );
    refused(await traffic());

    const id = await stage(t);
    await syncWebhook(); // the webhook sees the staged key first: it still signs with the old one
    refused(await traffic());
    await assert.rejects(promote(t), /staged 0 s ago; promote it after 180 s/);
    await syncNmi();
    refused(await traffic());

    clock += 181_000;
    assert.equal(await promote(t), id);
    await syncWebhook(); // new marks by the new key, which the lagging NMI already verifies
    refused(await traffic());
    assert.deepEqual(
      (await status(t)).keys.map((k) => k.role),
      ["signs", "verifies"],
    );
    await syncNmi();
    refused(await traffic());

    await assert.rejects(retire(t), /pod\(s\) carry marks signed by key .* and would lose their tokens/);
    await recreateAllPods();
    refused(await traffic());
    const old = (await status(t)).keys[1]!;
    assert.equal(old.pods, 0, "no pod carries a mark by the old key any more");
    assert.deepEqual(await retire(t), [old.id]);
    await syncWebhook();
    refused(await traffic());
    await syncNmi();
    refused(await traffic());
    assert.deepEqual(
      (await status(t)).keys.map((k) => [k.id, k.role]),
      [[id, "signs"]],
    );
  });
});
