// Desired state, computed purely from the caches: which pods get which identity (the same
// decision the webhook makes, so a pod it would deny gets nothing here either), which
// identities each VM or scale set needs, and what each AzureAssignedIdentity should say.
import { createHash } from "node:crypto";
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../model/types.ts";
import { BINDING_LABEL } from "../model/constants.ts";
import { decidePod, isAdmitted, type PodDecision } from "../policy/index.ts";
import type { IdentityCheck } from "./identity-reader.ts";
import type { NamespaceInfo, PodInfo } from "./kube-objects.ts";
import { identityKey, type Target } from "./target.ts";

export interface DesiredAssignment {
  /** The AzureAssignedIdentity's name and namespace (the pod's). */
  name: string;
  namespace: string;
  pod: PodInfo & { nodeName: string };
  identity: AzureIdentity;
  binding: AzureIdentityBinding;
}

const MAX_NAME = 253;

/** `<pod>-<identity>`, shortened with a hash when too long for an object name. */
export function assignedIdentityName(pod: string, identity: string): string {
  const name = `${pod}-${identity}`;
  return name.length <= MAX_NAME ? name : withHash(name, name);
}

function withHash(name: string, hashed: string): string {
  const hash = createHash("sha256").update(hashed).digest("hex").slice(0, 10);
  return `${name.slice(0, MAX_NAME - hash.length - 1).replace(/[-.]+$/, "")}-${hash}`;
}

/**
 * `<pod>-<identity>` is ambiguous (pod `a-b` with identity `c`, pod `a` with identity `b-c`):
 * every assignment sharing a name gets a hash of its pod and identity instead, so each keeps
 * one stable name whatever order the cache lists pods in.
 */
function disambiguate(out: DesiredAssignment[]): void {
  const count = new Map<string, number>();
  for (const a of out) count.set(`${a.namespace}/${a.name}`, (count.get(`${a.namespace}/${a.name}`) ?? 0) + 1);
  for (const a of out) {
    if ((count.get(`${a.namespace}/${a.name}`) ?? 0) > 1)
      a.name = withHash(a.name, `${a.pod.name}/${a.identity.metadata.name}`);
  }
}

export interface DesiredInput {
  pods: PodInfo[];
  bindings: AzureIdentityBinding[];
  identities: AzureIdentity[];
  exceptions: AzurePodIdentityException[];
  policies: AzurePodIdentityPolicy[];
  namespaces: NamespaceInfo[];
}

function groupByNamespace<T extends { metadata: { namespace?: string } }>(items: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const i of items) {
    const ns = i.metadata.namespace ?? "";
    let list = out.get(ns);
    if (list === undefined) out.set(ns, (list = []));
    list.push(i);
  }
  return out;
}

/**
 * The policy decision for a pod, made once per distinct input: pods of one Deployment ask the
 * same question. Without exceptions in the namespace only the selector, service account and
 * host network matter; with them, the pod's labels too.
 */
function podDecider(input: DesiredInput): (pod: PodInfo, selector: string) => PodDecision {
  const bindingsByNs = groupByNamespace(input.bindings);
  const identitiesByNs = groupByNamespace(input.identities);
  const exceptionsByNs = groupByNamespace(input.exceptions);
  const nsLabels = new Map(input.namespaces.map((n) => [n.name, n.labels]));
  const selectorNamespaces = new Map<string, Set<string>>();
  for (const b of input.bindings) {
    let s = selectorNamespaces.get(b.selector);
    if (s === undefined) selectorNamespaces.set(b.selector, (s = new Set()));
    s.add(b.metadata.namespace ?? "");
  }
  const memo = new Map<string, PodDecision>();
  return (pod, selector) => {
    const exceptions = exceptionsByNs.get(pod.namespace) ?? [];
    const key = [
      pod.namespace,
      selector,
      pod.serviceAccountName,
      pod.hostNetwork,
      exceptions.length > 0 ? JSON.stringify(pod.labels) : "",
    ].join("\u0000");
    let decision = memo.get(key);
    if (decision === undefined) {
      const bindings = bindingsByNs.get(pod.namespace) ?? [];
      const boundHere = bindings.some((b) => b.selector === selector);
      decision = decidePod({
        namespace: pod.namespace,
        namespaceLabels: nsLabels.get(pod.namespace) ?? {},
        pod: { labels: pod.labels, serviceAccountName: pod.serviceAccountName, hostNetwork: pod.hostNetwork },
        bindings,
        identities: identitiesByNs.get(pod.namespace) ?? [],
        selectorBoundElsewhere: !boundHere && (selectorNamespaces.get(selector)?.size ?? 0) > 0,
        exceptions,
        policies: input.policies,
      });
      memo.set(key, decision);
    }
    return decision;
  };
}

