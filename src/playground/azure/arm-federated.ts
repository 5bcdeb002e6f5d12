// Resource Manager's federated identity credentials under a user-assigned identity
// (`.../userAssignedIdentities/{identity}/federatedIdentityCredentials[/{name}]`), as
// @azure/arm-msi's FederatedIdentityCredentials operations call them: PUT createOrUpdate, GET,
// LIST and DELETE, the body `{ properties: { issuer, subject, audiences } }`. What Azure enforces
// is enforced here: 20 credentials per identity, one write at a time per identity (409
// otherwise), an https issuer, a subject, audiences, and one credential per issuer and subject.
import { armErrors, type ArmError } from "./arm-errors.ts";
import type { ArmRoute } from "./arm-routes.ts";
import type { ArmState, FederatedCredentialRecord, IdentityRecord } from "./arm-state.ts";
import type { Faults } from "./faults.ts";
import { identityId, idKey } from "./ids.ts";
import { FEDERATED_CREDENTIALS, RESOURCE_TYPES } from "./names.ts";

export type FederatedRoute = Extract<ArmRoute, { kind: "federatedCredentials" }>;

export interface FederatedReply {
  status: number;
  body: unknown;
}

export interface FederatedDeps {
  state: ArmState;
  faults: Faults;
  /** How long a write holds its identity (default FEDERATED_CREDENTIALS.writeMs). */
  writeMs?: number;
  /** The caller's application and object IDs, for a 403's message. */
  caller?: () => { appId: string; oid: string };
}

/** Identities (idKey) with a credential write in progress, per stand-in. */
const writing = new WeakMap<ArmState, Set<string>>();

const fromError = (e: ArmError): FederatedReply => ({ status: e.status, body: e.body });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function credentialId(identityResourceId: string, name: string): string {
  return `${identityResourceId}/federatedIdentityCredentials/${name}`;
}

export function renderFederatedCredential(c: FederatedCredentialRecord): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    type: RESOURCE_TYPES.federatedCredential,
    properties: { issuer: c.issuer, subject: c.subject, audiences: [...c.audiences] },
  };
}

/** The `properties` of a PUT, checked as Azure checks them; an error names the property. */
export function parseCredentialBody(
  body: unknown,
):
  | { ok: true; value: Pick<FederatedCredentialRecord, "issuer" | "subject" | "audiences"> }
  | { ok: false; error: ArmError } {
  const bad = (property: string, message: string) =>
    ({ ok: false, error: armErrors.invalidCredential(property, message) }) as const;
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return { ok: false, error: armErrors.invalidBody("the body must be a JSON object") };
  const props = (body as { properties?: unknown }).properties;
  if (typeof props !== "object" || props === null || Array.isArray(props))
    return { ok: false, error: armErrors.invalidBody("'properties' must be an object", "properties") };
  const { issuer, subject, audiences } = props as Record<string, unknown>;
  if (typeof issuer !== "string" || issuer === "") return bad("issuer", "The issuer is required.");
  let url: URL | undefined;
  try {
    url = new URL(issuer);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== "https:") return bad("issuer", `The issuer '${issuer}' is invalid: it must be an https URL.`);
  if (typeof subject !== "string" || subject.trim() === "") return bad("subject", "The subject is required.");
  if (!Array.isArray(audiences) || audiences.length === 0)
    return bad("audiences", "At least one audience is required (usually api://AzureADTokenExchange).");
  if (!audiences.every((a): a is string => typeof a === "string" && a !== ""))
    return bad("audiences", "Every audience must be a non-empty string.");
  return { ok: true, value: { issuer, subject, audiences } };
}

