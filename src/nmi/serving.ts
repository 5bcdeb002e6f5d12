// The serving rules, as one pure decision over what the NMI knows about a caller it has
// already identified: excepted pods go to the node's IMDS, everyone else needs a valid
// admission mark and an AzureAssignedIdentity for the identity they ask for, and an
// assignment still in progress means "wait", not "no".
import { resourceIdKey } from "../model/parse.ts";
import type { AzureAssignedIdentity, AzureIdentity } from "../model/types.ts";
import { badRequest, forbidden, imdsError, type IdentityRequest, type ImdsError } from "./imds.ts";
import type { NmiPod } from "./pod.ts";

export interface ServingInput {
  pod: NmiPod;
  nodeName: string;
  requested: IdentityRequest;
  /** An AzurePodIdentityException in the pod's namespace matches the pod. */
  excepted: boolean;
  /** The pod's binding selector (its `aadpodidbinding` label), if any. */
  selector: string | undefined;
  mark: { valid: true } | { valid: false; reason: string };
  /** The identities the pod's selector binds it to in its namespace (the mark's claims). */
  candidates: readonly AzureIdentity[];
  /** AzureAssignedIdentities in the pod's namespace. */
  assigned: readonly AzureAssignedIdentity[];
  retryAfterSeconds: number;
}

export type ServingDecision =
  | { kind: "proxy" }
  | { kind: "refuse"; error: ImdsError }
  | { kind: "wait"; identity: AzureIdentity; reason: string; error: ImdsError }
  | { kind: "serve"; identity: AzureIdentity; assignment: AzureAssignedIdentity };

const refuse = (error: ImdsError): ServingDecision => ({ kind: "refuse", error });
const describe = (i: AzureIdentity): string => `${i.metadata.name} (client ID ${i.clientID})`;

function pick(
  requested: IdentityRequest,
  candidates: readonly AzureIdentity[],
  podRef: string,
): { ok: true; identity: AzureIdentity } | { ok: false; error: ImdsError } {
  const choices = candidates.map(describe).join(", ");
  switch (requested.by) {
    case "none": {
      if (candidates.length === 1) return { ok: true, identity: candidates[0]! };
      if (candidates.length === 0)
        return { ok: false, error: badRequest(`Identity not found: no AzureIdentity is bound to pod ${podRef}`) };
      return {
        ok: false,
        error: badRequest(`Pod ${podRef} has several identities; name one with client_id or msi_res_id: ${choices}`),
      };
    }
    case "object_id":
      return {
        ok: false,
        error: badRequest("object_id is not supported by podid's NMI; name the identity with client_id or msi_res_id"),
      };
    case "client_id": {
      const want = requested.value.toLowerCase();
      const found = candidates.find((c) => c.clientID === want);
      if (found !== undefined) return { ok: true, identity: found };
      break;
    }
    case "msi_res_id": {
      const want = resourceIdKey(requested.value);
      const found = candidates.find(
        (c) => c.type === 0 && c.resourceID !== undefined && resourceIdKey(c.resourceID) === want,
      );
      if (found !== undefined) return { ok: true, identity: found };
      break;
    }
  }
  return {
    ok: false,
    error: badRequest(
      `Identity not found: ${requested.by} ${requested.value} is not bound to pod ${podRef} (its identities: ${choices || "none"})`,
    ),
  };
}

export function decideServing(input: ServingInput): ServingDecision {
  const { pod } = input;
  const podRef = `${pod.namespace}/${pod.name}`;
  if (input.excepted) return { kind: "proxy" };
  if (input.selector === undefined || input.selector === "") {
    return refuse(forbidden(`Pod ${podRef} has no aadpodidbinding label, so no identity is bound to it`));
  }
  if (!input.mark.valid) {
    return refuse(
      forbidden(
        `Pod ${podRef} has no valid admission mark (${input.mark.reason}); it was not admitted by podid's webhook with its current bindings. Recreate the pod`,
      ),
    );
  }
  const chosen = pick(input.requested, input.candidates, podRef);
  if (!chosen.ok) return refuse(chosen.error);
  const identity = chosen.identity;
  const assignment = input.assigned.find(
    (a) =>
      a.spec.podUID === pod.uid &&
      a.spec.azureIdentityRef.name === identity.metadata.name &&
      a.spec.azureIdentityRef.namespace === pod.namespace,
  );
  const notYet = (reason: string): ServingDecision => ({
    kind: "wait",
    identity,
    reason,
    error: imdsError(
      503,
      "service_unavailable",
      `Identity ${describe(identity)} is not yet assigned to pod ${podRef}: ${reason}; retry later`,
      input.retryAfterSeconds,
    ),
  });
  if (assignment === undefined) return notYet("no AzureAssignedIdentity yet");
  if (assignment.spec.nodeName !== input.nodeName)
    return notYet(`its assignment is for node ${assignment.spec.nodeName}`);
  const status = assignment.status?.status;
  if (status === "Assigned") return { kind: "serve", identity, assignment };
  if (status === "Failed") {
    const why = [assignment.status?.reason, assignment.status?.message]
      .filter((s) => s !== undefined && s !== "")
      .join(": ");
    return notYet(`assignment failed${why === "" ? "" : ` (${why})`}, the reconciler retries`);
  }
  return notYet("assignment in progress");
}
