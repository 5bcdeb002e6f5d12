import assert from "node:assert/strict";
import { describe, it } from "mocha";
import {
  formatErrors,
  parseAzureAssignedIdentity,
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
  resourceIdKey,
  tokenSourceOf,
} from "../../../src/model/parse.ts";
import type { Parsed } from "../../../src/model/types.ts";
import { SEED, seedDoc } from "../../fixtures/seed/index.ts";

const API = "aadpodidentity.k8s.io/v1";
const RID = SEED.resourceID;
const GUID = "11111111-2222-3333-4444-555555555555";

function value<T>(p: Parsed<T>): T {
  if (!p.ok) assert.fail(`expected ok, got ${formatErrors(p.errors)}`);
  return p.value;
}
function errorFields<T>(p: Parsed<T>): string[] {
  assert.equal(p.ok, false, "expected errors");
  return p.ok ? [] : p.errors.map((e) => e.field);
}

const identity = (spec: Record<string, unknown>, ns = "team-a") => ({
  apiVersion: API,
  kind: "AzureIdentity",
  metadata: { name: "id", namespace: ns },
  spec,
});

describe("model parsers: the seed's manifests parse unchanged", () => {
  it("AzureIdentity (type 0, ResourceID, ClientID)", () => {
    const v = value(parseAzureIdentity(seedDoc("AzureIdentity", "default")));
    assert.deepEqual(v, {
      metadata: { name: SEED.identityName, namespace: "default", labels: {}, annotations: {} },
      type: 0,
      resourceID: RID,
      clientID: SEED.clientID,
    });
  });
  it("AzureIdentityBinding (AzureIdentity, Selector)", () => {
    const v = value(parseAzureIdentityBinding(seedDoc("AzureIdentityBinding", "default")));
    assert.equal(v.azureIdentity, SEED.identityName);
    assert.equal(v.selector, SEED.selector);
    assert.equal(v.nmiMode, undefined);
  });
  it("AzurePodIdentityException (PodLabels with a boolean value)", () => {
    const v = value(parseAzurePodIdentityException(seedDoc("AzurePodIdentityException", "default")));
    assert.deepEqual(v.podLabels, { noaad: "true" });
  });
});

