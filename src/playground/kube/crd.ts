// CustomResourceDefinitions: the checks the real server makes when one is created (names, the
// protected `*.k8s.io` group approval rule), the resource it then serves, and what its schema
// does to custom objects (defaults, pruning of undeclared fields, type/required/enum checks).
import { DEFAULT_COLUMNS } from "./columns.ts";
import type { FieldError } from "./status.ts";
import { getPath, isRecord, text, type KObject, type PrinterColumn, type ResourceDef } from "./types.ts";

export const APPROVAL_ANNOTATION = "api-approved.kubernetes.io";
const APPROVAL_LINK = "see https://github.com/kubernetes/enhancements/pull/1111";

export function isProtectedGroup(group: string): boolean {
  return (
    group === "k8s.io" || group.endsWith(".k8s.io") || group === "kubernetes.io" || group.endsWith(".kubernetes.io")
  );
}

function validateVersions(versions: unknown): FieldError[] {
  if (!Array.isArray(versions) || versions.length === 0) {
    return [
      {
        field: "spec.versions",
        type: "FieldValueInvalid",
        detail: "Invalid value: null: must have exactly one version marked as storage version",
      },
    ];
  }
  const list = versions as unknown[];
  if (list.filter((v) => isRecord(v) && v.storage === true).length !== 1) {
    return [
      {
        field: "spec.versions",
        type: "FieldValueInvalid",
        detail: `Invalid value: ${JSON.stringify(list.map((v) => (isRecord(v) ? v.name : v)))}: must have exactly one version marked as storage version`,
      },
    ];
  }
  return [];
}

/** Validation of a CRD object (422 causes), including the protected-group approval rule. */
export function validateCrd(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const group = getPath(o, "spec.group");
  const plural = getPath(o, "spec.names.plural");
  const kind = getPath(o, "spec.names.kind");
  if (typeof group !== "string" || group === "")
    errs.push({ field: "spec.group", type: "FieldValueRequired", detail: "Required value" });
  if (typeof plural !== "string" || plural === "")
    errs.push({ field: "spec.names.plural", type: "FieldValueRequired", detail: "Required value" });
  if (typeof kind !== "string" || kind === "")
    errs.push({ field: "spec.names.kind", type: "FieldValueRequired", detail: "Required value" });
  if (typeof group === "string" && typeof plural === "string" && o.metadata.name !== `${plural}.${group}`) {
    errs.push({
      field: "metadata.name",
      type: "FieldValueInvalid",
      detail: `Invalid value: "${o.metadata.name}": must be spec.names.plural+"."+spec.group`,
    });
  }
  const scope = getPath(o, "spec.scope");
  if (scope !== "Namespaced" && scope !== "Cluster") {
    errs.push({
      field: "spec.scope",
      type: "FieldValueNotSupported",
      detail: `Unsupported value: "${text(scope)}": supported values: "Cluster", "Namespaced"`,
    });
  }
  errs.push(...validateVersions(getPath(o, "spec.versions")));
  if (
    typeof group === "string" &&
    isProtectedGroup(group) &&
    (o.metadata.annotations?.[APPROVAL_ANNOTATION] ?? "") === ""
  ) {
    errs.push({
      field: `metadata.annotations[${APPROVAL_ANNOTATION}]`,
      type: "FieldValueRequired",
      detail: `Required value: protected groups must have approval annotation "${APPROVAL_ANNOTATION}", ${APPROVAL_LINK}`,
    });
  }
  return errs;
}

function printerColumns(v: Record<string, unknown>): PrinterColumn[] {
  const cols = v.additionalPrinterColumns;
  if (!Array.isArray(cols) || cols.length === 0) return DEFAULT_COLUMNS;
  return cols.filter(isRecord).map((c) => ({
    name: String(c.name),
    type: typeof c.type === "string" ? c.type : "string",
    format: typeof c.format === "string" ? c.format : "",
    description: typeof c.description === "string" ? c.description : "",
    priority: typeof c.priority === "number" ? c.priority : 0,
    jsonPath: text(c.jsonPath),
  }));
}

