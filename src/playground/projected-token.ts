// A projected service-account token file as the kubelet keeps it: requested from the API server
// (TokenRequest with an audience), written atomically, and renewed at 80% of its lifetime. The
// playground runs the NMIs as processes, so it does for them what the kubelet does for the NMI
// DaemonSet's `federation-token` volume (config/nmi/daemonset.yaml).
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest } from "../kube/request.ts";

export interface ProjectedTokenOptions {
  namespace: string;
  serviceAccount: string;
  audience: string;
  expirationSeconds: number;
  file: string;
  onError?: (err: unknown) => void;
}

export interface ProjectedToken {
  /** Requests a fresh token now and rewrites the file (what a rotation looks like to the reader). */
  rotate(): Promise<void>;
  stop(): void;
}

async function requestToken(kc: KubeConfig, o: ProjectedTokenOptions): Promise<string> {
  const ns = encodeURIComponent(o.namespace);
  const sa = encodeURIComponent(o.serviceAccount);
  const res = await kubeRequest<{ status?: { token?: string } }>(kc, {
    method: "POST",
    path: `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { audiences: [o.audience], expirationSeconds: o.expirationSeconds },
    },
  });
  const token = res.status?.token;
  if (token === undefined || token === "") throw new Error(`no token issued for ${o.namespace}/${o.serviceAccount}`);
  return token;
}

/** Writes the first token before it resolves, then keeps the file fresh until stop(). */
export async function keepProjectedToken(kc: KubeConfig, o: ProjectedTokenOptions): Promise<ProjectedToken> {
  mkdirSync(dirname(o.file), { recursive: true });
  const rotate = async (): Promise<void> => {
    const token = await requestToken(kc, o);
    const tmp = `${o.file}.tmp`;
    writeFileSync(tmp, token, { mode: 0o600 });
    renameSync(tmp, o.file);
  };
  await rotate();
  const timer = setInterval(() => void rotate().catch((e: unknown) => o.onError?.(e)), o.expirationSeconds * 800);
  timer.unref();
  return { rotate, stop: () => clearInterval(timer) };
}