/** A running pod whose selector gained identities after it was admitted: it must be recreated to use them. */
export interface NotAdmitted {
  pod: PodInfo;
  identities: AzureIdentity[];
}

export interface DesiredState {
  assignments: DesiredAssignment[];
  notAdmitted: NotAdmitted[];
}

/**
 * Every (pod, identity) pair that should exist: scheduled, not finished, allowed by policy, and
 * among the identities the pod's admission mark names (a running pod keeps those while they
 * stay bound; one bound later is reported, not assigned).
 */
export function desiredState(input: DesiredInput): DesiredState {
  const decide = podDecider(input);
  const out: DesiredAssignment[] = [];
  const notAdmitted: NotAdmitted[] = [];
  for (const pod of input.pods) {
    const selector = pod.labels[BINDING_LABEL];
    if (selector === undefined || pod.nodeName === undefined || pod.terminated) continue;
    const decision = decide(pod, selector);
    if (decision.verdict !== "allow") continue;
    const seen = new Set<string>();
    const later: AzureIdentity[] = [];
    for (const binding of decision.bindings) {
      const identity = decision.identities.find((i) => i.metadata.name === binding.azureIdentity);
      if (identity === undefined || seen.has(identity.metadata.name)) continue;
      seen.add(identity.metadata.name);
      if (pod.admitted !== undefined && !isAdmitted(pod.admitted, identity)) {
        later.push(identity);
        continue;
      }
      out.push({
        name: assignedIdentityName(pod.name, identity.metadata.name),
        namespace: pod.namespace,
        pod: pod as PodInfo & { nodeName: string },
        identity,
        binding,
      });
    }
    if (later.length > 0) notAdmitted.push({ pod, identities: later });
  }
  disambiguate(out);
  return { assignments: out, notAdmitted };
}

/** The assignments of desiredState. */
export function desiredAssignments(input: DesiredInput): DesiredAssignment[] {
  return desiredState(input).assignments;
}

/** A node's target, or why it has none. */
export type NodeTarget = { ok: true; target: Target } | { ok: false; error: string };

export interface TargetNeeds {
  target: Target;
  /** identity key → resource ID */
  identities: Map<string, string>;
}

/**
 * The user-assigned identities each VM or scale set needs (managed identities only), leaving out
 * those `verified` does not vouch for: an identity goes on a VM only once Resource Manager has
 * confirmed its AzureIdentity's ClientID is the identity's own.
 */
export function desiredTargets(
  assignments: DesiredAssignment[],
  nodeTargets: ReadonlyMap<string, NodeTarget>,
  verified: (identity: AzureIdentity) => boolean = () => true,
): Map<string, TargetNeeds> {
  const out = new Map<string, TargetNeeds>();
  for (const a of assignments) {
    if (a.identity.type !== 0 || a.identity.resourceID === undefined || !verified(a.identity)) continue;
    const nt = nodeTargets.get(a.pod.nodeName);
    if (nt === undefined || !nt.ok) continue;
    let needs = out.get(nt.target.key);
    if (needs === undefined) out.set(nt.target.key, (needs = { target: nt.target, identities: new Map() }));
    needs.identities.set(keyOf(a.identity), a.identity.resourceID);
  }
  return out;
}

