// The NMI's federated token source without sockets: Entra's refusals as the message a user
// sees (one per AADSTS code the NMI can meet), final ones 400 and transient ones 502; a missing
// token file or tenant as a 500 naming what to configure; the file re-read on rotation; the
// source chosen per assignment, cached apart; Events rate-limited.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { TokenSourceName } from "../../../src/model/constants.ts";
import type { AzureIdentity } from "../../../src/model/types.ts";
import {
  assertionReader,
  FederatedSources,
  federationError,
  rateLimited,
  type RefusalContext,
} from "../../../src/nmi/federated.ts";
import { UpstreamError, type TokenSource } from "../../../src/nmi/token-sources.ts";
import { TokenService } from "../../../src/nmi/tokens.ts";

const identity: AzureIdentity = {
  metadata: { name: "reader", namespace: "team-a", uid: "uid-1" },
  type: 0,
  clientID: "c11e0002-0000-4000-8000-000000000002",
  resourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reader",
} as AzureIdentity;

const ctx: RefusalContext = {
  where: "AzureIdentity team-a/reader (client ID c1)",
  clientId: "c1",
  tenantId: "t1",
  tokenFile: "/var/run/secrets/podid/federation/token",
  claims: {
    iss: "https://issuer.example",
    sub: "system:serviceaccount:podid-system:podid-nmi",
    aud: "api://AzureADTokenExchange",
  },
};

/** What @azure/identity throws for an Entra refusal: AuthenticationRequiredError around MSAL's text. */
const entraRefusal = (code: number): Error => {
  const e = new Error(
    `invalid_client: ${code} - [2026-01-01 00:00:00Z]: AADSTS${code}: Entra's own words. Trace ID: x`,
  );
  e.name = "AuthenticationRequiredError";
  return e;
};

