// `podid wait`'s decisions and loop, with the NMI's answers passed in through a fake fetch and
// a clock that moves only when the loop sleeps: it returns once each identity answers, keeps
// asking through refusals, outages and failed assignments, and after the bounded time fails
// with the identity and the NMI's last reason.
import assert from "node:assert/strict";
import { WAIT } from "../../../src/model/constants.ts";
import { decideAnswer, parseWaitAnnotation, parseWaitDuration, parseWaitIdentity } from "../../../src/wait/decide.ts";
import { waitForIdentities, type WaitDeps } from "../../../src/wait/wait.ts";

const CLIENT = "c11e0002-0000-4000-8000-000000000002";
const OTHER = "c11e0003-0000-4000-8000-000000000003";

type Answer = { status: number; body: string; headers?: Record<string, string> } | Error;

function world(answers: (url: URL, n: number) => Answer): WaitDeps & { asked: URL[]; said: string[]; clock: number } {
  const w = {
    asked: [] as URL[],
    said: [] as string[],
    clock: 0,
    now: () => w.clock,
    sleep: (ms: number) => ((w.clock += ms), Promise.resolve()),
    say: (l: string) => void w.said.push(l),
    fetch: ((input: string | URL, init?: RequestInit) => {
      const url = new URL(String(input));
      w.asked.push(url);
      assert.equal((init?.headers as Record<string, string>).Metadata, "true", "IMDS needs the Metadata header");
      w.clock += 100;
      const a = answers(url, w.asked.length);
      if (a instanceof Error) return Promise.reject(a);
      return Promise.resolve(new Response(a.body, { status: a.status, headers: a.headers ?? {} }));
    }) as typeof fetch,
  };
  return w;
}

const token = { status: 200, body: JSON.stringify({ access_token: "eyJ.secret", expires_in: "3599" }) };
const notYet = (why: string) => ({
  status: 503,
  headers: { "retry-after": "1" },
  body: JSON.stringify({
    error: "service_unavailable",
    error_description: `Identity demo-reader (client ID ${CLIENT}) is not yet assigned to pod team-a/p: ${why}; retry later`,
  }),
});