const identityKeys = new WeakMap<AzureIdentity, string>();
/** The identity's resource ID key, computed once per parsed identity. */
function keyOf(identity: AzureIdentity): string {
  let k = identityKeys.get(identity);
  if (k === undefined) identityKeys.set(identity, (k = identityKey(identity.resourceID ?? "")));
  return k;
}

export type AssignedStatus = NonNullable<AzureAssignedIdentity["status"]>;

export interface StatusInput {
  nodeTarget: NodeTarget | undefined;
  /** What Resource Manager says the identity's resource ID is (undefined: not read yet). */
  identityCheck?: IdentityCheck | undefined;
  /** identity keys on the node's target, as last read or written (a Set or the state's Map) */
  onTarget: { has(key: string): boolean } | undefined;
  /** identity key → why Resource Manager refused it */
  rejected: ReadonlyMap<string, string>;
}

/**
 * A managed identity whose ClientID Resource Manager has not confirmed: Created while it is being
 * read, Failed when the identity does not exist or its ClientID is another identity's. Undefined:
 * confirmed (or not a managed identity).
 */
export function clientIdStatus(identity: AzureIdentity, check: IdentityCheck | undefined): AssignedStatus | undefined {
  if (identity.type !== 0 || identity.resourceID === undefined) return undefined;
  if (check === undefined) return { status: "Created" };
  // The parser lower-cases ClientIDs, as the reader does Resource Manager's: the common case is cheap.
  if (check.kind === "ok" && check.clientId === identity.clientID) return undefined;
  const who = `AzureIdentity ${identity.metadata.namespace ?? ""}/${identity.metadata.name}`;
  if (check.kind === "not-found")
    return {
      status: "Failed",
      reason: "IdentityNotFound",
      message: `${who}: Resource Manager has no identity ${identity.resourceID} (${check.message})`,
    };
  if (check.kind === "unreadable")
    return {
      status: "Failed",
      reason: "IdentityNotReadable",
      message:
        `${who}: cannot read identity ${identity.resourceID} from Resource Manager to check its ClientID ` +
        `(${check.message}); the reconciler needs Microsoft.ManagedIdentity/userAssignedIdentities/read ` +
        `on it`,
    };
  return {
    status: "Failed",
    reason: "ClientIDMismatch",
    message:
      `${who} says ClientID ${identity.clientID}, but Resource Manager says identity ${identity.resourceID} ` +
      `has client ID ${check.clientId}; podid serves an identity only by the resource ID it names. ` +
      `Set spec.ClientID to ${check.clientId}.`,
  };
}

/** What an assignment's AzureAssignedIdentity should report. */
export function assignmentStatus(a: DesiredAssignment, s: StatusInput): AssignedStatus {
  // Service principals (types 1 and 2) need nothing on the VM: the NMI uses their credentials.
  if (a.identity.type !== 0) return { status: "Assigned" };
  if (a.identity.resourceID === undefined) {
    return {
      status: "Failed",
      reason: "MissingResourceID",
      message: `AzureIdentity ${a.identity.metadata.name} has type 0 but no resourceID`,
    };
  }
  const checked = clientIdStatus(a.identity, s.identityCheck);
  if (checked !== undefined) return checked;
  if (s.nodeTarget === undefined) return { status: "Created" };
  if (!s.nodeTarget.ok)
    return { status: "Failed", reason: "NodeNotOnAzure", message: `node ${a.pod.nodeName}: ${s.nodeTarget.error}` };
  const key = keyOf(a.identity);
  const rejected = s.rejected.get(key);
  if (rejected !== undefined)
    return { status: "Failed", reason: "InvalidIdentity", message: rejected, target: s.nodeTarget.target.id };
  if (s.onTarget?.has(key) === true) return { status: "Assigned", target: s.nodeTarget.target.id };
  return { status: "Created", target: s.nodeTarget.target.id };
}

