import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { decidePod, type PodAdmissionInput, type PodDecision } from "../../../src/policy/index.ts";
import { SEED } from "../../fixtures/seed/index.ts";
import { binding, exception, identity, policy, seedInput } from "./fixtures.ts";

const pod = (labels: Record<string, string>, hostNetwork = false): PodAdmissionInput["pod"] => ({
  labels,
  serviceAccountName: "default",
  hostNetwork,
});
const label = { aadpodidbinding: SEED.selector };
const ALLOW_EXCEPTIONS = policy("allow-exceptions", { matchLabels: { team: "a" } }, { exceptions: "Allow" });
const DEFAULT_DENY = policy("default-deny", {}, { unlistedIdentities: "Deny" });

interface Case {
  name: string;
  input: Partial<PodAdmissionInput>;
  verdict: PodDecision["verdict"];
  reason: PodDecision["reason"];
  message?: string | RegExp;
  warnings?: RegExp[];
  identities?: string[];
  nmiMode?: string;
}

const cases: Case[] = [
  { name: "no label: skip", input: { pod: pod({ app: "x" }) }, verdict: "skip", reason: "no-label" },
  {
    name: "empty label value: skip",
    input: { pod: pod({ aadpodidbinding: "" }) },
    verdict: "skip",
    reason: "no-label",
  },
  {
    name: "excepted pod (seed's noaad: true) where a policy allows exceptions: skip",
    input: { pod: pod({ ...label, noaad: "true" }), policies: [ALLOW_EXCEPTIONS] },
    verdict: "skip",
    reason: "excepted",
  },
  {
    name: "attack: a tenant's own exception in a namespace without the admin's allowance is ignored",
    input: { pod: pod({ ...label, noaad: "true" }) },
    verdict: "allow",
    reason: "allowed",
    warnings: [/^AzurePodIdentityException "aad-identity-exception" matches this pod but is ignored/],
    identities: [SEED.identityName],
  },
  {
    name: "attack: an ignored exception does not lift a denial",
    input: { pod: pod({ ...label, noaad: "true" }), bindings: [], selectorBoundElsewhere: true },
    verdict: "deny",
    reason: "cross-namespace",
    warnings: [/is ignored: exceptions are not allowed in namespace "team-a"/],
  },
  {
    name: "exceptions take effect in kube-system by default",
    input: {
      namespace: "kube-system",
      pod: pod({ ...label, noaad: "true" }),
      exceptions: [exception("e", "kube-system", { noaad: "true" })],
    },
    verdict: "skip",
    reason: "excepted",
  },
  {
    name: "a policy can forbid exceptions in kube-system too",
    input: {
      namespace: "kube-system",
      namespaceLabels: { "kubernetes.io/metadata.name": "kube-system" },
      pod: pod({ ...label, noaad: "true" }),
      exceptions: [exception("e", "kube-system", { noaad: "true" })],
      bindings: [],
      policies: [policy("no-exc", {}, { exceptions: "Deny" })],
    },
    verdict: "deny",
    reason: "unmatched",
    warnings: [/ignored/],
  },
  {
    name: "Allow and Deny of exceptions on one namespace: Deny wins",
    input: {
      pod: pod({ ...label, noaad: "true" }),
      policies: [ALLOW_EXCEPTIONS, policy("no-exc", {}, { exceptions: "Deny" })],
    },
    verdict: "allow",
    reason: "allowed",
    warnings: [/ignored/],
  },
  {
    name: "seed's binding and identity in the pod's namespace: allow",
    input: {},
    verdict: "allow",
    reason: "allowed",
    identities: [SEED.identityName],
    nmiMode: "daemonset",
  },
  {
    name: "cross-namespace reuse: deny without naming the other namespace",
    input: { bindings: [], identities: [], selectorBoundElsewhere: true },
    verdict: "deny",
    reason: "cross-namespace",
    message:
      'label aadpodidbinding=myapp: no AzureIdentityBinding with selector "myapp" exists in namespace "team-a". The selector is bound in another namespace, and podid does not let a pod use another namespace\'s binding (cross-namespace reuse). Create an AzureIdentity and an AzureIdentityBinding with Selector "myapp" in namespace "team-a", or remove the label.',
  },
  {
    name: "cross-namespace under an Audit policy: allow with a warning, no identities",
    input: { bindings: [], selectorBoundElsewhere: true, policies: [policy("audit", {}, { enforcement: "Audit" })] },
    verdict: "allow",
    reason: "cross-namespace",
    warnings: [/^audit: this would be denied: .*cross-namespace reuse/],
    identities: [],
  },
  {
    name: "selector bound nowhere: deny by default",
    input: { bindings: [] },
    verdict: "deny",
    reason: "unmatched",
    message:
      'label aadpodidbinding=myapp: no AzureIdentityBinding with selector "myapp" exists in namespace "team-a". Create an AzureIdentityBinding with Selector "myapp" in namespace "team-a" (referencing an AzureIdentity there), or remove the label.',
  },
  {
    name: "selector bound nowhere, policy says Warn: allow with warning",
    input: { bindings: [], policies: [policy("warn", { matchLabels: { team: "a" } }, { onUnmatchedLabel: "Warn" })] },
    verdict: "allow",
    reason: "unmatched",
    warnings: [/^label aadpodidbinding=myapp: no AzureIdentityBinding/],
  },
  {
    name: "Warn loses to a Deny policy on the same namespace",
    input: { bindings: [], policies: [policy("warn", {}, { onUnmatchedLabel: "Warn" }), policy("deny", {})] },
    verdict: "deny",
    reason: "unmatched",
  },
  {
    name: "hostNetwork: deny, even under Audit",
    input: { pod: pod(label, true), policies: [policy("audit", {}, { enforcement: "Audit" })] },
    verdict: "deny",
    reason: "host-network",
    message: /hostNetwork: true cannot use pod identity.*Remove the label or set hostNetwork: false\.$/,
  },
  {
    name: "excepted hostNetwork pod: skip",
    input: { pod: pod({ ...label, noaad: "true" }, true), policies: [ALLOW_EXCEPTIONS] },
    verdict: "skip",
    reason: "excepted",
  },
  {
    name: "binding names an identity missing from the namespace: deny",
    input: { identities: [identity(SEED.identityName, "team-b")].filter((i) => i.metadata.namespace === "team-a") },
    verdict: "deny",
    reason: "missing-identity",
    message:
      'label aadpodidbinding=myapp: AzureIdentityBinding "myapp-azure-identity-binding" in namespace "team-a" references AzureIdentity "myapp-identity", which does not exist in namespace "team-a". Create AzureIdentity "myapp-identity" in namespace "team-a" or correct the binding\'s AzureIdentity field.',
  },
  {
    name: "two bindings, one identity missing: allow with a warning",
    input: { bindings: [...seedInput().bindings, binding("second", "team-a", "ghost", SEED.selector)] },
    verdict: "allow",
    reason: "allowed",
    warnings: [/references AzureIdentity "ghost"/],
    identities: [SEED.identityName],
  },
  {
    name: "two bindings to two identities: both, sorted",
    input: {
      bindings: [...seedInput().bindings, binding("b2", "team-a", "a-second", SEED.selector)],
      identities: [
        ...seedInput().identities,
        identity("a-second", "team-a", { clientID: "11111111-2222-3333-4444-555555555555" }),
      ],
    },
    verdict: "allow",
    reason: "allowed",
    identities: ["a-second", SEED.identityName],
  },
  {
    name: "identity not on the namespace policy's list: deny naming the policy",
    input: {
      policies: [
        policy(
          "team-a-only",
          { matchLabels: { team: "a" } },
          { allowedIdentities: [{ resourceID: "/subscriptions/*/resourcegroups/shared/*" }] },
        ),
      ],
    },
    verdict: "deny",
    reason: "not-allowed",
    message:
      /^label aadpodidbinding=myapp: AzureIdentity "myapp-identity" in namespace "team-a" \(resource ID \/subscriptions\/.*\/userAssignedIdentities\/myapp-identity, client ID 5c7a9e1b-2d3f-4a6b-8c9d-0e1f2a3b4c5d\) is not allowed in this namespace by AzurePodIdentityPolicy "team-a-only", which allows resourceID \/subscriptions\/\*\/resourcegroups\/shared\/\*\. Use an allowed identity or ask a cluster admin to change the policy\.$/,
  },
  {
    name: "identity on the list: allow",
    input: {
      policies: [policy("p", {}, { allowedIdentities: [{ resourceID: "/subscriptions/*/resourcegroups/team-a/*" }] })],
    },
    verdict: "allow",
    reason: "allowed",
  },
  {
    name: "identity off an Audit policy's list: allow with warning",
    input: { policies: [policy("p", {}, { enforcement: "Audit", allowedIdentities: [{ clientID: "ffffffff-*" }] })] },
    verdict: "allow",
    reason: "allowed",
    warnings: [/^audit: this would be denied: .*AzurePodIdentityPolicy "p"/],
    identities: [SEED.identityName],
  },
  {
    name: "attack: a managed identity is not allowed through a clientID-only entry (ClientID is the tenant's claim)",
    input: { policies: [policy("by-client", {}, { allowedIdentities: [{ clientID: SEED.clientID }] })] },
    verdict: "deny",
    reason: "not-allowed",
    message:
      /clientID 5c7a9e1b-2d3f-4a6b-8c9d-0e1f2a3b4c5d \(service principals only: managed identities are allowed by resourceID\)/,
  },
  {
    name: "a service principal is allowed by its clientID",
    input: {
      identities: [
        identity(SEED.identityName, "team-a", {
          type: 1,
          resourceID: undefined,
          tenantID: "11111111-1111-4111-8111-111111111111",
          clientPassword: { name: "s", namespace: "team-a" },
        }),
      ],
      policies: [policy("by-client", {}, { allowedIdentities: [{ clientID: SEED.clientID }] })],
    },
    verdict: "allow",
    reason: "allowed",
  },
  {
    name: "default-deny: an identity no policy lists is denied",
    input: { policies: [DEFAULT_DENY] },
    verdict: "deny",
    reason: "not-allowed",
    message: new RegExp(
      "is not allowed in this namespace: no AzurePodIdentityPolicy that applies lists it, " +
        'and AzurePodIdentityPolicy "default-deny" denies identities no policy lists \\(unlistedIdentities: Deny\\)',
    ),
  },
  {
    name: "default-deny: a team policy that lists the identity allows it",
    input: {
      policies: [
        DEFAULT_DENY,
        policy("team-a", { matchLabels: { team: "a" } }, { allowedIdentities: [{ resourceID: "*/team-a/*" }] }),
      ],
    },
    verdict: "allow",
    reason: "allowed",
  },
  {
    name: "attack: default-deny is not lifted by another namespace's allowance",
    input: {
      policies: [
        DEFAULT_DENY,
        policy("team-b", { matchLabels: { team: "b" } }, { allowedIdentities: [{ resourceID: "*" }] }),
      ],
    },
    verdict: "deny",
    reason: "not-allowed",
  },
  {
    name: "default-deny in Audit: warns",
    input: { policies: [{ ...DEFAULT_DENY, enforcement: "Audit" }] },
    verdict: "allow",
    reason: "allowed",
    warnings: [/^audit: this would be denied: .*unlistedIdentities: Deny/],
  },
  {
    name: "policy of another namespace does not apply",
    input: { policies: [policy("b", { matchLabels: { team: "b" } }, { allowedIdentities: [] })] },
    verdict: "allow",
    reason: "allowed",
  },
  {
    name: "sidecar from the binding",
    input: {
      bindings: [binding(SEED.bindingName, "team-a", SEED.identityName, SEED.selector, { nmiMode: "sidecar" })],
    },
    verdict: "allow",
    reason: "allowed",
    nmiMode: "sidecar",
  },
  {
    name: "sidecar from the policy",
    input: { policies: [policy("p", {}, { nmiMode: "sidecar" })] },
    verdict: "allow",
    reason: "allowed",
    nmiMode: "sidecar",
  },
  {
    name: "a binding with another selector does not count",
    input: { bindings: [binding("other", "team-a", SEED.identityName, "other")] },
    verdict: "deny",
    reason: "unmatched",
  },
];

describe("policy: decidePod", () => {
  for (const c of cases)
    it(c.name, () => {
      const d = decidePod(seedInput(c.input));
      assert.equal(d.verdict, c.verdict);
      assert.equal(d.reason, c.reason);
      if (c.verdict === "deny") {
        assert.equal(d.code, 403);
        if (c.message instanceof RegExp) assert.match(d.message ?? "", c.message);
        else if (c.message !== undefined) assert.equal(d.message, c.message);
      } else assert.equal(d.message, undefined);
      assert.equal(d.warnings.length, c.warnings?.length ?? 0, d.warnings.join("\n"));
      c.warnings?.forEach((w, i) => assert.match(d.warnings[i]!, w));
      if (c.identities !== undefined)
        assert.deepEqual(
          d.identities.map((i) => i.metadata.name),
          c.identities,
        );
      if (c.nmiMode !== undefined) assert.equal(d.nmiMode, c.nmiMode);
      if (d.verdict !== "allow") assert.deepEqual([d.bindings, d.identities], [[], []]);
    });
});
