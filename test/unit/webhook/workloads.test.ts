// /validate/workloads when the pod rules would deny: an update that keeps the pod template's
// identity label as it was, and a workload its controller makes from its owner's template, are
// admitted with the denial as a warning (a policy change never stalls a rollout or a
// controller); an update that adds or changes the label, or a workload of no controller, is denied.
import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import { PATHS } from "../../../src/model/constants.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { buildWebhookApp } from "../../../src/webhook/app.ts";
import type { AdmissionResponse } from "../../../src/webhook/responses.ts";
import { KEPT_LABEL_WARNING } from "../../../src/webhook/workloads.ts";
import { seedDoc } from "../../fixtures/seed/index.ts";
import { KEYS, review, seedState } from "./fixtures.ts";

type Obj = Record<string, unknown>;
const APPS = { group: "apps", version: "v1", kind: "Deployment" };

/** The seed's Deployment in `ns` with its template labelled `selector` (undefined: no label) and `image`. */
function deployment(ns: string, selector: string | undefined, image = "app:1"): Obj {
  const d = structuredClone(seedDoc("Deployment", ns)) as unknown as Obj & {
    spec: {
      template: { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ image: string }> } };
    };
  };
  const labels = d.spec.template.metadata.labels;
  if (selector === undefined) delete labels.aadpodidbinding;
  else labels.aadpodidbinding = selector;
  for (const c of d.spec.template.spec.containers) c.image = image;
  return d;
}

describe("webhook /validate/workloads: UPDATE", () => {
  let a: FastifyInstance;
  before(() => {
    a = buildWebhookApp({ state: seedState(), keys: () => KEYS, logger: silentLogger(), sidecarImage: "podid:test" });
  });
  after(() => a.close());

  async function update(ns: string, oldObject: Obj, object: Obj): Promise<AdmissionResponse> {
    const res = await a.inject({
      method: "POST",
      url: PATHS.webhookValidateWorkloads,
      payload: review(object, { namespace: ns, kind: APPS, operation: "UPDATE", oldObject }),
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ response: AdmissionResponse }>().response;
  }

  // team-b has no binding for "myapp" (it is bound in team-a): the pod rules deny it there.
  const cases: Array<{ name: string; old: string | undefined; now: string | undefined; allowed: boolean }> = [
    {
      name: "keeps a label that is now denied (a new image): admitted, with a warning",
      old: "myapp",
      now: "myapp",
      allowed: true,
    },
    { name: "adds a denied label: denied", old: undefined, now: "myapp", allowed: false },
    { name: "changes the label to a denied one: denied", old: "other", now: "myapp", allowed: false },
    { name: "removes the label: admitted without a warning", old: "myapp", now: undefined, allowed: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await update("team-b", deployment("team-b", c.old, "app:1"), deployment("team-b", c.now, "app:2"));
      assert.equal(r.allowed, c.allowed, JSON.stringify(r));
      if (!c.allowed) {
        assert.equal(r.status?.code, 403);
        assert.match(
          r.status?.message ?? "",
          /^Deployment "myapp" in namespace "team-b": pod template spec\.template: /,
        );
        return;
      }
      if (c.now === undefined) {
        assert.equal(r.warnings, undefined);
        return;
      }
      const w = r.warnings?.length === 1 ? r.warnings[0]! : assert.fail(`one warning expected: ${JSON.stringify(r)}`);
      assert.match(
        w,
        /^Deployment "myapp" in namespace "team-b": pod template spec\.template: label aadpodidbinding=myapp: /,
      );
      assert.ok(w.endsWith(`(${KEPT_LABEL_WARNING})`), w);
    });
  }

  it("admits an allowed UPDATE without the warning", async () => {
    const r = await update("team-a", deployment("team-a", "myapp", "app:1"), deployment("team-a", "myapp", "app:2"));
    assert.deepEqual([r.allowed, r.warnings], [true, undefined]);
  });

  it("still denies a CREATE of the same object", async () => {
    const res = await a.inject({
      method: "POST",
      url: PATHS.webhookValidateWorkloads,
      payload: review(deployment("team-b", "myapp"), { namespace: "team-b", kind: APPS }),
    });
    assert.equal(res.json<{ response: AdmissionResponse }>().response.allowed, false);
  });

  describe("a workload made by its controller", () => {
    const RS = { group: "apps", version: "v1", kind: "ReplicaSet" };
    const replicaSet = (owner?: Record<string, unknown>): Obj => {
      const d = deployment("team-b", "myapp") as Obj & { metadata: Obj };
      return {
        ...d,
        kind: "ReplicaSet",
        metadata: {
          ...d.metadata,
          name: "myapp-6d8f7c9b5",
          ...(owner !== undefined ? { ownerReferences: [owner] } : {}),
        },
      };
    };
    const create = async (obj: Obj): Promise<AdmissionResponse> => {
      const res = await a.inject({
        method: "POST",
        url: PATHS.webhookValidateWorkloads,
        payload: review(obj, { namespace: "team-b", kind: RS }),
      });
      return res.json<{ response: AdmissionResponse }>().response;
    };
    const owner = { apiVersion: "apps/v1", kind: "Deployment", name: "myapp", uid: "u-d", controller: true };

    it("admits a Deployment's ReplicaSet, with the denial and its controller named in the warning", async () => {
      const r = await create(replicaSet(owner));
      assert.equal(r.allowed, true);
      assert.match(
        r.warnings?.[0] ?? "",
        /^ReplicaSet "myapp-6d8f7c9b5" in namespace "team-b": pod template spec\.template: label aadpodidbinding=myapp: /,
      );
      assert.match(
        r.warnings?.[0] ?? "",
        /\(admitted because its controller, Deployment "myapp", made it from its own pod template; /,
      );
    });
    it("denies a ReplicaSet created on its own", async () => assert.equal((await create(replicaSet())).allowed, false));
    it("denies one whose owner is not its controller", async () =>
      assert.equal((await create(replicaSet({ ...owner, controller: false }))).allowed, false));
  });
});
