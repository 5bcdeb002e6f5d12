// Tokens per identity and resource, served from memory and refreshed ahead of expiry, with
// single flight: however many callers ask for a missing token at once, one upstream call is
// made and all of them get its answer. AAD Pod Identity asked upstream on every request.
import type { Token } from "./imds.ts";

export interface TokenCacheOptions {
  /** Refresh this long before expiry (capped at half the token's lifetime). */
  refreshAheadSeconds?: number;
  /** Upper bound on entries; the ones expiring first go when it is reached. */
  maxEntries?: number;
  now?: () => number;
}

export type CacheOutcome = "hit" | "miss" | "coalesced" | "stale-refresh";

interface Entry {
  token?: Token;
  /** When the token was stored (epoch seconds), to work out its lifetime. */
  storedAt?: number;
  inflight?: Promise<Token>;
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly refreshAhead: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(opts: TokenCacheOptions = {}) {
    this.refreshAhead = opts.refreshAheadSeconds ?? 300;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? (() => Date.now() / 1000);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Returns a usable token for `key`, calling `fetch` at most once per key at a time. */
  async get(key: string, fetch: () => Promise<Token>): Promise<{ token: Token; outcome: CacheOutcome }> {
    const now = this.now();
    const entry = this.entries.get(key);
    const token = entry?.token;
    if (token !== undefined && token.expiresOn > now + 5) {
      if (now < this.refreshAt(entry!)) return { token, outcome: "hit" };
      // Close to expiry but still valid: answer now, refresh in the background.
      if (entry!.inflight === undefined) this.start(key, entry!, fetch).catch(() => undefined);
      return { token, outcome: "stale-refresh" };
    }
    if (entry?.inflight !== undefined) return { token: await entry.inflight, outcome: "coalesced" };
    const fresh = entry ?? {};
    if (entry === undefined) this.insert(key, fresh);
    return { token: await this.start(key, fresh, fetch), outcome: "miss" };
  }

  /** Drops every token of one identity (its secret changed, it was unassigned). */
  invalidate(prefix: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  private refreshAt(e: Entry): number {
    const t = e.token!;
    const lifetime = t.expiresOn - (e.storedAt ?? t.expiresOn);
    return t.expiresOn - Math.min(this.refreshAhead, lifetime / 2);
  }

  private start(key: string, entry: Entry, fetch: () => Promise<Token>): Promise<Token> {
    const p = (async () => {
      try {
        const token = await fetch();
        entry.token = token;
        entry.storedAt = this.now();
        return token;
      } finally {
        entry.inflight = undefined;
        if (entry.token === undefined && this.entries.get(key) === entry) this.entries.delete(key);
      }
    })();
    entry.inflight = p;
    return p;
  }

  private insert(key: string, entry: Entry): void {
    if (this.entries.size >= this.maxEntries) this.evict();
    this.entries.set(key, entry);
  }

  private evict(): void {
    const now = this.now();
    for (const [k, e] of this.entries) {
      if (e.inflight === undefined && (e.token === undefined || e.token.expiresOn <= now)) this.entries.delete(k);
    }
    if (this.entries.size < this.maxEntries) return;
    // Still full: drop the idle entry that expires first.
    let victim: string | undefined;
    let soonest = Infinity;
    for (const [k, e] of this.entries) {
      if (e.inflight === undefined && (e.token?.expiresOn ?? 0) < soonest) {
        soonest = e.token?.expiresOn ?? 0;
        victim = k;
      }
    }
    if (victim !== undefined) this.entries.delete(victim);
  }
}