/** The resources a (valid) CRD serves: one per served version. */
export function crdResources(o: KObject): ResourceDef[] {
  const spec = o.spec as Record<string, unknown>;
  const names = spec.names as Record<string, unknown>;
  const versions = (spec.versions as unknown[]).filter(isRecord).filter((v) => v.served !== false);
  return versions.map((v) => ({
    group: String(spec.group),
    version: String(v.name),
    kind: String(names.kind),
    listKind: typeof names.listKind === "string" ? names.listKind : `${String(names.kind)}List`,
    plural: String(names.plural),
    singular: typeof names.singular === "string" ? names.singular : String(names.kind).toLowerCase(),
    namespaced: spec.scope === "Namespaced",
    shortNames: Array.isArray(names.shortNames) ? names.shortNames.map(String) : [],
    categories: Array.isArray(names.categories) ? names.categories.map(String) : [],
    subresources: isRecord(v.subresources) && isRecord(v.subresources.status) ? ["status"] : [],
    verbs: ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
    generation: true,
    requireResourceVersionOnUpdate: true,
    dnsLabelNames: false,
    strategicMerge: false,
    printerColumns: printerColumns(v),
    schema: isRecord(v.schema) ? v.schema.openAPIV3Schema : undefined,
    crdName: o.metadata.name,
  }));
}

/** Status the CRD controllers set once a CRD's names are accepted. */
export function crdStatus(o: KObject, now: string): Record<string, unknown> {
  const spec = o.spec as Record<string, unknown>;
  const cond = (type: string, status: string, reason: string, message: string): Record<string, unknown> => ({
    type,
    status,
    lastTransitionTime: now,
    reason,
    message,
  });
  const conditions = [
    cond("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
    cond("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
  ];
  const group = String(spec.group);
  if (isProtectedGroup(group)) {
    const value = o.metadata.annotations?.[APPROVAL_ANNOTATION] ?? "";
    const approved = /^https?:\/\//.test(value);
    conditions.push(
      approved
        ? cond("KubernetesAPIApprovalPolicyConformant", "True", "ApprovedAnnotation", `approved in ${value}`)
        : cond(
            "KubernetesAPIApprovalPolicyConformant",
            "False",
            "UnapprovedAnnotation",
            `protected groups must have approval annotation "${APPROVAL_ANNOTATION}" with either a URL or a reason starting with "unapproved", ${APPROVAL_LINK}`,
          ),
    );
  }
  const versions = (spec.versions as unknown[]).filter(isRecord);
  return {
    conditions,
    acceptedNames: spec.names,
    storedVersions: versions.filter((v) => v.storage === true).map((v) => v.name),
  };
}

export interface SchemaOutcome {
  /** Fields not declared in the schema (pruned), as `spec.foo`. */
  unknown: string[];
  errors: FieldError[];
}

const typeOk = (type: unknown, v: unknown): boolean => {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number";
    case "boolean":
      return typeof v === "boolean";
    case "object":
      return isRecord(v);
    case "array":
      return Array.isArray(v);
    default:
      return true;
  }
};

const goType = (v: unknown): string =>
  Array.isArray(v)
    ? "array"
    : v === null
      ? "null"
      : typeof v === "number"
        ? Number.isInteger(v)
          ? "integer"
          : "number"
        : typeof v === "object"
          ? "object"
          : typeof v;

/** A number outside the schema's minimum/maximum, in the apiserver's words (`... in body should be less than or equal to 2`). */
function checkBounds(schema: Record<string, unknown>, value: unknown, path: string, out: SchemaOutcome): void {
  if (typeof value !== "number") return;
  const fail = (should: string): void =>
    void out.errors.push({
      field: path,
      type: "FieldValueInvalid",
      detail: `Invalid value: ${value}: ${path} in body should be ${should}`,
    });
  const { maximum, minimum } = schema;
  if (typeof maximum === "number") {
    const exclusive = schema.exclusiveMaximum === true;
    if (exclusive ? value >= maximum : value > maximum)
      fail(`${exclusive ? "less than" : "less than or equal to"} ${maximum}`);
  }
  if (typeof minimum === "number") {
    const exclusive = schema.exclusiveMinimum === true;
    if (exclusive ? value <= minimum : value < minimum)
      fail(`${exclusive ? "greater than" : "greater than or equal to"} ${minimum}`);
  }
}

/**
 * Walks a value against a structural schema: fills defaults, prunes undeclared fields, and
 * collects type, required, enum and minimum/maximum errors (not pattern or lengths: podid's
 * CRDs use none). Mutates `value` in place (it is a private copy).
 */
function checkScalar(schema: Record<string, unknown>, value: unknown, path: string, out: SchemaOutcome): boolean {
  if (schema.type !== undefined && !typeOk(schema.type, value) && schema["x-kubernetes-int-or-string"] !== true) {
    out.errors.push({
      field: path,
      type: "FieldValueInvalid",
      detail: `Invalid value: "${goType(value)}": ${path} in body must be of type ${text(schema.type)}: "${goType(value)}"`,
    });
    return false;
  }
  if (Array.isArray(schema.enum) && !(schema.enum as unknown[]).includes(value)) {
    out.errors.push({
      field: path,
      type: "FieldValueNotSupported",
      detail: `Unsupported value: ${JSON.stringify(value)}: supported values: ${(schema.enum as unknown[]).map((e) => JSON.stringify(e)).join(", ")}`,
    });
  }
  checkBounds(schema, value, path, out);
  return true;
}

function walk(schema: unknown, value: unknown, path: string, out: SchemaOutcome): void {
  if (!isRecord(schema) || value === undefined || value === null) return;
  if (!checkScalar(schema, value, path, out)) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(schema.items, item, `${path}[${i}]`, out));
    return;
  }
  if (isRecord(value)) walkObject(schema, value, path, out);
}

