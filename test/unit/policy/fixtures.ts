// Small builders for policy tests: parsed objects without going through YAML.
import type {
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
  LabelSelector,
} from "../../../src/model/types.ts";
import { createHash, createHmac } from "node:crypto";
import type { MarkClaims, PodAdmissionInput } from "../../../src/policy/index.ts";
import { SEED } from "../../fixtures/seed/index.ts";

const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace !== undefined ? { namespace } : {}),
  labels: {},
  annotations: {},
});

export const rid = (sub: string, rg: string, name: string): string =>
  `/subscriptions/${sub}/resourcegroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

export function identity(name: string, ns: string, o: Partial<AzureIdentity> = {}): AzureIdentity {
  return {
    metadata: meta(name, ns),
    type: 0,
    resourceID: rid("0b8f1c2a-3d4e-4f50-8a6b-7c8d9e0f1a2b", ns, name),
    clientID: SEED.clientID,
    ...o,
  };
}
export function binding(
  name: string,
  ns: string,
  azureIdentity: string,
  selector: string,
  o: Partial<AzureIdentityBinding> = {},
): AzureIdentityBinding {
  return { metadata: meta(name, ns), azureIdentity, selector, ...o };
}
export function exception(name: string, ns: string, podLabels: Record<string, string>): AzurePodIdentityException {
  return { metadata: meta(name, ns), podLabels };
}
export function policy(
  name: string,
  namespaceSelector: LabelSelector,
  o: Partial<AzurePodIdentityPolicy> = {},
): AzurePodIdentityPolicy {
  return {
    metadata: meta(name),
    namespaceSelector,
    onUnmatchedLabel: "Deny",
    enforcement: "Enforce",
    unlistedIdentities: "Allow",
    ...o,
  };
}

/** The seed's objects in namespace team-a and a pod labelled with the seed's selector. */
export function seedInput(o: Partial<PodAdmissionInput> = {}): PodAdmissionInput {
  return {
    namespace: "team-a",
    namespaceLabels: { team: "a" },
    pod: {
      labels: { app: "myapp", aadpodidbinding: SEED.selector },
      serviceAccountName: "default",
      hostNetwork: false,
    },
    bindings: [binding(SEED.bindingName, "team-a", SEED.identityName, SEED.selector)],
    identities: [identity(SEED.identityName, "team-a")],
    selectorBoundElsewhere: false,
    exceptions: [exception("aad-identity-exception", "team-a", { noaad: "true" })],
    policies: [],
    ...o,
  };
}

/** A mark as podid signed them before v2: no NMI mode, no resource IDs. */
export function legacyMark(key: string, c: MarkClaims): string {
  const ids = c.identities.map((i) => [i.name, i.clientID.toLowerCase()]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  const bytes = JSON.stringify([
    "podid-admission-mark-v1",
    c.namespace,
    c.serviceAccountName || "default",
    c.selector,
    ids,
  ]);
  const id = createHash("sha256").update("podid-admission-key").update(key).digest("base64url").slice(0, 8);
  return `v1.${id}.${createHmac("sha256", key).update(bytes).digest("base64url")}`;
}
