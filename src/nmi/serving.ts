// The serving rules, as one pure decision over what the NMI knows about a caller it has
// already identified: excepted pods go to the node's IMDS, everyone else needs a valid
// admission mark that names the identity they ask for, the namespace policy's leave, and an
// AzureAssignedIdentity for it. An assignment still in progress means "wait", not "no"; one
// the reconciler found false (the ClientID is not the identity's own) means no.
import { resourceIdKey } from "../model/parse.ts";
import type { AzureAssignedIdentity, AzureIdentity } from "../model/types.ts";
import { identityViolations, type EffectivePolicy } from "../policy/effective.ts";
import { messages } from "../policy/messages.ts";
import type { PodMarkResult } from "../policy/pod-mark.ts";
import { badRequest, forbidden, imdsError, type IdentityRequest, type ImdsError } from "./imds.ts";
import type { NmiPod } from "./pod.ts";

export interface ServingInput {
  pod: NmiPod;
  nodeName: string;
  requested: IdentityRequest;
  /** An AzurePodIdentityException in the pod's namespace matches the pod, and the namespace may have exceptions. */
  excepted: boolean;
  /** The pod's binding selector (its `aadpodidbinding` label), if any. */
  selector: string | undefined;
  /** What the pod's admission mark entitles it to (usable identities, and those bound since admission). */
  mark: PodMarkResult;
  /** The namespace policy in force now. */
  policy: EffectivePolicy;
  /** AzureAssignedIdentities in the pod's namespace. */
  assigned: readonly AzureAssignedIdentity[];
  retryAfterSeconds: number;
}

export type ServingDecision =
  | { kind: "proxy" }
  | { kind: "refuse"; error: ImdsError }
  | { kind: "wait"; identity: AzureIdentity; reason: string; error: ImdsError }
  | { kind: "serve"; identity: AzureIdentity; assignment: AzureAssignedIdentity };

/**
 * Failures the reconciler records that no retry mends: the AzureIdentity names an identity
 * Resource Manager does not have, or claims a ClientID that is not that identity's.
 */
export const FINAL_ASSIGNMENT_FAILURES: readonly string[] = ["ClientIDMismatch", "IdentityNotFound"];

const refuse = (error: ImdsError): ServingDecision => ({ kind: "refuse", error });
const describe = (i: AzureIdentity): string => `${i.metadata.name} (client ID ${i.clientID})`;

function find(requested: IdentityRequest, candidates: readonly AzureIdentity[]): AzureIdentity | undefined {
  if (requested.by === "client_id") return candidates.find((c) => c.clientID === requested.value.toLowerCase());
  if (requested.by !== "msi_res_id") return undefined;
  const want = resourceIdKey(requested.value);
  return candidates.find((c) => c.type === 0 && c.resourceID !== undefined && resourceIdKey(c.resourceID) === want);
}

const restartNeeded = (podRef: string, ids: readonly AzureIdentity[]): ImdsError =>
  forbidden(
    `Pod ${podRef} was admitted before ${ids.map(describe).join(", ")} was bound to its selector ` +
      `(or changed); a running pod keeps the identities it was admitted with. Recreate the pod to ` +
      `use it`,
  );

function pick(
  requested: IdentityRequest,
  candidates: readonly AzureIdentity[],
  notAdmitted: readonly AzureIdentity[],
  podRef: string,
): { ok: true; identity: AzureIdentity } | { ok: false; error: ImdsError } {
  const choices = candidates.map(describe).join(", ");
  switch (requested.by) {
    case "none": {
      if (candidates.length === 1) return { ok: true, identity: candidates[0]! };
      if (candidates.length === 0 && notAdmitted.length > 0)
        return { ok: false, error: restartNeeded(podRef, notAdmitted) };
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
    case "client_id":
    case "msi_res_id": {
      const found = find(requested, candidates);
      if (found !== undefined) return { ok: true, identity: found };
      const later = find(requested, notAdmitted);
      if (later !== undefined) return { ok: false, error: restartNeeded(podRef, [later]) };
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

function assignmentOf(input: ServingInput, identity: AzureIdentity): AzureAssignedIdentity | undefined {
  const { pod } = input;
  return input.assigned.find(
    (a) =>
      a.spec.podUID === pod.uid &&
      a.spec.azureIdentityRef.name === identity.metadata.name &&
      a.spec.azureIdentityRef.namespace === pod.namespace,
  );
}

/** The identity the caller may be served, or why not. */
function chooseIdentity(input: ServingInput, podRef: string): { ok: true; identity: AzureIdentity } | ServingDecision {
  if (input.excepted) return { kind: "proxy" };
  if (input.selector === undefined || input.selector === "")
    return refuse(forbidden(`Pod ${podRef} has no aadpodidbinding label, so no identity is bound to it`));
  if (!input.mark.valid)
    return refuse(
      forbidden(
        `Pod ${podRef} has no valid admission mark (${input.mark.reason}); it was not admitted by podid's ` +
          `webhook with its current bindings. Recreate the pod`,
      ),
    );
  const chosen = pick(input.requested, input.mark.usable, input.mark.notAdmitted, podRef);
  if (!chosen.ok) return refuse(chosen.error);
  // The policy may have changed since admission: an identity it no longer allows is not served.
  const denial = identityViolations(input.policy, chosen.identity).find((v) => v.enforcement === "Enforce");
  if (denial !== undefined)
    return refuse(forbidden(messages.notAllowed(input.selector, input.pod.namespace, chosen.identity, denial)));
  return chosen;
}

export function decideServing(input: ServingInput): ServingDecision {
  const { pod } = input;
  const podRef = `${pod.namespace}/${pod.name}`;
  const chosen = chooseIdentity(input, podRef);
  if (!("ok" in chosen)) return chosen;
  const identity = chosen.identity;
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
  const assignment = assignmentOf(input, identity);
  if (assignment === undefined) return notYet("no AzureAssignedIdentity yet");
  if (assignment.spec.nodeName !== input.nodeName)
    return notYet(`its assignment is for node ${assignment.spec.nodeName}`);
  const status = assignment.status?.status;
  if (status === "Assigned") return { kind: "serve", identity, assignment };
  if (status === "Failed") {
    const reason = assignment.status?.reason ?? "";
    const why = [reason, assignment.status?.message].filter((s) => s !== undefined && s !== "").join(": ");
    if (FINAL_ASSIGNMENT_FAILURES.includes(reason))
      return refuse(forbidden(`Identity ${describe(identity)} is not served to pod ${podRef}: ${why}`));
    return notYet(`assignment failed${why === "" ? "" : ` (${why})`}, the reconciler retries`);
  }
  return notYet("assignment in progress");
}
