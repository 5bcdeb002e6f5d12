// The admission mark: an HMAC-SHA256 the webhook writes on every pod it admits with an
// identity, and the NMI checks before serving a token. It covers what the webhook can know
// about every pod, including pods made from generateName (no name, no uid yet): namespace,
// service account, selector, NMI mode and the identities the pod was admitted with (name,
// client ID and resource ID, also listed in the pod's admitted-identities annotation). A pod
// that bypassed admission, or carries a mark copied from another namespace or selector, fails
// the check. Keys rotate: the first key signs, every listed key verifies. Marks of the older
// format (v1, no identity list) still verify against the identities bound now.
// See docs/adr/*admission-mark*.
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { ADMISSION_MARK_VERSION, LEGACY_ADMISSION_MARK_VERSION, type NmiMode } from "../model/constants.ts";
import { resourceIdKey } from "../model/identity.ts";

export interface AdmissionKeys {
  current: Buffer;
  previous: Buffer[];
}

/** An identity as the mark names it. */
export interface MarkIdentity {
  name: string;
  clientID: string;
  /** Managed identities (type 0) only. */
  resourceID?: string;
}

export interface MarkClaims {
  namespace: string;
  serviceAccountName: string;
  selector: string;
  /** The NMI mode the webhook chose; part of v2 marks (a pod cannot switch to being served by address). */
  nmiMode: NmiMode;
  identities: MarkIdentity[];
}

/** The mark's view of an identity. */
export function markIdentity(i: { metadata: { name: string }; clientID: string; resourceID?: string }): MarkIdentity {
  return {
    name: i.metadata.name,
    clientID: i.clientID.toLowerCase(),
    ...(i.resourceID !== undefined ? { resourceID: i.resourceID } : {}),
  };
}

/** The claims of a pod: what the webhook signs at admission and the NMI and doctor verify. */
export function claimsFor(
  namespace: string,
  serviceAccountName: string,
  selector: string,
  identities: ReadonlyArray<{ metadata: { name: string }; clientID: string; resourceID?: string } | MarkIdentity>,
  nmiMode: NmiMode = "daemonset",
): MarkClaims {
  return {
    namespace,
    serviceAccountName,
    selector,
    nmiMode,
    identities: identities.map((i) => ("metadata" in i ? markIdentity(i) : i)),
  };
}

export type MarkCheck = { valid: true } | { valid: false; reason: string };

/** Fewer bytes than this is not a key, it is a password. */
const MIN_KEY_BYTES = 16;

/** Keys from text: one per line (first = current, the rest still verify); blank lines and `#` comments ignored. */
export function parseAdmissionKeys(text: string, source = "admission key file"): AdmissionKeys {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  if (lines.length === 0)
    throw new Error(`${source}: expected at least one key (one per line, the first signs), found none`);
  const keys = lines.map((l, i) => {
    const key = Buffer.from(l, "utf8");
    if (key.length < MIN_KEY_BYTES)
      throw new Error(
        `${source}: key ${i + 1} is ${key.length} bytes; expected at least ${MIN_KEY_BYTES} (e.g. \`openssl rand -base64 32\`)`,
      );
    return key;
  });
  return { current: keys[0]!, previous: keys.slice(1) };
}

export function loadAdmissionKeys(file: string): AdmissionKeys {
  return parseAdmissionKeys(readFileSync(file, "utf8"), file);
}

/** A short public name for a key, so verification picks the right one without trying all. */
const keyIds = new WeakMap<Buffer, string>();
export function keyId(key: Buffer): string {
  let id = keyIds.get(key);
  if (id === undefined)
    keyIds.set(
      key,
      (id = createHash("sha256").update("podid-admission-key").update(key).digest("base64url").slice(0, 8)),
    );
  return id;
}

const byName = (a: readonly string[], b: readonly string[]): number => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
};

/** The identities as sorted tuples: name, lower-cased client ID, resource ID key (empty for service principals). */
function identityTuples(c: MarkClaims, withResourceId: boolean): string[][] {
  return c.identities
    .map((i) => {
      const t = [i.name, i.clientID.toLowerCase()];
      if (withResourceId) t.push(i.resourceID !== undefined ? resourceIdKey(i.resourceID) : "");
      return t;
    })
    .sort(byName);
}

/** The signed bytes: an unambiguous JSON array, identities sorted, service account defaulted as Kubernetes does. */
function canonical(c: MarkClaims, version: string): string {
  const sa = c.serviceAccountName || "default";
  if (version === LEGACY_ADMISSION_MARK_VERSION)
    return JSON.stringify([`podid-admission-mark-${version}`, c.namespace, sa, c.selector, identityTuples(c, false)]);
  return JSON.stringify([
    `podid-admission-mark-${version}`,
    c.namespace,
    sa,
    c.selector,
    c.nmiMode,
    identityTuples(c, true),
  ]);
}

