// AzurePodIdentityException: pods of its namespace carrying all of PodLabels are left alone
// (no identity, no admission checks, their IMDS calls pass through the NMI).
import { Errors, getField, readStringMap, readTop } from "./read.ts";
import type { AzurePodIdentityException, Parsed } from "./types.ts";

export function parseAzurePodIdentityException(obj: unknown): Parsed<AzurePodIdentityException> {
  const errs = new Errors();
  const top = readTop(obj, "AzurePodIdentityException", errs);
  if (top === undefined) return { ok: false, errors: errs.list };
  const raw = getField(top.spec, "PodLabels");
  if (raw === undefined || raw === null)
    errs.add("spec.PodLabels", "is required: the labels a pod must all carry to be excepted");
  // The seed writes `noaad: true`, which YAML reads as a boolean: scalars are stringified.
  const podLabels = readStringMap(raw, "spec.PodLabels", errs, true);
  if (errs.empty && Object.keys(podLabels).length === 0)
    errs.add("spec.PodLabels", "expected at least one label (an empty set would except every pod of the namespace)");
  return errs.result({ metadata: top.meta, podLabels });
}
