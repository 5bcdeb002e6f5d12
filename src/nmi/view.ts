// What the NMI reads to decide, as one narrow interface over the informer caches (so unit
// tests pass plain arrays), and the gathering step that turns it into the pure decision's
// input: the namespace policy, whether an exception applies, the pod's bound identities, what
// its admission mark entitles it to, and its assignments.
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../model/types.ts";
import type { AdmissionKeys } from "../policy/admission-mark.ts";
import { exceptionApplies, podSelector } from "../policy/decide.ts";
import { effectivePolicy } from "../policy/effective.ts";
import { checkPodMark } from "../policy/pod-mark.ts";
import type { Identifier } from "./identify.ts";
import { imdsError, type IdentityRequest } from "./imds.ts";
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
  /** The namespace's labels (what policies select on); {} when unknown. */
  namespaceLabels(namespace: string): Record<string, string>;
  policies(): AzurePodIdentityPolicy[];
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

/**
 * Fresh or nothing at the edge: an identifier that first has the view vouch for what it holds,
 * and answers 503 with Retry-After (the SDKs retry it) when the view cannot.
 */
export function vouchedIdentifier(view: NmiView, identify: Identifier, retryAfterSeconds: number): Identifier {
  return async (req) => {
    const vouched = await view.vouch();
    if (vouched.fresh) return identify(req);
    const why = `The NMI cannot vouch for its view of the cluster now: ${vouched.reason}`;
    return { ok: false, error: imdsError(503, "service_unavailable", why, retryAfterSeconds) };
  };
}

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

const NOT_CHECKED = { valid: false as const, reason: "not checked" };

export function gatherServingInput(
  view: NmiView,
  keys: AdmissionKeys,
  pod: NmiPod,
  requested: IdentityRequest,
  opts: { nodeName: string; retryAfterSeconds: number },
): ServingInput {
  const ns = pod.namespace;
  // The same helpers the webhook decided with, so both read a pod alike.
  const policy = effectivePolicy(view.namespaceLabels(ns), view.policies());
  const selector = podSelector(pod.labels);
  const excepted = exceptionApplies(ns, policy, pod.labels, view.exceptions(ns));
  const mark =
    selector === undefined || excepted
      ? NOT_CHECKED
      : checkPodMark(keys, {
          namespace: ns,
          serviceAccountName: pod.serviceAccountName,
          selector,
          annotations: pod.annotations,
          bound: boundIdentities(selector, view.bindings(ns), view.identities(ns)),
        });
  return {
    pod,
    nodeName: opts.nodeName,
    requested,
    excepted,
    selector,
    mark,
    policy,
    assigned: excepted ? [] : view.assigned(ns),
    retryAfterSeconds: opts.retryAfterSeconds,
  };
}
