// Collects what `podid doctor` needs. The doctor is a one-shot tool, so it lists once instead
// of watching, but through the same watch layer (src/kube: the same paged lists and the same
// model projections the programs' informers keep), so it sees the cluster as they do.
import type { KubeConfig } from "@kubernetes/client-node";
import { listOnce, readOnce } from "../kube/cache.ts";
import { isNotFound, kubeRequest } from "../kube/request.ts";
import { CORE, podidKind, type KindValue } from "../kube/resources.ts";
import { parseNamespace, parseNode } from "../model/cluster.ts";
import { FEDERATION, KINDS, SYSTEM_NAMESPACE, type PodidKind } from "../model/constants.ts";
import { formatErrors } from "../model/parse.ts";
import { doctorPod, type DoctorPod } from "../model/pod.ts";
import type { Parsed } from "../model/types.ts";
import type { MarkCheck } from "../policy/admission-mark.ts";
import { checkPodMark, podSelector, type AdmissionKeys, type PodMarkResult } from "../policy/index.ts";
import type { DoctorInput } from "./diagnose.ts";
import type { FederationFacts } from "./federation.ts";

async function listKind<K extends PodidKind>(kc: KubeConfig, kind: K, namespace?: string) {
  const r = await listOnce(kc, { ...podidKind(kind), ...(namespace !== undefined ? { namespace } : {}) });
  const invalid: DoctorInput["invalid"] = r.invalid.map((i) => ({
    kind: KINDS[kind].kind,
    name: i.name,
    problem: formatErrors(i.errors),
  }));
  return { ok: r.items as Array<KindValue<K>>, invalid };
}

const unwrap = <T>(p: Parsed<T>, what: string): T => {
  if (!p.ok) throw new Error(`${what}: ${formatErrors(p.errors)}`);
  return p.value;
};

async function readPod(kc: KubeConfig, namespace: string, name: string): Promise<DoctorPod> {
  try {
    return unwrap(await readOnce(kc, { ...CORE.pods, namespace, name }, doctorPod), `pod ${namespace}/${name}`);
  } catch (e) {
    if (isNotFound(e)) throw new Error(`pod "${name}" not found in namespace "${namespace}"`, { cause: e });
    throw e;
  }
}

async function readNode(kc: KubeConfig, name: string | undefined): Promise<DoctorInput["node"]> {
  if (name === undefined) return undefined;
  try {
    const n = unwrap(await readOnce(kc, { ...CORE.nodes, name }, parseNode), `node ${name}`);
    return { name, providerID: n.providerID };
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** The mark check the doctor reports: valid only when every identity bound now was admitted. */
function markCheck(r: PodMarkResult): MarkCheck {
  if (!r.valid) return r;
  if (r.notAdmitted.length === 0) return { valid: true };
  const names = r.notAdmitted.map((i) => i.metadata.name).join(", ");
  return {
    valid: false,
    reason:
      `${names} was bound to the pod's selector after the pod was admitted; the pod keeps the identities ` +
      `it was admitted with and needs to be recreated to use ${names}`,
  };
}

function checkMark(
  pod: DoctorPod,
  selector: string | undefined,
  bindings: DoctorInput["bindings"],
  identities: DoctorInput["identities"],
  keys: AdmissionKeys | undefined,
): DoctorInput["mark"] {
  if (keys === undefined || selector === undefined) return { checked: false };
  const names = new Set(bindings.filter((b) => b.selector === selector).map((b) => b.azureIdentity));
  const bound = identities.filter((i) => names.has(i.metadata.name));
  const { namespace, serviceAccountName, annotations } = pod;
  return {
    checked: true,
    result: markCheck(checkPodMark(keys, { namespace, serviceAccountName, selector, annotations, bound })),
  };
}

/** Read what may be read: the doctor runs with whatever rights its user has, so a refusal is "unknown". */
const maybe = <T>(p: Promise<T>): Promise<T | undefined> => p.catch(() => undefined);

interface EventList {
  items: Array<{
    involvedObject?: { kind?: string; name?: string };
    reason?: string;
    message?: string;
    lastTimestamp?: string;
    eventTime?: string;
    count?: number;
  }>;
}

async function exchangeFailureEvents(kc: KubeConfig, namespace: string): Promise<EventList> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
  const fieldSelector = `reason=${FEDERATION.exchangeFailedReason},involvedObject.kind=AzureIdentity`;
  // A server that cannot select on these fields gets the plain list, filtered here.
  const list = await kubeRequest<EventList>(kc, { path, query: { fieldSelector } }).catch(() =>
    kubeRequest<EventList>(kc, { path }),
  );
  return {
    items: list.items.filter(
      (e) => e.reason === FEDERATION.exchangeFailedReason && e.involvedObject?.kind === "AzureIdentity",
    ),
  };
}

async function gatherFederation(kc: KubeConfig, namespace: string): Promise<FederationFacts> {
  const [settings, discovery, events] = await Promise.all([
    maybe(
      kubeRequest<{ data?: Record<string, string> }>(kc, {
        path: `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${FEDERATION.configMapName}`,
      }),
    ),
    maybe(kubeRequest<{ issuer?: string }>(kc, { path: "/.well-known/openid-configuration" })),
    maybe(exchangeFailureEvents(kc, namespace)),
  ]);
  return {
    ...(settings !== undefined ? { settings: settings.data ?? {} } : {}),
    ...(typeof discovery?.issuer === "string" ? { apiServerIssuer: discovery.issuer } : {}),
    exchangeFailures: (events?.items ?? []).map((e) => ({
      identity: e.involvedObject?.name ?? "",
      message: e.message ?? "",
      ...((e.lastTimestamp ?? e.eventTime) ? { at: e.lastTimestamp ?? e.eventTime } : {}),
      ...(e.count !== undefined ? { count: e.count } : {}),
    })),
  };
}

export async function gatherDoctorInput(
  kc: KubeConfig,
  namespace: string,
  name: string,
  keys?: AdmissionKeys,
): Promise<DoctorInput> {
  const pod = await readPod(kc, namespace, name);
  const ns = unwrap(await readOnce(kc, { ...CORE.namespaces, name: namespace }, parseNamespace), "namespace");
  const [bindings, identities, exceptions, policies, assigned, allBindings] = await Promise.all([
    listKind(kc, "AzureIdentityBinding", namespace),
    listKind(kc, "AzureIdentity", namespace),
    listKind(kc, "AzurePodIdentityException", namespace),
    listKind(kc, "AzurePodIdentityPolicy"),
    listKind(kc, "AzureAssignedIdentity", namespace),
    listKind(kc, "AzureIdentityBinding"),
  ]);
  const selector = podSelector(pod.labels);
  const elsewhere = allBindings.ok.filter((b) => b.selector === selector && b.metadata.namespace !== namespace);
  return {
    pod,
    namespaceLabels: ns.labels,
    bindings: bindings.ok,
    identities: identities.ok,
    exceptions: exceptions.ok,
    policies: policies.ok,
    selectorNamespaces: [...new Set(elsewhere.map((b) => b.metadata.namespace ?? ""))].sort(),
    invalid: [...bindings.invalid, ...identities.invalid, ...exceptions.invalid],
    assigned: assigned.ok.filter((a) => a.spec.podUID === pod.uid || a.spec.pod === pod.name),
    node: await readNode(kc, pod.nodeName),
    mark: checkMark(pod, selector, bindings.ok, identities.ok, keys),
    federation: await gatherFederation(kc, namespace),
  };
}
