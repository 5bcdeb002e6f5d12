// Calling one webhook over HTTPS the way the apiserver does: the configuration's caBundle as
// the only trust root, `<service>.<namespace>.svc` as the TLS server name for service
// references, `?timeout=Ns` on the URL, and transport errors phrased as Go phrases them so the
// `failed calling webhook` message reads like the real one.
import { createHash } from "node:crypto";
import { Agent, request } from "node:https";
import type { Webhook } from "./match.ts";

export interface Target {
  /** The URL as the apiserver names it in errors (https://svc.ns.svc:443/path?timeout=10s). */
  displayUrl: string;
  host: string;
  port: number;
  path: string;
  servername: string;
}

export type ServiceResolver = (
  namespace: string,
  name: string,
  port: number,
) => { host: string; port: number } | undefined;

export class CallError extends Error {}

/** Where to send a webhook's review; throws CallError when a service cannot be resolved. */
export function targetOf(w: Webhook, resolve: ServiceResolver): Target {
  const timeout = `timeout=${w.timeoutSeconds}s`;
  const cc = w.clientConfig;
  if (cc.url !== undefined) {
    const u = new URL(cc.url);
    u.search = u.search === "" ? `?${timeout}` : `${u.search}&${timeout}`;
    const host = u.hostname.replace(/^\[|\]$/g, "");
    return {
      displayUrl: u.toString(),
      host,
      port: Number(u.port || 443),
      path: u.pathname + u.search,
      servername: host,
    };
  }
  const svc = cc.service!;
  const port = svc.port ?? 443;
  const path = `${svc.path ?? ""}?${timeout}`;
  const servername = `${svc.name}.${svc.namespace}.svc`;
  const displayUrl = `https://${servername}:${port}${path}`;
  const addr = resolve(svc.namespace, svc.name, port);
  if (addr === undefined) throw new CallError(`Post "${displayUrl}": service "${svc.name}" not found`);
  return { displayUrl, host: addr.host, port: addr.port, path, servername };
}

const isIp = (h: string): boolean => /^\d+\.\d+\.\d+\.\d+$/.test(h) || h.includes(":");

/** Go's x509.HostnameError, as the apiserver (built with Go 1.17) prints it. */
function hostnameError(host: string, subjectAltName: string): string {
  const sans = subjectAltName.split(", ");
  const of = (prefix: string): string[] => sans.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  if (isIp(host)) {
    const ips = of("IP Address:");
    return ips.length === 0
      ? `x509: cannot validate certificate for ${host} because it doesn't contain any IP SANs`
      : `x509: certificate is valid for ${ips.join(", ")}, not ${host}`;
  }
  const names = of("DNS:");
  return names.length === 0
    ? `x509: certificate is not valid for any names, but wanted to match ${host}`
    : `x509: certificate is valid for ${names.join(", ")}, not ${host}`;
}

function goError(err: NodeJS.ErrnoException & { cert?: { subjectaltname?: string } }, t: Target): string {
  switch (err.code) {
    case "ECONNREFUSED":
      return `dial tcp ${t.host}:${t.port}: connect: connection refused`;
    case "ECONNRESET":
      return `read tcp ${t.host}:${t.port}: read: connection reset by peer`;
    case "ENOTFOUND":
      return `dial tcp: lookup ${t.host}: no such host`;
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
      return "x509: certificate signed by unknown authority";
    case "CERT_HAS_EXPIRED":
      return "x509: certificate has expired or is not yet valid";
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return hostnameError(t.servername, err.cert?.subjectaltname ?? "");
    default:
      return err.message;
  }
}

/**
 * Keep-alive connections per webhook endpoint and trust root, as the apiserver keeps them: a
 * TLS handshake per admission call would dominate when thousands of pods are created.
 */
export class WebhookAgents {
  private readonly agents = new Map<string, Agent>();

  get(t: Target, ca: string | undefined): Agent {
    const key = `${t.host}:${t.port}|${t.servername}|${createHash("sha256")
      .update(ca ?? "")
      .digest("hex")}`;
    let a = this.agents.get(key);
    if (a === undefined) {
      a = new Agent({ keepAlive: true, maxSockets: 64, ca, servername: isIp(t.servername) ? undefined : t.servername });
      this.agents.set(key, a);
    }
    return a;
  }

  destroy(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

/** POSTs the review and returns the parsed JSON answer; throws CallError with the Go-style text. */
export function postReview(
  t: Target,
  caBundle: string | undefined,
  review: unknown,
  timeoutSeconds: number,
  agents?: WebhookAgents,
): Promise<unknown> {
  const body = Buffer.from(JSON.stringify(review));
  const ca = caBundle !== undefined && caBundle !== "" ? Buffer.from(caBundle, "base64").toString("utf8") : undefined;
  return new Promise((resolve, reject) => {
    const fail = (msg: string): void => reject(new CallError(`Post "${t.displayUrl}": ${msg}`));
    const req = request(
      {
        host: t.host,
        port: t.port,
        path: t.path,
        method: "POST",
        ca,
        servername: isIp(t.servername) ? undefined : t.servername,
        headers: { "content-type": "application/json", accept: "application/json, */*", "content-length": body.length },
        timeout: timeoutSeconds * 1000,
        agent: agents !== undefined ? agents.get(t, ca) : false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e) => fail(e.message));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 500) >= 300) {
            fail(`an error on the server ("${text.slice(0, 200)}") has prevented the request from succeeding`);
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new CallError(`received invalid webhook response: the response body is not JSON`));
          }
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      fail("context deadline exceeded");
    }, timeoutSeconds * 1000);
    req.on("close", () => clearTimeout(timer));
    req.on("timeout", () => {
      req.destroy();
      fail("context deadline exceeded");
    });
    req.on("error", (e) => fail(goError(e, t)));
    req.end(body);
  });
}
