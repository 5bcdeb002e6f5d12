// Which webhooks a request goes to: rules (operations, groups, versions, resources with
// subresources, scope), namespaceSelector and objectSelector, as the real apiserver decides
// (matchPolicy Exact only: one version per resource is served here). Pure functions.
import { labelSelectorObject } from "../selectors.ts";
import { isRecord, type KObject, type ResourceDef, type UserInfo } from "../types.ts";

export type Operation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT";

export interface AdmissionAttributes {
  def: ResourceDef;
  /** "" for the main resource, else e.g. "status", "binding". */
  subresource: string;
  /** The kind sent in the review (Pod, or Binding for pods/binding...). */
  kind: { group: string; version: string; kind: string };
  operation: Operation;
  namespace: string;
  /** "" when not known yet (generateName creates, in mutating webhooks). */
  name: string;
  object?: KObject;
  oldObject?: KObject;
  dryRun: boolean;
  options: Record<string, unknown>;
  user: UserInfo;
}

/** A webhook of a configuration, as stored (defaults applied on create). */
export interface Webhook {
  name: string;
  configuration: string;
  clientConfig: {
    url?: string;
    caBundle?: string;
    service?: { namespace: string; name: string; path?: string; port?: number };
  };
  rules: Array<{
    operations?: string[];
    apiGroups?: string[];
    apiVersions?: string[];
    resources?: string[];
    scope?: string;
  }>;
  failurePolicy: "Fail" | "Ignore";
  namespaceSelector?: unknown;
  objectSelector?: unknown;
  sideEffects: string;
  timeoutSeconds: number;
  reinvocationPolicy: "Never" | "IfNeeded";
}

const anyOf = (list: string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === "*" || x === v);

export function resourceMatches(patterns: string[] | undefined, plural: string, sub: string): boolean {
  return (patterns ?? []).some((p) => {
    if (p === "*/*") return true;
    const [res, psub] = p.includes("/") ? (p.split("/", 2) as [string, string]) : [p, undefined];
    if (res !== "*" && res !== plural) return false;
    if (psub === undefined) return sub === "";
    return psub === "*" ? sub !== "" : psub === sub;
  });
}

export function ruleMatches(rule: Webhook["rules"][number], a: AdmissionAttributes): boolean {
  if (!anyOf(rule.operations, a.operation)) return false;
  if (!anyOf(rule.apiGroups, a.def.group)) return false;
  if (!anyOf(rule.apiVersions, a.def.version)) return false;
  if (!resourceMatches(rule.resources, a.def.plural, a.subresource)) return false;
  const scope = rule.scope ?? "*";
  if (scope === "Cluster") return !a.def.namespaced;
  if (scope === "Namespaced") return a.def.namespaced;
  return true;
}

/** namespaceSelector: cluster-scoped objects always match; a Namespace matches on its own labels. */
export function namespaceMatches(
  w: Webhook,
  a: AdmissionAttributes,
  nsLabels: Record<string, string> | undefined,
): boolean {
  const isNamespace = a.def.group === "" && a.def.plural === "namespaces";
  if (!a.def.namespaced && !isNamespace) return true;
  const labels = isNamespace ? (a.object ?? a.oldObject)?.metadata.labels : nsLabels;
  return labelSelectorObject(w.namespaceSelector ?? {})(labels ?? {});
}

export function objectMatches(w: Webhook, a: AdmissionAttributes): boolean {
  const pred = labelSelectorObject(w.objectSelector ?? {});
  return [a.object, a.oldObject].some((o) => o !== undefined && pred(o.metadata.labels ?? {}));
}

export function webhookMatches(
  w: Webhook,
  a: AdmissionAttributes,
  nsLabels: Record<string, string> | undefined,
): boolean {
  return w.rules.some((r) => ruleMatches(r, a)) && namespaceMatches(w, a, nsLabels) && objectMatches(w, a);
}

/** The webhooks of stored configurations, in the order the apiserver calls them (by configuration name). */
export function webhooksOf(configs: KObject[]): Webhook[] {
  const sorted = [...configs].sort((x, y) => (x.metadata.name! < y.metadata.name! ? -1 : 1));
  const out: Webhook[] = [];
  for (const c of sorted) {
    if (!Array.isArray(c.webhooks)) continue;
    for (const w of c.webhooks) {
      if (!isRecord(w)) continue;
      out.push({
        ...(w as unknown as Webhook),
        configuration: c.metadata.name!,
        rules: Array.isArray(w.rules) ? (w.rules as Webhook["rules"]) : [],
      });
    }
  }
  return out;
}
