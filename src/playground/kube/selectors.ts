// Label and field selectors: the query-string forms (`a=b,c in (d,e),!f`, `spec.nodeName=n1`)
// and the metav1.LabelSelector objects webhooks, ReplicaSets and Deployments carry. Parsed
// once per request into predicates; bad input is a 400 naming what is wrong.
import { badRequest } from "./status.ts";
import { getPath, isRecord, text, type KObject } from "./types.ts";

export type Labels = Record<string, string> | undefined;
export type LabelPredicate = (labels: Labels) => boolean;

interface Requirement {
  key: string;
  op: "=" | "!=" | "in" | "notin" | "exists" | "!";
  values: string[];
}

function matches(r: Requirement, labels: Labels): boolean {
  const has = labels !== undefined && Object.hasOwn(labels, r.key);
  const v = has ? labels[r.key] : undefined;
  switch (r.op) {
    case "=":
    case "in":
      return has && r.values.includes(v!);
    case "!=":
    case "notin":
      return !has || !r.values.includes(v!);
    case "exists":
      return has;
    case "!":
      return !has;
  }
}

const all =
  (reqs: Requirement[]): LabelPredicate =>
  (labels) =>
    reqs.every((r) => matches(r, labels));

/** Splits on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

const KEY = String.raw`[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const VALUE = String.raw`([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const keyRe = new RegExp(`^${KEY}$`);
const valueRe = new RegExp(`^${VALUE}$`);

function parseTerm(t: string, selector: string): Requirement {
  let m = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(t);
  if (m !== null) {
    const values = m[3]!.split(",").map((v) => v.trim());
    return check({ key: m[1]!, op: m[2] as "in" | "notin", values }, selector);
  }
  m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(t);
  if (m !== null) return check({ key: m[1]!, op: m[2] === "!=" ? "!=" : "=", values: [m[3]!.trim()] }, selector);
  m = /^!\s*(\S+)$/.exec(t);
  if (m !== null) return check({ key: m[1]!, op: "!", values: [] }, selector);
  return check({ key: t, op: "exists", values: [] }, selector);
}

function check(r: Requirement, selector: string): Requirement {
  if (!keyRe.test(r.key))
    throw badRequest(
      `unable to parse requirement: invalid label key "${r.key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (in label selector "${selector}")`,
    );
  for (const v of r.values) {
    if (!valueRe.test(v) || v.length > 63)
      throw badRequest(
        `unable to parse requirement: values[0]: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
      );
  }
  return r;
}

/** Parses `?labelSelector=`; an empty selector matches everything. */
export function parseLabelSelector(s: string | undefined): LabelPredicate {
  if (s === undefined || s.trim() === "") return () => true;
  return all(splitTerms(s).map((t) => parseTerm(t, s)));
}

/** metav1.LabelSelector: matchLabels AND matchExpressions; `{}` matches everything, null nothing. */
export function labelSelectorObject(sel: unknown): LabelPredicate {
  if (sel === undefined) return () => true;
  if (sel === null || !isRecord(sel)) return () => false;
  const reqs: Requirement[] = [];
  if (isRecord(sel.matchLabels)) {
    for (const [k, v] of Object.entries(sel.matchLabels)) reqs.push({ key: k, op: "=", values: [String(v)] });
  }
  if (Array.isArray(sel.matchExpressions)) {
    for (const e of sel.matchExpressions) {
      if (!isRecord(e) || typeof e.key !== "string") continue;
      const values = Array.isArray(e.values) ? e.values.map(String) : [];
      const op = ({ In: "in", NotIn: "notin", Exists: "exists", DoesNotExist: "!" } as const)[
        String(e.operator) as "In"
      ];
      if (op === undefined) return () => false;
      reqs.push({ key: e.key, op, values });
    }
  }
  return all(reqs);
}

export type FieldPredicate = (obj: KObject) => boolean;

/** Field paths each resource supports in `?fieldSelector=` (the real server refuses others). */
const FIELD_LABELS: Record<string, string[]> = {
  pods: [
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
  ],
  events: [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
  ],
  secrets: ["type"],
  namespaces: ["status.phase"],
  nodes: ["spec.unschedulable"],
  "replicasets.apps": ["status.replicas"],
  "jobs.batch": ["status.successful"],
};

function fieldValue(obj: KObject, field: string): string {
  if (field === "source") return text(getPath(obj, "source.component"));
  if (field === "status.podIPs") {
    const ips = getPath(obj, "status.podIPs");
    return Array.isArray(ips) && isRecord(ips[0]) ? text(ips[0].ip) : "";
  }
  const v = getPath(obj, field);
  if (v === undefined || v === null)
    return field === "spec.hostNetwork" || field === "spec.unschedulable" ? "false" : "";
  return text(v);
}

/** Parses `?fieldSelector=` for a resource (key as in `resourceKey`). */
export function parseFieldSelector(s: string | undefined, resource: string): FieldPredicate {
  if (s === undefined || s.trim() === "") return () => true;
  const allowed = new Set(["metadata.name", "metadata.namespace", ...(FIELD_LABELS[resource] ?? [])]);
  const terms = splitTerms(s).map((t) => {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(t);
    if (m === null) throw badRequest(`invalid selector: '${s}'; can't understand '${t}'`);
    const field = m[1]!.trim();
    if (!allowed.has(field)) throw badRequest(`field label not supported: ${field}`);
    return { field, neg: m[2] === "!=", value: m[3]!.trim() };
  });
  return (obj) => terms.every((t) => (fieldValue(obj, t.field) === t.value) !== t.neg);
}

/** The single value a field selector pins (e.g. `metadata.name=x` → x), for index lookups. */
export function pinnedField(s: string | undefined, field: string): string | undefined {
  if (s === undefined) return undefined;
  for (const t of splitTerms(s)) {
    const m = /^([^=!]+?)\s*(==|=)\s*(.*)$/.exec(t);
    if (m !== null && m[1]!.trim() === field) return m[3]!.trim();
  }
  return undefined;
}
