// The `podid wait` init container: added first among the init containers, only to pods that
// ask with the wait-for-identity annotation and are admitted with identities; in daemonset
// mode with the app's env, in sidecar mode as a copy of the sidecar; never twice; its patch
// (one insertion, not a diff of the list) turns the pod into exactly mutatePod's result; and
// a bad annotation value is denied with its name, on pods and on workloads' pod templates.
import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import fc from "fast-check";
import fastJsonPatch, { type Operation } from "fast-json-patch";
import { PATHS, SIDECAR, WAIT } from "../../../src/model/constants.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { buildWebhookApp } from "../../../src/webhook/app.ts";
import { mutatePod, podPatch, type MutationPlan } from "../../../src/webhook/mutate.ts";
import type { AdmissionResponse } from "../../../src/webhook/responses.ts";
import { seedDoc } from "../../fixtures/seed/index.ts";
import { KEYS, review, rsPod, seedState } from "./fixtures.ts";

type Obj = Record<string, unknown>;
const CLIENT = "5c7a9e1b-2d3f-4a6b-8c9d-0e1f2a3b4c5d";
const wait = { identities: [{ name: "demo-reader", clientID: CLIENT }], timeoutSeconds: 180 };
const daemonset: MutationPlan = {
  mark: "v1.k.m",
  nmiMode: "daemonset",
  clientID: CLIENT,
  sidecarImage: "podid:test",
  wait,
};
const sidecar: MutationPlan = { mark: "v1.k.m", nmiMode: "sidecar", sidecarImage: "podid:test", wait };
const inits = (p: Obj): Obj[] => ((p.spec as Obj).initContainers ?? []) as Obj[];
const apply = (p: Obj, ops: readonly Operation[]): Obj =>
  fastJsonPatch.applyPatch(structuredClone(p), structuredClone(ops) as Operation[], true, false).newDocument;

