import { describe, it } from "mocha";
import assert from "node:assert/strict";
import { decideServing, type ServingInput } from "../../../src/nmi/serving.ts";
import { effectivePolicy } from "../../../src/policy/effective.ts";
import type { AzureIdentity, AzurePodIdentityPolicy } from "../../../src/model/types.ts";
import { boundIdentities } from "../../../src/nmi/view.ts";
import { reviewedToken } from "../../../src/nmi/token-review.ts";
import { assigned, binding, identity, NODE, pod } from "./fixtures.ts";

const reader = identity("reader", "team-a", "11111111-1111-4111-8111-111111111111");
const writer = identity("writer", "team-a", "22222222-2222-4222-8222-222222222222");
const p = pod("app", "team-a", "127.10.0.5", { labels: { aadpodidbinding: "r" } });
function usable(ids: AzureIdentity[], notAdmitted: AzureIdentity[] = []): ServingInput["mark"] {
  return { valid: true, usable: ids, notAdmitted, gone: [], nmiMode: "daemonset" };
}
const policy = (o: Partial<AzurePodIdentityPolicy>): AzurePodIdentityPolicy => ({
  metadata: { name: "p", labels: {}, annotations: {} },
  namespaceSelector: {},
  onUnmatchedLabel: "Deny",
  enforcement: "Enforce",
  unlistedIdentities: "Allow",
  ...o,
});
const failed = (reason: string, message: string) => {
  const a = assigned(p, reader, "Failed");
  a.status = { status: "Failed", reason, message };
  return a;
};
const base: ServingInput = {
  pod: p,
  nodeName: NODE,
  requested: { by: "none" },
  excepted: false,
  selector: "r",
  mark: usable([reader]),
  policy: effectivePolicy({}, []),
  assigned: [assigned(p, reader, "Assigned")],
  retryAfterSeconds: 5,
};