describe("model parsers: AzureIdentity", () => {
  const ok: Array<{
    name: string;
    spec: Record<string, unknown>;
    check: (v: ReturnType<typeof value<unknown>>) => void;
  }> = [
    {
      name: "lower-case field names",
      spec: { type: 0, resourceID: RID, clientID: SEED.clientID },
      check: (v) => assert.equal((v as { resourceID: string }).resourceID, RID),
    },
    {
      name: "upper-case GUID is lower-cased",
      spec: { type: 0, ResourceID: RID, ClientID: SEED.clientID.toUpperCase() },
      check: (v) => assert.equal((v as { clientID: string }).clientID, SEED.clientID),
    },
    {
      name: "missing type means 0",
      spec: { ResourceID: RID, ClientID: GUID },
      check: (v) => assert.equal((v as { type: number }).type, 0),
    },
    {
      name: "type as a numeric string",
      spec: { type: "0", ResourceID: RID, ClientID: GUID },
      check: (v) => assert.equal((v as { type: number }).type, 0),
    },
    {
      name: "resource ID in other case, trailing slash dropped",
      spec: {
        type: 0,
        ResourceID: `${RID.toUpperCase().replace("MICROSOFT.MANAGEDIDENTITY", "microsoft.managedidentity")}/`,
        ClientID: GUID,
      },
      check: (v) => assert.equal(resourceIdKey((v as { resourceID: string }).resourceID), resourceIdKey(RID)),
    },
    {
      name: "type 1 with secret reference defaulting to the identity's namespace",
      spec: { type: 1, TenantID: GUID, ClientID: GUID, ClientPassword: { name: "sp-secret" } },
      check: (v) =>
        assert.deepEqual((v as { clientPassword: unknown }).clientPassword, { name: "sp-secret", namespace: "team-a" }),
    },
    {
      name: "type 2 with certificate secret in another namespace",
      spec: { type: 2, tenantid: GUID, clientid: GUID, clientpassword: { name: "sp-cert", namespace: "certs" } },
      check: (v) =>
        assert.deepEqual((v as { clientPassword: unknown }).clientPassword, { name: "sp-cert", namespace: "certs" }),
    },
  ];
  for (const c of ok) it(`accepts ${c.name}`, () => c.check(value(parseAzureIdentity(identity(c.spec)))));

  const bad: Array<{ name: string; obj: unknown; fields: string[]; says?: RegExp }> = [
    { name: "not an object", obj: "hello", fields: [""], says: /expected a AzureIdentity object, got a string/ },
    { name: "no metadata", obj: { spec: { ResourceID: RID, ClientID: GUID } }, fields: ["metadata"] },
    { name: "no spec", obj: { metadata: { name: "x" } }, fields: ["spec"] },
    {
      name: "wrong kind",
      obj: { kind: "Pod", metadata: { name: "x" }, spec: { ResourceID: RID, ClientID: GUID } },
      fields: ["kind"],
    },
    {
      name: "unknown type",
      obj: identity({ type: 3, ResourceID: RID, ClientID: GUID }),
      fields: ["spec.type"],
      says: /expected 0 .*got a number \(3\)/,
    },
    {
      name: "ClientID not a GUID",
      obj: identity({ type: 0, ResourceID: RID, ClientID: "abc" }),
      fields: ["spec.ClientID"],
      says: /GUID/,
    },
    {
      name: "ClientID missing",
      obj: identity({ type: 0, ResourceID: RID }),
      fields: ["spec.ClientID"],
      says: /required/,
    },
    { name: "ResourceID missing", obj: identity({ type: 0, ClientID: GUID }), fields: ["spec.ResourceID"] },
    {
      name: "ResourceID of another resource type",
      obj: identity({ type: 0, ClientID: GUID, ResourceID: RID.replace("userAssignedIdentities", "virtualMachines") }),
      fields: ["spec.ResourceID"],
      says: /userAssignedIdentities\/<name>/,
    },
    {
      name: "ResourceID a number",
      obj: identity({ type: 0, ClientID: GUID, ResourceID: 5 }),
      fields: ["spec.ResourceID"],
      says: /expected a string, got a number/,
    },
    {
      name: "type 1 without TenantID or ClientPassword",
      obj: identity({ type: 1, ClientID: GUID }),
      fields: ["spec.TenantID", "spec.ClientPassword"],
    },
    {
      name: "type 1 with a ClientPassword string",
      obj: identity({ type: 1, ClientID: GUID, TenantID: GUID, ClientPassword: "hunter2" }),
      fields: ["spec.ClientPassword"],
    },
    {
      name: "labels with a non-string value",
      obj: { ...identity({ ResourceID: RID, ClientID: GUID }), metadata: { name: "x", labels: { a: 1 } } },
      fields: ["metadata.labels.a"],
    },
  ];
  for (const c of bad)
    it(`refuses ${c.name}, naming the field`, () => {
      const p = parseAzureIdentity(c.obj);
      assert.deepEqual(errorFields(p), c.fields);
      if (c.says !== undefined && !p.ok) assert.match(formatErrors(p.errors), c.says);
    });
});

describe("model parsers: AzureIdentityBinding", () => {
  const binding = (spec: unknown) => ({ kind: "AzureIdentityBinding", metadata: { name: "b", namespace: "n" }, spec });
  it("reads lower-case spellings and nmiMode", () => {
    const v = value(
      parseAzureIdentityBinding(binding({ azureIdentity: "x", selector: "a.b_c-1", nmiMode: "Sidecar" })),
    );
    assert.deepEqual([v.azureIdentity, v.selector, v.nmiMode], ["x", "a.b_c-1", "sidecar"]);
  });
  const bad: Array<{ name: string; spec: unknown; fields: string[] }> = [
    { name: "empty spec", spec: {}, fields: ["spec.AzureIdentity", "spec.Selector"] },
    {
      name: "selector not a label value",
      spec: { AzureIdentity: "x", Selector: "has space" },
      fields: ["spec.Selector"],
    },
    { name: "selector too long", spec: { AzureIdentity: "x", Selector: "a".repeat(64) }, fields: ["spec.Selector"] },
    {
      name: "identity name with capitals",
      spec: { AzureIdentity: "My_Id", Selector: "s" },
      fields: ["spec.AzureIdentity"],
    },
    {
      name: "unknown nmiMode",
      spec: { AzureIdentity: "x", Selector: "s", nmiMode: "hostnetwork" },
      fields: ["spec.nmiMode"],
    },
    { name: "spec an array", spec: [], fields: ["spec"] },
  ];
  for (const c of bad)
    it(`refuses ${c.name}`, () => assert.deepEqual(errorFields(parseAzureIdentityBinding(binding(c.spec))), c.fields));
});

