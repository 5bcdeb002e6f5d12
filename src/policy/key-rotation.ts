// Two-phase rotation of the admission-mark keys, as pure steps over the key file's text (one key
// a line; the first signs, every line verifies). The webhook and each node's NMI read the Secret
// through their own volume, which the kubelet refreshes on its own schedule: a new key that
// signed before every NMI could verify it would get freshly admitted pods a 403. So a new key is
// first staged (verify-only, last line), promoted to signing only once every reader has had
// time to load it, and old keys retire only when no running pod carries a mark they signed.
import { randomBytes } from "node:crypto";
import { keyId, parseAdmissionKeys } from "./admission-mark.ts";

export interface KeyRing {
  /** Key ids in file order: the first signs. */
  ids: string[];
  lines: string[];
}

export function readKeyRing(text: string): KeyRing {
  const keys = parseAdmissionKeys(text, "the admission key Secret");
  const all = [keys.current, ...keys.previous];
  return { ids: all.map(keyId), lines: all.map((k) => k.toString("utf8")) };
}

const render = (lines: readonly string[]): string => lines.join("\n") + "\n";

/** A fresh key: 32 random bytes, base64 (as `openssl rand -base64 32` makes). */
export const newKey = (): string => randomBytes(32).toString("base64");

/** Phase 1: the new key verifies everywhere but signs nowhere (appended last). */
export function stageKey(text: string, key: string): { text: string; id: string } {
  const ring = readKeyRing(text);
  const id = readKeyRing(key).ids[0]!;
  if (ring.ids.includes(id)) throw new Error(`key ${id} is already in the Secret`);
  return { text: render([...ring.lines, key]), id };
}

/** Phase 2: the staged key signs (moved first); the one that signed before still verifies. */
export function promoteKey(text: string, id: string): string {
  const ring = readKeyRing(text);
  const at = ring.ids.indexOf(id);
  if (at < 0) throw new Error(`key ${id} is not in the Secret; stage it first`);
  if (at === 0) throw new Error(`key ${id} already signs`);
  const lines = [...ring.lines];
  const [promoted] = lines.splice(at, 1);
  return render([promoted!, ...lines]);
}

/** Phase 3: only the signing key is left. Which ids go, so the caller can check no pod needs them. */
export function retireKeys(text: string): { text: string; retired: string[] } {
  const ring = readKeyRing(text);
  return { text: render(ring.lines.slice(0, 1)), retired: ring.ids.slice(1) };
}
