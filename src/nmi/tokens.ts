// Tokens for an identity and resource: from the cache when it can, else from the identity's
// source, once per key however many callers are waiting.
import type { TokenSourceName } from "../model/constants.ts";
import type { AzureIdentity } from "../model/types.ts";
import type { Token } from "./imds.ts";
import type { NmiMetrics } from "./metrics.ts";
import { TokenCache, type CacheOutcome } from "./token-cache.ts";
import { identityKey, type TokenSource } from "./token-sources.ts";

export interface TokenProvider {
  /** `source`: the assignment's status.tokenSource (absent = NodeAssigned). */
  getToken(
    identity: AzureIdentity,
    resource: string,
    source?: TokenSourceName,
  ): Promise<{ token: Token; outcome: CacheOutcome }>;
}

export class TokenService implements TokenProvider {
  constructor(
    private readonly sourceFor: (identity: AzureIdentity, source: TokenSourceName) => TokenSource,
    private readonly cache: TokenCache = new TokenCache(),
    private readonly metrics?: NmiMetrics,
  ) {}

  async getToken(
    identity: AzureIdentity,
    resource: string,
    source: TokenSourceName = "NodeAssigned",
  ): Promise<{ token: Token; outcome: CacheOutcome }> {
    // Federated tokens keep their own entries (same identity prefix, so invalidation covers both):
    // an assignment flipped between sources gets a token from the source it now names.
    const key = identityKey(identity) + (source === "Federated" ? "federated|" : "") + resource;
    const r = await this.cache.get(key, () => this.sourceFor(identity, source).getToken(resource));
    this.metrics?.cache.inc({ outcome: r.outcome });
    return r;
  }
}
