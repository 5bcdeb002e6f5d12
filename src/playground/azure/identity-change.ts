// The identity part of a PUT or PATCH on a VM or scale set, decided purely: from the resource's
// current identities and the request's `identity` object to the next identities or ARM's error.
// PATCH merges (`null` removes one, `{}` adds one, unnamed ones stay); PUT replaces. The type
// follows the request when given, else what remains; `UserAssigned` with nothing left is refused,
// so a client must send `None` (or `SystemAssigned`) when the last user-assigned identity goes.
import { armErrors, type ArmError } from "./arm-errors.ts";
import { idKey } from "./ids.ts";
import { IDENTITY_TYPES, type IdentityType } from "./names.ts";

export interface AssignedIdentities {
  system: boolean;
  /** Canonical resource IDs of the assigned user-assigned identities, in assignment order. */
  userAssigned: string[];
}

export interface IdentityChangeInput {
  current: AssignedIdentities;
  /** The request body's `identity` value, untouched (undefined when absent). */
  request: unknown;
  mode: "put" | "patch";
  /** The resource being changed, for error messages. */
  resourceId: string;
  /** Canonical ID of an existing identity, or undefined when no such identity exists. */
  lookupIdentity: (id: string) => string | undefined;
  /** Whether to refuse references to identities that do not exist (a switchable fault). */
  checkExistence: boolean;
  /** Per-request limit on identities (undefined: no limit). */
  limit: number | undefined;
}

export type IdentityChange = { ok: true; next: AssignedIdentities } | { ok: false; error: ArmError };

const TYPE_BY_NORMALISED = new Map<string, IdentityType>(
  Object.values(IDENTITY_TYPES).map((t) => [t.replace(/\s+/g, "").toLowerCase(), t]),
);

/** The identity type a set of identities has. */
export function identityTypeOf(ids: AssignedIdentities): IdentityType {
  if (ids.system) return ids.userAssigned.length > 0 ? IDENTITY_TYPES.both : IDENTITY_TYPES.system;
  return ids.userAssigned.length > 0 ? IDENTITY_TYPES.user : IDENTITY_TYPES.none;
}

interface ParsedRequest {
  type: IdentityType | undefined;
  entries: Array<[string, "add" | "remove"]>;
}

function parseRequest(request: unknown): ParsedRequest | ArmError {
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    return armErrors.invalidBody("identity must be an object", "identity");
  }
  const r = request as Record<string, unknown>;
  let type: IdentityType | undefined;
  if (r.type !== undefined && r.type !== null) {
    type = typeof r.type === "string" ? TYPE_BY_NORMALISED.get(r.type.replace(/\s+/g, "").toLowerCase()) : undefined;
    if (type === undefined) {
      return armErrors.invalidParameter(
        `The value ${JSON.stringify(r.type)} of parameter 'identity.type' is invalid. Expected one ` +
          `of ${Object.values(IDENTITY_TYPES).join(", ")}.`,
        "identity.type",
      );
    }
  }
  const uai = r.userAssignedIdentities;
  const entries: Array<[string, "add" | "remove"]> = [];
  if (uai !== undefined && uai !== null) {
    if (typeof uai !== "object" || Array.isArray(uai)) {
      return armErrors.invalidBody(
        "identity.userAssignedIdentities must be an object keyed by identity resource ID",
        "identity.userAssignedIdentities",
      );
    }
    for (const [id, value] of Object.entries(uai as Record<string, unknown>)) {
      if (value !== null && (typeof value !== "object" || Array.isArray(value))) {
        return armErrors.invalidBody(
          `identity.userAssignedIdentities['${id}'] must be an object or null`,
          "identity.userAssignedIdentities",
        );
      }
      entries.push([id, value === null ? "remove" : "add"]);
    }
  }
  return { type, entries };
}

function hasUserType(type: IdentityType): boolean {
  return type === IDENTITY_TYPES.user || type === IDENTITY_TYPES.both;
}

function hasSystemType(type: IdentityType): boolean {
  return type === IDENTITY_TYPES.system || type === IDENTITY_TYPES.both;
}

/** Checks the request's references: the per-request limit, then that each added identity exists. */
function checkReferences(input: IdentityChangeInput, parsed: ParsedRequest): Map<string, string> | ArmError {
  if (input.limit !== undefined && parsed.entries.length > input.limit) {
    return armErrors.tooManyIdentities(input.resourceId, parsed.entries.length, input.limit);
  }
  const canonical = new Map<string, string>();
  for (const [id, op] of parsed.entries) {
    if (op === "remove") continue;
    const found = input.lookupIdentity(id);
    if (found === undefined && input.checkExistence) return armErrors.identityNotFound(input.resourceId, id);
    canonical.set(idKey(id), found ?? id);
  }
  return canonical;
}

export function decideIdentityChange(input: IdentityChangeInput): IdentityChange {
  if (input.request === undefined) return { ok: true, next: input.current };
  const parsed = parseRequest(input.request);
  if ("status" in parsed) return { ok: false, error: parsed };
  const canonical = checkReferences(input, parsed);
  if (!(canonical instanceof Map)) return { ok: false, error: canonical };

  const type = parsed.type;
  const adds = parsed.entries.some(([, op]) => op === "add");
  if (type !== undefined && !hasUserType(type) && adds) {
    return {
      ok: false,
      error: armErrors.invalidParameter(
        `The identity type '${type}' does not allow user assigned identities; use '${IDENTITY_TYPES.user}' or '${IDENTITY_TYPES.both}'.`,
        "identity.userAssignedIdentities",
      ),
    };
  }
  const keepExisting = input.mode === "patch" && (type === undefined || hasUserType(type));
  const users = new Map<string, string>(keepExisting ? input.current.userAssigned.map((id) => [idKey(id), id]) : []);
  for (const [id, op] of parsed.entries) {
    const key = idKey(id);
    if (op === "remove") users.delete(key);
    else if (!users.has(key)) users.set(key, canonical.get(key) ?? id);
  }
  if (type !== undefined && hasUserType(type) && users.size === 0) {
    return {
      ok: false,
      error: armErrors.invalidParameter(
        `The identity ids must not be null or empty for '${IDENTITY_TYPES.user}' identity type.`,
        "identity.userAssignedIdentities",
      ),
    };
  }
  const system = type === undefined ? input.current.system : hasSystemType(type);
  return { ok: true, next: { system, userAssigned: [...users.values()] } };
}
