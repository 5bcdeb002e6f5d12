// Pods: the mutating route writes the admission mark, the NMI mode and the env (and the
// sidecar); the validating route denies what the policy denies and guards the label and mark
// on UPDATE.
import {
  ADMISSION_MARK_ANNOTATION,
  ADMITTED_IDENTITIES_ANNOTATION,
  BINDING_LABEL,
  PODID_POD_ANNOTATIONS,
} from "../model/constants.ts";
import { formatErrors } from "../model/parse.ts";
import {
  checkPodMark,
  claimsFor,
  decidePod,
  formatAdmittedIdentities,
  markIdentity,
  podSelector,
  signAdmissionMark,
  type MarkClaims,
  type PodDecision,
} from "../policy/index.ts";
import { objectName, type Handler, type HandlerContext, type Outcome } from "./context.ts";
import { podPatch } from "./mutate.ts";
import { readPodView, podInput, type PodView } from "./pod.ts";
import { allowed, denied, errored, patched } from "./responses.ts";
import { waitAnnotationError, waitPlanFor } from "./wait-container.ts";
import type { AdmissionRequest } from "./review.ts";

const ok = (req: AdmissionRequest, reason: string, warnings?: string[]): Outcome => ({
  response: allowed(req.uid, warnings),
  result: "allowed",
  reason,
});
const no = (req: AdmissionRequest, reason: string, message: string, code = 403, warnings?: string[]): Outcome => ({
  response: denied(req.uid, message, code, warnings),
  result: "denied",
  reason,
});
const err = (req: AdmissionRequest, code: number, message: string): Outcome => ({
  response: errored(req.uid, code, message),
  result: "errored",
  reason: "bad-request",
});

function expectPod(req: AdmissionRequest, which: "object" | "oldObject"): { view: PodView } | { outcome: Outcome } {
  if (req.kind.kind !== "Pod" || req.kind.group !== "")
    return { outcome: err(req, 400, `this route admits Pods, got ${req.kind.group}/${req.kind.kind}`) };
  const p = readPodView(req[which], which);
  if (!p.ok) return { outcome: err(req, 400, `${which} is not a valid Pod: ${formatErrors(p.errors)}`) };
  return { view: p.value };
}

export function markClaims(namespace: string, pod: PodView, selector: string, d: PodDecision): MarkClaims {
  return claimsFor(namespace, pod.serviceAccountName, selector, d.identities, d.nmiMode);
}

function decide(
  ctx: HandlerContext,
  namespace: string,
  pod: PodView,
): { selector: string | undefined; decision: PodDecision } {
  const selector = podSelector(pod.labels);
  const input = podInput(ctx.state, namespace, pod, selector);
  const decision = decidePod(input);
  if (decision.reason === "cross-namespace" && selector !== undefined)
    // Admins may need to know whose selector was borrowed; the pod's author is not told.
    ctx.log.warn(
      { namespace, selector, boundIn: ctx.state.selectorNamespaces(selector) },
      "pod refused: selector of another namespace (cross-namespace reuse)",
    );
  return { selector, decision };
}

export const mutatePodHandler: Handler = (req, ctx) => {
  if (req.operation !== "CREATE") return ok(req, "not-create");
  const got = expectPod(req, "object");
  if ("outcome" in got) return got.outcome;
  const namespace = req.namespace ?? "";
  const { selector, decision } = decide(ctx, namespace, got.view);
  const keys = ctx.keys();
  const pod = req.object as Record<string, unknown>;
  // Denials and warnings come from the validating route: said once, not twice.
  if (decision.verdict !== "allow" || selector === undefined || keys === undefined) {
    const strip = podPatch(pod, { nmiMode: decision.nmiMode, sidecarImage: ctx.sidecarImage });
    return strip.length > 0
      ? { response: patched(req.uid, strip), result: "patched", reason: "mark-removed" }
      : ok(req, decision.reason);
  }
  const mark =
    decision.identities.length > 0
      ? signAdmissionMark(keys, markClaims(namespace, got.view, selector, decision))
      : undefined;
  const wait = waitPlanFor(got.view.annotations, decision.identities);
  const nmiTls = decision.nmiMode === "sidecar" ? ctx.nmiTls() : undefined;
  if (decision.nmiMode === "sidecar" && nmiTls === undefined)
    ctx.log.warn({ namespace }, "sidecar mode without the node NMI's CA (--nmi-ca-file): the sidecar will not start");
  const plan = {
    nmiMode: decision.nmiMode,
    sidecarImage: ctx.sidecarImage,
    ...(nmiTls !== undefined ? { nmiTls } : {}),
    ...(mark !== undefined ? { mark, admitted: formatAdmittedIdentities(decision.identities.map(markIdentity)) } : {}),
    ...(decision.identities.length === 1 ? { clientID: decision.identities[0]!.clientID } : {}),
    ...(wait !== undefined ? { wait } : {}),
  };
  const ops = podPatch(pod, plan);
  return { response: patched(req.uid, ops), result: ops.length > 0 ? "patched" : "allowed", reason: decision.reason };
};

