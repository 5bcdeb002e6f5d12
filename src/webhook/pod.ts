// The parts of a Pod (or a workload's pod template) admission decides on: the model's one pod
// view (src/model/pod.ts), read strictly, so bad shapes are reported by field.
import { admissionPod, readPod, type AdmissionPod } from "../model/pod.ts";
import type { Parsed } from "../model/types.ts";
import type { PodAdmissionInput } from "../policy/index.ts";
import type { WebhookState } from "./state.ts";

export type PodView = AdmissionPod;

/** Reads labels, annotations, service account and hostNetwork from a pod-like `{metadata, spec}` at `path`. */
export function readPodView(obj: unknown, path = ""): Parsed<PodView> {
  const v = readPod(obj, { path, strict: true });
  return v.ok ? { ok: true, value: admissionPod(v.value) } : v;
}

/** Gathers the decision's input from the state: the pod's namespace only, plus the selector index. */
export function podInput(
  state: WebhookState,
  namespace: string,
  pod: PodView,
  selector: string | undefined,
): PodAdmissionInput {
  const bindings = state.bindings(namespace);
  const elsewhere =
    selector !== undefined &&
    !bindings.some((b) => b.selector === selector) &&
    state.selectorNamespaces(selector).some((ns) => ns !== namespace);
  return {
    namespace,
    namespaceLabels: state.namespaceLabels(namespace),
    pod: { labels: pod.labels, serviceAccountName: pod.serviceAccountName, hostNetwork: pod.hostNetwork },
    bindings,
    identities: state.identities(namespace),
    selectorBoundElsewhere: elsewhere,
    exceptions: state.exceptions(namespace),
    policies: state.policies(),
  };
}
