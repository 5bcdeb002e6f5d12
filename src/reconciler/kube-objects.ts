// The reconciler's views of the core objects it watches. They live in the model (one pod view
// for every program, projected per program: src/model/pod.ts); the reconciler's pod projection
// adds the identities a v2 admission mark names, which only the policy engine can read.
import { ADMISSION_MARK_ANNOTATION, ADMITTED_IDENTITIES_ANNOTATION } from "../model/constants.ts";
import { projectPod, reconcilerPod, type AdmittedIdentity } from "../model/pod.ts";
import { markVersion, parseAdmittedIdentities } from "../policy/admission-mark.ts";

export type { ReconcilerPod as PodInfo } from "../model/pod.ts";
export { parseNamespace, parseNode, type NamespaceInfo, type NodeInfo } from "../model/cluster.ts";

/** The identities a v2 mark names; undefined without one (a v1 mark: every bound identity). */
export function admittedOf(annotations: Record<string, string>): AdmittedIdentity[] | undefined {
  const text = annotations[ADMITTED_IDENTITIES_ANNOTATION];
  if (text === undefined || markVersion(annotations[ADMISSION_MARK_ANNOTATION]) === "v1") return undefined;
  const parsed = parseAdmittedIdentities(text);
  return parsed.ok ? parsed.value : [];
}

export const parsePod = projectPod((v) => reconcilerPod(v, admittedOf));
