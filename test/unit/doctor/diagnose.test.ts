import assert from "node:assert/strict";
import { diagnose, renderDiagnosis, type DoctorInput, type FindingStatus } from "../../../src/doctor/diagnose.ts";
import { parsePodRef } from "../../../src/doctor/command.ts";
import { ADMISSION_MARK_ANNOTATION, ENV, NMI_MODE_ANNOTATION } from "../../../src/model/constants.ts";
import type { AzureAssignedIdentity } from "../../../src/model/types.ts";
import { SEED } from "../../fixtures/seed/index.ts";
import { binding, exception, identity, policy } from "../policy/fixtures.ts";

const VMSS_NODE = {
  name: "aks-nodepool1-0",
  providerID:
    "azure:///subscriptions/0b8f1c2a-3d4e-4f50-8a6b-7c8d9e0f1a2b/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1/virtualMachines/0",
};

function assigned(
  status: "Created" | "Assigned" | "Failed",
  extra: Partial<NonNullable<AzureAssignedIdentity["status"]>> = {},
): AzureAssignedIdentity {
  return {
    metadata: { name: `myapp-1-${SEED.identityName}`, namespace: "team-a", labels: {}, annotations: {} },
    spec: {
      pod: "myapp-1",
      podNamespace: "team-a",
      podUID: "uid-1",
      nodeName: VMSS_NODE.name,
      azureIdentityRef: {
        name: SEED.identityName,
        namespace: "team-a",
        type: 0,
        clientID: SEED.clientID,
        resourceID: SEED.resourceID,
      },
      azureBindingRef: { name: SEED.bindingName, namespace: "team-a", selector: SEED.selector },
    },
    status: { status, ...extra },
  };
}

/** A pod that gets a token: every fact in place. Cases take one thing away. */
function healthy(o: Partial<DoctorInput> = {}, pod: Partial<DoctorInput["pod"]> = {}): DoctorInput {
  return {
    pod: {
      namespace: "team-a",
      name: "myapp-1",
      uid: "uid-1",
      labels: { app: "myapp", aadpodidbinding: SEED.selector },
      annotations: { [ADMISSION_MARK_ANNOTATION]: "v1.abc.def", [NMI_MODE_ANNOTATION]: "daemonset" },
      serviceAccountName: "default",
      hostNetwork: false,
      nodeName: VMSS_NODE.name,
      phase: "Running",
      podIP: "10.244.0.7",
      containers: [{ name: "app", env: [ENV.podIdentityAuthorityHost, ENV.clientId] }],
      ...pod,
    },
    namespaceLabels: { team: "a" },
    bindings: [binding(SEED.bindingName, "team-a", SEED.identityName, SEED.selector)],
    identities: [identity(SEED.identityName, "team-a")],
    exceptions: [exception("aad-identity-exception", "team-a", { noaad: "true" })],
    policies: [],
    selectorNamespaces: [],
    invalid: [],
    assigned: [
      assigned("Assigned", {
        target:
          "/subscriptions/s/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1",
      }),
    ],
    node: VMSS_NODE,
    mark: { checked: true, result: { valid: true } },
    ...o,
  };
}

interface Case {
  name: string;
  input: DoctorInput;
  getsToken: boolean;
  /** A finding that must be present: its check, status and a pattern of its message. */
  finding?: { check: string; status: FindingStatus; message: RegExp };
  verdict: RegExp;
}

