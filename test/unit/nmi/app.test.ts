import { describe, it } from "mocha";
import assert from "node:assert/strict";
import { ADMISSION_MARK_ANNOTATION, NMI_MODE_ANNOTATION, SIDECAR } from "../../../src/model/constants.ts";
import type { AzureIdentity } from "../../../src/model/types.ts";
import { pino } from "pino";
import { buildNmiApp, type NmiAppDeps } from "../../../src/nmi/app.ts";
import type { ReviewedToken } from "../../../src/nmi/caller.ts";
import { createNmiMetrics } from "../../../src/nmi/metrics.ts";
import type { TokenProvider } from "../../../src/nmi/tokens.ts";
import { KEYS, NODE, OTHER_KEYS, admit, assigned, pod, world, type MemoryView } from "./fixtures.ts";

const TOKEN_PATH = "/metadata/identity/oauth2/token/";
const RES = "https://storage.azure.com";
const fakeTokens: TokenProvider = {
  getToken: (identity: AzureIdentity, resource: string) =>
    Promise.resolve({
      token: {
        accessToken: `tok:${identity.clientID}:${resource}`,
        expiresOn: Date.now() / 1000 + 3600,
        resource,
        clientId: identity.clientID,
      },
      outcome: "miss" as const,
    }),
};

function build(view: MemoryView, over: Partial<NmiAppDeps> = {}) {
  return buildNmiApp({
    nodeName: NODE,
    view,
    admissionKeys: () => KEYS,
    tokens: fakeTokens,
    imds: {
      get: (url) =>
        Promise.resolve({
          status: 200,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ access_token: "node-token", proxied: url }),
        }),
    },
    assignmentWaitMs: 100,
    retryAfterSeconds: 3,
    ...over,
  });
}

async function ask(
  app: ReturnType<typeof build>,
  ip: string,
  query: Record<string, string> = {},
  headers: Record<string, string> = { Metadata: "true" },
  url = TOKEN_PATH,
) {
  const res = await app.inject({
    method: "GET",
    url,
    query: { "api-version": "2018-02-01", resource: RES, ...query },
    headers,
    remoteAddress: ip,
  });
  return { status: res.statusCode, body: res.json<Record<string, string>>(), headers: res.headers };
}

