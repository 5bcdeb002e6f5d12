// config/nmi agrees with the program: the DaemonSet passes only flags `podid nmi` knows, runs
// with hostNetwork and NET_ADMIN as its only capability, and the RBAC grants what the NMI
// reads and nothing it writes besides TokenReviews.
import { describe, it } from "mocha";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { nmiCommand } from "../../../src/nmi/command.ts";

interface Container {
  args: string[];
  securityContext: { capabilities: unknown; allowPrivilegeEscalation: boolean };
}
interface Manifest {
  kind: string;
  spec: { template: { spec: { hostNetwork: boolean; containers: Container[] } } };
  rules: Array<{ resources: string[]; verbs: string[] }>;
}
const load = (file: string): Manifest[] =>
  parseAllDocuments(readFileSync(new URL(`../../../config/nmi/${file}`, import.meta.url), "utf8")).map(
    (d) => d.toJSON() as Manifest,
  );

describe("config/nmi", () => {
  const [ds] = load("daemonset.yaml");
  const pod = ds!.spec.template.spec;
  const container = pod.containers[0]!;

  it("the DaemonSet's arguments are flags podid nmi accepts", () => {
    const [sub, ...args] = container.args;
    assert.equal(sub, "nmi");
    const parsed = nmiCommand().parseOptions(args);
    assert.deepEqual(parsed.unknown, []);
    assert.deepEqual(parsed.operands, []);
  });

  it("runs on the host network with NET_ADMIN only", () => {
    assert.equal(pod.hostNetwork, true);
    assert.deepEqual(container.securityContext.capabilities, { drop: ["ALL"], add: ["NET_ADMIN"] });
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  });

  it("RBAC: reads pods and podid's kinds, gets Secrets, creates TokenReviews and Events, nothing else", () => {
    const role = load("rbac.yaml").find((d) => d.kind === "ClusterRole")!;
    const verbs = new Set(role.rules.flatMap((r) => r.verbs));
    assert.deepEqual([...verbs].sort(), ["create", "get", "list", "patch", "watch"]);
    const creates = role.rules.filter((r) => r.verbs.includes("create"));
    assert.deepEqual(
      creates.flatMap((r) => r.resources),
      ["tokenreviews", "events"],
    );
  });
});
