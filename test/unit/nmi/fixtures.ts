// Shared fixtures for the NMI's unit tests: a namespace with one admitted pod, its binding,
// identity and assignment, and an in-memory NmiView over plain arrays.
import {
  ADMISSION_MARK_ANNOTATION,
  ADMITTED_IDENTITIES_ANNOTATION,
  BINDING_LABEL,
  NMI_MODE_ANNOTATION,
  type NmiMode,
} from "../../../src/model/constants.ts";
import type {
  AzureAssignedIdentity,
  AzureIdentity,
  AzureIdentityBinding,
  AzurePodIdentityException,
  AzurePodIdentityPolicy,
} from "../../../src/model/types.ts";
import {
  claimsFor,
  formatAdmittedIdentities,
  markIdentity,
  signAdmissionMark,
  type AdmissionKeys,
} from "../../../src/policy/admission-mark.ts";
import type { NmiPod } from "../../../src/nmi/pod.ts";
import { boundIdentities, type NmiView, type Vouched } from "../../../src/nmi/view.ts";

export const NODE = "node-1";
export const KEYS: AdmissionKeys = { current: Buffer.alloc(32, 7), previous: [] };
export const OTHER_KEYS: AdmissionKeys = { current: Buffer.alloc(32, 9), previous: [] };

export const meta = (name: string, namespace: string) => ({
  name,
  namespace,
  uid: `uid-${namespace}-${name}`,
  labels: {},
  annotations: {},
});

export function identity(
  name: string,
  namespace: string,
  clientID: string,
  over: Partial<AzureIdentity> = {},
): AzureIdentity {
  return {
    metadata: meta(name, namespace),
    type: 0,
    resourceID: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    clientID,
    ...over,
  };
}
export const binding = (
  name: string,
  namespace: string,
  identityName: string,
  selector: string,
): AzureIdentityBinding => ({
  metadata: meta(name, namespace),
  azureIdentity: identityName,
  selector,
});
export function assigned(
  pod: NmiPod,
  id: AzureIdentity,
  status: "Created" | "Assigned" | "Failed" | undefined,
  nodeName = NODE,
): AzureAssignedIdentity {
  return {
    metadata: meta(`${pod.name}-${id.metadata.name}`, pod.namespace),
    spec: {
      pod: pod.name,
      podNamespace: pod.namespace,
      podUID: pod.uid,
      nodeName,
      azureIdentityRef: {
        name: id.metadata.name,
        namespace: pod.namespace,
        type: id.type,
        clientID: id.clientID,
        resourceID: id.resourceID,
      },
      azureBindingRef: { name: "b", namespace: pod.namespace, selector: pod.labels[BINDING_LABEL] ?? "" },
    },
    ...(status === undefined ? {} : { status: { status } }),
  };
}

export function pod(name: string, namespace: string, ip: string, over: Partial<NmiPod> = {}): NmiPod {
  return {
    name,
    namespace,
    uid: `uid-${namespace}-${name}`,
    nodeName: NODE,
    phase: "Running",
    hostNetwork: false,
    serviceAccountName: "default",
    podIPs: [ip],
    labels: {},
    annotations: {},
    deleting: false,
    ...over,
  };
}

export class MemoryView implements NmiView {
  pods: NmiPod[] = [];
  ids: AzureIdentity[] = [];
  binds: AzureIdentityBinding[] = [];
  excs: AzurePodIdentityException[] = [];
  aais: AzureAssignedIdentity[] = [];
  pols: AzurePodIdentityPolicy[] = [];
  nsLabels: Record<string, Record<string, string>> = {};
  private readonly listeners = new Set<() => void>();
  podsWithIp = (ip: string): NmiPod[] => this.pods.filter((p) => p.podIPs.includes(ip));
  pod = (ns: string, name: string): NmiPod | undefined => this.pods.find((p) => p.namespace === ns && p.name === name);
  identities = (ns: string): AzureIdentity[] => this.ids.filter((i) => i.metadata.namespace === ns);
  bindings = (ns: string): AzureIdentityBinding[] => this.binds.filter((i) => i.metadata.namespace === ns);
  exceptions = (ns: string): AzurePodIdentityException[] => this.excs.filter((i) => i.metadata.namespace === ns);
  assigned = (ns: string): AzureAssignedIdentity[] => this.aais.filter((i) => i.metadata.namespace === ns);
  namespaceLabels = (ns: string): Record<string, string> => ({
    "kubernetes.io/metadata.name": ns,
    ...this.nsLabels[ns],
  });
  policies = (): AzurePodIdentityPolicy[] => this.pols;
  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  changed(): void {
    for (const cb of this.listeners) cb();
  }
  synced = (): boolean => true;
  /** Set to a reason to play a broken watch that cannot be made good (vouch says not fresh). */
  stale: string | undefined;
  watching = (): boolean => this.stale === undefined;
  vouch = (): Promise<Vouched> =>
    Promise.resolve(this.stale === undefined ? { fresh: true } : { fresh: false, reason: this.stale });
}

