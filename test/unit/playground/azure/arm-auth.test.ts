import assert from "node:assert/strict";
import { checkArmToken } from "../../../../src/playground/azure/arm-auth.ts";
import { audienceOfScope } from "../../../../src/playground/azure/entra-app.ts";
import { createSigningKey, mintAccessToken, signJwt } from "../../../../src/playground/azure/tokens.ts";

describe("checkArmToken", () => {
  const key = createSigningKey();
  const other = createSigningKey();
  const tenant = "72f988bf-0000-4000-8000-00000000a11d";
  const now = 1_800_000_000;
  const subject = { clientId: "c", objectId: "o", authMethod: "1" as const };
  const token = (audience: string, o: { tenantId?: string; nowSeconds?: number; k?: typeof key } = {}): string =>
    `Bearer ${mintAccessToken({ key: o.k ?? key, tenantId: o.tenantId ?? tenant, audience, subject, nowSeconds: o.nowSeconds ?? now, lifetimeSeconds: 3600 }).token}`;

  const cases: Array<{ name: string; header: string | undefined; code: string | undefined }> = [
    { name: "ARM audience with slash", header: token("https://management.azure.com/"), code: undefined },
    { name: "ARM audience without slash", header: token("https://management.azure.com"), code: undefined },
    { name: "classic management audience", header: token("https://management.core.windows.net/"), code: undefined },
    { name: "no header", header: undefined, code: "AuthenticationFailed" },
    { name: "not a bearer token", header: "Basic abc", code: "InvalidAuthenticationToken" },
    { name: "not a JWT", header: "Bearer abc", code: "InvalidAuthenticationToken" },
    {
      name: "signed by another key",
      header: token("https://management.azure.com/", { k: other }),
      code: "InvalidAuthenticationToken",
    },
    {
      name: "another tenant",
      header: token("https://management.azure.com/", { tenantId: "00000000-0000-4000-8000-000000000000" }),
      code: "InvalidAuthenticationToken",
    },
    {
      name: "storage audience",
      header: token("https://storage.azure.com"),
      code: "InvalidAuthenticationTokenAudience",
    },
    {
      name: "expired",
      header: token("https://management.azure.com/", { nowSeconds: now - 7200 }),
      code: "ExpiredAuthenticationToken",
    },
    {
      name: "unsigned (alg none)",
      header: `Bearer ${signJwt({ alg: "none" }, { aud: "https://management.azure.com/" }, key.privateKey)}`,
      code: "InvalidAuthenticationToken",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const e = checkArmToken(c.header, key.publicKey, tenant, now);
      assert.equal(e?.body.error.code, c.code);
      if (e) assert.equal(e.status, 401);
    });
  }
});

describe("audienceOfScope", () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ["https://storage.azure.com/.default", "https://storage.azure.com"],
    ["https://management.azure.com//.default", "https://management.azure.com/"],
    ["https://storage.azure.com/.default offline_access openid profile", "https://storage.azure.com"],
    ["https://storage.azure.com/user_impersonation", undefined],
    ["a/.default b/.default", undefined],
    [undefined, undefined],
  ];
  for (const [scope, want] of cases) it(String(scope), () => assert.equal(audienceOfScope(scope), want));
});
