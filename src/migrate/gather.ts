// What `podid migrate` reads from a cluster that runs AAD Pod Identity, straight from the API
// server (a one-shot tool, like the doctor): namespaces, the CRDs of the five kinds (whose they
// are, and whether their schema drops fields spelled otherwise), podid's kinds as raw objects
// (parsed by plan.ts with the programs' parsers), the workloads and the pods. A kind whose CRD
// is not installed (AzurePodIdentityPolicy, before podid) reads as empty.
import type { KubeConfig } from "@kubernetes/client-node";
import { GROUP, KINDS, VERSION, type PodidKind } from "../model/constants.ts";
import { isObject, type Obj } from "../model/read.ts";
import { isNotFound, kubeRequest, resourcePath } from "../kube/request.ts";
import { TEMPLATE_PATHS } from "../webhook/workloads.ts";

export interface CrdInfo {
  kind: PodidKind;
  installed: boolean;
  /** Labelled as AAD Pod Identity's (its helm chart and manifests label them so). */
  aadPodIdentity: boolean;
  /** The spec schema keeps unknown fields: `ResourceID` and `resourceID` alike survive. */
  keepsOtherSpellings: boolean;
}

export interface MigrateInput {
  namespaces: Array<{ name: string; labels: Record<string, string> }>;
  crds: CrdInfo[];
  /** Raw objects by kind. */
  objects: Record<PodidKind, Obj[]>;
  /** Workloads of TEMPLATE_PATHS' kinds and pods, raw (kind set on each). */
  workloads: Obj[];
  pods: Obj[];
}

const items = (list: unknown): Obj[] =>
  isObject(list) && Array.isArray(list.items) ? list.items.filter(isObject) : [];

async function listOrEmpty(kc: KubeConfig, path: string): Promise<Obj[]> {
  try {
    return items(await kubeRequest(kc, { path }));
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

function crdInfo(kind: PodidKind, crd: Obj | undefined): CrdInfo {
  if (crd === undefined) return { kind, installed: false, aadPodIdentity: false, keepsOtherSpellings: false };
  const meta = isObject(crd.metadata) ? crd.metadata : {};
  const labels = isObject(meta.labels) ? meta.labels : {};
  const versions = isObject(crd.spec) && Array.isArray(crd.spec.versions) ? crd.spec.versions.filter(isObject) : [];
  const v1 = versions.find((v) => v.name === VERSION);
  const root = isObject(v1?.schema) && isObject(v1.schema.openAPIV3Schema) ? v1.schema.openAPIV3Schema : undefined;
  const spec = isObject(root?.properties) && isObject(root.properties.spec) ? root.properties.spec : undefined;
  // No schema, an open root or an open spec keeps every field; a structural schema prunes the rest.
  const open = (o: Obj | undefined): boolean => o?.["x-kubernetes-preserve-unknown-fields"] === true;
  const keepsOtherSpellings = root === undefined || open(root) || spec === undefined || open(spec);
  return {
    kind,
    installed: true,
    aadPodIdentity: labels["app.kubernetes.io/name"] === "aad-pod-identity",
    keepsOtherSpellings,
  };
}

async function crds(kc: KubeConfig): Promise<CrdInfo[]> {
  const all = await listOrEmpty(kc, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions");
  const byName = new Map(all.map((c) => [isObject(c.metadata) ? c.metadata.name : "", c]));
  return (Object.keys(KINDS) as PodidKind[]).map((k) => crdInfo(k, byName.get(`${KINDS[k].plural}.${GROUP}`)));
}

export async function gatherMigrateInput(kc: KubeConfig): Promise<MigrateInput> {
  const kinds = Object.keys(KINDS) as PodidKind[];
  const workloadPaths = Object.entries(TEMPLATE_PATHS).map(([kind, w]) => ({
    kind,
    path: `/apis/${w.group}/v1/${kind.toLowerCase()}s`,
  }));
  const [namespaces, crdList, podidLists, workloadLists, pods] = await Promise.all([
    listOrEmpty(kc, "/api/v1/namespaces"),
    crds(kc),
    Promise.all(
      kinds.map((k) => listOrEmpty(kc, resourcePath({ group: GROUP, version: VERSION, plural: KINDS[k].plural }))),
    ),
    Promise.all(workloadPaths.map((w) => listOrEmpty(kc, w.path).then((l) => l.map((o) => ({ ...o, kind: w.kind }))))),
    listOrEmpty(kc, "/api/v1/pods").then((l) => l.map((o) => ({ ...o, kind: "Pod" }))),
  ]);
  return {
    namespaces: namespaces.map((n) => {
      const meta = isObject(n.metadata) ? n.metadata : {};
      const labels = isObject(meta.labels) ? meta.labels : {};
      return {
        name: typeof meta.name === "string" ? meta.name : "",
        labels: Object.fromEntries(
          Object.entries(labels).filter((e): e is [string, string] => typeof e[1] === "string"),
        ),
      };
    }),
    crds: crdList,
    objects: Object.fromEntries(kinds.map((k, i) => [k, podidLists[i]!])) as Record<PodidKind, Obj[]>,
    workloads: workloadLists.flat(),
    pods,
  };
}
