// Whether a pod may use the identities its `aadpodidbinding` label asks for. Pure: the webhook
// calls it at admission, the reconciler and the NMI call it again on what they cache, so all
// three agree. An ordered chain: the first rule that has something to say decides.
import { BINDING_LABEL, type NmiMode } from "../model/constants.ts";
import type {
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../model/types.ts";
import { effectivePolicy, exceptionsAllowed, identityViolations, type EffectivePolicy } from "./effective.ts";
import { messages } from "./messages.ts";
import { matchesAllLabels } from "./selector.ts";

export interface PodAdmissionInput {
  namespace: string;
  namespaceLabels: Record<string, string>;
  pod: { labels: Record<string, string>; serviceAccountName: string; hostNetwork: boolean };
  /** In the pod's namespace. */
  bindings: readonly AzureIdentityBinding[];
  /** In the pod's namespace. */
  identities: readonly AzureIdentity[];
  /** The pod's selector is bound only in other namespaces. */
  selectorBoundElsewhere: boolean;
  /** In the pod's namespace. */
  exceptions: readonly AzurePodIdentityException[];
  policies: readonly AzurePodIdentityPolicy[];
}

export type Verdict = "skip" | "allow" | "deny";

export interface PodDecision {
  /** skip: no label, or excepted; allow (maybe with warnings); deny with code and message. */
  verdict: Verdict;
  code?: number;
  message?: string;
  /** Which rule decided (for logs and metrics). */
  reason: DecisionReason;
  warnings: string[];
  /** The pod's bindings and the identities they resolve to (allowed pods only). */
  bindings: AzureIdentityBinding[];
  identities: AzureIdentity[];
  nmiMode: NmiMode;
}

export type DecisionReason =
  | "no-label"
  | "excepted"
  | "host-network"
  | "cross-namespace"
  | "unmatched"
  | "missing-identity"
  | "not-allowed"
  | "allowed";

const FORBIDDEN = 403;

/** The pod's selector, or undefined when it has none (an empty value counts as none). */
export function podSelector(labels: Record<string, string>): string | undefined {
  const v = labels[BINDING_LABEL];
  return v === undefined || v === "" ? undefined : v;
}

/** The pod matches an exception of its namespace (whether exceptions take effect there is `exceptionApplies`). */
export function isExcepted(labels: Record<string, string>, exceptions: readonly AzurePodIdentityException[]): boolean {
  return exceptions.some((e) => matchesAllLabels(labels, e.podLabels));
}

/** The pod matches an exception, and the namespace policy lets exceptions take effect there. */
export function exceptionApplies(
  namespace: string,
  eff: EffectivePolicy,
  labels: Record<string, string>,
  exceptions: readonly AzurePodIdentityException[],
): boolean {
  return exceptionsAllowed(namespace, eff) && isExcepted(labels, exceptions);
}

function base(reason: DecisionReason, verdict: Verdict): PodDecision {
  return { verdict, reason, warnings: [], bindings: [], identities: [], nmiMode: "daemonset" };
}

/** A denial, or under Audit an allowance with the denial as a warning. */
function refuse(reason: DecisionReason, message: string, enforced: boolean, warnings: string[] = []): PodDecision {
  if (!enforced) return { ...base(reason, "allow"), warnings: [...warnings, messages.audit(message)] };
  return { ...base(reason, "deny"), code: FORBIDDEN, message, warnings };
}

function resolveIdentities(
  selector: string,
  input: PodAdmissionInput,
  bindings: AzureIdentityBinding[],
): { identities: AzureIdentity[]; missing: string[] } {
  const byName = new Map(input.identities.map((i) => [i.metadata.name, i]));
  const identities: AzureIdentity[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  for (const b of bindings) {
    const id = byName.get(b.azureIdentity);
    if (id === undefined)
      missing.push(messages.missingIdentity(selector, input.namespace, b.metadata.name, b.azureIdentity));
    else if (!seen.has(id.metadata.name)) {
      seen.add(id.metadata.name);
      identities.push(id);
    }
  }
  identities.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return { identities, missing };
}

function chooseMode(eff: EffectivePolicy, bindings: AzureIdentityBinding[]): NmiMode {
  if (eff.nmiMode === "sidecar" || bindings.some((b) => b.nmiMode === "sidecar")) return "sidecar";
  return "daemonset";
}

export function decidePod(input: PodAdmissionInput): PodDecision {
  const selector = podSelector(input.pod.labels);
  if (selector === undefined) return base("no-label", "skip");
  const eff = effectivePolicy(input.namespaceLabels, input.policies);
  const exception = input.exceptions.find((e) => matchesAllLabels(input.pod.labels, e.podLabels));
  if (exception === undefined) return decideLabelled(input, selector, eff);
  if (exceptionsAllowed(input.namespace, eff)) return base("excepted", "skip");
  // An exception the namespace may not have is no way around the rules: say so, then decide as usual.
  const d = decideLabelled(input, selector, eff);
  return { ...d, warnings: [messages.exceptionIgnored(exception.metadata.name, input.namespace), ...d.warnings] };
}

function decideLabelled(input: PodAdmissionInput, selector: string, eff: EffectivePolicy): PodDecision {
  // Not a policy matter: the NMI cannot attribute a host-network pod's calls, so even Audit denies.
  if (input.pod.hostNetwork) return refuse("host-network", messages.hostNetwork(selector), true);

  const audit = eff.enforcement === "Audit";
  const bindings = input.bindings
    .filter((b) => b.selector === selector)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  if (bindings.length === 0) {
    if (input.selectorBoundElsewhere)
      return refuse("cross-namespace", messages.crossNamespace(selector, input.namespace), !audit);
    const msg = messages.unmatched(selector, input.namespace);
    if (eff.onUnmatchedLabel === "Warn") return { ...base("unmatched", "allow"), warnings: [msg] };
    return refuse("unmatched", msg, eff.onUnmatchedEnforced);
  }

  const { identities, missing } = resolveIdentities(selector, input, bindings);
  if (identities.length === 0) return refuse("missing-identity", missing[0]!, !audit, missing.slice(1));

  const warnings = [...missing];
  for (const identity of identities) {
    for (const v of identityViolations(eff, identity)) {
      const msg = messages.notAllowed(selector, input.namespace, identity, v);
      if (v.enforcement === "Enforce") return refuse("not-allowed", msg, true, warnings);
      warnings.push(messages.audit(msg));
    }
  }
  return { ...base("allowed", "allow"), warnings, bindings, identities, nmiMode: chooseMode(eff, bindings) };
}
