// A small real HTTPS admission webhook for the playground's tests: it records every
// AdmissionReview it receives and answers with whatever the test's `decide` returns.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { CertificateAuthority, LeafOptions } from "../../../../src/shared/pki.ts";

export interface ReviewedObject {
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export interface AdmissionRequest {
  uid: string;
  operation: string;
  name?: string;
  namespace?: string;
  subResource?: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  object: ReviewedObject | null;
  oldObject: ReviewedObject | null;
  dryRun: boolean;
  options: { kind: string; dryRun?: string[]; fieldManager?: string; fieldValidation?: string };
  userInfo: { username: string; groups: string[] };
}

export interface Review {
  path: string;
  request: AdmissionRequest;
}

export type Decide = (r: Review) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface TestWebhook {
  port: number;
  caBundle: string;
  reviews: Review[];
  decide: Decide;
  url(path: string): string;
  stop(): Promise<void>;
}

export const allow = (): Record<string, unknown> => ({ allowed: true });

/** A webhook serving a certificate from `ca` for localhost, 127.0.0.1 and `dnsNames` (or exactly `leaf`). */
export async function startWebhook(
  ca: CertificateAuthority,
  dnsNames: string[] = [],
  leafOptions?: LeafOptions,
): Promise<TestWebhook> {
  const leaf = ca.issue(
    leafOptions ?? { commonName: "test-webhook", dnsNames: ["localhost", ...dnsNames], ipAddresses: ["127.0.0.1"] },
  );
  const hook: TestWebhook = {
    port: 0,
    caBundle: Buffer.from(ca.certPem).toString("base64"),
    reviews: [],
    decide: allow,
    url: (path) => `https://127.0.0.1:${hook.port}${path}`,
    stop: () => new Promise((done) => server.close(() => done())),
  };
  const server: Server = createServer({ key: leaf.keyPem, cert: leaf.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        const review: Review = { path: req.url ?? "", request: body.request };
        hook.reviews.push(review);
        const response = { uid: body.request.uid, ...(await hook.decide(review)) };
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response }));
      })();
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  hook.port = (server.address() as AddressInfo).port;
  return hook;
}

export function jsonPatch(ops: unknown[]): Record<string, unknown> {
  return { allowed: true, patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(ops)).toString("base64") };
}
