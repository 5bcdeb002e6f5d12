// Workloads whose pod template carries the label are held to the pod rules at CREATE and
// UPDATE, so `kubectl apply` of a Deployment fails at once with the reason, instead of leaving
// a ReplicaSet that silently cannot create pods.
import { isObject } from "../model/read.ts";
import { formatErrors } from "../model/parse.ts";
import { decidePod, podSelector } from "../policy/index.ts";
import { objectName, type Handler } from "./context.ts";
import { podInput, readPodView } from "./pod.ts";
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