/** The AzureAssignedIdentity object for an assignment (owned by its pod). */
export function assignedIdentityObject(a: DesiredAssignment, status: AssignedStatus): Record<string, unknown> {
  return {
    apiVersion: "aadpodidentity.k8s.io/v1",
    kind: "AzureAssignedIdentity",
    metadata: {
      name: a.name,
      namespace: a.namespace,
      ownerReferences: [
        {
          apiVersion: "v1",
          kind: "Pod",
          name: a.pod.name,
          uid: a.pod.uid,
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: assignedSpec(a),
    status,
  };
}

export function assignedSpec(a: DesiredAssignment): AzureAssignedIdentity["spec"] {
  return {
    pod: a.pod.name,
    podNamespace: a.namespace,
    podUID: a.pod.uid,
    nodeName: a.pod.nodeName,
    azureIdentityRef: {
      name: a.identity.metadata.name,
      namespace: a.namespace,
      type: a.identity.type,
      clientID: a.identity.clientID,
      ...(a.identity.resourceID !== undefined ? { resourceID: a.identity.resourceID } : {}),
    },
    azureBindingRef: { name: a.binding.metadata.name, namespace: a.namespace, selector: a.binding.selector },
  };
}

const sameStatus = (a: AssignedStatus | undefined, b: AssignedStatus): boolean =>
  a !== undefined &&
  a.status === b.status &&
  (a.reason ?? "") === (b.reason ?? "") &&
  (a.message ?? "") === (b.message ?? "") &&
  (a.target ?? "") === (b.target ?? "") &&
  (a.tokenSource ?? "NodeAssigned") === (b.tokenSource ?? "NodeAssigned");

function sameSpec(a: AzureAssignedIdentity["spec"], b: AzureAssignedIdentity["spec"]): boolean {
  const i = a.azureIdentityRef;
  const j = b.azureIdentityRef;
  return (
    a.pod === b.pod &&
    a.podNamespace === b.podNamespace &&
    a.podUID === b.podUID &&
    a.nodeName === b.nodeName &&
    i.name === j.name &&
    i.type === j.type &&
    i.clientID.toLowerCase() === j.clientID.toLowerCase() &&
    (i.resourceID ?? "").toLowerCase() === (j.resourceID ?? "").toLowerCase() &&
    a.azureBindingRef.name === b.azureBindingRef.name &&
    a.azureBindingRef.selector === b.azureBindingRef.selector
  );
}

export interface AssignedDiff {
  create: Array<{ a: DesiredAssignment; status: AssignedStatus }>;
  /** Spec changed (a new pod with the same name, another identity): replace the object. */
  replace: Array<{ a: DesiredAssignment; status: AssignedStatus; current: AzureAssignedIdentity }>;
  status: Array<{ a: DesiredAssignment; status: AssignedStatus; current: AzureAssignedIdentity }>;
  delete: AzureAssignedIdentity[];
}

/** Which AzureAssignedIdentity objects to create, replace, update or delete. */
export function diffAssigned(
  desired: Array<{ a: DesiredAssignment; status: AssignedStatus }>,
  actual: AzureAssignedIdentity[],
): AssignedDiff {
  const byKey = new Map(actual.map((x) => [`${x.metadata.namespace ?? ""}/${x.metadata.name}`, x]));
  const out: AssignedDiff = { create: [], replace: [], status: [], delete: [] };
  const wanted = new Set<string>();
  for (const d of desired) {
    const key = `${d.a.namespace}/${d.a.name}`;
    wanted.add(key);
    const current = byKey.get(key);
    if (current === undefined) out.create.push(d);
    else if (!sameSpec(current.spec, assignedSpec(d.a))) out.replace.push({ ...d, current });
    else if (!sameStatus(current.status, d.status)) out.status.push({ ...d, current });
  }
  for (const [key, x] of byKey) if (!wanted.has(key)) out.delete.push(x);
  return out;
}
