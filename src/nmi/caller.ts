// Who is calling: pure decisions over the pods this NMI knows. DaemonSet mode trusts the
// source address only as far as it names exactly one live, non-hostNetwork pod on this node;
// sidecar mode trusts a TokenReview of the pod's own bound service-account token instead.
import { forbidden, type ImdsError } from "./imds.ts";
import type { NmiPod } from "./pod.ts";

export type CallerResult = { ok: true; pod: NmiPod } | { ok: false; error: ImdsError };

const LIVE_PHASES = new Set(["Pending", "Running"]);

/**
 * Pending or Running, and not deleted, or deleted but still in its grace period: a pod that is
 * shutting down keeps its tokens while it flushes its work (it keeps its IP until then, too).
 */
export function servable(p: NmiPod, nowMs: number): boolean {
  if (!LIVE_PHASES.has(p.phase)) return false;
  return !p.deleting || (p.deletionDeadline !== undefined && nowMs < p.deletionDeadline);
}

/** Strips the IPv4-mapped IPv6 prefix Node reports for IPv4 peers on dual-stack sockets. */
export function normaliseIp(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

/**
 * The caller is the one pod on `nodeName` whose IP is `sourceIp` and that is servable (above).
 * A hostNetwork pod shares the node's address, so it can never be told apart from the node or
 * other hostNetwork pods: such callers are refused, never passed through.
 */
export function identifyByIp(
  pods: readonly NmiPod[],
  sourceIp: string,
  nodeName: string,
  nowMs = Date.now(),
): CallerResult {
  const ip = normaliseIp(sourceIp);
  const onNode = pods.filter((p) => p.nodeName === nodeName && p.podIPs.includes(ip));
  const live = onNode.filter((p) => servable(p, nowMs));
  const podNetwork = live.filter((p) => !p.hostNetwork);
  if (podNetwork.length === 1) return { ok: true, pod: podNetwork[0]! };
  if (podNetwork.length > 1) {
    const names = podNetwork.map((p) => `${p.namespace}/${p.name}`).join(", ");
    return {
      ok: false,
      error: forbidden(`Source address ${ip} belongs to several pods on this node (${names}); refusing to guess`),
    };
  }
  if (live.length > 0) {
    return {
      ok: false,
      error: forbidden(
        `Source address ${ip} is the node's own network (hostNetwork pod or node process); podid serves only pods on the pod network`,
      ),
    };
  }
  if (onNode.length > 0) {
    return {
      ok: false,
      error: forbidden(
        `Source address ${ip} belongs to no running pod on this node (the pod with that address has ` +
          `finished, or was deleted and its grace period is over)`,
      ),
    };
  }
  return { ok: false, error: forbidden(`Source address ${ip} belongs to no pod on node ${nodeName}`) };
}

/** What a TokenReview of the sidecar's token said. */
export interface ReviewedToken {
  authenticated: boolean;
  username?: string;
  podName?: string;
  podUID?: string;
  audiences?: string[];
  error?: string;
}

const SA_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

/**
 * Sidecar mode: the pod named in a bound service-account token, if the token is valid for
 * our audience, bound to a pod, and that pod (same UID) is live on this node.
 */
export function identifyByToken(
  pods: readonly NmiPod[],
  review: ReviewedToken,
  audience: string,
  nodeName: string,
  nowMs = Date.now(),
): CallerResult {
  if (!review.authenticated) {
    return {
      ok: false,
      error: forbidden(`Pod token not accepted by the Kubernetes API: ${review.error ?? "not authenticated"}`),
    };
  }
  if (review.audiences !== undefined && !review.audiences.includes(audience)) {
    return { ok: false, error: forbidden(`Pod token is not for audience ${audience}`) };
  }
  const m = SA_USER.exec(review.username ?? "");
  if (m === null || review.podName === undefined || review.podUID === undefined) {
    return { ok: false, error: forbidden("Pod token is not a pod-bound service-account token") };
  }
  const [, namespace, serviceAccount] = m;
  const pod = pods.find((p) => p.namespace === namespace && p.name === review.podName);
  if (pod === undefined || pod.uid !== review.podUID) {
    return {
      ok: false,
      error: forbidden(`Pod ${namespace}/${review.podName} (uid ${review.podUID}) is not on node ${nodeName}`),
    };
  }
  if (pod.nodeName !== nodeName || !servable(pod, nowMs)) {
    return { ok: false, error: forbidden(`Pod ${namespace}/${pod.name} is not running on node ${nodeName}`) };
  }
  if (pod.serviceAccountName !== serviceAccount) {
    return {
      ok: false,
      error: forbidden(`Pod token's service account ${serviceAccount} is not the pod's (${pod.serviceAccountName})`),
    };
  }
  if (pod.hostNetwork) {
    return {
      ok: false,
      error: forbidden(`Pod ${namespace}/${pod.name} uses hostNetwork; podid serves only pods on the pod network`),
    };
  }
  return { ok: true, pod };
}
