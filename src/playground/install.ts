// Installs podid into the playground from the same manifests an operator applies to AKS:
// `kubectl kustomize config/default`, then every object the playground's API serves. The
// Deployments and the DaemonSet are not run as pods (the playground runs the programs as
// processes), and cert-manager is not there: the playground plays its CA injector, filling the
// caBundle of webhook configurations that ask for it.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { isAlreadyExists, kubeRequest } from "../kube/request.ts";

export type KObj = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
};

export const CONFIG_DEFAULT = resolve(fileURLToPath(new URL("../../config/default", import.meta.url)));

/** Renders a kustomization with the machine's kubectl (offline: no server needed). */
export async function renderKustomization(dir = CONFIG_DEFAULT): Promise<KObj[]> {
  let out: string;
  try {
    ({ stdout: out } = await promisify(execFile)("kubectl", ["kustomize", dir], { maxBuffer: 32 * 1024 * 1024 }));
  } catch (e) {
    throw new Error(
      `could not render ${dir} with \`kubectl kustomize\` (is kubectl on the PATH?): ${(e as Error).message}`,
      { cause: e },
    );
  }
  return parseAllDocuments(out)
    .map((d) => d.toJS() as unknown)
    .filter((o): o is KObj => typeof o === "object" && o !== null && "kind" in o);
}

/** Kinds the playground runs another way, or that belong to cert-manager (not installed). */
const RUN_AS_PROCESSES = new Set(["Deployment", "DaemonSet"]);
const CERT_MANAGER_GROUP = "cert-manager.io/";

export interface InstallPlan {
  apply: KObj[];
  skipped: Array<{ kind: string; name: string; why: string }>;
}

/** Pure: what to apply, in dependency order, with caBundles injected; and what is skipped, and why. */
export function planInstall(objects: KObj[], caPem: string): InstallPlan {
  const apply: KObj[] = [];
  const skipped: InstallPlan["skipped"] = [];
  for (const o of objects) {
    if (RUN_AS_PROCESSES.has(o.kind))
      skipped.push({ kind: o.kind, name: o.metadata.name, why: "run by the playground as a process" });
    else if (o.apiVersion.startsWith(CERT_MANAGER_GROUP))
      skipped.push({ kind: o.kind, name: o.metadata.name, why: "cert-manager is played by the playground's CA" });
    else apply.push(injectCaBundle(o, caPem));
  }
  const rank = (o: KObj): number =>
    o.kind === "Namespace"
      ? 0
      : o.kind === "CustomResourceDefinition"
        ? 1
        : /WebhookConfiguration$/.test(o.kind)
          ? 3
          : 2;
  apply.sort((a, b) => rank(a) - rank(b));
  return { apply, skipped };
}

/** cert-manager's CA injector, for `cert-manager.io/inject-ca-from`: every webhook gets the CA. */
export function injectCaBundle(o: KObj, caPem: string): KObj {
  if (!/WebhookConfiguration$/.test(o.kind)) return o;
  const copy = structuredClone(o);
  const hooks = Array.isArray(copy.webhooks)
    ? (copy.webhooks as Array<{ clientConfig?: Record<string, unknown> }>)
    : [];
  for (const h of hooks) h.clientConfig = { ...h.clientConfig, caBundle: Buffer.from(caPem).toString("base64") };
  return copy;
}

function collectionPath(o: KObj, plural: string): string {
  const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
  const base = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
  return `${base}${o.metadata.namespace !== undefined ? `/namespaces/${o.metadata.namespace}` : ""}/${plural}`;
}

/** Where each kind of the plan lives: `${apiVersion}/${kind}` → the resource's plural. */
export type Plurals = ReadonlyMap<string, string>;
const kindKey = (apiVersion: string, kind: string): string => `${apiVersion}/${kind}`;

/** The kinds the plan's own CRDs define: served once those CRDs are applied, before their objects. */
function pluralsFromCrds(objects: KObj[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const o of objects.filter((x) => x.kind === "CustomResourceDefinition")) {
    const spec = o.spec as
      { group?: string; names?: { kind?: string; plural?: string }; versions?: Array<{ name?: string }> } | undefined;
    const { group, names } = spec ?? {};
    if (group === undefined || names?.kind === undefined || names.plural === undefined) continue;
    for (const v of spec?.versions ?? [])
      if (v.name !== undefined) out.set(kindKey(`${group}/${v.name}`, names.kind), names.plural);
  }
  return out;
}

/**
 * Splits the plan by what the server serves, asked through discovery (plus the kinds the plan's
 * CRDs add), and says what is skipped; returns the plurals to apply the rest with.
 */
export async function servedOnly(kc: KubeConfig, plan: InstallPlan): Promise<InstallPlan & { plurals: Plurals }> {
  const plurals = pluralsFromCrds(plan.apply);
  for (const gv of new Set(plan.apply.map((o) => o.apiVersion))) {
    const path = gv.includes("/") ? `/apis/${gv}` : `/api/${gv}`;
    try {
      const list = await kubeRequest<{ resources?: Array<{ kind: string; name: string }> }>(kc, { path });
      // Subresources (`pods/status`) carry their parent's kind: only top-level names are collections.
      for (const r of list.resources ?? []) if (!r.name.includes("/")) plurals.set(kindKey(gv, r.kind), r.name);
    } catch {
      // A group-version the server does not serve: its objects are skipped below.
    }
  }
  const served = (o: KObj): boolean => plurals.has(kindKey(o.apiVersion, o.kind));
  return {
    apply: plan.apply.filter(served),
    skipped: [
      ...plan.skipped,
      ...plan.apply
        .filter((o) => !served(o))
        .map((o) => ({ kind: o.kind, name: o.metadata.name, why: "not served by the playground's API" })),
    ],
    plurals,
  };
}

/** Creates each object, or replaces it when it exists (as `kubectl apply` converges). */
export async function applyObjects(kc: KubeConfig, objects: KObj[], plurals: Plurals): Promise<void> {
  for (const o of objects) {
    const plural = plurals.get(kindKey(o.apiVersion, o.kind));
    if (plural === undefined)
      throw new Error(`applying ${o.kind} ${o.metadata.name}: the server does not serve ${o.apiVersion} ${o.kind}`);
    const path = collectionPath(o, plural);
    try {
      await kubeRequest(kc, { method: "POST", path, body: o });
    } catch (e) {
      if (!isAlreadyExists(e))
        throw new Error(`applying ${o.kind} ${o.metadata.name}: ${(e as Error).message}`, { cause: e });
      const current = await kubeRequest<KObj>(kc, { path: `${path}/${o.metadata.name}` });
      const rv = (current.metadata as { resourceVersion?: string }).resourceVersion;
      await kubeRequest(kc, {
        method: "PUT",
        path: `${path}/${o.metadata.name}`,
        body: { ...o, metadata: { ...o.metadata, resourceVersion: rv } },
      });
    }
    if (o.kind === "CustomResourceDefinition") await waitEstablished(kc, o.metadata.name);
  }
}

async function waitEstablished(kc: KubeConfig, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const crd = await kubeRequest<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(kc, {
      path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
    });
    if (crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`CustomResourceDefinition ${name} did not become Established`);
}