describe("webhook: the podid wait init container", () => {
  it("daemonset mode: goes first, same image, the app's env, waits for each identity by name and client ID", () => {
    const pod = rsPod(undefined, { initContainers: [{ name: "migrate", image: "db-tool" }] });
    const out = mutatePod(pod, daemonset);
    assert.deepEqual(
      inits(out).map((c) => c.name),
      [WAIT.containerName, "migrate"],
    );
    const w = inits(out)[0]!;
    assert.equal(w.image, "podid:test");
    assert.deepEqual(w.args, ["wait", `--identity=demo-reader:${CLIENT}`, "--timeout=180s"]);
    assert.deepEqual(
      (w.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]),
      [
        ["PODID_HOST_IP", undefined],
        ["AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://$(PODID_HOST_IP):2579"],
        ["AZURE_CLIENT_ID", CLIENT],
      ],
    );
    assert.equal((w.securityContext as Obj).runAsNonRoot, true);
  });

  it("sidecar mode: a copy of the sidecar (its env and token) that runs the forwarder itself", () => {
    const out = mutatePod(rsPod(), sidecar);
    const w = inits(out)[0]!;
    const nmi = ((out.spec as Obj).containers as Obj[]).find((c) => c.name === SIDECAR.containerName)!;
    assert.equal(w.name, WAIT.containerName);
    assert.deepEqual(w.args, ["wait", `--identity=demo-reader:${CLIENT}`, "--timeout=180s", "--sidecar"]);
    assert.deepEqual(w.env, nmi.env);
    assert.deepEqual(w.volumeMounts, nmi.volumeMounts);
    assert.equal(w.ports, undefined, "the sidecar's metrics port stays the sidecar's");
  });

  it("is added once: a second pass and reinvocation change nothing", () => {
    for (const plan of [daemonset, sidecar]) {
      const once = mutatePod(rsPod(), plan);
      assert.deepEqual(podPatch(once, plan), []);
      assert.equal(inits(mutatePod(once, plan)).length, 1);
    }
  });

  it("its patch turns any pod into exactly what mutatePod makes of it", () => {
    const container = fc.record({
      name: fc.constantFrom("a", "b", WAIT.containerName),
      env: fc.constant([{ name: "X", value: "1" }]),
      image: fc.constant("i"),
    });
    const pod = fc
      .record({
        metadata: fc.constant({ generateName: "p-", annotations: { [WAIT.annotation]: "true" } }),
        spec: fc.record(
          {
            containers: fc.array(container, { minLength: 1, maxLength: 2 }),
            initContainers: fc.array(container, { maxLength: 3 }),
          },
          { requiredKeys: ["containers"] },
        ),
      })
      .map((p) => JSON.parse(JSON.stringify(p)) as Obj); // as the webhook gets pods: parsed JSON
    fc.assert(
      fc.property(pod, fc.constantFrom(daemonset, sidecar), (p, plan) => {
        const ops = podPatch(p, plan);
        assert.deepEqual(apply(p, ops), mutatePod(p, plan));
      }),
      { numRuns: 500 },
    );
  });

  describe("through the routes", () => {
    let a: FastifyInstance;
    before(() => {
      a = buildWebhookApp({ state: seedState(), keys: () => KEYS, logger: silentLogger(), sidecarImage: "podid:test" });
    });
    after(() => a.close());
    const post = async (path: string, body: unknown): Promise<AdmissionResponse> =>
      (await a.inject({ method: "POST", url: path, payload: body as Obj })).json<{ response: AdmissionResponse }>()
        .response;
    const annotated = (value: string): Obj => {
      const p = rsPod();
      (p.metadata as Obj).annotations = { [WAIT.annotation]: value };
      return p;
    };
    const patchedPod = (p: Obj, r: AdmissionResponse): Obj =>
      apply(p, JSON.parse(Buffer.from(r.patch ?? "W10=", "base64").toString()) as Operation[]);

    it("adds it to an admitted pod that asks, with the identity its binding resolves to", async () => {
      const pod = annotated("300s");
      const out = patchedPod(pod, await post(PATHS.webhookMutatePods, review(pod)));
      assert.deepEqual(inits(out)[0]?.args, ["wait", `--identity=myapp-identity:${CLIENT}`, "--timeout=300s"]);
      const v = await post(
        PATHS.webhookValidatePods,
        review({ ...out, metadata: { ...(out.metadata as Obj), name: "p" } }),
      );
      assert.equal(v.allowed, true, JSON.stringify(v));
    });

    it("adds nothing to pods that do not ask, or get no identity", async () => {
      const plain = rsPod();
      assert.deepEqual(inits(patchedPod(plain, await post(PATHS.webhookMutatePods, review(plain)))), []);
      // A selector bound nowhere: the pod gets no identity (the validating route denies it).
      const unbound = annotated("true");
      (unbound.metadata as Obj).labels = { aadpodidbinding: "bound-nowhere" };
      assert.deepEqual(inits(patchedPod(unbound, await post(PATHS.webhookMutatePods, review(unbound)))), []);
    });

    it("denies a value it does not know, naming the annotation, on pods and on pod templates", async () => {
      const v = await post(PATHS.webhookValidatePods, review(annotated("soon")));
      assert.equal(v.allowed, false);
      assert.equal(v.status?.code, 400);
      assert.equal(
        v.status?.message,
        `annotation ${WAIT.annotation}: expected "true", "false" or a duration such as "300s", got "soon"`,
      );
      const deployment = structuredClone(seedDoc("Deployment")) as Obj;
      const tmeta = ((deployment.spec as Obj).template as Obj).metadata as Obj;
      tmeta.annotations = { [WAIT.annotation]: "yes" };
      const d = await post(
        PATHS.webhookValidateWorkloads,
        review(deployment, { kind: { group: "apps", version: "v1", kind: "Deployment" } }),
      );
      assert.equal(d.allowed, false);
      assert.match(
        d.status?.message ?? "",
        /pod template spec\.template: annotation aadpodidentity\.k8s\.io\/wait-for-identity: expected/,
      );
    });
  });
});