describe("nmi federated token source", () => {
  const cases: { code: number; says: RegExp }[] = [
    {
      code: 700213,
      says: /has subject 'system:serviceaccount:podid-system:podid-nmi'.*must run as its own service account/,
    },
    { code: 700211, says: /has issuer 'https:\/\/issuer\.example'.*service-account issuer/ },
    { code: 700212, says: /has audience 'api:\/\/AzureADTokenExchange'/ },
    {
      code: 700024,
      says: /token in \/var\/run\/secrets\/podid\/federation\/token is expired or not yet valid.*projected/,
    },
    { code: 70021, says: /no federated identity credential of identity c1 matches.*podid-nmi.*podid doctor/ },
    { code: 700027, says: /could not verify the NMI's token against the keys issuer/ },
    { code: 50166, says: /system:service-account-issuer-discovery to group system:unauthenticated/ },
    { code: 700016, says: /not in tenant t1; check the NMI's --tenant-id/ },
  ];
  for (const c of cases)
    it(`AADSTS${c.code} reaches the app as a final 400 naming the code and what to change`, () => {
      const { code, error } = federationError(entraRefusal(c.code), ctx);
      assert.equal(code, String(c.code));
      assert.equal(error.status, 400);
      assert.match(
        error.description,
        new RegExp(`^Entra ID refused the federated token for AzureIdentity team-a/reader.*AADSTS${c.code}: `),
      );
      assert.match(error.description, c.says);
    });

  it("an unknown AADSTS code keeps Entra's first line", () => {
    const { error } = federationError(entraRefusal(123456), ctx);
    assert.equal(error.status, 400);
    assert.match(error.description, /AADSTS123456: Entra's own words/);
  });

  it("Entra unreachable or failing (no AADSTS code, no 4xx) is a 502 the SDK may retry", () => {
    const { code, error } = federationError(new Error("connect ECONNREFUSED 127.0.0.1:1"), ctx);
    assert.equal(code, undefined);
    assert.equal(error.status, 502);
    assert.match(error.description, /did not answer.*ECONNREFUSED/);
    assert.equal(federationError(Object.assign(new Error("bad gateway"), { statusCode: 503 }), ctx).error.status, 502);
  });

  describe("FederatedSources", () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "podid-fed-unit-"))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const fake = (seen: string[], fail?: Error) => (_t: string, _id: string, getAssertion: () => Promise<string>) =>
      ({
        getToken: async (): Promise<AccessToken> => {
          seen.push(await getAssertion());
          if (fail) throw fail;
          return { token: "access", expiresOnTimestamp: Date.now() + 3_600_000 };
        },
      }) as TokenCredential;

    const failure = async (p: Promise<unknown>): Promise<UpstreamError> => {
      try {
        await p;
      } catch (e) {
        assert.ok(e instanceof UpstreamError, String(e));
        return e;
      }
      assert.fail("expected a refusal");
    };

    it("a missing token file is a 500 naming the file and the volume it needs, not a crash", async () => {
      const reported: string[] = [];
      const s = new FederatedSources({
        tenantId: "t1",
        tokenFile: join(dir, "nope"),
        authority: { authorityHost: "https://127.0.0.1:1" },
        credential: fake([]),
        onFailure: (_i, _c, e) => reported.push(e.description),
      });
      const e = await failure(s.source(identity).getToken("https://storage.azure.com/"));
      assert.equal(e.imds.status, 500);
      assert.match(e.imds.description, /cannot read its service-account token .*nope.*ENOENT/);
      assert.match(e.imds.description, /serviceAccountToken volume \(audience api:\/\/AzureADTokenExchange/);
      assert.equal(reported.length, 1);
    });

    it("no --tenant-id is a 500 saying so, only when a federated identity is asked for", async () => {
      const s = new FederatedSources({
        tokenFile: join(dir, "t"),
        authority: { authorityHost: "x" },
        credential: fake([]),
      });
      const e = await failure(s.source(identity).getToken("https://storage.azure.com/"));
      assert.equal(e.imds.status, 500);
      assert.match(e.imds.description, /no --tenant-id .*tenantID in ConfigMap podid-federation/);
      const unexpanded = new FederatedSources({
        tenantId: "$(PODID_TENANT_ID)",
        tokenFile: join(dir, "t"),
        authority: { authorityHost: "x" },
        credential: fake([]),
      });
      const e2 = await failure(unexpanded.source(identity).getToken("https://storage.azure.com/"));
      assert.match(e2.imds.description, /got \$\(PODID_TENANT_ID\) unexpanded/);
    });

    it("reads the token file again when the kubelet rotates it", async () => {
      const file = join(dir, "token");
      const seen: string[] = [];
      writeFileSync(file, "a.b.c\n");
      const s = new FederatedSources({
        tenantId: "t1",
        tokenFile: file,
        authority: { authorityHost: "x" },
        credential: fake(seen),
      });
      await s.source(identity).getToken("r1");
      writeFileSync(file, "d.e.f\n");
      utimesSync(file, new Date(), new Date(Date.now() + 5_000));
      await s.source(identity).getToken("r2");
      assert.deepEqual(seen, ["a.b.c", "d.e.f"]);
    });

    it("Entra's refusal is reported once per failure with the code, and thrown as the IMDS error", async () => {
      const file = join(dir, "token");
      writeFileSync(file, "a.b.c");
      const reported: (string | undefined)[] = [];
      const s = new FederatedSources({
        tenantId: "t1",
        tokenFile: file,
        authority: { authorityHost: "x" },
        credential: fake([], entraRefusal(700213)),
        onFailure: (_i, code) => reported.push(code),
      });
      const e = await failure(s.source(identity).getToken("r"));
      assert.equal(e.imds.status, 400);
      assert.deepEqual(reported, ["700213"]);
    });
  });

  it("assertionReader does not re-read an unchanged file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podid-fed-unit-"));
    try {
      const file = join(dir, "t");
      writeFileSync(file, "x");
      const read = assertionReader(file);
      assert.equal(await read(), "x");
      assert.equal(await read(), "x");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("TokenService asks the source the assignment names, and caches federated tokens apart", async () => {
    const asked: TokenSourceName[] = [];
    const svc = new TokenService((_i, source): TokenSource => ({
      getToken: (resource) => {
        asked.push(source);
        return Promise.resolve({ accessToken: `${source}-token`, expiresOn: Date.now() / 1000 + 3600, resource });
      },
    }));
    assert.equal((await svc.getToken(identity, "r", "Federated")).token.accessToken, "Federated-token");
    assert.equal((await svc.getToken(identity, "r")).token.accessToken, "NodeAssigned-token");
    assert.equal((await svc.getToken(identity, "r", "Federated")).outcome, "hit");
    assert.deepEqual(asked, ["Federated", "NodeAssigned"]);
  });

  it("concurrent cold requests for a federated token make one exchange (single flight)", async () => {
    let calls = 0;
    const svc = new TokenService((): TokenSource => ({
      getToken: async (resource) => {
        calls += 1;
        await new Promise((r) => setTimeout(r, 20));
        return { accessToken: "t", expiresOn: Date.now() / 1000 + 3600, resource };
      },
    }));
    const all = await Promise.all(Array.from({ length: 50 }, () => svc.getToken(identity, "r", "Federated")));
    assert.equal(calls, 1);
    assert.equal(all.filter((r) => r.outcome === "miss").length, 1);
  });

  it("rateLimited lets one report per key through per window", () => {
    let t = 0;
    const out: string[] = [];
    const f = rateLimited(
      (k: string) => k,
      (k: string) => out.push(k),
      60_000,
      () => t,
    );
    f("a");
    f("a");
    f("b");
    t = 60_001;
    f("a");
    assert.deepEqual(out, ["a", "b", "a"]);
  });
});
