// The webhook's routes through app.inject(): the seed's manifests admitted and patched,
// cross-namespace reuse and the other denials with their messages, warnings, UPDATE guards,
// workloads, podid's own objects, and bad input.
import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import fastJsonPatch, { type Operation } from "fast-json-patch";
import {
  ADMISSION_MARK_ANNOTATION,
  ADMITTED_IDENTITIES_ANNOTATION,
  NMI_MODE_ANNOTATION,
  PATHS,
} from "../../../src/model/constants.ts";
import { silentLogger } from "../../../src/shared/log.ts";
import { verifyAdmissionMark } from "../../../src/policy/index.ts";
import { buildWebhookApp } from "../../../src/webhook/app.ts";
import type { AdmissionResponse } from "../../../src/webhook/responses.ts";
import type { WebhookState } from "../../../src/webhook/state.ts";
import { SEED, seedDoc } from "../../fixtures/seed/index.ts";
import { policy } from "../policy/fixtures.ts";
import { KEYS, review, rsPod, seedState } from "./fixtures.ts";

type Obj = Record<string, unknown>;

function app(state: WebhookState = seedState()): FastifyInstance {
  return buildWebhookApp({ state, keys: () => KEYS, logger: silentLogger(), sidecarImage: "podid:test" });
}

async function post(a: FastifyInstance, path: string, body: unknown): Promise<AdmissionResponse> {
  const res = await a.inject({ method: "POST", url: path, payload: body as Obj });
  assert.equal(res.statusCode, 200, res.body);
  const out = res.json<{ apiVersion: string; kind: string; response: AdmissionResponse }>();
  assert.equal(out.apiVersion, "admission.k8s.io/v1");
  assert.equal(out.kind, "AdmissionReview");
  assert.equal(out.response.uid, ((body as Obj).request as Obj).uid);
  return out.response;
}

function applyPatch(obj: Obj, r: AdmissionResponse): Obj {
  if (r.patch === undefined) return obj;
  assert.equal(r.patchType, "JSONPatch");
  const ops = JSON.parse(Buffer.from(r.patch, "base64").toString()) as Operation[];
  return fastJsonPatch.applyPatch(structuredClone(obj), ops, true, false).newDocument;
}

/** Mutate then validate, as the apiserver does; returns the final pod and the validating answer. */
async function admit(
  a: FastifyInstance,
  pod: Obj,
  namespace = "team-a",
): Promise<{ pod: Obj; mutate: AdmissionResponse; validate: AdmissionResponse }> {
  const mutate = await post(a, PATHS.webhookMutatePods, review(pod, { namespace }));
  const mutated = applyPatch(pod, mutate);
  const named = { ...mutated, metadata: { ...(mutated.metadata as Obj), name: "myapp-6d8f7c9b5-x2x9k", uid: "u-1" } };
  const validate = await post(a, PATHS.webhookValidatePods, review(named, { namespace }));
  return { pod: named, mutate, validate };
}

const env = (pod: Obj, container = 0): Array<{ name: string; value?: string }> =>
  (((pod.spec as Obj).containers as Obj[])[container]!.env ?? []) as Array<{ name: string; value?: string }>;
const annotations = (pod: Obj): Record<string, string> =>
  ((pod.metadata as Obj).annotations ?? {}) as Record<string, string>;

