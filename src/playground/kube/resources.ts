// The resources the server knows: the built-ins podid, kubectl and client-node touch, plus
// whatever CustomResourceDefinitions add while it runs. Discovery, routing, Tables and
// OpenAPI are all generated from this one registry.
import { builtinColumns } from "./columns.ts";
import { resourceKey, type ResourceDef } from "./types.ts";

const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

type BuiltinSpec = Partial<ResourceDef> & Pick<ResourceDef, "group" | "version" | "kind" | "plural">;

function def(s: BuiltinSpec): ResourceDef {
  const r: ResourceDef = {
    listKind: `${s.kind}List`,
    singular: s.kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    categories: [],
    subresources: [],
    verbs: ALL_VERBS,
    generation: false,
    requireResourceVersionOnUpdate: false,
    dnsLabelNames: false,
    strategicMerge: true,
    ...s,
  };
  r.printerColumns ??= builtinColumns(resourceKey(r));
  return r;
}

export const BUILTIN_RESOURCES: ResourceDef[] = [
  def({
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    namespaced: false,
    shortNames: ["ns"],
    subresources: ["status", "finalize"],
    dnsLabelNames: true,
    verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
  }),
  def({
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    shortNames: ["po"],
    categories: ["all"],
    subresources: ["status", "binding"],
  }),
  def({
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    namespaced: false,
    shortNames: ["no"],
    subresources: ["status"],
  }),
  def({
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    shortNames: ["sa"],
    subresources: ["token"],
  }),
  def({ group: "", version: "v1", kind: "Secret", plural: "secrets" }),
  def({ group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", shortNames: ["cm"] }),
  def({ group: "", version: "v1", kind: "Event", plural: "events", shortNames: ["ev"] }),
  def({
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    shortNames: ["svc"],
    categories: ["all"],
    subresources: ["status"],
    dnsLabelNames: true,
  }),
  def({
    group: "",
    version: "v1",
    kind: "Endpoints",
    plural: "endpoints",
    listKind: "EndpointsList",
    singular: "endpoints",
    shortNames: ["ep"],
  }),
  def({ group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases" }),
  def({ group: "events.k8s.io", version: "v1", kind: "Event", plural: "events", shortNames: ["ev"] }),
  def({
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    namespaced: false,
    shortNames: ["crd", "crds"],
    categories: ["api-extensions"],
    subresources: ["status"],
    generation: true,
  }),
  def({
    group: "admissionregistration.k8s.io",
    version: "v1",
    kind: "MutatingWebhookConfiguration",
    plural: "mutatingwebhookconfigurations",
    namespaced: false,
    categories: ["api-extensions"],
    generation: true,
  }),
  def({
    group: "admissionregistration.k8s.io",
    version: "v1",
    kind: "ValidatingWebhookConfiguration",
    plural: "validatingwebhookconfigurations",
    namespaced: false,
    categories: ["api-extensions"],
    generation: true,
  }),
  def({
    group: "authentication.k8s.io",
    version: "v1",
    kind: "TokenReview",
    plural: "tokenreviews",
    namespaced: false,
    verbs: ["create"],
    createOnly: true,
  }),
  def({
    group: "authorization.k8s.io",
    version: "v1",
    kind: "SubjectAccessReview",
    plural: "subjectaccessreviews",
    namespaced: false,
    verbs: ["create"],
    createOnly: true,
  }),
  def({
    group: "authorization.k8s.io",
    version: "v1",
    kind: "SelfSubjectAccessReview",
    plural: "selfsubjectaccessreviews",
    namespaced: false,
    verbs: ["create"],
    createOnly: true,
  }),
  def({
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    shortNames: ["deploy"],
    categories: ["all"],
    subresources: ["status", "scale"],
    generation: true,
  }),
  def({
    group: "apps",
    version: "v1",
    kind: "ReplicaSet",
    plural: "replicasets",
    shortNames: ["rs"],
    categories: ["all"],
    subresources: ["status", "scale"],
    generation: true,
  }),
  def({
    group: "apps",
    version: "v1",
    kind: "StatefulSet",
    plural: "statefulsets",
    shortNames: ["sts"],
    categories: ["all"],
    subresources: ["status", "scale"],
    generation: true,
  }),
  def({
    group: "apps",
    version: "v1",
    kind: "DaemonSet",
    plural: "daemonsets",
    shortNames: ["ds"],
    categories: ["all"],
    subresources: ["status"],
    generation: true,
  }),
  def({
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
    categories: ["all"],
    subresources: ["status"],
    generation: true,
  }),
  def({
    group: "batch",
    version: "v1",
    kind: "CronJob",
    plural: "cronjobs",
    shortNames: ["cj"],
    categories: ["all"],
    subresources: ["status"],
    generation: true,
  }),
];

/** Resources by group/version/plural, with lookups by kind for admission and GC. */
export class Registry {
  private readonly byKey = new Map<string, ResourceDef>();

  constructor(defs: ResourceDef[] = BUILTIN_RESOURCES) {
    for (const d of defs) this.add(d);
  }

  add(d: ResourceDef): void {
    this.byKey.set(`${d.group}/${d.version}/${d.plural}`, d);
  }

  remove(group: string, version: string, plural: string): void {
    this.byKey.delete(`${group}/${version}/${plural}`);
  }

  get(group: string, version: string, plural: string): ResourceDef | undefined {
    return this.byKey.get(`${group}/${version}/${plural}`);
  }

  byKind(apiVersion: string, kind: string): ResourceDef | undefined {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/", 2) : ["", apiVersion];
    for (const d of this.byKey.values()) {
      if (d.group === group && d.version === version && d.kind === kind) return d;
    }
    return undefined;
  }

  /** The resource stored under a key (`pods`, `deployments.apps`). */
  byResourceKey(key: string): ResourceDef | undefined {
    for (const d of this.byKey.values()) if (resourceKey(d) === key) return d;
    return undefined;
  }

  all(): ResourceDef[] {
    return [...this.byKey.values()];
  }

  /** group → versions served, in registration order (core group is ""). */
  groups(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const d of this.byKey.values()) {
      const vs = m.get(d.group) ?? [];
      if (!vs.includes(d.version)) vs.push(d.version);
      m.set(d.group, vs);
    }
    return m;
  }

  inGroupVersion(group: string, version: string): ResourceDef[] {
    return this.all().filter((d) => d.group === group && d.version === version);
  }
}