describe("nmi/serving decideServing", () => {
  const cases: Array<{ name: string; input: Partial<ServingInput>; kind: string; match?: RegExp }> = [
    { name: "the only identity", input: {}, kind: "serve" },
    {
      name: "excepted pods go to IMDS before any other check",
      input: { excepted: true, mark: { valid: false, reason: "x" } },
      kind: "proxy",
    },
    { name: "no selector", input: { selector: undefined }, kind: "refuse", match: /no aadpodidbinding label/ },
    { name: "invalid mark", input: { mark: { valid: false, reason: "bad mac" } }, kind: "refuse", match: /bad mac/ },
    { name: "no identity bound", input: { mark: usable([]) }, kind: "refuse", match: /no AzureIdentity is bound/ },
    {
      name: "two identities, none named",
      input: { mark: usable([reader, writer]) },
      kind: "refuse",
      match: /several identities/,
    },
    {
      name: "named by client ID",
      input: { mark: usable([reader, writer]), requested: { by: "client_id", value: reader.clientID } },
      kind: "serve",
    },
    {
      name: "named by resource ID, case-insensitively",
      input: { requested: { by: "msi_res_id", value: reader.resourceID!.toUpperCase() } },
      kind: "serve",
    },
    {
      name: "an identity bound after admission: refused, saying to recreate the pod",
      input: { mark: usable([reader], [writer]), requested: { by: "client_id", value: writer.clientID } },
      kind: "refuse",
      match: /was admitted before writer .* Recreate the pod/,
    },
    {
      name: "the only bound identity is newer than the pod: refused, not served",
      input: { mark: usable([], [writer]) },
      kind: "refuse",
      match: /Recreate the pod/,
    },
    {
      name: "a running pod keeps its admitted identity when another is bound",
      input: { mark: usable([reader], [writer]) },
      kind: "serve",
    },
    {
      name: "attack: spoofed ClientID, which the reconciler marked Failed: refused at once, naming both",
      input: { assigned: [failed("ClientIDMismatch", "AzureIdentity says A; Resource Manager says B")] },
      kind: "refuse",
      match: /ClientIDMismatch: AzureIdentity says A; Resource Manager says B/,
    },
    {
      name: "an identity Resource Manager does not have: refused",
      input: { assigned: [failed("IdentityNotFound", "gone")] },
      kind: "refuse",
      match: /IdentityNotFound/,
    },
    {
      name: "a policy that no longer allows the identity: refused",
      input: { policy: effectivePolicy({}, [policy({ unlistedIdentities: "Deny" })]) },
      kind: "refuse",
      match: /unlistedIdentities: Deny/,
    },
    {
      name: "a policy in Audit does not refuse",
      input: { policy: effectivePolicy({}, [policy({ unlistedIdentities: "Deny", enforcement: "Audit" })]) },
      kind: "serve",
    },
    {
      name: "unknown client ID",
      input: { requested: { by: "client_id", value: "nope" } },
      kind: "refuse",
      match: /Identity not found/,
    },
    {
      name: "resource ID of a service principal never matches",
      input: { mark: usable([{ ...reader, type: 1 }]), requested: { by: "msi_res_id", value: reader.resourceID! } },
      kind: "refuse",
      match: /not found/,
    },
    { name: "no assignment yet", input: { assigned: [] }, kind: "wait", match: /no AzureAssignedIdentity yet/ },
    {
      name: "assignment Created",
      input: { assigned: [assigned(p, reader, "Created")] },
      kind: "wait",
      match: /in progress/,
    },
    {
      name: "assignment without status",
      input: { assigned: [assigned(p, reader, undefined)] },
      kind: "wait",
      match: /in progress/,
    },
    {
      name: "assignment for another node",
      input: { assigned: [assigned(p, reader, "Assigned", "node-2")] },
      kind: "wait",
      match: /node-2/,
    },
    {
      name: "assignment of a former pod with the same name",
      input: { assigned: [assigned({ ...p, uid: "old" }, reader, "Assigned")] },
      kind: "wait",
    },
    {
      name: "failed assignment (Resource Manager refused, retried)",
      input: { assigned: [failed("InvalidIdentity", "LinkedAuthorizationFailed")] },
      kind: "wait",
      match: /failed/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decideServing({ ...base, ...c.input });
      assert.equal(d.kind, c.kind);
      if (c.match !== undefined) {
        assert.ok(d.kind === "refuse" || d.kind === "wait");
        assert.match(d.error.description, c.match);
      }
      if (d.kind === "wait") {
        assert.equal(d.error.status, 503);
        assert.equal(d.error.retryAfter, 5);
      }
    });
  }
});

describe("nmi/view helpers", () => {
  it("bound identities: by selector, de-duplicated, sorted by name", () => {
    const ids = boundIdentities(
      "s",
      [
        binding("b1", "team-a", "writer", "s"),
        binding("b2", "team-a", "reader", "s"),
        binding("b3", "team-a", "reader", "s"),
        binding("b4", "team-a", "x", "t"),
      ],
      [writer, reader],
    );
    assert.deepEqual(
      ids.map((i) => i.metadata.name),
      ["reader", "writer"],
    );
  });
});

describe("nmi/token-review reviewedToken", () => {
  it("reads the pod's name and uid from the user's extra fields", () => {
    const r = reviewedToken({
      authenticated: true,
      audiences: ["podid-nmi"],
      user: {
        username: "system:serviceaccount:a:default",
        extra: { "authentication.kubernetes.io/pod-name": ["p"], "authentication.kubernetes.io/pod-uid": ["u"] },
      },
    });
    assert.deepEqual(r, {
      authenticated: true,
      username: "system:serviceaccount:a:default",
      podName: "p",
      podUID: "u",
      audiences: ["podid-nmi"],
      error: undefined,
    });
  });
  it("an empty status is not authenticated", () => {
    assert.equal(reviewedToken(undefined).authenticated, false);
    assert.equal(reviewedToken({}).authenticated, false);
  });
});