describe("webhook routes (inject)", () => {
  const a = app();
  after(() => a.close());

  it("admits the seed's labelled pod: mark, NMI mode, authority host and client ID", async () => {
    const { pod, mutate, validate } = await admit(a, rsPod());
    assert.equal(mutate.allowed, true);
    assert.equal(validate.allowed, true);
    assert.equal(validate.warnings, undefined);
    const ann = annotations(pod);
    assert.equal(ann[NMI_MODE_ANNOTATION], "daemonset");
    const claims = {
      namespace: "team-a",
      serviceAccountName: "default",
      selector: SEED.selector,
      nmiMode: "daemonset" as const,
      identities: [{ name: SEED.identityName, clientID: SEED.clientID, resourceID: SEED.resourceID }],
    };
    assert.deepEqual(JSON.parse(ann[ADMITTED_IDENTITIES_ANNOTATION]!), claims.identities);
    assert.deepEqual(verifyAdmissionMark(KEYS, ann[ADMISSION_MARK_ANNOTATION], claims), { valid: true });
    assert.deepEqual(env(pod), [
      { name: "LOG_LEVEL", value: "info" },
      { name: "PODID_HOST_IP", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "status.hostIP" } } },
      { name: "AZURE_POD_IDENTITY_AUTHORITY_HOST", value: "http://$(PODID_HOST_IP):2579" },
      { name: "AZURE_CLIENT_ID", value: SEED.clientID },
    ]);
  });

  it("is idempotent under reinvocation (no patch the second time)", async () => {
    const first = await post(a, PATHS.webhookMutatePods, review(rsPod()));
    const once = applyPatch(rsPod(), first);
    const again = await post(a, PATHS.webhookMutatePods, review(once));
    assert.equal(again.allowed, true);
    assert.equal(again.patch, undefined);
  });

  it("leaves pods without the label alone", async () => {
    const { mutate, validate } = await admit(a, rsPod({ app: "web" }));
    assert.deepEqual([mutate.allowed, mutate.patch, validate.allowed], [true, undefined, true]);
  });

  it("leaves excepted pods alone (the seed's noaad: true) where a cluster admin allows exceptions", async () => {
    const allowing = app(seedState([policy("exc", { matchLabels: { team: "a" } }, { exceptions: "Allow" })]));
    const { mutate, validate } = await admit(
      allowing,
      rsPod({ aadpodidbinding: "myapp", noaad: "true" }, { hostNetwork: true }),
    );
    await allowing.close();
    assert.deepEqual([mutate.patch, validate.allowed], [undefined, true]);
  });

  it("attack: a tenant's own exception does not lift the rules where exceptions are not allowed", async () => {
    const { validate } = await admit(a, rsPod({ aadpodidbinding: "myapp", noaad: "true" }, { hostNetwork: true }));
    assert.equal(validate.allowed, false);
    assert.match(validate.status?.message ?? "", /hostNetwork/);
    assert.match(validate.warnings?.[0] ?? "", /AzurePodIdentityException "aad-identity-exception" .* is ignored/);
  });

  it("denies cross-namespace reuse with the exact message, naming no other namespace", async () => {
    const { mutate, validate } = await admit(a, rsPod(), "team-b");
    assert.equal(mutate.allowed, true);
    assert.equal(mutate.patch, undefined);
    assert.equal(validate.allowed, false);
    assert.deepEqual(validate.status, {
      code: 403,
      reason: "Forbidden",
      message:
        'label aadpodidbinding=myapp: no AzureIdentityBinding with selector "myapp" exists in namespace "team-b". The selector is bound in another namespace, and podid does not let a pod use another namespace\'s binding (cross-namespace reuse). Create an AzureIdentity and an AzureIdentityBinding with Selector "myapp" in namespace "team-b", or remove the label.',
    });
    assert.doesNotMatch(validate.status.message, /team-a/);
  });

  it("denies hostNetwork pods with the label", async () => {
    const { validate } = await admit(a, rsPod(undefined, { hostNetwork: true }));
    assert.equal(validate.allowed, false);
    assert.match(validate.status!.message, /hostNetwork: true cannot use pod identity/);
  });

  it("refuses a pod whose mark was set by hand (mutating webhook bypassed)", async () => {
    const forged = rsPod();
    (forged.metadata as Obj).annotations = { [ADMISSION_MARK_ANNOTATION]: "v1.abcdefgh.AAAA" };
    const r = await post(a, PATHS.webhookValidatePods, review(forged));
    assert.equal(r.allowed, false);
    assert.match(
      r.status!.message,
      /^label aadpodidbinding=myapp: the admission mark .*do not set aadpodidentity\.k8s\.io\/admission-mark yourself\.$/,
    );
  });

  it("refuses a pod whose admitted-identities annotation does not match its admission", async () => {
    const mutated = applyPatch(rsPod(), await post(a, PATHS.webhookMutatePods, review(rsPod())));
    annotations(mutated)[ADMITTED_IDENTITIES_ANNOTATION] = "[]";
    const r = await post(a, PATHS.webhookValidatePods, review(mutated));
    assert.equal(r.allowed, false);
    assert.match(r.status!.message, /admission mark does not match/);
  });

  it("removes a copied mark from a pod that gets no identity", async () => {
    const copied = rsPod({ aadpodidbinding: "nothing-here" });
    (copied.metadata as Obj).annotations = { [ADMISSION_MARK_ANNOTATION]: "v1.abcdefgh.AAAA" };
    const r = await post(a, PATHS.webhookMutatePods, review(copied));
    assert.equal(annotations(applyPatch(copied, r))[ADMISSION_MARK_ANNOTATION], undefined);
  });

  describe("pod UPDATE", () => {
    const existing = async (): Promise<Obj> => (await admit(a, rsPod())).pod;
    const update = (old: Obj, change: (p: Obj) => void): Obj => {
      const next = structuredClone(old);
      change(next);
      return review(next, { operation: "UPDATE", oldObject: old, name: "myapp-6d8f7c9b5-x2x9k" });
    };
    it("denies changing the label", async () => {
      const old = await existing();
      const r = await post(
        a,
        PATHS.webhookValidatePods,
        update(old, (p) => (((p.metadata as Obj).labels as Obj).aadpodidbinding = "other")),
      );
      assert.equal(r.allowed, false);
      assert.equal(
        r.status!.message,
        'pod "myapp-6d8f7c9b5-x2x9k" in namespace "team-a": changing label aadpodidbinding from "myapp" to "other" on an existing pod is not allowed; pod identity is decided when a pod is created. Set the label in the pod template and recreate the pod.',
      );
    });
    it("denies adding the label", async () => {
      const old = rsPod({ app: "web" });
      const r = await post(
        a,
        PATHS.webhookValidatePods,
        update(old, (p) => (((p.metadata as Obj).labels as Obj).aadpodidbinding = "myapp")),
      );
      assert.match(r.status!.message, /adding label aadpodidbinding=myapp on an existing pod is not allowed/);
    });
    it("denies touching the mark", async () => {
      const old = await existing();
      const r = await post(
        a,
        PATHS.webhookValidatePods,
        update(old, (p) => delete ((p.metadata as Obj).annotations as Obj)[ADMISSION_MARK_ANNOTATION]),
      );
      assert.match(
        r.status!.message,
        /admission-mark is written by podid's webhook at creation and cannot be added, changed or removed/,
      );
    });
    for (const annotation of [NMI_MODE_ANNOTATION, ADMITTED_IDENTITIES_ANNOTATION])
      it(`attack: denies changing ${annotation} after admission`, async () => {
        const old = await existing();
        const r = await post(
          a,
          PATHS.webhookValidatePods,
          update(old, (p) => (((p.metadata as Obj).annotations as Obj)[annotation] = "sidecar")),
        );
        assert.equal(r.allowed, false);
        assert.match(r.status!.message, new RegExp(`annotation ${annotation} is written by podid's webhook`));
      });
    it("allows other changes", async () => {
      const old = await existing();
      const r = await post(
        a,
        PATHS.webhookValidatePods,
        update(old, (p) => (((p.metadata as Obj).labels as Obj).version = "2")),
      );
      assert.equal(r.allowed, true);
    });
  });

  describe("workloads", () => {
    const deployment = (ns: string) => {
      const d = structuredClone(seedDoc("Deployment", ns));
      return review(d, { namespace: ns, kind: { group: "apps", version: "v1", kind: "Deployment" } });
    };
    it("allows the seed's Deployment in the binding's namespace", async () =>
      assert.equal((await post(a, PATHS.webhookValidateWorkloads, deployment("team-a"))).allowed, true));
    it("denies it in another namespace, naming the Deployment", async () => {
      const r = await post(a, PATHS.webhookValidateWorkloads, deployment("team-b"));
      assert.equal(r.allowed, false);
      assert.match(
        r.status!.message,
        /^Deployment "myapp" in namespace "team-b": pod template spec\.template: label aadpodidbinding=myapp: .*cross-namespace reuse/,
      );
    });
    it("finds a CronJob's template", async () => {
      const cj = {
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name: "nightly" },
        spec: {
          schedule: "@daily",
          jobTemplate: {
            spec: { template: { metadata: { labels: { aadpodidbinding: "ghost" } }, spec: { containers: [] } } },
          },
        },
      };
      const r = await post(
        a,
        PATHS.webhookValidateWorkloads,
        review(cj, { kind: { group: "batch", version: "v1", kind: "CronJob" } }),
      );
      assert.match(
        r.status!.message,
        /^CronJob "nightly" in namespace "team-a": pod template spec\.jobTemplate\.spec\.template: label aadpodidbinding=ghost: no AzureIdentityBinding/,
      );
    });
    it("allows a kind it does not judge (a broader webhook rule must not block the cluster)", async () => {
      const r = await post(
        a,
        PATHS.webhookValidateWorkloads,
        review({}, { kind: { group: "", version: "v1", kind: "ConfigMap" } }),
      );
      assert.deepEqual([r.allowed, r.status], [true, undefined]);
    });
  });

  describe("podid's objects", () => {
    const res = (kind: string) => ({ group: "aadpodidentity.k8s.io", version: "v1", kind });
    it("admits the seed's AzureIdentity and binding", async () => {
      for (const kind of ["AzureIdentity", "AzureIdentityBinding"]) {
        const r = await post(a, PATHS.webhookValidateResources, review(seedDoc(kind), { kind: res(kind) }));
        assert.deepEqual([r.allowed, r.warnings], [true, undefined], kind);
      }
    });
    it("refuses an invalid AzureIdentity naming the field", async () => {
      const bad = {
        ...seedDoc("AzureIdentity"),
        spec: { type: 0, ResourceID: SEED.resourceID, ClientID: "not-a-guid" },
      };
      const r = await post(a, PATHS.webhookValidateResources, review(bad, { kind: res("AzureIdentity") }));
      assert.deepEqual(r.status, {
        code: 422,
        reason: "Invalid",
        message:
          'AzureIdentity "myapp-identity" is invalid: spec.ClientID: expected a GUID like 00000000-0000-0000-0000-000000000000, got "not-a-guid"',
      });
    });
    it("warns about a binding whose identity is missing", async () => {
      const r = await post(
        a,
        PATHS.webhookValidateResources,
        review(seedDoc("AzureIdentityBinding"), { kind: res("AzureIdentityBinding"), namespace: "team-b" }),
      );
      assert.equal(r.allowed, true);
      assert.match(r.warnings?.[0] ?? "", /AzureIdentity "myapp-identity" does not exist in namespace "team-b"/);
    });
    it("applies the namespace policy to AzureIdentity (Enforce denies, Audit warns)", async () => {
      const only = { allowedIdentities: [{ resourceID: "/subscriptions/*/resourcegroups/shared/*" }] };
      const enforce = app(seedState([policy("shared-only", { matchLabels: { team: "b" } }, only)]));
      const r = await post(
        enforce,
        PATHS.webhookValidateResources,
        review(seedDoc("AzureIdentity"), { kind: res("AzureIdentity"), namespace: "team-b" }),
      );
      assert.equal(r.allowed, false);
      assert.match(r.status!.message, /is not allowed in namespace "team-b" by AzurePodIdentityPolicy "shared-only"/);
      const audit = app(seedState([policy("shared-only", {}, { ...only, enforcement: "Audit" })]));
      const w = await post(
        audit,
        PATHS.webhookValidateResources,
        review(seedDoc("AzureIdentity"), { kind: res("AzureIdentity"), namespace: "team-b" }),
      );
      assert.equal(w.allowed, true);
      assert.match(w.warnings?.[0] ?? "", /^audit: this would be denied: /);
      await Promise.all([enforce.close(), audit.close()]);
    });
    it("applies the namespace policy to a binding's existing identity", async () => {
      const strict = app(
        seedState([
          policy("shared-only", { matchLabels: { team: "a" } }, { allowedIdentities: [{ clientID: "ffffffff-*" }] }),
        ]),
      );
      const r = await post(
        strict,
        PATHS.webhookValidateResources,
        review(seedDoc("AzureIdentityBinding"), { kind: res("AzureIdentityBinding") }),
      );
      assert.equal(r.allowed, false);
      assert.match(
        r.status!.message,
        /^AzureIdentityBinding "myapp-azure-identity-binding": AzureIdentity "myapp-identity" .* is not allowed in namespace "team-a" by AzurePodIdentityPolicy "shared-only"/,
      );
      await strict.close();
    });
    it("never blocks what podid writes itself (AzureAssignedIdentity under a rule for the whole group)", async () => {
      const aai = { kind: "AzureAssignedIdentity", metadata: { name: "p-x" }, spec: {} };
      for (const path of [PATHS.webhookValidateResources, PATHS.webhookValidatePods, PATHS.webhookMutatePods]) {
        const r = await post(a, path, review(aai, { kind: res("AzureAssignedIdentity") }));
        assert.deepEqual([r.allowed, r.status, r.patch], [true, undefined, undefined], path);
      }
    });
    it("validates an exception: PodLabels required and non-empty", async () => {
      const allowing = app(seedState([policy("exc", {}, { exceptions: "Allow" })]));
      const exc = (spec: unknown) =>
        review(
          { kind: "AzurePodIdentityException", metadata: { name: "e" }, spec },
          { kind: res("AzurePodIdentityException") },
        );
      for (const [spec, msg] of [
        [{}, /spec\.PodLabels: is required/],
        [{ PodLabels: {} }, /spec\.PodLabels: expected at least one label/],
      ] as const) {
        const r = await post(allowing, PATHS.webhookValidateResources, exc(spec));
        assert.deepEqual([r.allowed, r.status?.code], [false, 422]);
        assert.match(r.status!.message, msg);
      }
      assert.equal(
        (await post(allowing, PATHS.webhookValidateResources, exc({ PodLabels: { noaad: true } }))).allowed,
        true,
      );
      await allowing.close();
    });
    it("attack: a tenant's exception is refused where no cluster admin allows exceptions", async () => {
      const r = await post(
        a,
        PATHS.webhookValidateResources,
        review(seedDoc("AzurePodIdentityException"), { kind: res("AzurePodIdentityException") }),
      );
      assert.equal(r.allowed, false);
      assert.match(
        r.status!.message,
        /^AzurePodIdentityException "aad-identity-exception": exceptions are not allowed in namespace "team-a" \(by default .*kube-system/,
      );
    });
    it("warns that a clientID-only policy entry allows service principals only", async () => {
      const r = await post(
        a,
        PATHS.webhookValidateResources,
        review(
          { kind: "AzurePodIdentityPolicy", metadata: { name: "p" }, spec: { allowedIdentities: [{ clientID: "*" }] } },
          { kind: res("AzurePodIdentityPolicy") },
        ),
      );
      assert.equal(r.allowed, true);
      assert.match(
        r.warnings?.[0] ?? "",
        /allowedIdentities\[0\] has only a clientID pattern, so it allows service principals only/,
      );
    });
    it("refuses an invalid policy", async () => {
      const r = await post(
        a,
        PATHS.webhookValidateResources,
        review(
          { kind: "AzurePodIdentityPolicy", metadata: { name: "p" }, spec: { enforcement: "Sometimes" } },
          { kind: res("AzurePodIdentityPolicy") },
        ),
      );
      assert.match(
        r.status!.message,
        /^AzurePodIdentityPolicy "p" is invalid: spec\.enforcement: expected Enforce or Audit/,
      );
    });
  });

  describe("bad input", () => {
    const raw = async (payload: string, contentType = "application/json") =>
      a.inject({ method: "POST", url: PATHS.webhookValidatePods, payload, headers: { "content-type": contentType } });
    const cases: Array<[string, string, string, RegExp]> = [
      ["not JSON", "{nope", "application/json", /request body is not JSON/],
      ["JSON but not a review", "[1,2]", "application/json", /expected an AdmissionReview object, got an array/],
      [
        "v1beta1 review",
        JSON.stringify({ apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview", request: {} }),
        "application/json",
        /expected apiVersion admission\.k8s\.io\/v1/,
      ],
      [
        "no uid",
        JSON.stringify({
          apiVersion: "admission.k8s.io/v1",
          kind: "AdmissionReview",
          request: { kind: { kind: "Pod", version: "v1" }, operation: "CREATE" },
        }),
        "application/json",
        /request\.uid/,
      ],
      [
        "unknown operation",
        JSON.stringify({ ...review({}), request: { ...(review({}).request as Obj), operation: "EXPLODE" } }),
        "application/json",
        /request\.operation: expected one of CREATE/,
      ],
      ["text/plain", "hello", "text/plain", /not JSON/],
    ];
    for (const [name, payload, ct, msg] of cases)
      it(`answers 400 for ${name}`, async () => {
        const res = await raw(payload, ct);
        assert.equal(res.statusCode, 400, res.body);
        assert.match(res.json<{ message: string }>().message, msg);
      });
    it("answers 413 for a body over the limit", async () => {
      const res = await raw(JSON.stringify({ pad: "x".repeat(3 * 1024 * 1024) }));
      assert.equal(res.statusCode, 413);
      assert.match(res.json<{ message: string }>().message, /larger than 3145728 bytes/);
    });
    it("answers an errored review for an object that is not a pod", async () => {
      const r = await post(a, PATHS.webhookMutatePods, review({ metadata: "x" }));
      assert.deepEqual([r.allowed, r.status?.code], [false, 400]);
      assert.match(r.status!.message, /object is not a valid Pod: object\.metadata: expected an object/);
    });
  });

  it("serves healthz, readyz and metrics", async () => {
    assert.equal((await a.inject("/healthz")).statusCode, 200);
    assert.equal((await a.inject("/readyz")).statusCode, 200);
    const m = await a.inject("/metrics");
    assert.match(
      m.body,
      /podid_webhook_admissions_total\{route="\/validate\/pods",result="denied",reason="cross-namespace"\} \d+/,
    );
  });
  it("counts every admission by route, result and rule, and times each route", async () => {
    const fresh = app();
    for (let i = 0; i < 3; i++) await admit(fresh, rsPod());
    await post(fresh, PATHS.webhookMutatePods, review(rsPod(), { namespace: "team-b" }));
    const m = (await fresh.inject("/metrics")).body;
    const count = (re: RegExp): number => Number(re.exec(m)?.[1] ?? NaN);
    assert.equal(
      count(/podid_webhook_admissions_total\{route="\/mutate\/pods",result="patched",reason="[^"]*"\} (\d+)/),
      3,
    );
    assert.equal(
      count(/podid_webhook_admissions_total\{route="\/validate\/pods",result="allowed",reason="[^"]*"\} (\d+)/),
      3,
    );
    assert.equal(count(/podid_webhook_admission_duration_seconds_count\{route="\/mutate\/pods"\} (\d+)/), 4);
    assert.equal(count(/podid_webhook_admission_duration_seconds_count\{route="\/validate\/pods"\} (\d+)/), 3);
    await fresh.close();
  });
  it("is not ready before its caches sync", async () => {
    const unsynced = app({ ...seedState(), synced: () => false });
    assert.equal((await unsynced.inject("/readyz")).statusCode, 503);
    await unsynced.close();
  });
});