describe("nmi/app token endpoint", () => {
  it("serves an admitted pod its only identity, in IMDS's shape", async () => {
    const app = build(world());
    const r = await ask(app, "127.10.0.5");
    assert.equal(r.status, 200);
    assert.equal(r.body.access_token, `tok:11111111-1111-4111-8111-111111111111:${RES}`);
    assert.equal(r.body.token_type, "Bearer");
    assert.match(r.body.expires_on!, /^\d+$/);
    await app.close();
  });

  const served: Array<[string, string, Record<string, string>, string]> = [
    ["client_id, any case", "127.10.0.5", { client_id: "11111111-1111-4111-8111-111111111111".toUpperCase() }, "1111"],
    [
      "msi_res_id",
      "127.10.0.5",
      {
        msi_res_id:
          "/SUBSCRIPTIONS/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reader",
      },
      "1111",
    ],
    ["the second of two identities", "127.10.0.6", { client_id: "22222222-2222-4222-8222-222222222222" }, "2222"],
    ["a pod of another namespace its own identity", "127.10.0.7", {}, "3333"],
    ["IPv4-mapped source address", "::ffff:127.10.0.5", {}, "1111"],
  ];
  for (const [name, ip, query, prefix] of served) {
    it(`serves: ${name}`, async () => {
      const app = build(world());
      const r = await ask(app, ip, query);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(r.body.access_token!.startsWith(`tok:${prefix}`));
      await app.close();
    });
  }

  it("passes an excepted pod to the node's IMDS", async () => {
    const app = build(world());
    const r = await ask(app, "127.10.0.8", { client_id: "abc" });
    assert.equal(r.status, 200);
    assert.equal(r.body.access_token, "node-token");
    assert.match(r.body.proxied!, /^\/metadata\/identity\/oauth2\/token\?.*client_id=abc/);
    await app.close();
  });

  type Refusal = {
    name: string;
    setup?: (v: MemoryView) => void;
    ip: string;
    query?: Record<string, string>;
    headers?: Record<string, string>;
    url?: string;
    status: number;
    match: RegExp;
  };
  const refusals: Refusal[] = [
    {
      name: "no admission mark",
      setup: (v) => delete v.pod("team-a", "app")!.annotations[ADMISSION_MARK_ANNOTATION],
      ip: "127.10.0.5",
      status: 403,
      match: /no valid admission mark/,
    },
    {
      name: "forged mark (another key)",
      setup: (v) => void admit(v, v.pod("team-a", "app")!, "reader", OTHER_KEYS),
      ip: "127.10.0.5",
      status: 403,
      match: /no valid admission mark/,
    },
    {
      name: "mark copied from another namespace",
      setup: (v) => {
        const thief = pod("thief", "team-a", "127.10.0.9", { labels: { aadpodidbinding: "reader" } });
        thief.annotations[ADMISSION_MARK_ANNOTATION] = v.pod("team-b", "other")!.annotations[
          ADMISSION_MARK_ANNOTATION
        ]!;
        v.pods.push(thief);
      },
      ip: "127.10.0.9",
      status: 403,
      match: /no valid admission mark/,
    },
    {
      name: "an identity bound to the pod's selector after it was admitted",
      setup: (v) =>
        v.binds.push({
          metadata: { name: "x", namespace: "team-a", labels: {}, annotations: {} },
          azureIdentity: "writer",
          selector: "reader",
        }),
      ip: "127.10.0.5",
      query: { client_id: "22222222-2222-4222-8222-222222222222" },
      status: 403,
      match: /was admitted before writer .* Recreate the pod/,
    },
    {
      name: "attack: a tenant's own exception, where no policy allows exceptions",
      setup: (v) => {
        v.pols = [];
        v.excs.push({
          metadata: { name: "mine", namespace: "team-b", labels: {}, annotations: {} },
          podLabels: { x: "1" },
        });
        v.pods.push(pod("sneaky", "team-b", "127.10.0.11", { labels: { x: "1" } }));
      },
      ip: "127.10.0.11",
      query: { client_id: "abc" },
      status: 403,
      match: /no aadpodidbinding label/,
    },
    {
      name: "a pod deleted and past its grace period",
      setup: (v) => Object.assign(v.pod("team-a", "app")!, { deleting: true, deletionDeadline: Date.now() - 1000 }),
      ip: "127.10.0.5",
      status: 403,
      match: /grace period is over/,
    },
    {
      name: "identity of another pod",
      ip: "127.10.0.5",
      query: { client_id: "22222222-2222-4222-8222-222222222222" },
      status: 400,
      match: /Identity not found/,
    },
    {
      name: "identity of another namespace",
      ip: "127.10.0.5",
      query: { client_id: "33333333-3333-4333-8333-333333333333" },
      status: 400,
      match: /Identity not found/,
    },
    {
      name: "several identities, none named",
      ip: "127.10.0.6",
      status: 400,
      match: /several identities.*reader.*writer/,
    },
    {
      name: "object_id",
      ip: "127.10.0.5",
      query: { object_id: "x" },
      status: 400,
      match: /object_id is not supported/,
    },
    { name: "hostNetwork caller", ip: "127.20.0.1", status: 403, match: /hostNetwork/ },
    { name: "unknown source IP", ip: "127.10.0.99", status: 403, match: /belongs to no pod/ },
    {
      name: "pod without binding label",
      setup: (v) => v.pods.push(pod("plain", "team-a", "127.10.0.10")),
      ip: "127.10.0.10",
      status: 403,
      match: /no aadpodidbinding label/,
    },
    {
      name: "IP reused by a newer pod (the assignment is the old pod's)",
      setup: (v) => {
        const old = v.pod("team-a", "app")!;
        old.phase = "Succeeded";
        v.pods.push(admit(v, pod("app-2", "team-a", "127.10.0.5"), "reader"));
      },
      ip: "127.10.0.5",
      status: 503,
      match: /not yet assigned to pod team-a\/app-2/,
    },
    {
      name: "sidecar-mode pod asking by IP",
      setup: (v) => (v.pod("team-a", "app")!.annotations[NMI_MODE_ANNOTATION] = "sidecar"),
      ip: "127.10.0.5",
      status: 403,
      match: /sidecar mode/,
    },
    { name: "missing Metadata header", ip: "127.10.0.5", headers: {}, status: 400, match: /metadata header/ },
    {
      name: "X-Forwarded-For",
      ip: "127.10.0.5",
      headers: { Metadata: "true", "X-Forwarded-For": "127.10.0.6" },
      status: 400,
      match: /X-Forwarded-For/,
    },
    {
      name: "instance metadata",
      ip: "127.10.0.5",
      url: "/metadata/instance",
      query: { "api-version": "2021-02-01" },
      status: 403,
      match: /does not serve \/metadata\/instance/,
    },
    {
      name: "a pod token on the plain listener (sidecars speak TLS only)",
      ip: "127.10.0.5",
      headers: { Metadata: "true", [SIDECAR.tokenHeader]: "t" },
      status: 403,
      match: /accepted only over TLS/,
    },
  ];
  for (const c of refusals) {
    it(`refuses: ${c.name}`, async () => {
      const v = world();
      c.setup?.(v);
      const app = build(v);
      const r = await ask(app, c.ip, c.query, c.headers, c.url);
      assert.equal(r.status, c.status, JSON.stringify(r.body));
      assert.match(r.body.error_description!, c.match);
      assert.equal(r.body.access_token, undefined);
      await app.close();
    });
  }

  it("keeps serving an admitted identity when another is bound to the selector later", async () => {
    const v = world();
    v.binds.push({
      metadata: { name: "x", namespace: "team-a", labels: {}, annotations: {} },
      azureIdentity: "writer",
      selector: "reader",
    });
    const app = build(v);
    const r = await ask(app, "127.10.0.5", { client_id: "11111111-1111-4111-8111-111111111111" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await app.close();
  });

  it("serves a pod being deleted until its grace period ends", async () => {
    const v = world();
    Object.assign(v.pod("team-a", "app")!, { deleting: true, deletionDeadline: Date.now() + 30_000 });
    const app = build(v);
    assert.equal((await ask(app, "127.10.0.5")).status, 200);
    await app.close();
  });

  it("waits while the assignment is in progress and serves once it is Assigned", async () => {
    const v = world();
    const p = v.pod("team-a", "app")!;
    v.aais[0] = assigned(p, v.ids[0]!, "Created");
    const app = build(v, { assignmentWaitMs: 5_000 });
    const pending = ask(app, "127.10.0.5");
    setTimeout(() => {
      v.aais[0] = assigned(p, v.ids[0]!, "Assigned");
      v.changed();
    }, 30);
    const r = await pending;
    assert.equal(r.status, 200);
    await app.close();
  });

  describe("federated assignments", () => {
    const recording = () => {
      const asked: (string | undefined)[] = [];
      const tokens: TokenProvider = {
        getToken: (identity, resource, source) => {
          asked.push(source);
          return fakeTokens.getToken(identity, resource);
        },
      };
      return { asked, tokens };
    };
    const federate = (v: MemoryView) => {
      v.aais[0] = { ...v.aais[0]!, status: { status: "Assigned", tokenSource: "Federated" } };
    };

    it("asks the federated source when the assignment's status.tokenSource is Federated", async () => {
      const v = world();
      federate(v);
      const { asked, tokens } = recording();
      const app = build(v, { tokens });
      assert.equal((await ask(app, "127.10.0.5")).status, 200);
      assert.deepEqual(asked, ["Federated"]);
      await app.close();
    });

    it("asks the node's IMDS source when the assignment names none (NodeAssigned)", async () => {
      const { asked, tokens } = recording();
      const app = build(world(), { tokens });
      assert.equal((await ask(app, "127.10.0.5")).status, 200);
      assert.deepEqual(asked, ["NodeAssigned"]);
      await app.close();
    });

    it("attack: a pod without a valid admission mark gets no federated token (every check runs first)", async () => {
      const v = world();
      federate(v);
      delete v.pod("team-a", "app")!.annotations[ADMISSION_MARK_ANNOTATION];
      const { asked, tokens } = recording();
      const app = build(v, { tokens });
      const r = await ask(app, "127.10.0.5");
      assert.equal(r.status, 403);
      assert.deepEqual(asked, []);
      await app.close();
    });

    it("a federated assignment still Created makes the pod wait, as for the node's IMDS", async () => {
      const v = world();
      v.aais[0] = { ...v.aais[0]!, status: { status: "Created", tokenSource: "Federated" } };
      const { asked, tokens } = recording();
      const app = build(v, { tokens });
      assert.equal((await ask(app, "127.10.0.5")).status, 503);
      assert.deepEqual(asked, []);
      await app.close();
    });
  });

  it("answers 503 with Retry-After when the assignment stays in progress past the bound", async () => {
    const v = world();
    v.aais[0] = assigned(v.pod("team-a", "app")!, v.ids[0]!, "Created");
    const app = build(v);
    const r = await ask(app, "127.10.0.5");
    assert.equal(r.status, 503);
    assert.equal(r.headers["retry-after"], "3");
    assert.match(r.body.error_description!, /assignment in progress/);
    await app.close();
  });

  it("reports a failed assignment with its reason", async () => {
    const v = world();
    const a = assigned(v.pod("team-a", "app")!, v.ids[0]!, "Failed");
    a.status = { status: "Failed", reason: "QuotaExceeded", message: "too many identities" };
    v.aais[0] = a;
    const app = build(v);
    const r = await ask(app, "127.10.0.5");
    assert.equal(r.status, 503);
    assert.match(r.body.error_description!, /QuotaExceeded: too many identities/);
    await app.close();
  });
});

describe("nmi/app sidecar tokens (the TLS listener)", () => {
  const review = (over: Partial<ReviewedToken> = {}): ReviewedToken => ({
    authenticated: true,
    username: "system:serviceaccount:team-a:default",
    podName: "side",
    podUID: "uid-team-a-side",
    audiences: ["podid-nmi"],
    ...over,
  });
  const sidecarWorld = (): MemoryView => {
    const v = world();
    const side = admit(v, pod("side", "team-a", "127.10.0.12"), "reader", KEYS, "sidecar");
    v.pods.push(side);
    v.aais.push(assigned(side, v.ids[0]!, "Assigned"));
    return v;
  };
  const sidecars = (v: MemoryView, over: Partial<NmiAppDeps> = {}) =>
    build(v, { listener: "sidecars", reviewToken: () => Promise.resolve(review()), ...over });
  const withToken = { Metadata: "true", [SIDECAR.tokenHeader]: "pod-token" };

  it("identifies the pod by its reviewed token, whatever the source address", async () => {
    const app = sidecars(sidecarWorld());
    const r = await ask(app, "127.99.0.1", {}, withToken);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await app.close();
  });
  it("attack: a sidecar pod whose nmi-mode annotation was flipped to daemonset is refused by address", async () => {
    const v = sidecarWorld();
    v.pod("team-a", "side")!.annotations[NMI_MODE_ANNOTATION] = "daemonset";
    const app = build(v);
    const r = await ask(app, "127.10.0.12");
    assert.equal(r.status, 403);
    assert.match(r.body.error_description!, /no valid admission mark/);
    await app.close();
  });
  it("does not serve callers identified by address on the sidecar port", async () => {
    const app = sidecars(sidecarWorld());
    const r = await ask(app, "127.10.0.5");
    assert.equal(r.status, 403);
    assert.match(r.body.error_description!, /serves sidecars/);
    await app.close();
  });
  it("refuses tokens when it has no reviewer", async () => {
    const app = build(sidecarWorld(), { listener: "sidecars" });
    const r = await ask(app, "127.10.0.12", {}, withToken);
    assert.match(r.body.error_description!, /does not accept sidecar tokens/);
    await app.close();
  });
  const bad: Array<[string, Partial<ReviewedToken>, RegExp]> = [
    ["an unauthenticated token", { authenticated: false, error: "token expired" }, /token expired/],
    ["a token of a recreated pod (old uid)", { podUID: "uid-old" }, /not on node/],
    ["a token bound to another pod of the namespace", { podName: "app", podUID: "uid-team-a-side" }, /not on node/],
    ["a token not bound to a pod", { podName: undefined, podUID: undefined }, /not a pod-bound/],
    ["a token for another audience", { audiences: ["https://kubernetes.default.svc"] }, /audience/],
  ];
  for (const [name, over, re] of bad) {
    it(`refuses ${name}`, async () => {
      const app = sidecars(sidecarWorld(), { reviewToken: () => Promise.resolve(review(over)) });
      const r = await ask(app, "127.10.0.12", {}, withToken);
      assert.equal(r.status, 403);
      assert.match(r.body.error_description!, re);
      await app.close();
    });
  }
});

describe("nmi/app when the Kubernetes API cannot review a sidecar token", () => {
  it("answers 503 with Retry-After, so the SDK retries, instead of hanging or refusing", async () => {
    const app = build(world(), {
      listener: "sidecars",
      reviewToken: () => Promise.reject(new Error("the TokenReview got no answer within 5000 ms")),
    });
    const res = await app.inject({
      method: "GET",
      url: TOKEN_PATH + "?api-version=2018-02-01&resource=" + encodeURIComponent(RES),
      headers: { Metadata: "true", [SIDECAR.tokenHeader]: "pod-token" },
      remoteAddress: "127.10.0.5",
    });
    assert.equal(res.statusCode, 503);
    assert.ok(res.headers["retry-after"] !== undefined);
    assert.match(
      res.json<{ error_description: string }>().error_description,
      /Could not verify the pod's token .*no answer within 5000 ms/,
    );
    await app.close();
  });
});

describe("nmi/app logging", () => {
  it("logs refusals with their reason and never a token", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "debug" }, { write: (l: string) => void lines.push(l) });
    const app = build(world(), { logger });
    assert.equal((await ask(app, "127.10.0.5")).status, 200);
    assert.equal((await ask(app, "127.10.0.99")).status, 403);
    const all = lines.join("");
    assert.match(all, /belongs to no pod/);
    assert.match(all, /token served/);
    assert.doesNotMatch(all, /tok:/);
    await app.close();
  });
});

