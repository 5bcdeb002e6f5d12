// AzureIdentity: type 0 (user-assigned managed identity), 1 (service principal + secret),
// 2 (service principal + certificate).
import { Errors, GUID, describe, getField, readObject, readString, readTop, type Obj } from "./read.ts";
import { TOKEN_SOURCES, type TokenSourceName } from "./constants.ts";
import type { AzureIdentity, IdentityType, Parsed, SecretRef } from "./types.ts";

const GUID_PART = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const RESOURCE_ID = new RegExp(
  `^/subscriptions/(${GUID_PART})/resourcegroups/([^/]+)/providers/Microsoft\\.ManagedIdentity/userAssignedIdentities/([^/]+)$`,
  "i",
);
const RESOURCE_ID_FORM =
  "/subscriptions/<subscription GUID>/resourcegroups/<resource group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>";

/** A resource ID's comparison key: Azure resource IDs are case-insensitive. */
export const resourceIdKey = (resourceID: string): string => resourceID.trim().replace(/\/+$/, "").toLowerCase();

/** The parts of a user-assigned identity's resource ID, or undefined when it is not one. */
export function parseResourceId(
  resourceID: string,
): { subscriptionId: string; resourceGroup: string; name: string } | undefined {
  const m = RESOURCE_ID.exec(resourceID.trim().replace(/\/+$/, ""));
  if (m === null) return undefined;
  return { subscriptionId: m[1]!.toLowerCase(), resourceGroup: m[2]!, name: m[3]! };
}

function readType(spec: Obj, errs: Errors): IdentityType {
  const v = getField(spec, "type");
  // Go's zero value: AAD Pod Identity treated a missing type as 0.
  if (v === undefined || v === null) return 0;
  const n = typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (n === 0 || n === 1 || n === 2) return n;
  errs.add(
    "spec.type",
    `expected 0 (user-assigned identity), 1 (service principal with secret) or 2 (service principal with certificate), got ${describe(v)}`,
  );
  return 0;
}

function readGuid(spec: Obj, name: string, errs: Errors, required: boolean): string | undefined {
  const v = readString(spec, name, `spec.${name}`, errs, required);
  if (v === undefined) return undefined;
  if (!GUID.test(v)) {
    errs.add(`spec.${name}`, `expected a GUID like 00000000-0000-0000-0000-000000000000, got "${v}"`);
    return undefined;
  }
  return v.toLowerCase();
}

function readSecretRef(spec: Obj, defaultNamespace: string | undefined, errs: Errors): SecretRef | undefined {
  const ref = readObject(spec, "ClientPassword", "spec.ClientPassword", errs, true);
  if (ref === undefined) return undefined;
  const name = readString(ref, "name", "spec.ClientPassword.name", errs, true);
  const namespace = readString(ref, "namespace", "spec.ClientPassword.namespace", errs, false) ?? defaultNamespace;
  if (name === undefined) return undefined;
  if (namespace === undefined) {
    errs.add("spec.ClientPassword.namespace", "is required (the identity has no namespace to default to)");
    return undefined;
  }
  return { name, namespace };
}

function readTokenSource(spec: Obj, type: IdentityType, errs: Errors): TokenSourceName | undefined {
  const v = getField(spec, "tokenSource");
  if (v === undefined || v === null || v === "") return undefined;
  const found = TOKEN_SOURCES.find((s) => s === v);
  if (found === undefined) {
    errs.add("spec.tokenSource", `expected ${TOKEN_SOURCES.join(" or ")}, got ${describe(v)}`);
    return undefined;
  }
  if (type !== 0) {
    errs.add(
      "spec.tokenSource",
      `applies to type 0 (user-assigned identities) only; a service principal uses its Secret`,
    );
    return undefined;
  }
  return found;
}

/** Where a user-assigned identity's tokens come from: its own choice, else the cluster's default. */
export function tokenSourceOf(identity: AzureIdentity, clusterDefault: TokenSourceName): TokenSourceName | undefined {
  if (identity.type !== 0) return undefined;
  return identity.tokenSource ?? clusterDefault;
}

export function parseAzureIdentity(obj: unknown): Parsed<AzureIdentity> {
  const errs = new Errors();
  const top = readTop(obj, "AzureIdentity", errs);
  if (top === undefined) return { ok: false, errors: errs.list };
  const { meta, spec } = top;
  const type = readType(spec, errs);
  const clientID = readGuid(spec, "ClientID", errs, true) ?? "";
  const value: AzureIdentity = { metadata: meta, type, clientID };
  if (type === 0) {
    const rid = readString(spec, "ResourceID", "spec.ResourceID", errs, true);
    if (rid !== undefined) {
      if (parseResourceId(rid) === undefined) errs.add("spec.ResourceID", `expected ${RESOURCE_ID_FORM}, got "${rid}"`);
      else value.resourceID = rid.replace(/\/+$/, "");
    }
    const source = readTokenSource(spec, type, errs);
    if (source !== undefined) value.tokenSource = source;
  } else {
    const tenantID = readGuid(spec, "TenantID", errs, true);
    if (tenantID !== undefined) value.tenantID = tenantID;
    const ref = readSecretRef(spec, meta.namespace, errs);
    if (ref !== undefined) value.clientPassword = ref;
    readTokenSource(spec, type, errs);
  }
  return errs.result(value);
}
