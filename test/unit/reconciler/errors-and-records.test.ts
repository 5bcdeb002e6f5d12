import assert from "node:assert/strict";
import { toArmError } from "../../../src/reconciler/arm-client.ts";
import { needsInstanceDiscoveryOff, parseCloudConfig } from "../../../src/reconciler/credential.ts";
import { fromConfigMap, memoryOwnershipStore, recordName, toConfigMap } from "../../../src/reconciler/records.ts";
import { identityKey } from "../../../src/reconciler/target.ts";
import {
  ArmError,
  invalidIdentities,
  isConflict,
  isThrottled,
  isTransient,
  parseRetryAfter,
} from "../../../src/reconciler/vm-client.ts";

const ID = "/subscriptions/s/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities";

describe("reconciler/vm-client: error predicates", () => {
  it("429 carries Retry-After", () => {
    assert.deepEqual(isThrottled(new ArmError(429, "TooManyRequests", "slow down", 7000)), { retryAfterMs: 7000 });
    assert.equal(isThrottled(new ArmError(409, "Conflict", "busy")), undefined);
  });
  it("409 is a conflict; 5xx and network errors are transient", () => {
    assert.equal(isConflict(new ArmError(409, "OperationNotAllowed", "another operation")), true);
    assert.equal(isTransient(new ArmError(503, "ServiceUnavailable", "x")), true);
    assert.equal(isTransient(new ArmError(0, "ECONNRESET", "x")), true);
    assert.equal(isTransient(new ArmError(400, "BadRequest", "x")), false);
  });

  const requested = [identityKey(`${ID}/good`), identityKey(`${ID}/Bad`)];
  const cases = [
    {
      name: "400 naming one identity of the request",
      err: new ArmError(400, "FailedIdentityOperation", `Identity '${ID}/bad' not found.`),
      expect: [identityKey(`${ID}/bad`)],
    },
    {
      name: "403 linked authorization naming it",
      err: new ArmError(
        403,
        "LinkedAuthorizationFailed",
        `The client has permission ... but not on linked scope(s) '${ID}/BAD'`,
      ),
      expect: [identityKey(`${ID}/bad`)],
    },
    {
      name: "400 naming an identity outside the request",
      err: new ArmError(400, "X", `Identity '${ID}/other' not found.`),
      expect: undefined,
    },
    { name: "400 naming no identity", err: new ArmError(400, "InvalidParameter", "bad body"), expect: undefined },
    { name: "429 is never an invalid identity", err: new ArmError(429, "X", `${ID}/bad`), expect: undefined },
    { name: "not an ArmError", err: new Error(`${ID}/bad`), expect: undefined },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(invalidIdentities(c.err, requested), c.expect));

  it("parses Retry-After seconds and dates", () => {
    assert.equal(parseRetryAfter("3"), 3000);
    assert.equal(parseRetryAfter(new Date(61_000).toUTCString(), 1_000), 60_000);
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  it("turns an SDK RestError into an ArmError with Retry-After", () => {
    const rest = Object.assign(new Error("Too many"), {
      statusCode: 429,
      code: "TooManyRequests",
      response: { headers: { get: (n: string) => (n === "retry-after" ? "2" : undefined) } },
    });
    const e = toArmError(rest);
    assert.equal(e.statusCode, 429);
    assert.equal(e.retryAfterMs, 2000);
    assert.equal(toArmError(new Error("socket hang up")).statusCode, 0);
  });
});

describe("reconciler/records: ownership record ConfigMaps", () => {
  const target = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss";
  it("round-trips through a ConfigMap with a stable, valid name", () => {
    const rec = {
      targetId: target,
      owned: new Map([[identityKey(`${ID}/A`), { id: `${ID}/A`, since: "2026-01-01T00:00:00Z" }]]),
      resourceVersion: "7",
    };
    const cm = toConfigMap(rec, "podid-system");
    assert.equal(cm.metadata.name, recordName(target.toLowerCase()));
    assert.match(cm.metadata.name, /^[a-z0-9-]{1,63}$/);
    const back = fromConfigMap(cm);
    assert.ok(back.ok);
    assert.deepEqual(back.value, rec);
  });
  const bad: Array<{ name: string; data: Record<string, string>; error: RegExp }> = [
    { name: "no target", data: { identities: "{}" }, error: /data\.target missing/ },
    { name: "identities not JSON", data: { target, identities: "{" }, error: /not JSON/ },
    { name: "identities an array", data: { target, identities: "[]" }, error: /must be an object/ },
  ];
  for (const c of bad) {
    it(`refuses a record with ${c.name}`, () => {
      const r = fromConfigMap({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "x", namespace: "n" },
        data: c.data,
      });
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, c.error);
    });
  }
  it("the memory store refuses stale writes like the API server", async () => {
    const s = memoryOwnershipStore();
    const saved = await s.save({ targetId: target, owned: new Map([["k", { id: "K", since: "" }]]) });
    await assert.rejects(s.save({ targetId: target, owned: new Map() }), /conflict/);
    await s.save({ ...saved, owned: new Map() });
    assert.equal(s.records.size, 0);
  });
});

describe("reconciler/credential", () => {
  const authorities = [
    { host: undefined, off: false },
    { host: "https://login.microsoftonline.com", off: false },
    { host: "https://login.chinacloudapi.cn/", off: false },
    { host: "https://127.0.0.1:8443", off: true },
    { host: "not a url", off: true },
  ];
  for (const a of authorities)
    it(`instance discovery off for ${a.host}: ${a.off}`, () => assert.equal(needsInstanceDiscoveryOff(a.host), a.off));

  it("reads AKS's cloud config", () => {
    const cc = parseCloudConfig(
      JSON.stringify({
        tenantId: "t",
        aadClientId: "msi",
        aadClientSecret: "msi",
        useManagedIdentityExtension: true,
        userAssignedIdentityID: "c",
      }),
      "azure.json",
    );
    assert.equal(cc.useManagedIdentityExtension, true);
    assert.equal(cc.userAssignedIdentityID, "c");
  });
  const badConfigs = [
    { text: "{", error: /not JSON/ },
    { text: "[]", error: /expected a JSON object/ },
    { text: '{"tenantId": 5}', error: /tenantId must be a string/ },
    { text: '{"useManagedIdentityExtension": "yes"}', error: /useManagedIdentityExtension must be true or false/ },
  ];
  for (const c of badConfigs)
    it(`refuses cloud config ${c.text}`, () => assert.throws(() => parseCloudConfig(c.text, "f"), c.error));
});
