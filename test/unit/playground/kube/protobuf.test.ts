import assert from "node:assert/strict";
import { decodeKubeProtobuf } from "../../../../src/playground/kube/protobuf.ts";
import { ApiError } from "../../../../src/playground/kube/status.ts";

// A minimal protobuf writer, enough to build what kubectl sends.
const varint = (n: number): Buffer => {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
};
const bytes = (field: number, b: Buffer | string): Buffer => {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b);
  return Buffer.concat([varint(field * 8 + 2), varint(buf.length), buf]);
};
const int = (field: number, n: number): Buffer => Buffer.concat([varint(field * 8), varint(n)]);
const entry = (field: number, k: string, v: string | Buffer): Buffer =>
  bytes(field, Buffer.concat([bytes(1, k), bytes(2, v)]));
const envelope = (apiVersion: string, kind: string, raw: Buffer): Buffer =>
  Buffer.concat([
    Buffer.from([0x6b, 0x38, 0x73, 0x00]),
    bytes(1, Buffer.concat([bytes(1, apiVersion), bytes(2, kind)])),
    bytes(2, raw),
  ]);

describe("playground kube protobuf bodies", () => {
  it("decodes kubectl's ConfigMap with metadata, labels and data", () => {
    const meta = Buffer.concat([bytes(1, "settings"), bytes(3, "team-a"), entry(11, "app", "web")]);
    const raw = Buffer.concat([bytes(1, meta), entry(2, "a", "b"), entry(3, "bin", Buffer.from([1, 2]))]);
    assert.deepEqual(decodeKubeProtobuf(envelope("v1", "ConfigMap", raw)), {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "settings", namespace: "team-a", labels: { app: "web" } },
      data: { a: "b" },
      binaryData: { bin: "AQI=" },
    });
  });

  it("decodes a TokenRequest with audiences and expiration", () => {
    const spec = Buffer.concat([bytes(1, "podid-nmi"), bytes(1, "api"), int(4, 3600)]);
    const out = decodeKubeProtobuf(
      envelope("authentication.k8s.io/v1", "TokenRequest", Buffer.concat([bytes(1, bytes(1, "app")), bytes(2, spec)])),
    );
    assert.deepEqual(out.spec, { audiences: ["podid-nmi", "api"], expirationSeconds: 3600 });
  });

  it("decodes a Deployment's template containers", () => {
    const container = Buffer.concat([bytes(1, "nginx"), bytes(2, "nginx:1.27")]);
    const template = Buffer.concat([bytes(1, entry(11, "app", "web")), bytes(2, bytes(2, container))]);
    const spec = Buffer.concat([int(1, 2), bytes(2, entry(1, "app", "web")), bytes(3, template)]);
    const out = decodeKubeProtobuf(
      envelope("apps/v1", "Deployment", Buffer.concat([bytes(1, bytes(1, "web")), bytes(2, spec)])),
    ) as { spec: { replicas: number; selector: unknown; template: { spec: { containers: unknown } } } };
    assert.equal(out.spec.replicas, 2);
    assert.deepEqual(out.spec.selector, { matchLabels: { app: "web" } });
    assert.deepEqual(out.spec.template.spec.containers, [{ name: "nginx", image: "nginx:1.27" }]);
  });

  it("refuses kinds it does not decode and garbage with 415 naming the problem", () => {
    assert.throws(
      () => decodeKubeProtobuf(envelope("v1", "Service", Buffer.alloc(0))),
      (e) => e instanceof ApiError && e.code === 415 && /v1\/Service/.test(JSON.stringify(e.toStatus())),
    );
    assert.throws(
      () => decodeKubeProtobuf(Buffer.from("{}")),
      (e) => e instanceof ApiError && e.code === 415,
    );
    assert.throws(
      () => decodeKubeProtobuf(Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), Buffer.from([0x0a, 0x7f])])),
      (e) => e instanceof ApiError && e.code === 415,
    );
  });
});
