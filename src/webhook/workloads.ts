// Workloads whose pod template carries the label are held to the pod rules at CREATE and
// UPDATE, so `kubectl apply` of a Deployment fails at once with the reason, instead of leaving
// a ReplicaSet that silently cannot create pods. Two writes are admitted even when the pod
// rules now deny them (a policy or binding changed since), with the denial as a warning: an
// UPDATE that keeps the template's label as it was, and a workload a controller creates from
// its owner's template (a Deployment's ReplicaSet, a CronJob's Job). Scaling, rollouts and the
// controllers never stall on a policy change; the pods' own admission still refuses what it
// must. This route is early feedback, not the enforcement: the pod webhooks are.
import { isObject } from "../model/read.ts";
import { formatErrors } from "../model/parse.ts";
import { decidePod, podSelector } from "../policy/index.ts";
import { objectName, type Handler } from "./context.ts";
import { podInput, readPodView } from "./pod.ts";
import type { AdmissionRequest } from "./review.ts";
import { allowed, denied, errored } from "./responses.ts";
import { waitAnnotationError } from "./wait-container.ts";

/** Where each workload kind keeps its pod template (podid migrate reads the same). */
export const TEMPLATE_PATHS: Record<string, { group: string; path: string[] }> = {
  Deployment: { group: "apps", path: ["spec", "template"] },
  StatefulSet: { group: "apps", path: ["spec", "template"] },
  DaemonSet: { group: "apps", path: ["spec", "template"] },
  ReplicaSet: { group: "apps", path: ["spec", "template"] },
  Job: { group: "batch", path: ["spec", "template"] },
  CronJob: { group: "batch", path: ["spec", "jobTemplate", "spec", "template"] },
};
export const WORKLOAD_KINDS = Object.keys(TEMPLATE_PATHS);
/** The kinds this route judges (their group included): anything else is allowed by the route. */
export const judgesWorkload = (k: { group: string; kind: string }): boolean =>
  TEMPLATE_PATHS[k.kind]?.group === k.group;

export function template(obj: unknown, path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) cur = isObject(cur) ? cur[p] : undefined;
  return cur;
}

export const KEPT_LABEL_WARNING =
  "admitted because this update does not change the pod template's aadpodidbinding label; " +
  "pods created from it are refused until this is resolved";

/** Why a denied write is admitted anyway (with the denial as a warning), or undefined. */
function admittedAnyway(req: AdmissionRequest, path: string[], selector: string): string | undefined {
  if (req.operation === "UPDATE") {
    const old = readPodView(template(req.oldObject, path) ?? {});
    if (old.ok && podSelector(old.value.labels) === selector) return KEPT_LABEL_WARNING;
  }
  const refs: unknown =
    isObject(req.object) && isObject(req.object.metadata) ? req.object.metadata.ownerReferences : undefined;
  const owner: unknown = Array.isArray(refs)
    ? (refs as unknown[]).find((r) => isObject(r) && r.controller === true)
    : undefined;
  if (isObject(owner) && typeof owner.kind === "string" && typeof owner.name === "string")
    return (
      `admitted because its controller, ${owner.kind} "${owner.name}", made it from its own pod template; ` +
      "pods created from it are refused until this is resolved"
    );
  return undefined;
}

export const validateWorkloadHandler: Handler = (req, ctx) => {
  const where = TEMPLATE_PATHS[req.kind.kind];
  if (where === undefined || where.group !== req.kind.group)
    return {
      response: errored(
        req.uid,
        400,
        `this route admits ${WORKLOAD_KINDS.join(", ")}, got ${req.kind.group}/${req.kind.kind}`,
      ),
      result: "errored",
      reason: "bad-request",
    };
  if (req.operation !== "CREATE" && req.operation !== "UPDATE")
    return { response: allowed(req.uid), result: "allowed", reason: "other-operation" };
  const path = where.path.join(".");
  const view = readPodView(template(req.object, where.path) ?? {}, `object.${path}`);
  if (!view.ok)
    return {
      response: errored(req.uid, 400, `${req.kind.kind} has an invalid pod template: ${formatErrors(view.errors)}`),
      result: "errored",
      reason: "bad-request",
    };
  const namespace = req.namespace ?? "";
  const selector = podSelector(view.value.labels);
  if (selector === undefined) return { response: allowed(req.uid), result: "allowed", reason: "no-label" };
  const d = decidePod(podInput(ctx.state, namespace, view.value, selector));
  const who = `${req.kind.kind} "${objectName(req, req.object)}" in namespace "${namespace}": pod template ${path}: `;
  const anyway = d.verdict === "deny" ? admittedAnyway(req, where.path, selector) : undefined;
  if (anyway !== undefined)
    return {
      response: allowed(req.uid, [...d.warnings.map((w) => who + w), `${who}${d.message ?? "denied"} (${anyway})`]),
      result: "allowed",
      reason: "admitted-anyway",
    };
  if (d.verdict === "deny")
    return {
      response: denied(req.uid, who + (d.message ?? "denied"), d.code ?? 403, d.warnings),
      result: "denied",
      reason: d.reason,
    };
  const badWait = d.verdict === "allow" ? waitAnnotationError(view.value.annotations) : undefined;
  if (badWait !== undefined)
    return {
      response: denied(req.uid, who + badWait, 400, d.warnings),
      result: "denied",
      reason: "bad-wait-annotation",
    };
  return {
    response: allowed(
      req.uid,
      d.warnings.map((w) => who + w),
    ),
    result: "allowed",
    reason: d.reason,
  };
};
