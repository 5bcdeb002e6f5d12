// `podid keys`: the two-phase rotation of the admission-mark keys, carried out on the Secret the
// webhook and every NMI mount (src/policy/key-rotation.ts has the steps). Each step re-reads the
// Secret and writes with its resourceVersion, so two admins cannot interleave steps unnoticed;
// promote waits out the time readers need to load a staged key, and retire refuses while a
// running pod carries a mark the retired keys signed.
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest, resourcePath } from "../kube/request.ts";
import { ADMISSION_MARK_ANNOTATION, GROUP, WEBHOOK } from "../model/constants.ts";
import { newKey, promoteKey, readKeyRing, retireKeys, stageKey } from "../policy/key-rotation.ts";

/** Annotations on the Secret recording the staged key and when it was staged. */
export const STAGED_KEY_ANNOTATION = `${GROUP}/staged-key`;
export const STAGED_AT_ANNOTATION = `${GROUP}/staged-at`;
/**
 * How long a staged key must wait before it may sign: the kubelet refreshes Secret volumes within
 * its sync period plus its cache TTL (about a minute each by default), the NMI re-reads its key
 * file every 30 s and the webhook every 10 s.
 */
export const DEFAULT_PROMOTE_AFTER_SECONDS = 180;

interface Secret {
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  [k: string]: unknown;
}

export interface KeysTarget {
  kc: KubeConfig;
  namespace: string;
  secretName?: string;
  now?: () => number;
}

const path = (t: KeysTarget): string =>
  resourcePath({
    group: "",
    version: "v1",
    plural: "secrets",
    namespace: t.namespace,
    name: t.secretName ?? WEBHOOK.admissionKeySecretName,
  });
const keysOf = (s: Secret): string => Buffer.from(s.data?.keys ?? "", "base64").toString("utf8");

async function read(t: KeysTarget): Promise<Secret> {
  return kubeRequest<Secret>(t.kc, { path: path(t) });
}

async function write(t: KeysTarget, s: Secret, text: string, annotations: Record<string, string>): Promise<void> {
  const body: Secret = {
    ...s,
    metadata: { ...s.metadata, annotations },
    data: { ...s.data, keys: Buffer.from(text).toString("base64") },
  };
  await kubeRequest(t.kc, { method: "PUT", path: path(t), body });
}

const without = (a: Record<string, string> | undefined, ...keys: string[]): Record<string, string> =>
  Object.fromEntries(Object.entries(a ?? {}).filter(([k]) => !keys.includes(k)));

/** Phase 1: a new key that verifies everywhere and signs nowhere yet. Returns its id. */
export async function stage(t: KeysTarget): Promise<string> {
  const s = await read(t);
  const staged = s.metadata.annotations?.[STAGED_KEY_ANNOTATION];
  if (staged !== undefined) throw new Error(`key ${staged} is already staged; promote it (podid keys promote) first`);
  const { text, id } = stageKey(keysOf(s), newKey());
  const at = new Date((t.now ?? Date.now)()).toISOString();
  await write(t, s, text, { ...s.metadata.annotations, [STAGED_KEY_ANNOTATION]: id, [STAGED_AT_ANNOTATION]: at });
  return id;
}

/** Phase 2: the staged key signs, once readers have had `afterSeconds` to load it. */
export async function promote(t: KeysTarget, afterSeconds = DEFAULT_PROMOTE_AFTER_SECONDS): Promise<string> {
  const s = await read(t);
  const id = s.metadata.annotations?.[STAGED_KEY_ANNOTATION];
  if (id === undefined) throw new Error("no key is staged; stage one first (podid keys stage)");
  const since = Date.parse(s.metadata.annotations?.[STAGED_AT_ANNOTATION] ?? "");
  const waited = ((t.now ?? Date.now)() - since) / 1000;
  if (!(waited >= afterSeconds))
    throw new Error(
      `key ${id} was staged ${Number.isFinite(waited) ? Math.floor(waited) : "?"} s ago; promote ` +
        `it after ${afterSeconds} s, when every NMI has loaded it (or pass --after-seconds if you know ` +
        `they have)`,
    );
  await write(
    t,
    s,
    promoteKey(keysOf(s), id),
    without(s.metadata.annotations, STAGED_KEY_ANNOTATION, STAGED_AT_ANNOTATION),
  );
  return id;
}

/** Pods (namespace/name) whose admission mark was signed by one of `ids`. */
export async function podsMarkedBy(kc: KubeConfig, ids: readonly string[]): Promise<string[]> {
  const list = await kubeRequest<{
    items: Array<{ metadata: { name: string; namespace: string; annotations?: Record<string, string> } }>;
  }>(kc, { path: "/api/v1/pods" });
  return list.items
    .filter((p) => ids.includes(p.metadata.annotations?.[ADMISSION_MARK_ANNOTATION]?.split(".")[1] ?? ""))
    .map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
}

/** Phase 3: only the signing key is left, unless running pods still carry marks the others signed. */
export async function retire(t: KeysTarget, force = false): Promise<string[]> {
  const s = await read(t);
  const staged = s.metadata.annotations?.[STAGED_KEY_ANNOTATION];
  if (staged !== undefined) throw new Error(`key ${staged} is staged, not promoted; promote it first`);
  const { text, retired } = retireKeys(keysOf(s));
  if (retired.length === 0) return [];
  const pods = await podsMarkedBy(t.kc, retired);
  if (pods.length > 0 && !force)
    throw new Error(
      `${pods.length} pod(s) carry marks signed by key ${retired.join(", ")} and would lose their ` +
        `tokens: ${pods.slice(0, 10).join(", ")}${pods.length > 10 ? ", ..." : ""}. Recreate them (kubectl ` +
        `rollout restart) first, or pass --force`,
    );
  await write(t, s, text, s.metadata.annotations ?? {});
  return retired;
}

export interface KeyStatus {
  keys: Array<{ id: string; role: "signs" | "verifies" | "staged"; pods: number }>;
  stagedAt?: string;
}

/** What the Secret holds, and how many pods each key's marks are on. */
export async function status(t: KeysTarget): Promise<KeyStatus> {
  const s = await read(t);
  const ring = readKeyRing(keysOf(s));
  const staged = s.metadata.annotations?.[STAGED_KEY_ANNOTATION];
  const keys = await Promise.all(
    ring.ids.map(async (id, i) => ({
      id,
      role: i === 0 ? ("signs" as const) : id === staged ? ("staged" as const) : ("verifies" as const),
      pods: (await podsMarkedBy(t.kc, [id])).length,
    })),
  );
  const at = s.metadata.annotations?.[STAGED_AT_ANNOTATION];
  return { keys, ...(at !== undefined ? { stagedAt: at } : {}) };
}
