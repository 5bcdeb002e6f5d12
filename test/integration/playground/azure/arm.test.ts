// The Resource Manager stand-in driven by the real ComputeManagementClient (reads, identity
// updates with Azure-AsyncOperation polling, and the failures ARM really gives, observed as
// RestError status and code) and the real ManagedServiceIdentityClient (identity reads).
import assert from "node:assert/strict";
import { ComputeManagementClient } from "@azure/arm-compute";
import { ManagedServiceIdentityClient } from "@azure/arm-msi";
import { RestError } from "@azure/core-rest-pipeline";
import {
  reconcilerCredential,
  startTestAzure,
  staticCredential,
  type AzureFixture,
  resetAzure,
} from "../../../helpers/azure.ts";
import { identityId, scaleSetId, vmId } from "../../../../src/playground/azure/ids.ts";

describe("playground ARM stand-in with ComputeManagementClient", () => {
  let f: AzureFixture;
  let client: ComputeManagementClient;
  const rg = "mc_podid_playground_westeurope";
  const vmss = "aks-nodepool1-12345678-vmss";
  const idOf = (name: string): string => {
    const i = f.cloud.identities.find((x) => x.name === name)!;
    return identityId(f.cloud.subscriptionId, i.resourceGroup, i.name);
  };
  const poll = { updateIntervalInMs: 20 };

  before(async () => {
    f = await startTestAzure({ lroDurationMs: 60 });
    client = new ComputeManagementClient(reconcilerCredential(f), f.cloud.subscriptionId, {
      endpoint: f.pg.armUrl,
      tlsOptions: { ca: f.pg.caPem },
      retryOptions: { maxRetries: 0 },
    });
  });
  after(async () => {
    await f?.pg.stop();
  });
  beforeEach(() => resetAzure(f));

  it("reads a scale set, a scale-set VM and a VM", async () => {
    const ss = await client.virtualMachineScaleSets.get(rg, vmss);
    assert.equal(ss.name, vmss);
    assert.equal(ss.orchestrationMode, "Uniform");
    assert.equal(ss.identity?.type, "UserAssigned");
    const inst = await client.virtualMachineScaleSetVMs.get(rg, vmss, "1");
    assert.equal(inst.osProfile?.computerName, "aks-nodepool1-12345678-vmss000001");
    const vm = await client.virtualMachines.get(rg, "aks-standalone-0");
    assert.equal(vm.osProfile?.computerName, "aks-standalone-0");
    assert.equal(f.pg.calls.count({ service: "arm", method: "GET" }), 3);
  });

  it("assigns an identity with polling; IMDS sees it only once the operation completes", async () => {
    const reader = idOf("demo-reader");
    const node = "aks-nodepool1-12345678-vmss000000";
    const before = f.pg.nodeIdentities(node).length;
    const poller = await client.virtualMachineScaleSets.beginUpdate(
      rg,
      vmss,
      { identity: { type: "UserAssigned", userAssignedIdentities: { [reader]: {} } } },
      poll,
    );
    assert.equal(f.pg.nodeIdentities(node).length, before, "not effective while the operation runs");
    const result = await poller.pollUntilDone();
    const keys = Object.keys(result.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase());
    assert.ok(keys.includes(reader.toLowerCase()));
    assert.equal(f.pg.nodeIdentities(node).length, before + 1);
    assert.ok(f.pg.calls.count({ service: "arm", operation: "poll" }) >= 1);
    assert.equal(f.pg.calls.armWrites(), 1);
  });

  it("removes an identity with null and needs type None when the last one goes", async () => {
    const vmName = "aks-standalone-0";
    const kubelet = idOf("podid-playground-agentpool");
    await assert.rejects(
      client.virtualMachines.beginUpdateAndWait(
        rg,
        vmName,
        { identity: { type: "UserAssigned", userAssignedIdentities: { [kubelet]: null as unknown as object } } },
        poll,
      ),
      (e: unknown) => e instanceof RestError && e.statusCode === 400 && e.code === "InvalidParameter",
    );
    const vm = await client.virtualMachines.beginUpdateAndWait(rg, vmName, { identity: { type: "None" } }, poll);
    assert.equal(vm.identity, undefined);
    const model = f.pg.identitiesOf(vmId(f.cloud.subscriptionId, rg, vmName));
    assert.deepEqual(model?.effective, { system: false, userAssigned: [] });
  });

  it("refuses a second write while an operation runs: 409 Conflict", async () => {
    const writer = idOf("demo-writer");
    const first = await client.virtualMachineScaleSets.beginUpdate(
      rg,
      vmss,
      { identity: { type: "UserAssigned", userAssignedIdentities: { [writer]: {} } } },
      poll,
    );
    await assert.rejects(
      client.virtualMachineScaleSets.beginUpdateAndWait(rg, vmss, { tags: { a: "b" } }, poll),
      (e: unknown) => e instanceof RestError && e.statusCode === 409 && e.code === "Conflict",
    );
    await first.pollUntilDone();
  });

  it("fails the whole request when one identity does not exist: 400 FailedIdentityOperation", async () => {
    const missing = identityId(f.cloud.subscriptionId, "podid-identities", "does-not-exist");
    const other = idOf("other-team");
    await assert.rejects(
      client.virtualMachineScaleSets.beginUpdateAndWait(
        rg,
        vmss,
        { identity: { type: "UserAssigned", userAssignedIdentities: { [other]: {}, [missing]: {} } } },
        poll,
      ),
      (e: unknown) => e instanceof RestError && e.statusCode === 400 && e.code === "FailedIdentityOperation",
    );
    const ids = f.pg.identitiesOf(scaleSetId(f.cloud.subscriptionId, rg, vmss))!;
    assert.ok(
      !ids.model.userAssigned.some((i) => i.toLowerCase() === other.toLowerCase()),
      "nothing of the request was applied",
    );
  });

  it("refuses more than 150 identities in one request", async () => {
    const many = Object.fromEntries(
      Array.from({ length: 151 }, (_, i) => [identityId(f.cloud.subscriptionId, "podid-identities", `x${i}`), {}]),
    );
    await assert.rejects(
      client.virtualMachineScaleSets.beginUpdateAndWait(
        rg,
        vmss,
        { identity: { type: "UserAssigned", userAssignedIdentities: many } },
        poll,
      ),
      (e: unknown) =>
        e instanceof RestError &&
        e.statusCode === 400 &&
        e.code === "FailedIdentityOperation" &&
        /exceed limit '150'/.test(e.message),
    );
  });

  it("throttles writes beyond the burst: 429 OperationNotAllowed with Retry-After", async () => {
    f.pg.faults.set({ conflicts: false });
    f.pg.setLroDuration(0);
    try {
      for (let i = 0; i < 12; i++)
        await client.virtualMachineScaleSets.beginUpdateAndWait(rg, vmss, { tags: { n: String(i) } }, poll);
      const err = await client.virtualMachineScaleSets.beginUpdateAndWait(rg, vmss, { tags: { n: "13" } }, poll).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof RestError);
      assert.equal(err.statusCode, 429);
      assert.equal(err.code, "OperationNotAllowed");
      assert.ok(Number(err.response?.headers.get("retry-after")) >= 1);
      assert.equal(f.pg.calls.armWrites({ status: 429 }), 1);
      assert.equal(f.pg.calls.armWrites(), 13);
    } finally {
      f.pg.setLroDuration(60);
    }
  });

  it("is retried by a default client after Retry-After (the SDK's own throttling policy)", async () => {
    const patient = new ComputeManagementClient(reconcilerCredential(f), f.cloud.subscriptionId, {
      endpoint: f.pg.armUrl,
      tlsOptions: { ca: f.pg.caPem },
    });
    f.pg.faults.injectArm({
      status: 429,
      code: "OperationNotAllowed",
      message: "throttled",
      retryAfterSeconds: 1,
      methods: ["GET"],
    });
    const ss = await patient.virtualMachineScaleSets.get(rg, vmss);
    assert.equal(ss.name, vmss);
    assert.deepEqual(
      f.pg.calls.list({ service: "arm" }).map((c) => c.status),
      [429, 200],
    );
  });

  it("answers a missing scale set with 404 ResourceNotFound", async () => {
    await assert.rejects(
      client.virtualMachineScaleSets.get(rg, "nope"),
      (e: unknown) => e instanceof RestError && e.statusCode === 404 && e.code === "ResourceNotFound",
    );
  });

  it("refuses a token for another audience with 401", async () => {
    const token = f.pg.mintToken("https://storage.azure.com", { clientId: "x", objectId: "y", authMethod: "1" }).token;
    const other = new ComputeManagementClient(staticCredential(token), f.cloud.subscriptionId, {
      endpoint: f.pg.armUrl,
      tlsOptions: { ca: f.pg.caPem },
      retryOptions: { maxRetries: 0 },
    });
    await assert.rejects(
      other.virtualMachineScaleSets.get(rg, vmss),
      (e: unknown) => e instanceof RestError && e.statusCode === 401 && e.code === "InvalidAuthenticationTokenAudience",
    );
  });
});

