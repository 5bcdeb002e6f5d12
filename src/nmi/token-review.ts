// Sidecar mode's proof of identity: the pod's projected, audience-bound service-account
// token, checked by the Kubernetes API with a TokenReview. Reviews are remembered for a short
// while (by the token's hash, never the token) so a busy pod costs one review per minute.
import { createHash } from "node:crypto";
import { AuthenticationV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { ReviewedToken } from "./caller.ts";

const POD_NAME = "authentication.kubernetes.io/pod-name";
const POD_UID = "authentication.kubernetes.io/pod-uid";

export interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; extra?: Record<string, string[]> };
}

/** The parts of a TokenReview status the NMI decides on. */
export function reviewedToken(status: TokenReviewStatus | undefined): ReviewedToken {
  if (status === undefined) return { authenticated: false, error: "empty TokenReview status" };
  const extra = status.user?.extra ?? {};
  return {
    authenticated: status.authenticated === true,
    username: status.user?.username,
    podName: extra[POD_NAME]?.[0],
    podUID: extra[POD_UID]?.[0],
    audiences: status.audiences,
    error: status.error,
  };
}

export type TokenReviewer = (token: string) => Promise<ReviewedToken>;

/** A reviewer over client-node, with a small time-bounded memo of positive answers. */
/** Rejects when `p` has not settled within `ms`: a slow API server must not hold token requests forever. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} got no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function kubeTokenReviewer(
  kc: KubeConfig,
  audience: string,
  opts: { ttlMs?: number; maxEntries?: number; timeoutMs?: number } = {},
): TokenReviewer {
  const api = kc.makeApiClient(AuthenticationV1Api);
  const ttl = opts.ttlMs ?? 60_000;
  const max = opts.maxEntries ?? 5_000;
  const memo = new Map<string, { at: number; review: ReviewedToken }>();
  return async (token) => {
    const key = createHash("sha256").update(token).digest("base64url");
    const hit = memo.get(key);
    if (hit !== undefined && Date.now() - hit.at < ttl) return hit.review;
    const res = await within(
      api.createTokenReview({
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: [audience] } },
      }),
      opts.timeoutMs ?? 5_000,
      "the TokenReview",
    );
    const review = reviewedToken(res.status);
    if (review.authenticated) {
      if (memo.size >= max) memo.clear();
      memo.set(key, { at: Date.now(), review });
    }
    return review;
  };
}