/** Labels the pod with `selector` and writes what the webhook would: mark, NMI mode, the identities bound now. */
export function admit(
  view: MemoryView,
  p: NmiPod,
  selector: string,
  keys: AdmissionKeys = KEYS,
  mode: NmiMode = "daemonset",
): NmiPod {
  p.labels[BINDING_LABEL] = selector;
  const ids = boundIdentities(selector, view.bindings(p.namespace), view.identities(p.namespace));
  p.annotations[ADMISSION_MARK_ANNOTATION] = signAdmissionMark(
    keys,
    claimsFor(p.namespace, p.serviceAccountName, selector, ids, mode),
  );
  p.annotations[ADMITTED_IDENTITIES_ANNOTATION] = formatAdmittedIdentities(ids.map(markIdentity));
  p.annotations[NMI_MODE_ANNOTATION] = mode;
  return p;
}

/** A cluster admin's policy letting exceptions take effect in `namespace`. */
export function allowExceptions(namespace: string): AzurePodIdentityPolicy {
  return {
    metadata: { name: `exceptions-${namespace}`, labels: {}, annotations: {} },
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
    onUnmatchedLabel: "Deny",
    enforcement: "Enforce",
    unlistedIdentities: "Allow",
    exceptions: "Allow",
  };
}

/**
 * A small world: team-a with pod `app` (127.10.0.5) bound to `reader` (Assigned), pod `two`
 * (127.10.0.6) bound to `reader` and `writer`, team-b with pod `other` (127.10.0.7) bound to
 * `b-id`, an excepted pod `legacy` (127.10.0.8; a policy allows exceptions in team-a) and a
 * hostNetwork pod on the node IP.
 */
export function world(): MemoryView {
  const v = new MemoryView();
  const reader = identity("reader", "team-a", "11111111-1111-4111-8111-111111111111");
  const writer = identity("writer", "team-a", "22222222-2222-4222-8222-222222222222");
  const bId = identity("b-id", "team-b", "33333333-3333-4333-8333-333333333333");
  v.ids.push(reader, writer, bId);
  v.binds.push(
    binding("reader-b", "team-a", "reader", "reader"),
    binding("two-r", "team-a", "reader", "two"),
    binding("two-w", "team-a", "writer", "two"),
    binding("b-b", "team-b", "b-id", "b"),
  );
  v.excs.push({ metadata: meta("exc", "team-a"), podLabels: { noaad: "true" } });
  v.pols.push(allowExceptions("team-a"));
  const app = admit(v, pod("app", "team-a", "127.10.0.5"), "reader");
  const two = admit(v, pod("two", "team-a", "127.10.0.6"), "two");
  const other = admit(v, pod("other", "team-b", "127.10.0.7"), "b");
  const legacy = pod("legacy", "team-a", "127.10.0.8", { labels: { noaad: "true" } });
  const host = pod("host", "kube-system", "127.20.0.1", { hostNetwork: true });
  v.pods.push(app, two, other, legacy, host);
  v.aais.push(
    assigned(app, reader, "Assigned"),
    assigned(two, reader, "Assigned"),
    assigned(two, writer, "Assigned"),
    assigned(other, bId, "Assigned"),
  );
  return v;
}
