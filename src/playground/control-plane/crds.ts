// podid's CRDs from config/crd, installed on a cluster as `kubectl apply -k config/crd` would
// (those already there are left as they are), then waited for until every kind is served.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { isAlreadyExists, kubeRequest, resourcePath } from "../../kube/request.ts";
import { GROUP, KINDS, VERSION } from "../../model/constants.ts";

const CRD_DIR = fileURLToPath(new URL("../../../config/crd/", import.meta.url));

export async function installCrds(kc: KubeConfig): Promise<void> {
  for (const file of readdirSync(CRD_DIR).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")) {
    for (const doc of parseAllDocuments(readFileSync(join(CRD_DIR, file), "utf8"))) {
      const body: unknown = doc.toJSON();
      if (body === null) continue;
      try {
        await kubeRequest(kc, {
          method: "POST",
          path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
          body,
        });
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
    }
  }
  for (const k of Object.values(KINDS)) {
    for (let i = 0; ; i++) {
      try {
        await kubeRequest(kc, { path: resourcePath({ group: GROUP, version: VERSION, plural: k.plural }) });
        break;
      } catch (err) {
        if (i > 200) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}
