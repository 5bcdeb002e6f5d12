// Collects what `podid doctor` needs, straight from the API server (the doctor is a one-shot
// tool: no informers), and parses it with the same model parsers the programs use.
import type { KubeConfig } from "@kubernetes/client-node";
import { KINDS, GROUP, VERSION, type PodidKind } from "../model/constants.ts";
import {
  formatErrors,
  parseAzureAssignedIdentity,
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../model/parse.ts";
import { isObject } from "../model/read.ts";
import type { Parsed } from "../model/types.ts";
import type { MarkCheck } from "../policy/admission-mark.ts";
import { checkPodMark, podSelector, type AdmissionKeys, type PodMarkResult } from "../policy/index.ts";

import { isNotFound, kubeRequest, resourcePath } from "../kube/request.ts";
import type { DoctorInput, DoctorPod } from "./diagnose.ts";

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

interface RawList {
  items: unknown[];
}
type Raw = Record<string, unknown>;
const rec = (v: unknown): Raw => (isObject(v) ? v : {});
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const strMap = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(rec(v)).filter((e): e is [string, string] => typeof e[1] === "string"));

async function listKind<T>(kc: KubeConfig, kind: PodidKind, parse: (o: unknown) => Parsed<T>, namespace?: string) {
  const k = KINDS[kind];
  const list = await kubeRequest<RawList>(kc, {
    path: resourcePath({ group: GROUP, version: VERSION, plural: k.plural, namespace }),
  });
  const ok: T[] = [];
  const invalid: DoctorInput["invalid"] = [];
  for (const item of list.items) {
    const p = parse(item);
    if (p.ok) ok.push(p.value);
    else invalid.push({ kind: k.kind, name: str(rec(rec(item).metadata).name), problem: formatErrors(p.errors) });
  }
  return { ok, invalid };
}

export function readDoctorPod(raw: unknown): DoctorPod {
  const meta = rec(rec(raw).metadata);
  const spec = rec(rec(raw).spec);
  const status = rec(rec(raw).status);
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  return {
    namespace: str(meta.namespace),
    name: str(meta.name),
    uid: str(meta.uid),
    labels: strMap(meta.labels),
    annotations: strMap(meta.annotations),
    serviceAccountName: typeof spec.serviceAccountName === "string" ? spec.serviceAccountName : "default",
    hostNetwork: spec.hostNetwork === true,
    nodeName: typeof spec.nodeName === "string" ? spec.nodeName : undefined,
    phase: typeof status.phase === "string" ? status.phase : undefined,
    podIP: typeof status.podIP === "string" ? status.podIP : undefined,
    containers: containers.map((c) => ({
      name: str(rec(c).name),
      env: (Array.isArray(rec(c).env) ? (rec(c).env as unknown[]) : []).map((e) => str(rec(e).name)),
    })),
  };
}

export async function gatherDoctorInput(
  kc: KubeConfig,
  namespace: string,
  name: string,
  keys?: AdmissionKeys,
): Promise<DoctorInput> {
  let rawPod: unknown;
  try {
    rawPod = await kubeRequest(kc, {
      path: resourcePath({ group: "", version: "v1", plural: "pods", namespace, name }),
    });
  } catch (e) {
    if (isNotFound(e)) throw new Error(`pod "${name}" not found in namespace "${namespace}"`, { cause: e });
    throw e;
  }
  const pod = readDoctorPod(rawPod);
  const ns = rec(
    await kubeRequest(kc, { path: resourcePath({ group: "", version: "v1", plural: "namespaces", name: namespace }) }),
  );
  const [bindings, identities, exceptions, policies, assigned, allBindings] = await Promise.all([
    listKind(kc, "AzureIdentityBinding", parseAzureIdentityBinding, namespace),
    listKind(kc, "AzureIdentity", parseAzureIdentity, namespace),
    listKind(kc, "AzurePodIdentityException", parseAzurePodIdentityException, namespace),
    listKind(kc, "AzurePodIdentityPolicy", parseAzurePodIdentityPolicy),
    listKind(kc, "AzureAssignedIdentity", parseAzureAssignedIdentity, namespace),
    listKind(kc, "AzureIdentityBinding", parseAzureIdentityBinding),
  ]);
  const selector = podSelector(pod.labels);
  const selectorNamespaces = [
    ...new Set(
      allBindings.ok
        .filter((b) => b.selector === selector && b.metadata.namespace !== namespace)
        .map((b) => b.metadata.namespace ?? ""),
    ),
  ].sort();
  let node: DoctorInput["node"];
  if (pod.nodeName !== undefined) {
    try {
      const raw = rec(
        await kubeRequest(kc, {
          path: resourcePath({ group: "", version: "v1", plural: "nodes", name: pod.nodeName }),
        }),
      );
      const providerID = rec(raw.spec).providerID;
      node = { name: pod.nodeName, providerID: typeof providerID === "string" ? providerID : undefined };
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  const identitiesOfSelector = (() => {
    const names = new Set(bindings.ok.filter((b) => b.selector === selector).map((b) => b.azureIdentity));
    return identities.ok.filter((i) => names.has(i.metadata.name));
  })();
  const mark: DoctorInput["mark"] =
    keys === undefined || selector === undefined
      ? { checked: false }
      : {
          checked: true,
          result: markCheck(
            checkPodMark(keys, {
              namespace,
              serviceAccountName: pod.serviceAccountName,
              selector,
              annotations: pod.annotations,
              bound: identitiesOfSelector,
            }),
          ),
        };
  return {
    pod,
    namespaceLabels: strMap(rec(ns.metadata).labels),
    bindings: bindings.ok,
    identities: identities.ok,
    exceptions: exceptions.ok,
    policies: policies.ok,
    selectorNamespaces,
    invalid: [...bindings.invalid, ...identities.invalid, ...exceptions.invalid],
    assigned: assigned.ok.filter((a) => a.spec.podUID === pod.uid || a.spec.pod === pod.name),
    node,
    mark,
  };
}
