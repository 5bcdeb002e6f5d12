// The NMI's upstream calls stay under IMDS's limits (20 requests/s, 5 concurrent per VM):
// against the IMDS stand-in, which enforces them with 429s, many distinct cold tokens fetched
// at once all succeed through the limiter, while the same burst without it is throttled.
import { describe, it, before, after } from "mocha";
import assert from "node:assert/strict";
import { LIMITS } from "../../../src/model/constants.ts";
import { UpstreamLimiter } from "../../../src/nmi/limiter.ts";
import { identityId } from "../../../src/playground/azure/ids.ts";
import { ImdsClient, UpstreamError } from "../../../src/nmi/token-sources.ts";
import { startTestAzure, type AzureFixture } from "../../helpers/azure.ts";

const NODE = "aks-nodepool1-12345678-vmss000000";

describe("nmi upstream limits against the IMDS stand-in", function () {
  this.timeout(60_000);
  let f: AzureFixture;
  before(async () => {
    f = await startTestAzure({ imdsLatencyMs: 20 });
  });
  after(() => f.pg.stop());

  const burst = (client: ImdsClient): Promise<Array<number | "ok">> => {
    const id = f.cloud.identities[0]!;
    const identity = {
      clientID: id.clientId,
      resourceID: identityId(f.cloud.subscriptionId, id.resourceGroup, id.name),
    };
    return Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        client
          .source(identity)
          .getToken(`https://resource-${i}.example.com`)
          .then(
            () => "ok" as const,
            (e: unknown) => (e instanceof UpstreamError ? e.imds.status : -1),
          ),
      ),
    );
  };

  it("30 concurrent cold tokens through the limiter: no 429", async () => {
    const client = new ImdsClient(
      f.pg.imdsUrl(NODE),
      new UpstreamLimiter({ perSecond: LIMITS.imdsRequestsPerSecond, concurrent: LIMITS.imdsConcurrentRequests }),
    );
    const results = await burst(client);
    assert.deepEqual(
      results.filter((r) => r !== "ok"),
      [],
    );
  });

  it("the same burst without limits is throttled by IMDS (the guard matters)", async () => {
    await new Promise((r) => setTimeout(r, 1100)); // let the stand-in's window pass
    const client = new ImdsClient(f.pg.imdsUrl(NODE), new UpstreamLimiter({ perSecond: 1000, concurrent: 1000 }));
    const results = await burst(client);
    assert.ok(results.includes(429), JSON.stringify(results));
  });
});