describe("nmi/app other endpoints", () => {
  it("health, readiness and metrics without tokens in them", async () => {
    const metrics = createNmiMetrics();
    const app = build(world(), { metrics });
    await ask(app, "127.10.0.5");
    await ask(app, "127.10.0.99");
    assert.equal((await app.inject("/healthz")).statusCode, 200);
    assert.equal((await app.inject("/readyz")).statusCode, 200);
    const m = await app.inject("/metrics");
    assert.match(m.body, /podid_nmi_requests_total\{result="token",code="200"\} 1/);
    assert.match(m.body, /podid_nmi_requests_total\{result="refused",code="403"\} 1/);
    assert.match(m.body, /podid_nmi_request_duration_seconds_bucket/);
    assert.doesNotMatch(m.body, /tok:/);
    await app.close();
  });
  it("proxies an allowed path for a known pod and refuses POST and unknown paths", async () => {
    const app = build(world(), { proxyPaths: ["/metadata/instance"] });
    const r = await ask(app, "127.10.0.5", {}, { Metadata: "true" }, "/metadata/instance/compute");
    assert.equal(r.status, 200);
    assert.equal((await app.inject({ method: "POST", url: TOKEN_PATH, remoteAddress: "127.10.0.5" })).statusCode, 405);
    const nf = await app.inject({ url: "/nope" });
    assert.equal(nf.statusCode, 404);
    assert.equal(nf.json<{ error: string }>().error, "not_found");
    await app.close();
  });
});
