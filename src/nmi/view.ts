// What the NMI reads to decide, as one narrow interface over the informer caches (so unit
// tests pass plain arrays), and the gathering step that turns it into the pure decision's
// input: the pod's bound identities, the admission mark check and its assignments.
import { ADMISSION_MARK_ANNOTATION } from "../model/constants.ts";
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
} from "../model/types.ts";
import { claimsFor, verifyAdmissionMark, type AdmissionKeys, type MarkClaims } from "../policy/admission-mark.ts";
import { isExcepted, podSelector } from "../policy/decide.ts";
import type { IdentityRequest } from "./imds.ts";
import type { NmiPod } from "./pod.ts";
import type { ServingInput } from "./serving.ts";

export interface NmiView {
  /** Pods scheduled to this node that have `ip` as one of their addresses. */
  podsWithIp(ip: string): NmiPod[];
  /** A pod of this node by namespace and name. */
  pod(namespace: string, name: string): NmiPod | undefined;
  identities(namespace: string): AzureIdentity[];
  bindings(namespace: string): AzureIdentityBinding[];
  exceptions(namespace: string): AzurePodIdentityException[];
  assigned(namespace: string): AzureAssignedIdentity[];
  /** Calls `cb` after any change; returns the unsubscribe function. */
  onChange(cb: () => void): () => void;
  /** True once every cache has listed once. */
  synced(): boolean;
  /** Fresh or nothing: true while every watch is current (/readyz says so). */
  watching(): boolean;
  /**
   * Fresh or nothing: resolves once the view may answer this request. At once while the
   * watches are current; while the pod watch is broken, after this node's pods were re-read
   * from the API server (podsWithIp and pod answer from that read until the watch is back);
   * `fresh: false` when that read fails or another watch is broken (the NMI answers 503).
   */
  vouch(): Promise<Vouched>;
}

export type Vouched = { fresh: true } | { fresh: false; reason: string };

/** The identities the pod's selector binds in its namespace, by binding, without duplicates. */
export function boundIdentities(
  selector: string,
  bindings: readonly AzureIdentityBinding[],
  identities: readonly AzureIdentity[],
): AzureIdentity[] {
  const names = new Set(bindings.filter((b) => b.selector === selector).map((b) => b.azureIdentity));
  return identities
    .filter((i) => names.has(i.metadata.name))
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}

export function markClaims(pod: NmiPod, selector: string, identities: readonly AzureIdentity[]): MarkClaims {
  return claimsFor(pod.namespace, pod.serviceAccountName, selector, identities);
}

export function gatherServingInput(
  view: NmiView,
  keys: AdmissionKeys,
  pod: NmiPod,
  requested: IdentityRequest,
  opts: { nodeName: string; retryAfterSeconds: number },
): ServingInput {
  const ns = pod.namespace;
  // The same helpers the webhook decided with, so both read a pod alike.
  const selector = podSelector(pod.labels);
  const excepted = isExcepted(pod.labels, view.exceptions(ns));
  const candidates =
    selector === undefined || excepted ? [] : boundIdentities(selector, view.bindings(ns), view.identities(ns));
  const mark =
    selector === undefined || excepted
      ? { valid: false as const, reason: "not checked" }
      : verifyAdmissionMark(keys, pod.annotations[ADMISSION_MARK_ANNOTATION], markClaims(pod, selector, candidates));
  return {
    pod,
    nodeName: opts.nodeName,
    requested,
    excepted,
    selector,
    mark,
    candidates,
    assigned: excepted ? [] : view.assigned(ns),
    retryAfterSeconds: opts.retryAfterSeconds,
  };
}
