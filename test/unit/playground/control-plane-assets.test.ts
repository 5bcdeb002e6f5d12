// Missing binaries are a failure with directions, never a silent skip.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findAssets, MissingAssetsError } from "../../../src/playground/control-plane/assets.ts";

describe("control-plane assets", () => {
  it("names what is missing, where it looked, and how to get it", () => {
    const empty = mkdtempSync(join(tmpdir(), "podid-assets-"));
    try {
      assert.throws(
        () => findAssets({ KUBEBUILDER_ASSETS: empty, PATH: "" }),
        (e: unknown) =>
          e instanceof MissingAssetsError &&
          e.message.includes(`KUBEBUILDER_ASSETS=${empty}`) &&
          e.message.includes("kube-apiserver, kube-controller-manager") &&
          e.message.includes("setup-envtest") &&
          e.message.includes("etcd-server"),
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("finds the checkout's binaries by default", () => {
    const a = findAssets({ PATH: process.env.PATH });
    assert.match(a.apiServer, /kube-apiserver$/);
    assert.match(a.etcd, /etcd$/);
  });
});
