// Server-side Tables (meta.k8s.io/v1), which `kubectl get` asks for: a Name column, the
// resource's printer columns, and each row's object as PartialObjectMetadata so `-A` and
// `--show-labels` work.
import { age } from "./columns.ts";
import { isRecord, text, type KObject, type PrinterColumn, type ResourceDef } from "./types.ts";

export interface Table {
  kind: "Table";
  apiVersion: "meta.k8s.io/v1";
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: Array<{ name: string; type: string; format: string; description: string; priority: number }>;
  rows: Array<{ cells: unknown[]; object: Record<string, unknown> }>;
}

const NAME_COLUMN = {
  name: "Name",
  type: "string",
  format: "name",
  description:
    "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.",
  priority: 0,
};

/** Evaluates a CRD printer column's JSONPath (`.spec.x`, `.a.b[0].c`, `.a[*].b`). */
export function evalJsonPath(obj: unknown, path: string): unknown {
  const tokens = path
    .replace(/^\{|\}$/g, "")
    .replace(/^\./, "")
    .split(/\.|(?=\[)/)
    .filter((t) => t !== "");
  let cur: unknown[] = [obj];
  for (const t of tokens) {
    const next: unknown[] = [];
    const idx = /^\[(\d+|\*)\]$/.exec(t);
    for (const c of cur) {
      if (idx !== null) {
        if (!Array.isArray(c)) continue;
        if (idx[1] === "*") next.push(...(c as unknown[]));
        else if (c[Number(idx[1])] !== undefined) next.push(c[Number(idx[1])]);
      } else if (isRecord(c) && c[t] !== undefined) {
        next.push(c[t]);
      }
    }
    cur = next;
  }
  if (cur.length === 0) return undefined;
  return cur.length === 1 ? cur[0] : cur.map(text).join(",");
}

function cell(c: PrinterColumn, o: KObject, now: number): unknown {
  const v =
    c.compute !== undefined ? c.compute(o, now) : c.jsonPath !== undefined ? evalJsonPath(o, c.jsonPath) : undefined;
  if (v === undefined || v === null) return null;
  // A custom resource's date columns are shown as ages; built-in date cells are RFC 3339 already.
  if (c.type === "date" && c.jsonPath !== undefined) return age(v, now);
  if (typeof v === "object") return JSON.stringify(v);
  return v;
}

function partialMetadata(o: KObject): Record<string, unknown> {
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

export function toTable(
  def: ResourceDef,
  items: KObject[],
  meta: Table["metadata"],
  now = Date.now(),
  includeObject = true,
): Table {
  const columns = def.printerColumns ?? [];
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: meta,
    columnDefinitions: [
      NAME_COLUMN,
      ...columns.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? "",
        description: c.description ?? "",
        priority: c.priority ?? 0,
      })),
    ],
    rows: items.map((o) => ({
      cells: [o.metadata.name ?? "", ...columns.map((c) => cell(c, o, now))],
      object: includeObject ? partialMetadata(o) : {},
    })),
  };
}

/** Does the Accept header ask for a Table (`application/json;as=Table;v=v1;g=meta.k8s.io`)? */
export function wantsTable(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(",").some((part) => {
    const params = part.split(";").map((p) => p.trim());
    return params.includes("as=Table") && (params.includes("g=meta.k8s.io") || !params.some((p) => p.startsWith("g=")));
  });
}
