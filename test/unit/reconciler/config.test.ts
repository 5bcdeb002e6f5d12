// config/reconciler agrees with the program: the Deployment passes only flags `podid
// reconciler` knows, runs two leader-elected replicas, the RBAC grants what the reconciler
// uses and nothing more (no Secrets), and the IMDS exception it creates for itself matches its pods.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { RECONCILER } from "../../../src/model/constants.ts";
import { parseAzurePodIdentityException } from "../../../src/model/parse.ts";
import { matchesAllLabels } from "../../../src/policy/index.ts";
import { imdsException } from "../../../src/reconciler/imds-exception.ts";
import { reconcilerCommand } from "../../../src/reconciler/main.ts";

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: {
    replicas: number;
    template: {
      metadata: { labels: Record<string, string> };
      spec: { serviceAccountName: string; containers: Array<{ args: string[]; env?: Env[] }> };
    };
  };
  rules: Rule[];
}
interface Env {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: { name: string; key: string } };
}
/** config/federation's ConfigMap, as the kubelet fills env vars from it. */
const federationData = (
  parseAllDocuments(
    readFileSync(new URL("../../../config/federation/configmap.yaml", import.meta.url), "utf8"),
  )[0]!.toJSON() as {
    data: Record<string, string>;
  }
).data;
/** The args as the kubelet passes them: `$(VAR)` expanded from the container's env. */
function expanded(args: string[], env: Env[] = []): string[] {
  const vars = new Map(
    env.map((e) => [
      e.name,
      e.value ?? (e.valueFrom?.configMapKeyRef ? federationData[e.valueFrom.configMapKeyRef.key] : undefined),
    ]),
  );
  return args.map((a) => a.replace(/\$\(([A-Z_]+)\)/g, (m, name: string) => vars.get(name) ?? m));
}
const load = (file: string): Doc[] =>
  parseAllDocuments(readFileSync(new URL(`../../../config/reconciler/${file}`, import.meta.url), "utf8")).map(
    (d) => d.toJSON() as Doc,
  );

describe("config/reconciler", () => {
  const [deployment] = load("deployment.yaml");
  const rbac = load("rbac.yaml");

  for (const file of ["deployment.yaml", "credentials-from-secret.yaml"]) {
    it(`${file}: the arguments are flags podid reconciler accepts, with --leader-elect`, () => {
      const container = load(file)[0]!.spec.template.spec.containers[0]!;
      const [sub, ...args] = expanded(container.args, container.env);
      assert.equal(sub, "reconciler");
      const parsed = reconcilerCommand().parseOptions(args);
      assert.deepEqual(parsed.unknown, []);
      assert.deepEqual(parsed.operands, []);
      assert.ok(args.includes("--leader-elect"));
    });
  }

  it("two replicas under the reconciler's ServiceAccount", () => {
    assert.equal(deployment!.spec.replicas, 2);
    const sa = rbac.find((d) => d.kind === "ServiceAccount")!;
    assert.equal(deployment!.spec.template.spec.serviceAccountName, sa.metadata.name);
  });

  it("ClusterRole: reads what decides desired state, writes only AzureAssignedIdentities and Events, never Secrets", () => {
    const rules = rbac.find((d) => d.kind === "ClusterRole")!.rules;
    assert.ok(!rules.some((r) => r.resources.includes("secrets")));
    const writes = rules
      .filter((r) => r.verbs.some((v) => !["get", "list", "watch"].includes(v)))
      .flatMap((r) => r.resources);
    assert.deepEqual(writes.sort(), ["azureassignedidentities", "azureassignedidentities/status", "events"]);
    const reads = new Set(rules.filter((r) => r.verbs.includes("watch")).flatMap((r) => r.resources));
    for (const r of [
      "pods",
      "nodes",
      "namespaces",
      "azureidentities",
      "azureidentitybindings",
      "azurepodidentityexceptions",
      "azurepodidentitypolicies",
      "azureassignedidentities",
    ]) {
      assert.ok(reads.has(r), `watches ${r}`);
    }
  });

  it("Role in podid's namespace: its own Lease, ConfigMaps, and creating its IMDS exception", () => {
    const role = rbac.find((d) => d.kind === "Role")!;
    assert.deepEqual([...new Set(role.rules.flatMap((r) => r.resources))].sort(), [
      "azurepodidentityexceptions",
      "configmaps",
      "leases",
    ]);
    const exceptions = role.rules.filter((r) => r.resources.includes("azurepodidentityexceptions"));
    assert.deepEqual(
      exceptions.flatMap((r) => r.verbs),
      ["create"],
    );
    const named = role.rules.filter((r) => r.resourceNames !== undefined);
    assert.deepEqual(
      named.flatMap((r) => r.resourceNames),
      [RECONCILER.leaseName],
    );
  });

  it("the IMDS exception it creates is valid and matches the reconciler's pods", () => {
    const parsed = parseAzurePodIdentityException(imdsException(deployment!.metadata.namespace!));
    assert.ok(parsed.ok);
    assert.equal(parsed.value.metadata.namespace, deployment!.metadata.namespace);
    assert.ok(matchesAllLabels(deployment!.spec.template.metadata.labels, parsed.value.podLabels));
  });
});