describe("podid wait", () => {
  describe("parsing its inputs", () => {
    const cases: Array<[string | undefined, ReturnType<typeof parseWaitAnnotation>]> = [
      [undefined, { ok: true }],
      ["false", { ok: true }],
      ["true", { ok: true, timeoutSeconds: WAIT.defaultTimeoutSeconds }],
      ["300s", { ok: true, timeoutSeconds: 300 }],
      ["5m", { ok: true, timeoutSeconds: 300 }],
      ["90", { ok: true, timeoutSeconds: 90 }],
    ];
    for (const [value, want] of cases)
      it(`annotation ${JSON.stringify(value)}`, () => assert.deepEqual(parseWaitAnnotation(value), want));
    for (const bad of ["yes", "0s", "2h", "-5s", "61m", "1.5s", ""])
      it(`refuses the annotation ${JSON.stringify(bad)}, naming it and what it expects`, () => {
        const r = parseWaitAnnotation(bad);
        assert.equal(r.ok, false);
        assert.match(
          !r.ok ? r.message : "",
          /^annotation aadpodidentity\.k8s\.io\/wait-for-identity: expected "true", "false" or a duration/,
        );
      });
    it("reads --identity as name:client-id and refuses anything else", () => {
      assert.deepEqual(parseWaitIdentity(`demo-reader:${CLIENT.toUpperCase()}`), {
        name: "demo-reader",
        clientID: CLIENT,
      });
      assert.throws(() => parseWaitIdentity(CLIENT), /--identity: expected <AzureIdentity name>:<client ID>/);
      assert.equal(parseWaitDuration("3601s").ok, false);
    });
  });

  describe("one answer", () => {
    it("is ready only on a 200 that carries a token", () => {
      assert.deepEqual(decideAnswer({ ...token, retryAfter: null }, 0), { kind: "ready" });
      assert.equal(decideAnswer({ status: 200, body: "{}", retryAfter: null }, 0).kind, "retry");
    });
    it("waits as long as Retry-After says, within bounds, and keeps the NMI's description as the reason", () => {
      const a = notYet("assignment in progress");
      assert.deepEqual(decideAnswer({ status: 503, body: a.body, retryAfter: "2" }, 0), {
        kind: "retry",
        reason: `HTTP 503: Identity demo-reader (client ID ${CLIENT}) is not yet assigned to pod team-a/p: assignment in progress; retry later`,
        delayMs: 2000,
        answered: true,
      });
      assert.equal(
        (decideAnswer({ status: 503, body: a.body, retryAfter: "600" }, 0) as { delayMs: number }).delayMs,
        5000,
      );
      assert.equal(
        (decideAnswer({ status: 403, body: "nope", retryAfter: null }, 1) as { delayMs: number }).delayMs,
        1000,
      );
    });
  });

  describe("the loop", () => {
    it("returns once the identity answers, after the assignment and a pod the NMI did not know yet", async () => {
      const w = world((_u, n) =>
        n === 1
          ? new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.20.0.1:2579") })
          : n === 2
            ? {
                status: 403,
                body: JSON.stringify({ error: "access_denied", error_description: "No pod has address 127.10.0.5" }),
              }
            : n < 5
              ? notYet("assignment in progress")
              : token,
      );
      const r = await waitForIdentities(
        {
          endpoint: "http://127.20.0.1:2579/",
          identities: [{ name: "demo-reader", clientID: CLIENT }],
          timeoutSeconds: 60,
        },
        w,
      );
      assert.equal(r.ok, true);
      assert.equal(w.asked.length, 5);
      const q = w.asked[0]!;
      assert.equal(`${q.origin}${q.pathname}`, "http://127.20.0.1:2579/metadata/identity/oauth2/token");
      assert.deepEqual(Object.fromEntries(q.searchParams), {
        "api-version": "2018-02-01",
        resource: WAIT.resource,
        client_id: CLIENT,
      });
      assert.ok(w.said.some((l) => /ECONNREFUSED/.test(l)) && w.said.some((l) => /No pod has address/.test(l)));
      assert.equal(w.said.filter((l) => /assignment in progress/.test(l)).length, 1, "a repeated reason is said once");
      assert.ok(!w.said.join("\n").includes("eyJ"), "the token is never printed");
    });

    it("waits for every identity of the pod, each by its client ID", async () => {
      const w = world((u) =>
        u.searchParams.get("client_id") === OTHER && w.clock < 3000 ? notYet("assignment in progress") : token,
      );
      const r = await waitForIdentities(
        {
          endpoint: "http://127.0.0.1:2580",
          identities: [
            { name: "demo-reader", clientID: CLIENT },
            { name: "demo-writer", clientID: OTHER },
          ],
          timeoutSeconds: 60,
        },
        w,
      );
      assert.equal(r.ok, true);
      assert.deepEqual([...new Set(w.asked.map((u) => u.searchParams.get("client_id")))], [CLIENT, OTHER]);
      assert.ok(w.asked.length > 2);
    });

    it("fails after the bounded time naming the identity and the assignment's failure", async () => {
      const why = "assignment failed (InvalidIdentity: the identity does not exist), the reconciler retries";
      const w = world(() => notYet(why));
      const r = await waitForIdentities(
        {
          endpoint: "http://127.20.0.1:2579",
          identities: [{ name: "demo-reader", clientID: CLIENT }],
          timeoutSeconds: 30,
        },
        w,
      );
      assert.equal(r.ok, false);
      assert.equal(
        !r.ok ? r.message : "",
        `identity "demo-reader" (client ID ${CLIENT}) did not answer through the NMI at http://127.20.0.1:2579 within 30s; ` +
          `last answer: HTTP 503: Identity demo-reader (client ID ${CLIENT}) is not yet assigned to pod team-a/p: ${why}; retry later`,
      );
      assert.ok(w.clock >= 30_000 && w.clock < 32_000, `stopped at ${w.clock} ms`);
    });

    it("reports the NMI's last answer, not the attempt the deadline cut short", async () => {
      const w = world((_u, n) =>
        n === 1 ? notYet("assignment in progress") : new DOMException("timed out", "TimeoutError"),
      );
      const r = await waitForIdentities(
        {
          endpoint: "http://127.20.0.1:2579",
          identities: [{ name: "demo-reader", clientID: CLIENT }],
          timeoutSeconds: 5,
        },
        w,
      );
      assert.match(!r.ok ? r.message : "", /last answer: HTTP 503: .*assignment in progress; retry later$/);
      assert.ok(w.said.some((l) => /the NMI did not answer \(timed out\)/.test(l)));
    });
  });
});
