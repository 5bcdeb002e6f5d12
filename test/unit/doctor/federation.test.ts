// podid doctor on federated identities: where the tokens come from and why, the credential the
// reconciler found, an issuer that Entra would refuse, a missing tenant, and Entra's last refusal.
import assert from "node:assert/strict";
import { diagnose, type DoctorInput } from "../../../src/doctor/diagnose.ts";
import { federationFindings, type FederationFacts } from "../../../src/doctor/federation.ts";
import { ADMISSION_MARK_ANNOTATION, ENV, NMI_MODE_ANNOTATION } from "../../../src/model/constants.ts";
import type { AzureAssignedIdentity, AzureIdentity } from "../../../src/model/types.ts";
import { SEED } from "../../fixtures/seed/index.ts";
import { binding, identity } from "../policy/fixtures.ts";

const CREDENTIAL = `${SEED.resourceID}/federatedIdentityCredentials/podid-nmi`;
const ISSUER = "https://oidc.prod-aks.azure.com/72f988bf/";

function aai(
  status: "Created" | "Assigned" | "Failed",
  extra: Partial<NonNullable<AzureAssignedIdentity["status"]>> = {},
): AzureAssignedIdentity {
  return {
    metadata: { name: `myapp-1-${SEED.identityName}`, namespace: "team-a", labels: {}, annotations: {} },
    spec: {
      pod: "myapp-1",
      podNamespace: "team-a",
      podUID: "uid-1",
      nodeName: "aks-nodepool1-0",
      azureIdentityRef: { name: SEED.identityName, namespace: "team-a", type: 0, clientID: SEED.clientID },
      azureBindingRef: { name: SEED.bindingName, namespace: "team-a", selector: SEED.selector },
    },
    status: { status, ...extra },
  };
}

const facts = (o: Partial<FederationFacts> = {}): FederationFacts => ({
  settings: { defaultTokenSource: "NodeAssigned", tenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", issuer: "" },
  apiServerIssuer: ISSUER,
  exchangeFailures: [],
  ...o,
});

const federated = (o: Partial<AzureIdentity> = {}): AzureIdentity =>
  identity(SEED.identityName, "team-a", { tokenSource: "Federated", ...o });
const served = aai("Assigned", { tokenSource: "Federated", target: CREDENTIAL });

describe("podid doctor: federated identities", () => {
  it("says a federated identity's credential was found, with its subject, and that the issuer matches", () => {
    const out = federationFindings([federated()], [served], "uid-1", facts());
    assert.equal(out[0]?.status, "ok");
    assert.match(out[0].message, /federates \(its spec.tokenSource\)/);
    assert.match(out[0].message, /system:serviceaccount:podid-system:podid-nmi/);
    assert.ok(out[0].message.includes(CREDENTIAL));
    assert.ok(out.some((x) => x.status === "ok" && x.message.includes(`"${ISSUER}"`)));
    assert.ok(!out.some((x) => x.status === "problem"));
  });

  it("names the cluster default when the identity does not choose", () => {
    const out = federationFindings(
      [identity(SEED.identityName, "team-a")],
      [served],
      "uid-1",
      facts({ settings: { defaultTokenSource: "Federated", tenantID: "t" } }),
    );
    assert.match(out[0]!.message, /the cluster default \(ConfigMap podid-federation\)/);
  });

  it("says nothing for identities served from the node's IMDS", () => {
    assert.deepEqual(
      federationFindings([identity(SEED.identityName, "team-a")], [aai("Assigned")], "uid-1", facts()),
      [],
    );
  });

  it("explains a move between sources still in progress", () => {
    const out = federationFindings([federated()], [aai("Assigned")], "uid-1", facts());
    assert.equal(out[0]?.status, "info");
    assert.match(out[0].message, /moving to Federated .* served as NodeAssigned/);
  });

  it("flags an issuer Entra would refuse (AADSTS700211), and a missing tenant", () => {
    const out = federationFindings(
      [federated()],
      [served],
      "uid-1",
      facts({ settings: { tenantID: "", issuer: "https://elsewhere.example/" } }),
    );
    const problems = out.filter((x) => x.status === "problem").map((x) => x.message);
    assert.ok(problems.some((m) => /AADSTS700211/.test(m) && m.includes(ISSUER)));
    assert.ok(problems.some((m) => /has no tenantID/.test(m)));
  });

  it("shows Entra's last refusal for the identity, with its code, and not another identity's", () => {
    const out = federationFindings(
      [federated()],
      [served],
      "uid-1",
      facts({
        exchangeFailures: [
          { identity: SEED.identityName, message: "AADSTS700024: assertion expired", at: "2026-12-02T10:00:00Z" },
          {
            identity: SEED.identityName,
            message: "AADSTS700213: no matching subject",
            at: "2026-12-02T11:00:00Z",
            count: 3,
          },
          { identity: "someone-else", message: "AADSTS70021: nope", at: "2026-12-02T12:00:00Z" },
        ],
      }),
    );
    const warnings = out.filter((x) => x.status === "warning").map((x) => x.message);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /AADSTS700213: no matching subject/);
    assert.match(warnings[0]!, /3 times/);
  });

  it("is part of the diagnosis, and a missing tenant means no token", () => {
    const input: DoctorInput = {
      pod: {
        namespace: "team-a",
        name: "myapp-1",
        uid: "uid-1",
        labels: { aadpodidbinding: SEED.selector },
        annotations: { [ADMISSION_MARK_ANNOTATION]: "v1.abc.def", [NMI_MODE_ANNOTATION]: "daemonset" },
        serviceAccountName: "default",
        hostNetwork: false,
        nodeName: "aks-nodepool1-0",
        phase: "Running",
        podIP: "10.244.0.7",
        containers: [{ name: "app", env: [ENV.podIdentityAuthorityHost, ENV.clientId] }],
      },
      namespaceLabels: {},
      bindings: [binding(SEED.bindingName, "team-a", SEED.identityName, SEED.selector)],
      identities: [federated()],
      exceptions: [],
      policies: [],
      selectorNamespaces: [],
      invalid: [],
      assigned: [served],
      node: {
        name: "aks-nodepool1-0",
        providerID:
          "azure:///subscriptions/0b8f1c2a-3d4e-4f50-8a6b-7c8d9e0f1a2b/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1/virtualMachines/0",
      },
      mark: { checked: true, result: { valid: true } },
      federation: facts(),
    };
    assert.equal(diagnose(input).getsToken, true);
    const broken = diagnose({ ...input, federation: facts({ settings: { tenantID: "" } }) });
    assert.equal(broken.getsToken, false);
    assert.match(broken.verdict, /has no tenantID/);
  });
});
