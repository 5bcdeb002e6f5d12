// Discovery documents (/version, /api, /apis, APIResourceLists) and the small OpenAPI v3 that
// kubectl's `apply` and `create` need (a patch operation per kind, carrying its
// group-version-kind and the fieldValidation parameter; no schemas). Pure builders.
import { createHash } from "node:crypto";
import { KUBELET_VERSION } from "./controllers/nodes.ts";
import type { Registry } from "./resources.ts";
import { apiVersionOf, type ResourceDef } from "./types.ts";

export function versionInfo(): Record<string, string> {
  return {
    major: "1",
    minor: "32",
    gitVersion: KUBELET_VERSION,
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2025-04-22T16:00:00Z",
    goVersion: "go1.23.8",
    compiler: "gc",
    platform: "linux/amd64",
  };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function group(name: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(reg: Registry): Record<string, unknown> {
  const groups = [...reg.groups().entries()].filter(([g]) => g !== "").map(([g, vs]) => group(g, vs));
  return { kind: "APIGroupList", apiVersion: "v1", groups };
}

export function apiGroup(reg: Registry, name: string): Record<string, unknown> | undefined {
  const vs = reg.groups().get(name);
  if (vs === undefined || name === "") return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...group(name, vs) };
}

const SUBRESOURCE_KINDS: Record<string, { kind: string; group?: string; version?: string; verbs: string[] }> = {
  status: { kind: "", verbs: ["get", "patch", "update"] },
  binding: { kind: "Binding", verbs: ["create"] },
  token: { kind: "TokenRequest", group: "authentication.k8s.io", version: "v1", verbs: ["create"] },
  finalize: { kind: "", verbs: ["update"] },
  scale: { kind: "Scale", group: "autoscaling", version: "v1", verbs: ["get", "patch", "update"] },
};

function resourceEntries(d: ResourceDef): Array<Record<string, unknown>> {
  const main: Record<string, unknown> = {
    name: d.plural,
    singularName: d.singular,
    namespaced: d.namespaced,
    kind: d.kind,
    verbs: d.verbs,
  };
  if (d.shortNames.length > 0) main.shortNames = d.shortNames;
  if (d.categories.length > 0) main.categories = d.categories;
  main.storageVersionHash = createHash("sha256")
    .update(`${apiVersionOf(d)}/${d.kind}`)
    .digest("base64")
    .slice(0, 11);
  const subs = d.subresources.map((s) => {
    const k = SUBRESOURCE_KINDS[s] ?? { kind: "", verbs: ["get"] };
    const e: Record<string, unknown> = {
      name: `${d.plural}/${s}`,
      singularName: "",
      namespaced: d.namespaced,
      kind: k.kind === "" ? d.kind : k.kind,
      verbs: k.verbs,
    };
    if (k.group !== undefined) Object.assign(e, { group: k.group, version: k.version });
    return e;
  });
  return [main, ...subs];
}

export function apiResourceList(
  reg: Registry,
  groupName: string,
  version: string,
): Record<string, unknown> | undefined {
  const defs = reg.inGroupVersion(groupName, version);
  if (defs.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: apiVersionOf({ group: groupName, version }),
    resources: defs.flatMap(resourceEntries),
  };
}

const gvPath = (g: string, v: string): string => (g === "" ? `api/${v}` : `apis/${g}/${v}`);

/** Built-in group-versions only: custom resources are found through their CRDs, as kubectl expects. */
function openapiGroupVersions(reg: Registry): Array<[string, string]> {
  const seen = new Set<string>();
  const out: Array<[string, string]> = [];
  for (const d of reg.all()) {
    if (d.crdName !== undefined) continue;
    const k = `${d.group}/${d.version}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push([d.group, d.version]);
    }
  }
  return out;
}

export function openapiIndex(reg: Registry): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const [g, v] of openapiGroupVersions(reg)) {
    const doc = JSON.stringify(openapiDocument(reg, g, v));
    const hash = createHash("sha512").update(doc).digest("hex").slice(0, 128);
    paths[gvPath(g, v)] = { serverRelativeURL: `/openapi/v3/${gvPath(g, v)}?hash=${hash.toUpperCase()}` };
  }
  return { paths };
}

export function openapiDocument(reg: Registry, g: string, v: string): Record<string, unknown> | undefined {
  const defs = reg.inGroupVersion(g, v).filter((d) => d.crdName === undefined);
  if (defs.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const d of defs) {
    const gvk = { group: d.group, version: d.version, kind: d.kind };
    const base = `/${gvPath(g, v)}${d.namespaced ? "/namespaces/{namespace}" : ""}/${d.plural}`;
    const op = (action: string, verb: string): Record<string, unknown> => ({
      operationId: `${verb}${d.kind}`,
      "x-kubernetes-action": action,
      "x-kubernetes-group-version-kind": gvk,
      parameters: [
        { name: "fieldValidation", in: "query", schema: { type: "string", uniqueItems: true } },
        { name: "fieldManager", in: "query", schema: { type: "string", uniqueItems: true } },
        { name: "dryRun", in: "query", schema: { type: "string", uniqueItems: true } },
      ],
      responses: { "200": { description: "OK" } },
    });
    paths[base] = { post: op("post", "create"), get: op("list", "list") };
    paths[`${base}/{name}`] = {
      get: op("get", "read"),
      put: op("put", "replace"),
      patch: op("patch", "patch"),
      delete: op("delete", "delete"),
    };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: KUBELET_VERSION },
    paths,
    components: { schemas: {} },
  };
}
