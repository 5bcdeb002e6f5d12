// The three patch types kubectl and client-node send: JSON patch (RFC 6902), merge patch
// (RFC 7386) and strategic merge patch (built-in kinds; lists merged by their merge key).
// Pure functions over plain JSON; errors are ApiErrors the client can print.
import fastJsonPatch from "fast-json-patch";
import { ApiError, badRequest, unsupportedMediaType } from "./status.ts";
import { clone, isRecord } from "./types.ts";

const { applyPatch } = fastJsonPatch;

export const PATCH_TYPES = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

/** RFC 7386: objects merge recursively, null removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Lists that strategic merge patches merge by a key rather than replace, by field name. The
 * kinds podid and kubectl patch use these names consistently, so the field name is enough.
 */
const MERGE_KEYS: Record<string, string | ((item: Record<string, unknown>) => string)> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  imagePullSecrets: "name",
  hostAliases: "ip",
  ownerReferences: "uid",
  conditions: "type",
  addresses: "type",
  webhooks: "name",
  secrets: "name",
  resourceClaims: "name",
  topologySpreadConstraints: "topologyKey",
  ports: (item) => ("containerPort" in item ? "containerPort" : "port"),
};
/** Lists of scalars merged as sets. */
const MERGE_PRIMITIVE_LISTS = new Set(["finalizers"]);

const DIRECTIVE_PREFIXES = ["$setElementOrder/", "$retainKeys", "$deleteFromPrimitiveList/"];

function isDirective(k: string): boolean {
  return k === "$patch" || DIRECTIVE_PREFIXES.some((p) => k.startsWith(p));
}

function mergeKeyFor(field: string, sample: Record<string, unknown>): string | undefined {
  const k = MERGE_KEYS[field];
  return typeof k === "function" ? k(sample) : k;
}

function mergeList(field: string, target: unknown, patch: unknown[]): unknown[] {
  if (MERGE_PRIMITIVE_LISTS.has(field)) {
    const out = Array.isArray(target) ? [...(target as unknown[])] : [];
    for (const v of patch) if (!out.includes(v)) out.push(v);
    return out;
  }
  const firstObj = patch.find(isRecord);
  const key = firstObj !== undefined ? mergeKeyFor(field, firstObj) : undefined;
  if (key === undefined || !Array.isArray(target)) {
    return patch.filter((p) => !(isRecord(p) && p.$patch !== undefined)).map((p) => strategicMerge(undefined, p));
  }
  const out: unknown[] = [...(target as unknown[])];
  for (const item of patch) {
    if (!isRecord(item)) continue;
    if (item.$patch === "replace")
      return patch.filter((p) => !(isRecord(p) && p.$patch === "replace")).map((p) => strategicMerge(undefined, p));
    const idx = out.findIndex((t) => isRecord(t) && t[key] === item[key]);
    if (item.$patch === "delete") {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], item);
    else out.push(strategicMerge(undefined, item));
  }
  return out;
}

function deleteFromPrimitiveLists(out: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (!k.startsWith("$deleteFromPrimitiveList/") || !Array.isArray(v)) continue;
    const field = k.slice("$deleteFromPrimitiveList/".length);
    const cur = out[field];
    if (Array.isArray(cur)) out[field] = cur.filter((x) => !v.includes(x));
  }
}

/** Strategic merge patch: merge patch plus keyed list merges and `$patch` directives. */
export function strategicMerge(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  if (patch.$patch === "delete") return undefined;
  const base = patch.$patch === "replace" || !isRecord(target) ? {} : target;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (isDirective(k)) continue;
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      out[k] = mergeList(k, out[k], v);
    } else if (isRecord(v)) {
      const merged = strategicMerge(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = v;
    }
  }
  deleteFromPrimitiveLists(out, patch);
  return out;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  try {
    return applyPatch(clone(target), ops as never, true, false).newDocument;
  } catch (err) {
    const msg = err instanceof Error ? err.message.split("\n")[0]! : String(err);
    throw new ApiError(422, "Invalid", `the server rejected our request due to an error in our request: ${msg}`);
  }
}

/** Applies a PATCH body of the given content type. */
export function applyPatchOfType(
  contentType: string,
  target: unknown,
  body: unknown,
  strategicAllowed: boolean,
): unknown {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  const accepted: string[] = [PATCH_TYPES.json, PATCH_TYPES.merge];
  if (strategicAllowed) accepted.push(PATCH_TYPES.strategic);
  switch (type) {
    case PATCH_TYPES.json:
      return jsonPatch(target, body);
    case PATCH_TYPES.merge:
      if (!isRecord(body)) throw badRequest("the body of the request was not a JSON object");
      return mergePatch(target, body);
    case PATCH_TYPES.strategic:
      if (!strategicAllowed) throw unsupportedMediaType(type, accepted);
      if (!isRecord(body)) throw badRequest("the body of the request was not a JSON object");
      return strategicMerge(target, body);
    default:
      throw unsupportedMediaType(type, accepted);
  }
}
