// 10,000 random and mutated AdmissionReviews through app.inject(): no crash, every answer a
// 400 (or 413) with a message or a well-formed review. (A smaller run over real HTTPS is in
// test/integration/webhook/https.test.ts.)
import fc from "fast-check";
import { silentLogger } from "../../../src/shared/log.ts";
import { buildWebhookApp } from "../../../src/webhook/app.ts";
import { policy } from "../policy/fixtures.ts";
import { KEYS, seedState } from "./fixtures.ts";
import { ROUTES, anyBody, checkAnswer } from "./property.ts";

describe("webhook: property — random and mutated reviews", function () {
  this.timeout(120_000);
  const app = buildWebhookApp({
    state: seedState([
      policy(
        "audit-b",
        { matchLabels: { team: "b" } },
        { enforcement: "Audit", allowedIdentities: [{ clientID: "0*" }] },
      ),
    ]),
    keys: () => KEYS,
    logger: silentLogger(),
    sidecarImage: "podid:test",
  });
  after(() => app.close());

  it("answers 10,000 of them well", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), anyBody, async (route, body) => {
        const res = await app.inject({
          method: "POST",
          url: route,
          payload: JSON.stringify(body) ?? "null",
          headers: { "content-type": "application/json" },
        });
        checkAnswer(body, res.statusCode, res.body);
      }),
      { numRuns: 10_000 },
    );
  });

  it("answers raw non-JSON bodies with 400", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        fc.string({ maxLength: 200 }),
        fc.constantFrom("application/json", "text/plain", "application/octet-stream"),
        async (route, text, ct) => {
          const res = await app.inject({ method: "POST", url: route, payload: text, headers: { "content-type": ct } });
          let json = true;
          try {
            JSON.parse(text);
          } catch {
            json = false;
          }
          if (!json && res.statusCode !== 400)
            throw new Error(`expected 400 for ${JSON.stringify(text)}, got ${res.statusCode}`);
          if (json) checkAnswer(JSON.parse(text), res.statusCode, res.body);
        },
      ),
      { numRuns: 500 },
    );
  });
});
