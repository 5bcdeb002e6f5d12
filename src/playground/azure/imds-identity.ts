// Which identity an IMDS token request gets, decided purely from the identities the node's VM
// (or uniform scale set) has at that moment and the request's selector. Without a selector
// IMDS picks the system-assigned identity, else the only user-assigned one.
import { idKey } from "./ids.ts";
import type { TokenSubject } from "./tokens.ts";

export interface NodeIdentities {
  system?: { clientId: string; principalId: string; resourceId: string };
  user: Array<{ id: string; clientId: string; principalId: string }>;
}

export interface ImdsSelector {
  clientId?: string;
  objectId?: string;
  resourceId?: string;
}

export type ImdsIdentityResult = { ok: true; subject: TokenSubject } | { ok: false; description: string };

export const IDENTITY_NOT_FOUND = "Identity not found";
export const MULTIPLE_IDENTITIES =
  "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request";

/** xms_mirid as Entra writes it: `resourcegroups` in lower case. */
const mirid = (id: string): string => id.replace(/\/resourceGroups\//i, "/resourcegroups/");

export function resolveImdsIdentity(ids: NodeIdentities, sel: ImdsSelector): ImdsIdentityResult {
  const asUser = (u: NodeIdentities["user"][number]): ImdsIdentityResult => ({
    ok: true,
    subject: { clientId: u.clientId, objectId: u.principalId, resourceId: mirid(u.id), authMethod: "2" },
  });
  const selectors = [sel.clientId, sel.objectId, sel.resourceId].filter((s) => s !== undefined && s !== "");
  if (selectors.length > 1)
    return { ok: false, description: "Only one of client_id, object_id or msi_res_id may be specified" };
  if (sel.clientId) {
    const want = sel.clientId.toLowerCase();
    if (ids.system?.clientId.toLowerCase() === want) return systemSubject(ids.system);
    const u = ids.user.find((x) => x.clientId.toLowerCase() === want);
    return u ? asUser(u) : { ok: false, description: IDENTITY_NOT_FOUND };
  }
  if (sel.objectId) {
    const want = sel.objectId.toLowerCase();
    if (ids.system?.principalId.toLowerCase() === want) return systemSubject(ids.system);
    const u = ids.user.find((x) => x.principalId.toLowerCase() === want);
    return u ? asUser(u) : { ok: false, description: IDENTITY_NOT_FOUND };
  }
  if (sel.resourceId) {
    const want = idKey(sel.resourceId);
    const u = ids.user.find((x) => idKey(x.id) === want);
    return u ? asUser(u) : { ok: false, description: IDENTITY_NOT_FOUND };
  }
  if (ids.system) return systemSubject(ids.system);
  if (ids.user.length === 1) return asUser(ids.user[0]!);
  return { ok: false, description: ids.user.length === 0 ? IDENTITY_NOT_FOUND : MULTIPLE_IDENTITIES };
}

function systemSubject(s: NonNullable<NodeIdentities["system"]>): ImdsIdentityResult {
  return {
    ok: true,
    subject: { clientId: s.clientId, objectId: s.principalId, resourceId: mirid(s.resourceId), authMethod: "2" },
  };
}