function validateUpdate(req: AdmissionRequest, pod: PodView): Outcome {
  const old = expectPod(req, "oldObject");
  if ("outcome" in old) return old.outcome;
  const before = old.view.labels[BINDING_LABEL];
  const after = pod.labels[BINDING_LABEL];
  const name = objectName(req, req.object);
  if (after !== undefined && after !== before) {
    const what =
      before === undefined
        ? `adding label ${BINDING_LABEL}=${after}`
        : `changing label ${BINDING_LABEL} from "${before}" to "${after}"`;
    return no(
      req,
      "label-changed",
      `pod "${name}" in namespace "${req.namespace ?? ""}": ${what} on an existing pod is not allowed; ` +
        `pod identity is decided when a pod is created. Set the label in the pod template and recreate ` +
        `the pod.`,
    );
  }
  // Everything podid wrote at admission stands as written: the mark, the NMI mode (a pod that
  // could switch to daemonset mode would be served by its spoofable address), the identity list.
  for (const a of PODID_POD_ANNOTATIONS)
    if (old.view.annotations[a] !== pod.annotations[a])
      return no(
        req,
        "podid-annotation-changed",
        `pod "${name}" in namespace "${req.namespace ?? ""}": annotation ${a} is written by podid's ` +
          `webhook at creation and cannot be added, changed or removed.`,
      );
  return ok(req, "update-unchanged");
}

export const validatePodHandler: Handler = (req, ctx) => {
  if (req.operation !== "CREATE" && req.operation !== "UPDATE") return ok(req, "other-operation");
  const got = expectPod(req, "object");
  if ("outcome" in got) return got.outcome;
  if (req.operation === "UPDATE") return validateUpdate(req, got.view);
  const namespace = req.namespace ?? "";
  const { selector, decision } = decide(ctx, namespace, got.view);
  if (decision.verdict === "deny")
    return no(req, decision.reason, decision.message ?? "denied", decision.code ?? 403, decision.warnings);
  if (decision.verdict === "skip" || selector === undefined) return ok(req, decision.reason);
  const badWait = waitAnnotationError(got.view.annotations);
  if (badWait !== undefined) return no(req, "bad-wait-annotation", badWait, 400, decision.warnings);
  // Defence in depth: a pod the mutating webhook did not mark (bypassed, or a mark set by
  // hand) is refused here rather than left to fail later at the NMI.
  const keys = ctx.keys();
  if (keys !== undefined && decision.identities.length > 0) {
    const check = checkPodMark(keys, {
      namespace,
      serviceAccountName: got.view.serviceAccountName,
      selector,
      annotations: got.view.annotations,
      bound: decision.identities,
    });
    const reason = !check.valid
      ? check.reason
      : check.notAdmitted.length > 0 || check.gone.length > 0 || check.nmiMode !== decision.nmiMode
        ? `annotation ${ADMITTED_IDENTITIES_ANNOTATION} does not list the identities the pod is admitted with`
        : undefined;
    if (reason !== undefined)
      return no(
        req,
        "bad-mark",
        `label ${BINDING_LABEL}=${selector}: ${reason}. Pods using an identity must pass podid's mutating ` +
          `webhook; do not set ${ADMISSION_MARK_ANNOTATION} yourself.`,
        403,
        decision.warnings,
      );
  }
  return ok(req, decision.reason, decision.warnings);
};