function walkObject(
  schema: Record<string, unknown>,
  value: Record<string, unknown>,
  path: string,
  out: SchemaOutcome,
): void {
  const props = isRecord(schema.properties) ? schema.properties : undefined;
  for (const [k, s] of Object.entries(props ?? {})) {
    if (value[k] === undefined && isRecord(s) && s.default !== undefined) value[k] = structuredClone(s.default);
  }
  for (const k of Object.keys(value)) {
    const sub = props?.[k] ?? (isRecord(schema.additionalProperties) ? schema.additionalProperties : undefined);
    const childPath = path === "" ? k : `${path}.${k}`;
    if (
      sub === undefined &&
      props !== undefined &&
      schema["x-kubernetes-preserve-unknown-fields"] !== true &&
      schema.additionalProperties !== true
    ) {
      out.unknown.push(childPath);
      delete value[k];
      continue;
    }
    walk(sub, value[k], childPath, out);
  }
  if (Array.isArray(schema.required)) {
    for (const r of schema.required)
      if (value[String(r)] === undefined)
        out.errors.push({
          field: path === "" ? String(r) : `${path}.${String(r)}`,
          type: "FieldValueRequired",
          detail: "Required value",
        });
  }
}

/** Applies a custom resource's schema to an object (apiVersion, kind and metadata are never pruned). */
export function applySchema(schema: unknown, o: KObject): SchemaOutcome {
  const out: SchemaOutcome = { unknown: [], errors: [] };
  if (!isRecord(schema)) return out;
  const { apiVersion, kind, metadata, ...rest } = o;
  const body: Record<string, unknown> = rest;
  walk(
    {
      ...schema,
      properties: { ...(isRecord(schema.properties) ? schema.properties : {}), apiVersion: {}, kind: {}, metadata: {} },
    },
    body,
    "",
    out,
  );
  for (const k of Object.keys(o)) if (!["apiVersion", "kind", "metadata"].includes(k)) delete o[k];
  Object.assign(o, body, { apiVersion, kind, metadata });
  return out;
}