describe("model parsers: AzurePodIdentityException", () => {
  const exc = (spec: unknown) => ({ kind: "AzurePodIdentityException", metadata: { name: "e", namespace: "n" }, spec });
  it("stringifies numbers and booleans", () =>
    assert.deepEqual(value(parseAzurePodIdentityException(exc({ podLabels: { a: 1, b: false, c: "x" } }))).podLabels, {
      a: "1",
      b: "false",
      c: "x",
    }));
  it("refuses an empty label set (it would except every pod)", () =>
    assert.deepEqual(errorFields(parseAzurePodIdentityException(exc({ PodLabels: {} }))), ["spec.PodLabels"]));
  it("refuses a nested value", () =>
    assert.deepEqual(errorFields(parseAzurePodIdentityException(exc({ PodLabels: { a: { b: 1 } } }))), [
      "spec.PodLabels.a",
    ]));
});

describe("model parsers: AzurePodIdentityPolicy", () => {
  const pol = (spec: unknown) => ({ kind: "AzurePodIdentityPolicy", metadata: { name: "p" }, spec });
  it("applies defaults", () => {
    const v = value(parseAzurePodIdentityPolicy(pol({})));
    assert.deepEqual(v, {
      metadata: { name: "p", labels: {}, annotations: {} },
      namespaceSelector: {},
      onUnmatchedLabel: "Deny",
      enforcement: "Enforce",
      unlistedIdentities: "Allow",
    });
  });
  it("reads unlistedIdentities and exceptions", () => {
    const v = value(parseAzurePodIdentityPolicy(pol({ unlistedIdentities: "deny", exceptions: "Allow" })));
    assert.deepEqual([v.unlistedIdentities, v.exceptions], ["Deny", "Allow"]);
    assert.deepEqual(errorFields(parseAzurePodIdentityPolicy(pol({ unlistedIdentities: "no", exceptions: true }))), [
      "spec.unlistedIdentities",
      "spec.exceptions",
    ]);
  });
  it("reads every field, normalising enum case", () => {
    const v = value(
      parseAzurePodIdentityPolicy(
        pol({
          namespaceSelector: {
            matchLabels: { team: "a" },
            matchExpressions: [
              { key: "env", operator: "in", values: ["prod", "stage"] },
              { key: "x", operator: "Exists" },
            ],
          },
          allowedIdentities: [{ resourceID: "/subscriptions/*/resourcegroups/team-a/*" }, { clientID: GUID }],
          onUnmatchedLabel: "warn",
          enforcement: "AUDIT",
          nmiMode: "sidecar",
        }),
      ),
    );
    assert.deepEqual(v.namespaceSelector, {
      matchLabels: { team: "a" },
      matchExpressions: [
        { key: "env", operator: "In", values: ["prod", "stage"] },
        { key: "x", operator: "Exists" },
      ],
    });
    assert.deepEqual(v.allowedIdentities, [
      { resourceID: "/subscriptions/*/resourcegroups/team-a/*" },
      { clientID: GUID },
    ]);
    assert.deepEqual([v.onUnmatchedLabel, v.enforcement, v.nmiMode], ["Warn", "Audit", "sidecar"]);
  });
  const bad: Array<{ name: string; spec: unknown; fields: string[] }> = [
    { name: "unknown enforcement", spec: { enforcement: "Maybe" }, fields: ["spec.enforcement"] },
    { name: "unknown onUnmatchedLabel", spec: { onUnmatchedLabel: 1 }, fields: ["spec.onUnmatchedLabel"] },
    { name: "allowedIdentities not a list", spec: { allowedIdentities: "*" }, fields: ["spec.allowedIdentities"] },
    {
      name: "allowed entry with neither pattern",
      spec: { allowedIdentities: [{}] },
      fields: ["spec.allowedIdentities[0]"],
    },
    {
      name: "In without values",
      spec: { namespaceSelector: { matchExpressions: [{ key: "a", operator: "In" }] } },
      fields: ["spec.namespaceSelector.matchExpressions[0].values"],
    },
    {
      name: "Exists with values",
      spec: { namespaceSelector: { matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] } },
      fields: ["spec.namespaceSelector.matchExpressions[0].values"],
    },
    {
      name: "unknown operator",
      spec: { namespaceSelector: { matchExpressions: [{ key: "a", operator: "Near" }] } },
      fields: ["spec.namespaceSelector.matchExpressions[0].operator"],
    },
    { name: "selector a string", spec: { namespaceSelector: "team=a" }, fields: ["spec.namespaceSelector"] },
  ];
  for (const c of bad)
    it(`refuses ${c.name}`, () => assert.deepEqual(errorFields(parseAzurePodIdentityPolicy(pol(c.spec))), c.fields));
});

