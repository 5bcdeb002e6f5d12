// Who is calling, as the NMI's edge sees a request: a pod-bound service-account token (sidecar
// mode, accepted only on the TLS listener sidecars use, so it never crosses the node network in
// the clear) reviewed by the API server, else the source address (DaemonSet mode). The rules
// are the pure functions of caller.ts; this module gathers their input.
import { NMI_MODE_ANNOTATION, SIDECAR } from "../model/constants.ts";
import type { Logger } from "../shared/log.ts";
import { identifyByIp, identifyByToken, normaliseIp, type CallerResult, type ReviewedToken } from "./caller.ts";
import { forbidden, imdsError } from "./imds.ts";
import type { NmiPod } from "./pod.ts";
import type { NmiView } from "./view.ts";

export interface CallerRequest {
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string | undefined;
}

export interface IdentifyDeps {
  nodeName: string;
  view: NmiView;
  /** TokenReview of a sidecar-presented pod token; absent = sidecar tokens are refused. */
  reviewToken?: (token: string) => Promise<ReviewedToken>;
  audience: string;
  /** "pods": the plain listener pods reach by address; "sidecars": the TLS listener for sidecar tokens. */
  listener: "pods" | "sidecars";
  log: Logger;
  nowMs: () => number;
}

const MAX_TOKEN_CHARS = 16_384;

export type Identifier = (req: CallerRequest) => Promise<CallerResult>;

export function createIdentifier(deps: IdentifyDeps): Identifier {
  const podFromReview = (review: ReviewedToken): NmiPod[] => {
    const ns = /^system:serviceaccount:([^:]+):/.exec(review.username ?? "")?.[1];
    const pod = ns !== undefined && review.podName !== undefined ? deps.view.pod(ns, review.podName) : undefined;
    return pod === undefined ? [] : [pod];
  };

  async function byToken(token: string | string[]): Promise<CallerResult> {
    if (deps.listener !== "sidecars")
      return {
        ok: false,
        error: forbidden(
          "Pod tokens are accepted only over TLS, on the NMI's sidecar port; a sidecar never sends one in clear",
        ),
      };
    if (deps.reviewToken === undefined)
      return { ok: false, error: forbidden("This NMI does not accept sidecar tokens") };
    if (typeof token !== "string" || token === "" || token.length > MAX_TOKEN_CHARS)
      return { ok: false, error: forbidden("Malformed pod token") };
    let review: ReviewedToken;
    try {
      review = await deps.reviewToken(token);
    } catch (e) {
      // The API server could not say who the pod is: a retryable outage, not a refusal.
      const why = e instanceof Error ? e.message : String(e);
      deps.log.warn({ err: why }, "TokenReview failed");
      return {
        ok: false,
        error: imdsError(
          503,
          "service_unavailable",
          `Could not verify the pod's token with the Kubernetes API: ${why}`,
          5,
        ),
      };
    }
    return identifyByToken(podFromReview(review), review, deps.audience, deps.nodeName, deps.nowMs());
  }

  function byAddress(remote: string): CallerResult {
    if (deps.listener === "sidecars")
      return { ok: false, error: forbidden("This port serves sidecars, which present the pod's token") };
    const ip = normaliseIp(remote);
    const r = identifyByIp(deps.view.podsWithIp(ip), ip, deps.nodeName, deps.nowMs());
    // A sidecar-mode pod is identified by its token only: its address may be spoofed.
    if (r.ok && r.pod.annotations[NMI_MODE_ANNOTATION] === "sidecar")
      return {
        ok: false,
        error: forbidden(
          `Pod ${r.pod.namespace}/${r.pod.name} uses sidecar mode; ask its sidecar at its loopback address`,
        ),
      };
    return r;
  }

  return async (req) => {
    const token = req.headers[SIDECAR.tokenHeader];
    return token !== undefined ? byToken(token) : byAddress(req.remoteAddress ?? "");
  };
}
