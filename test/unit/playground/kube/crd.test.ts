import assert from "node:assert/strict";
import {
  applySchema,
  crdResources,
  crdStatus,
  isProtectedGroup,
  validateCrd,
} from "../../../../src/playground/kube/crd.ts";
import type { KObject } from "../../../../src/playground/kube/types.ts";

const crd = (group: string, annotations?: Record<string, string>): KObject => ({
  metadata: { name: `things.${group}`, annotations },
  spec: {
    group,
    scope: "Namespaced",
    names: { kind: "Thing", plural: "things", shortNames: ["th"] },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [{ name: "Size", type: "string", jsonPath: ".spec.size" }],
        schema: { openAPIV3Schema: { type: "object" } },
      },
    ],
  },
});

describe("playground kube CRDs", () => {
  const groups: Array<[string, boolean]> = [
    ["aadpodidentity.k8s.io", true],
    ["k8s.io", true],
    ["x.kubernetes.io", true],
    ["example.com", false],
    ["k8s.io.example.com", false],
  ];
  for (const [g, want] of groups) it(`group ${g} protected → ${want}`, () => assert.equal(isProtectedGroup(g), want));

  it("requires the approval annotation in protected groups and accepts an 'unapproved, ...' value", () => {
    const errs = validateCrd(crd("aadpodidentity.k8s.io"));
    assert.deepEqual(
      errs.map((e) => `${e.field}: ${e.detail}`),
      [
        'metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111',
      ],
    );
    assert.deepEqual(
      validateCrd(crd("aadpodidentity.k8s.io", { "api-approved.kubernetes.io": "unapproved, testing" })),
      [],
    );
    assert.deepEqual(validateCrd(crd("example.com")), []);
  });

  it("checks the name, scope and storage version", () => {
    const bad = crd("example.com");
    bad.metadata.name = "wrong";
    const spec = bad.spec as { scope: string; versions: Array<{ storage: boolean }> };
    spec.scope = "Global";
    spec.versions[0]!.storage = false;
    assert.deepEqual(
      validateCrd(bad).map((e) => e.field),
      ["metadata.name", "spec.scope", "spec.versions"],
    );
  });

  it("serves one resource per served version with its printer columns and status subresource", () => {
    const [r] = crdResources(crd("example.com"));
    assert.equal(r!.plural, "things");
    assert.deepEqual(r!.subresources, ["status"]);
    assert.deepEqual(r!.shortNames, ["th"]);
    assert.deepEqual(
      r!.printerColumns!.map((c) => c.name),
      ["Size"],
    );
  });

  it("marks unapproved protected CRDs as not conformant", () => {
    const s = crdStatus(
      crd("aadpodidentity.k8s.io", { "api-approved.kubernetes.io": "unapproved, testing" }),
      "2026-01-01T00:00:00Z",
    ) as { conditions: Array<{ type: string; status: string }> };
    assert.deepEqual(
      s.conditions.map((c) => `${c.type}=${c.status}`),
      ["NamesAccepted=True", "Established=True", "KubernetesAPIApprovalPolicyConformant=False"],
    );
  });

  it("applies defaults, prunes undeclared fields and reports type, enum and required errors", () => {
    const schema = {
      type: "object",
      properties: {
        spec: {
          type: "object",
          required: ["name"],
          properties: {
            name: { type: "string" },
            size: { type: "string", default: "medium", enum: ["small", "medium"] },
            count: { type: "integer" },
            labels: { type: "object", additionalProperties: { type: "string" } },
            free: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
          },
        },
      },
    };
    const o: KObject = {
      apiVersion: "x/v1",
      kind: "T",
      metadata: { name: "t" },
      spec: { name: "n", extra: 1, labels: { a: "b" }, free: { anything: true } },
      other: 1,
    };
    const out = applySchema(schema, o);
    assert.deepEqual(out.unknown, ["spec.extra", "other"]);
    assert.deepEqual(out.errors, []);
    assert.deepEqual(o.spec, { name: "n", size: "medium", labels: { a: "b" }, free: { anything: true } });
    const bad = applySchema(schema, { metadata: {}, spec: { size: "huge", count: "3" } });
    assert.deepEqual(
      bad.errors.map((e) => `${e.field} ${e.type}`),
      ["spec.size FieldValueNotSupported", "spec.count FieldValueInvalid", "spec.name FieldValueRequired"],
    );
  });

  it("refuses numbers outside minimum/maximum as the apiserver words it", () => {
    const schema = {
      type: "object",
      properties: {
        spec: {
          type: "object",
          properties: {
            type: { type: "integer", minimum: 0, maximum: 2 },
            ratio: { type: "number", minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true },
          },
        },
      },
    };
    const errors = (spec: Record<string, unknown>) =>
      applySchema(schema, { metadata: {}, spec }).errors.map((e) => `${e.field}: ${e.detail}`);
    assert.deepEqual(errors({ type: 2, ratio: 0.5 }), []);
    assert.deepEqual(errors({ type: 5 }), [
      "spec.type: Invalid value: 5: spec.type in body should be less than or equal to 2",
    ]);
    assert.deepEqual(errors({ type: -1 }), [
      "spec.type: Invalid value: -1: spec.type in body should be greater than or equal to 0",
    ]);
    assert.deepEqual(errors({ ratio: 1 }), ["spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"]);
    assert.deepEqual(errors({ ratio: 0 }), [
      "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0",
    ]);
  });
});
