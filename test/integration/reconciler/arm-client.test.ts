// The reconciler's Resource Manager adapter against the playground's stand-in, through the
// real @azure/arm-compute client and a real @azure/identity credential.
import assert from "node:assert/strict";
import { createArmVmIdentityClient } from "../../../src/reconciler/arm-client.ts";
import { buildPatches } from "../../../src/reconciler/plan.ts";
import { identityKey, targetFor, parseProviderId, type Target } from "../../../src/reconciler/target.ts";
import {
  invalidIdentities,
  isConflict,
  isNotFound,
  isThrottled,
  type VmIdentityClient,
} from "../../../src/reconciler/vm-client.ts";
import { nodesOf } from "../../../src/playground/azure/index.ts";
import { identityId } from "../../../src/playground/azure/ids.ts";
import { reconcilerCredential, startTestAzure, type AzureFixture, resetAzure } from "../../helpers/azure.ts";

describe("reconciler ARM adapter against the Resource Manager stand-in", () => {
  let f: AzureFixture;
  let arm: VmIdentityClient;
  let uniform: Target;
  let standalone: Target;
  const idOf = (name: string): string => {
    const i = f.cloud.identities.find((x) => x.name === name)!;
    return identityId(f.cloud.subscriptionId, i.resourceGroup, i.name);
  };
  const target = (node: string): Target => {
    const loc = parseProviderId(nodesOf(f.cloud).find((n) => n.name === node)!.providerID);
    assert.ok(loc.ok);
    return targetFor(loc.value, "Uniform");
  };

  before(async () => {
    f = await startTestAzure({ lroDurationMs: 30 });
    arm = createArmVmIdentityClient({
      credential: reconcilerCredential(f),
      endpoint: f.pg.armUrl,
      caPem: f.pg.caPem,
      pollIntervalMs: 10,
    });
    uniform = target("aks-nodepool1-12345678-vmss000000");
    standalone = target("aks-standalone-0");
  });
  after(async () => {
    await f?.pg.stop();
  });
  beforeEach(() => resetAzure(f));

  it("reads orchestration modes and identities", async () => {
    assert.equal(
      await arm.getOrchestrationMode(f.cloud.subscriptionId, uniform.resourceGroup, "aks-nodepool1-12345678-vmss"),
      "Uniform",
    );
    assert.equal(
      await arm.getOrchestrationMode(f.cloud.subscriptionId, uniform.resourceGroup, "aks-flexpool-87654321-vmss"),
      "Flexible",
    );
    const s = await arm.getIdentities(uniform);
    assert.ok(s.userAssigned.has(identityKey(idOf("podid-playground-agentpool"))));
  });

  it("adds and removes in one PATCH, and clears with type None", async () => {
    const before = await arm.getIdentities(standalone);
    const reader = idOf("demo-reader");
    const [add] = buildPatches(before, new Map([[identityKey(reader), reader]]), new Map());
    const after = await arm.patchIdentities(standalone, add!);
    assert.ok(after?.userAssigned.has(identityKey(reader)));
    const all = new Map([...after!.userAssigned]);
    const patches = buildPatches(after!, new Map(), all);
    assert.deepEqual(patches, [{ type: "None" }]);
    const cleared = await arm.patchIdentities(standalone, patches[0]!);
    assert.equal(cleared?.userAssigned.size ?? 0, 0);
    assert.equal(f.pg.calls.armWrites(), 2);
  });

  it("names the refused identity of a request", async () => {
    const missing = identityId(f.cloud.subscriptionId, "podid-identities", "does-not-exist");
    const writer = idOf("demo-writer");
    const before = await arm.getIdentities(uniform);
    const add = new Map([
      [identityKey(writer), writer],
      [identityKey(missing), missing],
    ]);
    const err = await arm.patchIdentities(uniform, buildPatches(before, add, new Map())[0]!).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.deepEqual(invalidIdentities(err, add.keys()), [identityKey(missing)]);
  });

  it("turns 429 into Retry-After and 409 into a conflict", async () => {
    f.pg.faults.injectArm({ status: 429, code: "OperationNotAllowed", message: "too many", retryAfterSeconds: 3 });
    const patch = { type: "UserAssigned" as const, userAssignedIdentities: { [idOf("demo-reader")]: {} } };
    const e429 = await arm.patchIdentities(uniform, patch).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.deepEqual(isThrottled(e429), { retryAfterMs: 3000 });
    f.pg.faults.injectArm({ status: 409, code: "Conflict", message: "busy" });
    const e409 = await arm.patchIdentities(uniform, patch).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.equal(isConflict(e409), true);
  });

  it("a missing VM is not found", async () => {
    const gone = {
      ...standalone,
      name: "nope",
      id: standalone.id.replace(/[^/]+$/, "nope"),
      key: standalone.key.replace(/[^/]+$/, "nope"),
    };
    const err = await arm.getIdentities(gone).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.equal(isNotFound(err), true);
  });
});