/** Answers one call under `federatedIdentityCredentials`; writes are asynchronous (they hold the identity). */
export function federatedCredentials(
  deps: FederatedDeps,
  method: string,
  body: unknown,
  route: FederatedRoute,
): FederatedReply | Promise<FederatedReply> {
  const { state } = deps;
  const identity = state.lookupIdentity(identityId(route.sub, route.rg, route.identity));
  if (!identity) return fromError(armErrors.resourceNotFound(RESOURCE_TYPES.identity, route.identity, route.rg));
  const key = idKey(identity.id);
  const creds = state.federatedCredentials.get(key) ?? new Map<string, FederatedCredentialRecord>();
  if (route.name === undefined) {
    if (method !== "GET") return fromError(armErrors.methodNotAllowed(method));
    return { status: 200, body: { value: [...creds.values()].map(renderFederatedCredential) } };
  }
  const name = route.name;
  const current = creds.get(name.toLowerCase());
  if (method === "GET") {
    return current
      ? { status: 200, body: renderFederatedCredential(current) }
      : fromError(
          armErrors.resourceNotFound(
            `${RESOURCE_TYPES.identity}/${identity.name}/federatedIdentityCredentials`,
            name,
            identity.resourceGroup,
          ),
        );
  }
  if (method !== "PUT" && method !== "DELETE") return fromError(armErrors.methodNotAllowed(method));
  if (deps.faults.unwritableCredentials.has(key)) {
    const who = deps.caller?.() ?? { appId: "", oid: "" };
    const action = `${RESOURCE_TYPES.federatedCredential}/${method === "PUT" ? "write" : "delete"}`;
    return fromError(armErrors.authorizationFailed(who.appId, who.oid, action, credentialId(identity.id, name)));
  }
  const at = { deps, key, identity, creds, name, current };
  const change = method === "DELETE" ? deleteChange(at) : putChange(at, body);
  if (!("apply" in change)) return change;
  return write(deps, key, identity.id, change.apply);
}

interface Addressed {
  deps: FederatedDeps;
  key: string;
  identity: IdentityRecord;
  creds: Map<string, FederatedCredentialRecord>;
  name: string;
  current: FederatedCredentialRecord | undefined;
}

type Change = { apply: () => FederatedReply } | FederatedReply;

function deleteChange({ deps, key, creds, name, current }: Addressed): Change {
  // Resource Manager answers 204 for a DELETE of what does not exist (its RPC's rule).
  if (!current) return { status: 204, body: null };
  return {
    apply: () => {
      creds.delete(name.toLowerCase());
      if (creds.size === 0) deps.state.federatedCredentials.delete(key);
      return { status: 200, body: null };
    },
  };
}

/** Checks a PUT as Azure does (name, body, issuer and subject unique, the limit); the change applies it. */
function putChange({ deps, key, identity, creds, name, current }: Addressed, body: unknown): Change {
  if (!FEDERATED_CREDENTIALS.namePattern.test(name))
    return fromError(
      armErrors.invalidParameter(
        `The federated identity credential name '${name}' is invalid: 3-120 letters, digits, '-' or '_', ` +
          `starting with a letter or digit.`,
        "name",
      ),
    );
  const parsed = parseCredentialBody(body);
  if (!parsed.ok) return fromError(parsed.error);
  const v = parsed.value;
  const clash = [...creds.values()].some(
    (c) => c.name.toLowerCase() !== name.toLowerCase() && c.issuer === v.issuer && c.subject === v.subject,
  );
  if (clash) return fromError(armErrors.duplicateIssuerSubject());
  if (!current && deps.faults.federatedCredentialLimit && creds.size >= FEDERATED_CREDENTIALS.perIdentity)
    return fromError(armErrors.tooManyCredentials(identity.id, FEDERATED_CREDENTIALS.perIdentity));
  return {
    apply: () => {
      const rec: FederatedCredentialRecord = {
        id: credentialId(identity.id, current?.name ?? name),
        name: current?.name ?? name,
        issuer: v.issuer,
        subject: v.subject,
        audiences: [...v.audiences],
      };
      creds.set(name.toLowerCase(), rec);
      deps.state.federatedCredentials.set(key, creds);
      return { status: current ? 200 : 201, body: renderFederatedCredential(rec) };
    },
  };
}

/** Holds the identity for the write's duration; a second write meanwhile is refused, as Azure does. */
async function write(
  deps: FederatedDeps,
  key: string,
  identityResourceId: string,
  change: () => FederatedReply,
): Promise<FederatedReply> {
  let held = writing.get(deps.state);
  if (!held) writing.set(deps.state, (held = new Set()));
  if (held.has(key) && deps.faults.federatedConflicts)
    return fromError(armErrors.concurrentCredentialWrites(identityResourceId));
  held.add(key);
  try {
    const ms = deps.writeMs ?? FEDERATED_CREDENTIALS.writeMs;
    if (ms > 0) await sleep(ms);
    return change();
  } finally {
    held.delete(key);
  }
}
