// The ARM stand-in's HTTP edge through app.inject (no sockets), with a fake clock so
// long-running operations complete when the test says.
import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import { buildArmApp } from "../../../../src/playground/azure/arm-app.ts";
import { ArmState } from "../../../../src/playground/azure/arm-state.ts";
import { CallLog } from "../../../../src/playground/azure/calls.ts";
import { defaultCloud } from "../../../../src/playground/azure/cloud.ts";
import { Faults } from "../../../../src/playground/azure/faults.ts";
import { identityId } from "../../../../src/playground/azure/ids.ts";
import { nodeIdentities } from "../../../../src/playground/azure/imds-app.ts";
import { createSigningKey, mintAccessToken } from "../../../../src/playground/azure/tokens.ts";

describe("ARM stand-in routes (inject)", () => {
  const cloud = defaultCloud();
  const key = createSigningKey();
  let t = 1_800_000_000_000;
  let state: ArmState;
  let calls: CallLog;
  let faults: Faults;
  let app: FastifyInstance;
  const sub = cloud.subscriptionId;
  const rgPath = `/subscriptions/${sub}/resourceGroups/mc_podid_playground_westeurope/providers`;
  const vmssPath = `${rgPath}/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss`;
  const reader = identityId(sub, "podid-identities", "demo-reader");
  const auth = (): Record<string, string> => ({
    authorization: `Bearer ${mintAccessToken({ key, tenantId: cloud.tenantId, audience: "https://management.azure.com/", subject: { clientId: "c", objectId: "o", authMethod: "1" }, nowSeconds: Math.floor(t / 1000), lifetimeSeconds: 3600 }).token}`,
  });
  const call = async (method: "GET" | "PUT" | "PATCH", url: string, payload?: unknown) => {
    const res = await app.inject({
      method,
      url: url.includes("?") ? url : `${url}?api-version=2026-03-01`,
      headers: auth(),
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read loosely in tests
    return { status: res.statusCode, headers: res.headers, body: res.json<Record<string, any>>() };
  };

  beforeEach(() => {
    state = new ArmState(cloud, { now: () => t, lroDurationMs: 1000, throttle: { burst: 12, refillPerMinute: 4 } });
    calls = new CallLog();
    faults = new Faults();
    app = buildArmApp({ state, calls, faults, publicKey: key.publicKey });
  });
  afterEach(async () => {
    await app.close();
  });

  it("runs a PATCH as a long-running operation: model at once, machines when it completes", async () => {
    const patched = await call("PATCH", vmssPath, {
      identity: { type: "UserAssigned", userAssignedIdentities: { [reader]: {} } },
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.properties.provisioningState, "Updating");
    const op = String(patched.headers["azure-asyncoperation"]);
    assert.match(
      op,
      /^https:\/\/localhost(:\d+)?\/subscriptions\/.*\/providers\/Microsoft\.Compute\/locations\/westeurope\/operations\/[0-9a-f-]+\?api-version=2026-03-01$/,
    );
    const node = state.nodes.get("aks-nodepool1-12345678-vmss000000")!;
    assert.equal(nodeIdentities(state, node).user.length, 1, "only the kubelet identity so far");
    const path = new URL(op).pathname + new URL(op).search;
    assert.equal((await call("GET", path)).body.status, "InProgress");
    t += 1000;
    assert.equal((await call("GET", path)).body.status, "Succeeded");
    assert.equal(nodeIdentities(state, node).user.length, 2);
    const got = await call("GET", vmssPath);
    assert.equal(got.body.properties.provisioningState, "Succeeded");
    assert.ok(
      Object.keys(got.body.identity.userAssignedIdentities as object).includes(
        reader.replace("/resourceGroups/", "/resourcegroups/"),
      ),
      "ARM echoes keys with lower-case resourcegroups",
    );
    assert.equal(calls.count({ operation: "poll" }), 2);
    assert.equal(calls.armWrites({ target: vmssPath }), 1);
  });

  it("lets a write supersede a running one when conflicts are switched off", async () => {
    faults.set({ conflicts: false });
    assert.equal((await call("PATCH", vmssPath, { tags: { a: "1" } })).status, 200);
    assert.equal((await call("PATCH", vmssPath, { tags: { a: "2" } })).status, 200);
    faults.set({ conflicts: true });
    assert.equal((await call("PATCH", vmssPath, { tags: { a: "3" } })).status, 409);
  });

  it("changes a flexible scale set's model without touching its VMs", async () => {
    state.lroDurationMs = 0;
    const flex = `${rgPath}/Microsoft.Compute/virtualMachineScaleSets/aks-flexpool-87654321-vmss`;
    assert.equal(
      (await call("PATCH", flex, { identity: { type: "UserAssigned", userAssignedIdentities: { [reader]: {} } } }))
        .status,
      200,
    );
    const node = state.nodes.get("aks-flexpool-87654321-vmss000000")!;
    assert.deepEqual(
      nodeIdentities(state, node).user.map((u) => u.clientId),
      [cloud.identities[0]!.clientId],
    );
    assert.equal(
      (
        await call("PATCH", `${rgPath}/Microsoft.Compute/virtualMachines/aks-flexpool-87654321-vmss_0`, {
          identity: { type: "UserAssigned", userAssignedIdentities: { [reader]: {} } },
        })
      ).status,
      200,
    );
    assert.equal(nodeIdentities(state, node).user.length, 2);
  });

  it("serves identities, lists and scale-set VMs", async () => {
    const id = await call(
      "GET",
      `/subscriptions/${sub}/resourceGroups/podid-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/demo-reader`,
    );
    assert.equal(id.status, 200);
    assert.equal(id.body.properties.clientId, cloud.identities[1]!.clientId);
    const ids = await call(
      "GET",
      `/subscriptions/${sub}/resourceGroups/podid-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities`,
    );
    assert.equal(ids.body.value.length, 3);
    assert.equal((await call("GET", `${rgPath}/Microsoft.Compute/virtualMachineScaleSets`)).body.value.length, 2);
    assert.equal((await call("GET", `${vmssPath}/virtualMachines`)).body.value.length, 2);
    assert.equal((await call("GET", `${vmssPath}/virtualMachines/7`)).status, 404);
  });

  const errors: Array<{
    name: string;
    method: "GET" | "PUT" | "PATCH";
    url: string;
    payload?: unknown;
    status: number;
    code: string;
  }> = [
    {
      name: "missing api-version",
      method: "GET",
      url: `${vmssPath}?x=1`,
      status: 400,
      code: "MissingApiVersionParameter",
    },
    {
      name: "unknown resource group",
      method: "GET",
      url: `/subscriptions/${sub}/resourceGroups/nope/providers/Microsoft.Compute/virtualMachines/x`,
      status: 404,
      code: "ResourceGroupNotFound",
    },
    {
      name: "another subscription",
      method: "GET",
      url: vmssPath.replace(sub, "00000000-0000-4000-8000-000000000000"),
      status: 404,
      code: "SubscriptionNotFound",
    },
    {
      name: "unknown resource type",
      method: "GET",
      url: `${rgPath}/Microsoft.Network/loadBalancers/lb`,
      status: 404,
      code: "InvalidResourceType",
    },
    {
      name: "a body that is not an object",
      method: "PATCH",
      url: vmssPath,
      payload: [1],
      status: 400,
      code: "InvalidRequestContent",
    },
    {
      name: "tags that are not strings",
      method: "PATCH",
      url: vmssPath,
      payload: { tags: { a: 1 } },
      status: 400,
      code: "InvalidRequestContent",
    },
    {
      name: "an unknown operation",
      method: "GET",
      url: `/subscriptions/${sub}/providers/Microsoft.Compute/locations/westeurope/operations/nope`,
      status: 404,
      code: "NotFound",
    },
  ];
  for (const c of errors) {
    it(`answers ${c.name} with ${c.status} ${c.code}`, async () => {
      const r = await call(c.method, c.url, c.payload);
      assert.equal(r.status, c.status);
      assert.equal(r.body.error.code, c.code);
    });
  }

  it("fails injected calls, then recovers", async () => {
    faults.injectArm({ status: 500, code: "InternalServerError", message: "boom", times: 2 });
    assert.equal((await call("GET", vmssPath)).status, 200, "GETs are not affected by default");
    assert.equal((await call("PATCH", vmssPath, { tags: {} })).status, 500);
    assert.equal((await call("PATCH", vmssPath, { tags: {} })).status, 500);
    state.lroDurationMs = 0;
    assert.equal((await call("PATCH", vmssPath, { tags: {} })).status, 200);
  });

  it("records unauthenticated calls too", async () => {
    const res = await app.inject({ method: "GET", url: `${vmssPath}?api-version=1` });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json<{ error: { code: string } }>().error.code, "AuthenticationFailed");
    assert.equal(calls.count({ status: 401, resource: "virtualMachineScaleSets", operation: "get" }), 1);
  });
});
