// Raw JSON requests to the Kubernetes API with the kubeconfig's credentials and TLS. The
// informers (and programs that want plain objects rather than client-node's model classes)
// use this, so that objects look the same whether they came from a list or a watch event.
import { HttpMethod, RequestContext, type KubeConfig } from "@kubernetes/client-node";
import { fetch, type Dispatcher } from "undici";

// client-node builds a new TLS agent for every request context; a program talking to one
// cluster should keep its connections alive, so the first dispatcher per kubeconfig is reused
// (auth headers are still taken fresh each time: tokens rotate).
const dispatchers = new WeakMap<KubeConfig, Dispatcher>();

export interface KubeRequest {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** For PATCH: json-patch, merge-patch or strategic-merge-patch. */
  contentType?: string;
}

/** An error answer from the API server, with the Status fields a caller branches on. */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 409;
export const isAlreadyExists = (e: unknown): boolean =>
  e instanceof KubeApiError && e.statusCode === 409 && e.reason === "AlreadyExists";

function buildUrl(kc: KubeConfig, req: KubeRequest): string {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error("kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/$/, "") + req.path);
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  return url.toString();
}

export async function kubeRequest<T = unknown>(kc: KubeConfig, req: KubeRequest): Promise<T> {
  const url = buildUrl(kc, req);
  const method = req.method ?? "GET";
  const ctx = new RequestContext(url, HttpMethod[method]);
  await kc.applySecurityAuthentication(ctx);
  const headers: Record<string, string> = { ...ctx.getHeaders(), accept: "application/json" };
  let body: string | undefined;
  if (req.body !== undefined) {
    body = JSON.stringify(req.body);
    headers["content-type"] = req.contentType ?? "application/json";
  }
  let dispatcher = dispatchers.get(kc);
  if (dispatcher === undefined) {
    dispatcher = ctx.getDispatcher();
    if (dispatcher !== undefined) dispatchers.set(kc, dispatcher);
  }
  const res = await fetch(url, { method, headers, body, dispatcher });
  const text = await res.text();
  if (res.status >= 400) throw toApiError(res.status, text);
  return (text === "" ? undefined : JSON.parse(text)) as T;
}

function toApiError(status: number, text: string): KubeApiError {
  try {
    const s = JSON.parse(text) as { kind?: string; reason?: string; message?: string };
    if (s.kind === "Status") return new KubeApiError(status, s.reason ?? "Unknown", s.message ?? text);
  } catch {
    // not JSON: fall through to the raw text
  }
  return new KubeApiError(status, "Unknown", text.slice(0, 500) || `HTTP ${status}`);
}

/** The REST path of a resource collection: core group under /api, others under /apis. */
export function resourcePath(r: {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
}): string {
  const base = r.group === "" ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespace !== undefined ? `/namespaces/${encodeURIComponent(r.namespace)}` : "";
  const name = r.name !== undefined ? `/${encodeURIComponent(r.name)}` : "";
  return `${base}${ns}/${r.plural}${name}`;
}
