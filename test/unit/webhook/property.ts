// Shared by the property tests: arbitrary and mutated AdmissionReviews, and the check that an
// answer is a 400/413 with a message or a well-formed AdmissionReview for the same uid.
import assert from "node:assert/strict";
import fc from "fast-check";
import { PATHS } from "../../../src/model/constants.ts";
import { seedDoc } from "../../fixtures/seed/index.ts";
import { review, rsPod } from "./fixtures.ts";

type Json = unknown;

export const ROUTES = [
  PATHS.webhookMutatePods,
  PATHS.webhookValidatePods,
  PATHS.webhookValidateResources,
  PATHS.webhookValidateWorkloads,
];

function validReviews(): Array<Record<string, unknown>> {
  const crd = (kind: string) => ({ group: "aadpodidentity.k8s.io", version: "v1", kind });
  const pod = rsPod();
  return [
    review(pod),
    review(pod, { namespace: "team-b" }),
    review(rsPod({ aadpodidbinding: "myapp", noaad: "true" })),
    review(pod, { operation: "UPDATE", oldObject: rsPod({ app: "x" }) }),
    review(seedDoc("Deployment"), { kind: { group: "apps", version: "v1", kind: "Deployment" } }),
    review(seedDoc("AzureIdentity"), { kind: crd("AzureIdentity") }),
    review(seedDoc("AzureIdentityBinding"), { kind: crd("AzureIdentityBinding") }),
    review(
      { kind: "AzurePodIdentityPolicy", metadata: { name: "p" }, spec: {} },
      { kind: crd("AzurePodIdentityPolicy") },
    ),
  ];
}

/** Every path (as key lists) inside a JSON value. */
function paths(
  v: Json,
  prefix: Array<string | number> = [],
  out: Array<Array<string | number>> = [],
): Array<Array<string | number>> {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function mutate(doc: Json, path: Array<string | number>, action: number, value: Json): Json {
  if (path.length === 0) return action === 0 ? value : doc;
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let parent = copy;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (action === 0) parent[last] = value;
  else if (action === 1) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (action === 2 && !Array.isArray(parent)) parent[`${String(last)}x`] = value;
  else if (action === 3) parent[last] = typeof parent[last] === "string" ? parent[last].toUpperCase() + "-" : null;
  return copy;
}

/** A valid review with one to four random changes (replace, delete, add a key, alter). */
export const mutatedReview: fc.Arbitrary<Json> = fc
  .tuple(
    fc.constantFrom(...validReviews()),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.jsonValue({ maxDepth: 2 })), { minLength: 1, maxLength: 4 }),
  )
  .map(([base, muts]) => {
    let doc: Json = base;
    for (const [pick, action, value] of muts) {
      const all = paths(doc);
      doc = mutate(doc, all[pick % all.length]!, action, value);
    }
    return doc;
  });

/** Mostly mutated reviews, some arbitrary JSON. */
export const anyBody: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: mutatedReview },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
);

/** Asserts the invariant: 400/413 with a message, or a well-formed review answering the body's uid. */
export function checkAnswer(body: Json, status: number, text: string): void {
  if (status === 400 || status === 413) {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    assert.ok(typeof m === "string" && m.length > 0, text);
    return;
  }
  assert.equal(status, 200, text);
  const out = JSON.parse(text) as { apiVersion: string; kind: string; response: Record<string, unknown> };
  assert.equal(out.apiVersion, "admission.k8s.io/v1");
  assert.equal(out.kind, "AdmissionReview");
  const r = out.response;
  assert.equal(r.uid, (body as { request: { uid: string } }).request.uid);
  assert.equal(typeof r.allowed, "boolean");
  if (r.allowed === false) {
    const s = r.status as { code: number; message: string };
    assert.ok(Number.isInteger(s.code) && s.code >= 400 && s.message.length > 0, text);
  }
  if (r.patch !== undefined) {
    assert.equal(r.patchType, "JSONPatch");
    assert.ok(Array.isArray(JSON.parse(Buffer.from(r.patch as string, "base64").toString())));
  }
  if (r.warnings !== undefined) assert.ok(Array.isArray(r.warnings) && r.warnings.every((w) => typeof w === "string"));
}