describe("model parsers: AzureAssignedIdentity", () => {
  const spec = {
    pod: "myapp-7d9f-abcde",
    podNamespace: "team-a",
    podUID: "u1",
    nodeName: "aks-node-0",
    azureIdentityRef: {
      name: "myapp-identity",
      namespace: "team-a",
      type: 0,
      clientID: SEED.clientID.toUpperCase(),
      resourceID: RID,
    },
    azureBindingRef: { name: "b", namespace: "team-a", selector: "myapp" },
  };
  it("reads spec and status", () => {
    const v = value(
      parseAzureAssignedIdentity({
        kind: "AzureAssignedIdentity",
        metadata: { name: "a", namespace: "team-a" },
        spec,
        status: { status: "Assigned", target: "/subscriptions/x/vmss" },
      }),
    );
    assert.equal(v.spec.azureIdentityRef.clientID, SEED.clientID);
    assert.deepEqual(v.status, { status: "Assigned", target: "/subscriptions/x/vmss" });
  });
  it("names missing fields", () => {
    const fields = errorFields(
      parseAzureAssignedIdentity({ metadata: { name: "a" }, spec: { pod: "p" }, status: { status: "Bogus" } }),
    );
    assert.deepEqual(fields, [
      "spec.podNamespace",
      "spec.nodeName",
      "spec.azureIdentityRef",
      "spec.azureIdentityRef.name",
      "spec.azureIdentityRef.namespace",
      "spec.azureBindingRef",
      "spec.azureBindingRef.name",
      "spec.azureBindingRef.namespace",
      "spec.azureBindingRef.selector",
      "status.status",
    ]);
  });
});

describe("model parsers: token source (federation)", () => {
  const spec = { type: 0, ResourceID: RID, ClientID: GUID };
  it("reads spec.tokenSource on a user-assigned identity; absent means the cluster's default", () => {
    assert.equal(value(parseAzureIdentity(identity({ ...spec, tokenSource: "Federated" }))).tokenSource, "Federated");
    const plain = value(parseAzureIdentity(identity(spec)));
    assert.equal(plain.tokenSource, undefined);
    assert.equal(tokenSourceOf(plain, "Federated"), "Federated");
    assert.equal(tokenSourceOf(plain, "NodeAssigned"), "NodeAssigned");
    const own = value(parseAzureIdentity(identity({ ...spec, tokenSource: "NodeAssigned" })));
    assert.equal(tokenSourceOf(own, "Federated"), "NodeAssigned", "the identity's own choice wins");
  });
  it("refuses an unknown source, naming the field and the values", () => {
    const p = parseAzureIdentity(identity({ ...spec, tokenSource: "federated" }));
    assert.deepEqual(errorFields(p), ["spec.tokenSource"]);
    assert.match(
      formatErrors(p.ok ? [] : p.errors),
      /expected NodeAssigned or Federated, got a string \("federated"\)/,
    );
  });
  it("refuses a token source on a service principal, which uses its Secret", () => {
    const sp = { type: 1, ClientID: GUID, TenantID: GUID, ClientPassword: { name: "s" }, tokenSource: "Federated" };
    assert.deepEqual(errorFields(parseAzureIdentity(identity(sp))), ["spec.tokenSource"]);
    const ok = value(parseAzureIdentity(identity({ ...sp, tokenSource: undefined })));
    assert.equal(tokenSourceOf(ok, "Federated"), undefined);
  });
  it("reads an assignment's status.tokenSource and refuses an unknown one", () => {
    const base = {
      kind: "AzureAssignedIdentity",
      metadata: { name: "a", namespace: "team-a" },
      spec: {
        pod: "p",
        podNamespace: "team-a",
        podUID: "u",
        nodeName: "n",
        azureIdentityRef: { name: "i", namespace: "team-a", type: 0, clientID: GUID },
        azureBindingRef: { name: "b", namespace: "team-a", selector: "s" },
      },
    };
    const v = value(parseAzureAssignedIdentity({ ...base, status: { status: "Assigned", tokenSource: "Federated" } }));
    assert.equal(v.status?.tokenSource, "Federated");
    const bad = parseAzureAssignedIdentity({ ...base, status: { status: "Assigned", tokenSource: "Magic" } });
    assert.deepEqual(errorFields(bad), ["status.tokenSource"]);
  });
});
