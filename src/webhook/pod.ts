// The parts of a Pod (or a workload's pod template) the decisions read, taken from the raw
// object once. Bad shapes are reported by field, like the model's parsers.
import { describe, isObject, readStringMap, Errors } from "../model/read.ts";
import type { Parsed } from "../model/types.ts";
import type { PodAdmissionInput } from "../policy/index.ts";
import type { WebhookState } from "./state.ts";

export interface PodView {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccountName: string;
  hostNetwork: boolean;
}

/** Reads labels, annotations, service account and hostNetwork from a pod-like `{metadata, spec}` at `path`. */
export function readPodView(obj: unknown, path = ""): Parsed<PodView> {
  const errs = new Errors();
  const at = (f: string): string => (path === "" ? f : `${path}.${f}`);
  if (!isObject(obj))
    return { ok: false, errors: [{ field: path, message: `expected an object, got ${describe(obj)}` }] };
  const meta = obj.metadata ?? {};
  const spec = obj.spec ?? {};
  if (!isObject(meta)) errs.add(at("metadata"), `expected an object, got ${describe(meta)}`);
  if (!isObject(spec)) errs.add(at("spec"), `expected an object, got ${describe(spec)}`);
  if (!isObject(meta) || !isObject(spec)) return { ok: false, errors: errs.list };
  const view: PodView = {
    labels: readStringMap(meta.labels, at("metadata.labels"), errs, false),
    annotations: readStringMap(meta.annotations, at("metadata.annotations"), errs, false),
    // The ServiceAccount admission plugin sets it before webhooks; "default" is what it would set.
    serviceAccountName:
      typeof spec.serviceAccountName === "string" && spec.serviceAccountName !== ""
        ? spec.serviceAccountName
        : "default",
    hostNetwork: spec.hostNetwork === true,
  };
  return errs.result(view);
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
