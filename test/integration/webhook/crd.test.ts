// podid's CRDs (config/crd) on the playground API server with the real kubectl: they are
// accepted (approval annotation), the seed's manifests apply unchanged and read back as the
// parsers expect, both field spellings survive pruning, policy defaults are filled in,
// printer columns show, and AzureAssignedIdentity has a status subresource.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { startTestCluster, type TestCluster } from "../../helpers/cluster.ts";
import {
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../../../src/model/parse.ts";
import { SEED, seedDocs } from "../../fixtures/seed/index.ts";
import { kubectl, type Run } from "../../helpers/kubectl.ts";

const CRD_DIR = fileURLToPath(new URL("../../../config/crd/", import.meta.url));

describe("config/crd with kubectl", function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let k: (args: string[], stdin?: string) => Promise<Run>;
  const json = async (args: string[]): Promise<Record<string, unknown>> => {
    const r = await k([...args, "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  before(async () => {
    cluster = await startTestCluster({ simulateKubelet: false });
    k = (args, stdin) => kubectl(cluster.kubeconfigPath, args, stdin);
  });
  after(async () => {
    await cluster?.stop();
  });

  it("applies the CRDs with kustomize and they become Established", async () => {
    const r = await k(["apply", "-k", CRD_DIR]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, 5);
    const plurals = [
      "azureidentities",
      "azureidentitybindings",
      "azurepodidentityexceptions",
      "azurepodidentitypolicies",
      "azureassignedidentities",
    ];
    const w = await k([
      "wait",
      "--for=condition=Established",
      ...plurals.map((p) => `crd/${p}.aadpodidentity.k8s.io`),
      "--timeout=20s",
    ]);
    assert.equal(w.code, 0, w.stderr);
  });

  it("applies the seed's manifests unchanged; they read back as the parsers expect", async () => {
    const crs = seedDocs().filter((d) => d.kind !== "Deployment");
    const r = await k(["apply", "-n", "default", "-f", "-"], crs.map((d) => stringify(d)).join("---\n"));
    assert.equal(r.code, 0, r.stderr);
    const id = await json(["get", "azureidentity", SEED.identityName, "-n", "default"]);
    assert.deepEqual(id.spec, { type: 0, ResourceID: SEED.resourceID, ClientID: SEED.clientID });
    assert.equal(parseAzureIdentity(id).ok, true);
    const b = await json(["get", "azureidentitybinding", SEED.bindingName, "-n", "default"]);
    assert.equal(parseAzureIdentityBinding(b).ok, true);
    const e = await json(["get", "azurepodidentityexception", "aad-identity-exception", "-n", "default"]);
    assert.deepEqual(e.spec, { PodLabels: { noaad: true } });
    const pe = parseAzurePodIdentityException(e);
    assert.deepEqual(pe.ok ? pe.value.podLabels : undefined, { noaad: "true" });
  });

  it("keeps lower-case spellings too (AAD Pod Identity read fields case-insensitively)", async () => {
    const obj = {
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzureIdentity",
      metadata: { name: "lower", namespace: "default" },
      spec: { type: 0, resourceID: SEED.resourceID, clientID: SEED.clientID },
    };
    const r = await k(["apply", "-f", "-"], JSON.stringify(obj));
    assert.equal(r.code, 0, r.stderr);
    const back = await json(["get", "azureidentity", "lower", "-n", "default"]);
    assert.deepEqual(back.spec, obj.spec);
    assert.equal(parseAzureIdentity(back).ok, true);
  });

  it("fills in policy defaults (cluster-scoped)", async () => {
    const pol = {
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzurePodIdentityPolicy",
      metadata: { name: "team-a" },
      spec: { namespaceSelector: { matchLabels: { team: "a" } } },
    };
    const r = await k(["apply", "-f", "-"], JSON.stringify(pol));
    assert.equal(r.code, 0, r.stderr);
    const back = await json(["get", "azurepodidentitypolicy", "team-a"]);
    const p = parseAzurePodIdentityPolicy(back);
    assert.ok(p.ok);
    assert.deepEqual([p.value.enforcement, p.value.onUnmatchedLabel], ["Enforce", "Deny"]);
    assert.equal((back.metadata as { namespace?: string }).namespace, undefined);
  });

  it("shows printer columns", async () => {
    const r = await k(["get", "azureidentities", "-n", "default"]);
    assert.equal(r.code, 0, r.stderr);
    const header = r.stdout.split("\n")[0]!.split(/\s+/);
    assert.deepEqual(header, ["NAME", "TYPE", "CLIENT-ID", "AGE"]);
    assert.match(r.stdout, new RegExp(`${SEED.identityName}\\s+0\\s+${SEED.clientID}`));
    const p = await k(["get", "azurepodidentitypolicies"]);
    assert.match(p.stdout, /team-a\s+Enforce\s+Deny/);
  });

  it("gives AzureAssignedIdentity a status subresource", async () => {
    const aai = {
      apiVersion: "aadpodidentity.k8s.io/v1",
      kind: "AzureAssignedIdentity",
      metadata: { name: "p-myapp-identity", namespace: "default" },
      spec: {
        pod: "p",
        podNamespace: "default",
        podUID: "u",
        nodeName: "n",
        azureIdentityRef: {
          name: SEED.identityName,
          namespace: "default",
          type: 0,
          clientID: SEED.clientID,
          resourceID: SEED.resourceID,
        },
        azureBindingRef: { name: SEED.bindingName, namespace: "default", selector: SEED.selector },
      },
    };
    const r = await k(["create", "-f", "-"], JSON.stringify(aai));
    assert.equal(r.code, 0, r.stderr);
    const patch = [
      "patch",
      "azureassignedidentity",
      "p-myapp-identity",
      "-n",
      "default",
      "--subresource=status",
      "--type=merge",
      "-p",
    ];
    const s = await k([...patch, JSON.stringify({ status: { status: "Assigned", target: "/subscriptions/x" } })]);
    assert.equal(s.code, 0, s.stderr);
    const back = await json(["get", "azureassignedidentity", "p-myapp-identity", "-n", "default"]);
    assert.deepEqual(back.status, { status: "Assigned", target: "/subscriptions/x" });
  });
});
