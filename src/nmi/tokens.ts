// Tokens for an identity and resource: from the cache when it can, else from the identity's
// source, once per key however many callers are waiting.
import type { AzureIdentity } from "../model/types.ts";
import type { Token } from "./imds.ts";
import type { NmiMetrics } from "./metrics.ts";
import { TokenCache, type CacheOutcome } from "./token-cache.ts";
import { identityKey, type TokenSource } from "./token-sources.ts";

export interface TokenProvider {
  getToken(identity: AzureIdentity, resource: string): Promise<{ token: Token; outcome: CacheOutcome }>;
}

export class TokenService implements TokenProvider {
  constructor(
    private readonly sourceFor: (identity: AzureIdentity) => TokenSource,
    private readonly cache: TokenCache = new TokenCache(),
    private readonly metrics?: NmiMetrics,
  ) {}

  async getToken(identity: AzureIdentity, resource: string): Promise<{ token: Token; outcome: CacheOutcome }> {
    const r = await this.cache.get(identityKey(identity) + resource, () => this.sourceFor(identity).getToken(resource));
    this.metrics?.cache.inc({ outcome: r.outcome });
    return r;
  }
}