const cases: Case[] = [
  {
    name: "everything in place",
    input: healthy(),
    getsToken: true,
    verdict: /gets tokens for "myapp-identity" \(client ID 5c7a9e1b/,
  },
  {
    name: "no label",
    input: healthy({}, { labels: { app: "myapp" } }),
    getsToken: false,
    finding: { check: "label", status: "problem", message: /no aadpodidbinding label/ },
    verdict: /no token: the pod has no aadpodidbinding label/,
  },
  {
    name: "excepted pod (a policy allows exceptions there) is left to the node's IMDS",
    input: healthy(
      { policies: [policy("exc", { matchLabels: { team: "a" } }, { exceptions: "Allow" })] },
      { labels: { aadpodidbinding: SEED.selector, noaad: "true" } },
    ),
    getsToken: false,
    finding: { check: "exception", status: "info", message: /node's own IMDS/ },
    verdict: /leaves this pod alone/,
  },
  {
    name: "an exception the namespace may not have is reported as ignored",
    input: healthy({}, { labels: { aadpodidbinding: SEED.selector, noaad: "true" } }),
    getsToken: true,
    finding: { check: "admission", status: "warning", message: /is ignored: exceptions are not allowed/ },
    verdict: /gets tokens/,
  },
  {
    name: "selector bound only in another namespace names it for the admin",
    input: healthy({ bindings: [], identities: [], selectorNamespaces: ["team-b"] }),
    getsToken: false,
    finding: {
      check: "binding",
      status: "problem",
      message: /bound in "team-b", but podid never lets a pod use another namespace's binding/,
    },
    verdict: /no token: no AzureIdentityBinding in namespace "team-a" has Selector "myapp"/,
  },
  {
    name: "binding names a missing identity",
    input: healthy({ identities: [] }),
    getsToken: false,
    finding: {
      check: "identity",
      status: "problem",
      message: /AzureIdentity "myapp-identity" does not exist in namespace "team-a"/,
    },
    verdict: /no token/,
  },
  {
    name: "identity not allowed by the namespace policy",
    input: healthy({
      policies: [
        policy("team-a-only", { matchLabels: { team: "a" } }, { allowedIdentities: [{ clientID: "00000000-*" }] }),
      ],
    }),
    getsToken: false,
    finding: {
      check: "policy",
      status: "problem",
      message: /not allowed in this namespace by AzurePodIdentityPolicy "team-a-only"/,
    },
    verdict: /no token/,
  },
  {
    name: "no admission mark",
    input: healthy({ mark: { checked: false } }, { annotations: {} }),
    getsToken: false,
    finding: { check: "admission mark", status: "problem", message: /not admitted by podid's webhook/ },
    verdict: /no token/,
  },
  {
    name: "forged or copied mark",
    input: healthy({
      mark: {
        checked: true,
        result: { valid: false, reason: "the admission mark does not match the pod's namespace" },
      },
    }),
    getsToken: false,
    finding: { check: "admission mark", status: "problem", message: /does not match the pod's namespace.*NMI refuses/ },
    verdict: /no token/,
  },
  {
    name: "mark present but not verified is only information",
    input: healthy({ mark: { checked: false } }),
    getsToken: true,
    finding: { check: "admission mark", status: "info", message: /--admission-key-file/ },
    verdict: /gets tokens/,
  },
  {
    name: "assignment still in progress",
    input: healthy({ assigned: [assigned("Created")] }),
    getsToken: true,
    finding: { check: "assignment", status: "warning", message: /Created, not yet Assigned/ },
    verdict: /gets tokens/,
  },
  {
    name: "assignment failed with ARM's reason",
    input: healthy({
      assigned: [assigned("Failed", { reason: "InvalidIdentity", message: "identity does not exist" })],
    }),
    getsToken: false,
    finding: { check: "assignment", status: "problem", message: /failed: InvalidIdentity identity does not exist/ },
    verdict: /no token/,
  },
  {
    name: "no AzureAssignedIdentity yet",
    input: healthy({ assigned: [] }),
    getsToken: false,
    finding: { check: "assignment", status: "problem", message: /reconciler has not recorded it yet/ },
    verdict: /no token/,
  },
  {
    name: "node without an Azure providerID",
    input: healthy({ node: { name: VMSS_NODE.name, providerID: "kind://docker/x" } }),
    getsToken: false,
    finding: { check: "node", status: "problem", message: /not an Azure VM or scale-set instance/ },
    verdict: /no token/,
  },
  {
    name: "hostNetwork pod",
    input: healthy({}, { hostNetwork: true }),
    getsToken: false,
    finding: { check: "host network", status: "problem", message: /cannot tell its calls from the node's/ },
    verdict: /no token/,
  },
  {
    name: "sidecar mode without the sidecar container",
    input: healthy({}, { annotations: { [ADMISSION_MARK_ANNOTATION]: "v1.a.b", [NMI_MODE_ANNOTATION]: "sidecar" } }),
    getsToken: false,
    finding: { check: "nmi mode", status: "problem", message: /no "podid-nmi" container/ },
    verdict: /no token/,
  },
  {
    name: "succeeded pod is not served",
    input: healthy({}, { phase: "Succeeded" }),
    getsToken: false,
    finding: { check: "pod", status: "problem", message: /only Pending and Running pods are served/ },
    verdict: /no token/,
  },
];

describe("podid doctor: diagnose", () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = diagnose(c.input);
      assert.equal(d.getsToken, c.getsToken, renderDiagnosis(c.input.pod, d));
      assert.match(d.verdict, c.verdict);
      if (c.finding !== undefined) {
        const want = c.finding;
        const hit = d.findings.find(
          (x) => x.check === want.check && x.status === want.status && want.message.test(x.message),
        );
        assert.ok(
          hit,
          `expected a ${want.status} "${want.check}" finding matching ${want.message}, got:\n${renderDiagnosis(c.input.pod, d)}`,
        );
      }
    });
  }

  it("renders one line per finding and the verdict last", () => {
    const text = renderDiagnosis({ namespace: "team-a", name: "myapp-1" }, diagnose(healthy()));
    const lines = text.trim().split("\n");
    assert.equal(lines[0], "podid doctor team-a/myapp-1");
    assert.match(lines.at(-1)!, /^Verdict: this pod gets tokens/);
    assert.ok(
      lines.some((l) => /^\s+\[ok {2}\] label\s+aadpodidbinding=myapp$/.test(l)),
      text,
    );
  });
});

describe("podid doctor: pod reference", () => {
  it("accepts namespace/name", () =>
    assert.deepEqual(parsePodRef("team-a/myapp-7d9c5-x2x4q"), { namespace: "team-a", name: "myapp-7d9c5-x2x4q" }));
  for (const bad of ["myapp", "team-a/", "/myapp", "Team-A/x", "a/b/c"]) {
    it(`refuses "${bad}" with what it expected`, () =>
      assert.throws(() => parsePodRef(bad), /expected <namespace>\/<pod>/));
  }
});
