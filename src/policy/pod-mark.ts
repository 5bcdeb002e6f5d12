// What a pod's admission mark entitles it to now. The mark names the identities the pod was
// admitted with; the pod may use those of them that are still bound to its selector, unchanged
// (same client ID and resource ID). An identity bound since admission is not among them: the
// webhook never decided on it for this pod, so the pod must be recreated to use it. Marks of
// the older format (v1) named no list: they verify against what is bound now, as before.
import {
  ADMISSION_MARK_ANNOTATION,
  ADMITTED_IDENTITIES_ANNOTATION,
  LEGACY_ADMISSION_MARK_VERSION,
  NMI_MODES,
  NMI_MODE_ANNOTATION,
  type NmiMode,
} from "../model/constants.ts";
import { resourceIdKey } from "../model/identity.ts";
import type { AzureIdentity } from "../model/types.ts";
import {
  claimsFor,
  markIdentity,
  markVersion,
  parseAdmittedIdentities,
  verifyAdmissionMark,
  type AdmissionKeys,
  type MarkIdentity,
} from "./admission-mark.ts";

export interface PodMarkInput {
  namespace: string;
  serviceAccountName: string;
  selector: string;
  annotations: Record<string, string>;
  /** The identities the pod's selector binds in its namespace now. */
  bound: readonly AzureIdentity[];
}

export type PodMarkResult =
  | {
      valid: true;
      /** Bound now and admitted: the identities the pod may be served. */
      usable: AzureIdentity[];
      /** Bound now but not admitted (new, or changed since): a restart would be needed. */
      notAdmitted: AzureIdentity[];
      /** Admitted but no longer bound as admitted: never served again. */
      gone: MarkIdentity[];
      nmiMode: NmiMode;
    }
  | { valid: false; reason: string };

const sameIdentity = (a: MarkIdentity, b: MarkIdentity): boolean =>
  a.name === b.name &&
  a.clientID.toLowerCase() === b.clientID.toLowerCase() &&
  (a.resourceID === undefined ? "" : resourceIdKey(a.resourceID)) ===
    (b.resourceID === undefined ? "" : resourceIdKey(b.resourceID));

/** Whether `identity`, as bound now, is one of the admitted (same name, client ID and resource ID). */
export function isAdmitted(admitted: readonly MarkIdentity[], identity: AzureIdentity): boolean {
  const m = markIdentity(identity);
  return admitted.some((a) => sameIdentity(a, m));
}

/** The NMI mode a pod's annotation names (the mark covers it; anything else verifies as daemonset and fails). */
export function podNmiMode(annotations: Record<string, string>): NmiMode {
  const v = annotations[NMI_MODE_ANNOTATION];
  return NMI_MODES.find((m) => m === v) ?? "daemonset";
}

function noMark(keys: AdmissionKeys, mark: string | undefined, claims: ReturnType<typeof claimsFor>): string {
  const r = verifyAdmissionMark(keys, mark, claims);
  return r.valid ? "the admission mark is missing" : r.reason;
}

/** Checks the pod's mark and splits the bound identities into usable and not admitted. */
export function checkPodMark(keys: AdmissionKeys, input: PodMarkInput): PodMarkResult {
  const mark = input.annotations[ADMISSION_MARK_ANNOTATION];
  const nmiMode = podNmiMode(input.annotations);
  const claims = (ids: ReadonlyArray<AzureIdentity | MarkIdentity>) =>
    claimsFor(input.namespace, input.serviceAccountName, input.selector, ids, nmiMode);
  if (markVersion(mark) === LEGACY_ADMISSION_MARK_VERSION) {
    const check = verifyAdmissionMark(keys, mark, claims(input.bound));
    return check.valid ? { valid: true, usable: [...input.bound], notAdmitted: [], gone: [], nmiMode } : check;
  }
  const text = input.annotations[ADMITTED_IDENTITIES_ANNOTATION];
  // No mark at all (or no list to check it against): verification says why, without an HMAC.
  if (mark === undefined || mark === "") return { valid: false, reason: noMark(keys, mark, claims([])) };
  if (text === undefined) return { valid: false, reason: "the pod has no admitted-identities annotation" };
  const admitted = parseAdmittedIdentities(text);
  if (!admitted.ok) return { valid: false, reason: admitted.reason };
  const verified = verifyAdmissionMark(keys, mark, claims(admitted.value));
  if (!verified.valid) return verified;
  const usable: AzureIdentity[] = [];
  const notAdmitted: AzureIdentity[] = [];
  for (const b of input.bound) (isAdmitted(admitted.value, b) ? usable : notAdmitted).push(b);
  const gone = admitted.value.filter((a) => !usable.some((u) => sameIdentity(a, markIdentity(u))));
  return { valid: true, usable, notAdmitted, gone, nmiMode };
}