// Keys are loaded once and used for every admission: derive each one's KeyObject once (an HMAC
// over a raw Buffer key costs about six times as much as over a KeyObject).
const keyObjects = new WeakMap<Buffer, KeyObject>();
function secretKey(key: Buffer): KeyObject {
  let k = keyObjects.get(key);
  if (k === undefined) keyObjects.set(key, (k = createSecretKey(key)));
  return k;
}

const mac = (key: Buffer, claims: MarkClaims, version: string): Buffer =>
  createHmac("sha256", secretKey(key)).update(canonical(claims, version)).digest();

// Every pod of a ReplicaSet has the same claims, so the webhook signs the same bytes again and
// again; remembering recent marks (per key and canonical claims: a rotated key misses) saves
// an HMAC object per admission, a large share of its cost under load. Bounded, cleared when full.
const MARK_CACHE_MAX = 10_000;
const signedMarks = new WeakMap<Buffer, Map<string, string>>();

/** The annotation value: `v2.<key id>.<base64url HMAC>`. */
export function signAdmissionMark(keys: AdmissionKeys, claims: MarkClaims): string {
  const bytes = canonical(claims, ADMISSION_MARK_VERSION);
  let cache = signedMarks.get(keys.current);
  if (cache === undefined) signedMarks.set(keys.current, (cache = new Map<string, string>()));
  let mark = cache.get(bytes);
  if (mark === undefined) {
    const sig = createHmac("sha256", secretKey(keys.current)).update(bytes).digest("base64url");
    mark = `${ADMISSION_MARK_VERSION}.${keyId(keys.current)}.${sig}`;
    if (cache.size >= MARK_CACHE_MAX) cache.clear();
    cache.set(bytes, mark);
  }
  return mark;
}

export function verifyAdmissionMark(keys: AdmissionKeys, value: string | undefined, claims: MarkClaims): MarkCheck {
  if (value === undefined || value === "")
    return { valid: false, reason: "the pod has no admission mark (it was not admitted by podid's webhook)" };
  const parts = value.split(".");
  if (parts.length !== 3) return { valid: false, reason: "the admission mark is malformed" };
  const [version, id, sig] = parts as [string, string, string];
  if (version !== ADMISSION_MARK_VERSION && version !== LEGACY_ADMISSION_MARK_VERSION)
    return { valid: false, reason: `the admission mark has unknown version "${version.slice(0, 10)}"` };
  const key = [keys.current, ...keys.previous].find((k) => keyId(k) === id);
  if (key === undefined)
    return { valid: false, reason: "the admission mark was signed with a key that is no longer accepted" };
  const given = Buffer.from(sig, "base64url");
  const want = mac(key, claims, version);
  if (given.length !== want.length || !timingSafeEqual(given, want))
    return {
      valid: false,
      reason: "the admission mark does not match the pod's namespace, service account, selector and identities",
    };
  return { valid: true };
}

/** The mark's format version (`v1`, `v2`), or undefined when there is none. */
export function markVersion(value: string | undefined): string | undefined {
  const dot = value?.indexOf(".") ?? -1;
  return dot > 0 ? value!.slice(0, dot) : undefined;
}

/** The admitted-identities annotation's value: a sorted JSON list, compact. */
export function formatAdmittedIdentities(identities: readonly MarkIdentity[]): string {
  const sorted = [...identities].sort((a, b) => byName([a.name, a.clientID], [b.name, b.clientID]));
  return JSON.stringify(
    sorted.map((i) => ({
      name: i.name,
      clientID: i.clientID.toLowerCase(),
      ...(i.resourceID ? { resourceID: i.resourceID } : {}),
    })),
  );
}

const MAX_ADMITTED_CHARS = 64 * 1024;

/** Reads the admitted-identities annotation; anything but a list of {name, clientID, resourceID?} is refused. */
export function parseAdmittedIdentities(
  text: string,
): { ok: true; value: MarkIdentity[] } | { ok: false; reason: string } {
  const bad = { ok: false as const, reason: "the admitted-identities annotation is malformed" };
  if (text.length > MAX_ADMITTED_CHARS) return bad;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad;
  }
  if (!Array.isArray(v)) return bad;
  const out: MarkIdentity[] = [];
  for (const e of v as unknown[]) {
    if (typeof e !== "object" || e === null) return bad;
    const { name, clientID, resourceID } = e as Record<string, unknown>;
    if (typeof name !== "string" || typeof clientID !== "string") return bad;
    if (resourceID !== undefined && typeof resourceID !== "string") return bad;
    out.push({ name, clientID, ...(resourceID !== undefined ? { resourceID } : {}) });
  }
  return { ok: true, value: out };
}