describe("playground ARM stand-in with ManagedServiceIdentityClient (@azure/arm-msi)", () => {
  let f: AzureFixture;
  const client = (): ManagedServiceIdentityClient =>
    new ManagedServiceIdentityClient(reconcilerCredential(f), f.cloud.subscriptionId, {
      endpoint: f.pg.armUrl,
      $host: f.pg.armUrl,
      credentialScopes: ["https://management.azure.com/.default"],
      tlsOptions: { ca: f.pg.caPem },
      retryOptions: { maxRetries: 0 },
    });
  before(async () => {
    f = await startTestAzure({});
  });
  after(async () => {
    await f?.pg.stop();
  });
  beforeEach(() => resetAzure(f));

  it("GETs a user-assigned identity as Azure answers: client and principal ID, resourcegroups in lower case", async () => {
    const reader = f.cloud.identities.find((i) => i.name === "demo-reader")!;
    const got = await client().userAssignedIdentities.get(reader.resourceGroup, reader.name);
    assert.equal(got.clientId, reader.clientId);
    assert.equal(got.principalId, reader.principalId);
    assert.equal(got.tenantId, f.cloud.tenantId);
    assert.equal(got.type, "Microsoft.ManagedIdentity/userAssignedIdentities");
    assert.equal(
      got.id,
      identityId(f.cloud.subscriptionId, reader.resourceGroup, reader.name).replace("resourceGroups", "resourcegroups"),
    );
  });

  it("answers an unknown identity with 404 ResourceNotFound", async () => {
    await assert.rejects(
      client().userAssignedIdentities.get("podid-identities", "nobody"),
      (e: unknown) => e instanceof RestError && e.statusCode === 404 && e.code === "ResourceNotFound",
    );
  });

  it("answers a caller without read on the identity with 403 AuthorizationFailed naming the action and scope", async () => {
    const reader = f.cloud.identities.find((i) => i.name === "demo-reader")!;
    const id = identityId(f.cloud.subscriptionId, reader.resourceGroup, reader.name);
    f.pg.faults.unreadableIdentities.add(id.toLowerCase());
    await assert.rejects(
      client().userAssignedIdentities.get(reader.resourceGroup, reader.name),
      (e: unknown) =>
        e instanceof RestError &&
        e.statusCode === 403 &&
        e.code === "AuthorizationFailed" &&
        e.message.includes("'Microsoft.ManagedIdentity/userAssignedIdentities/read' over scope"),
    );
  });
});
