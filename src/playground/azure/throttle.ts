// Compute's write throttling, as a token bucket per resource: a burst of writes, then a slow
// refill. Pure: the caller keeps the buckets and passes the clock in.

export interface ThrottleConfig {
  burst: number;
  refillPerMinute: number;
}

export interface Bucket {
  tokens: number;
  updatedAt: number;
  /** Writes attempted since the bucket was last full, reported in the 429 body. */
  measured: number;
  windowStart: number;
}

export interface TakeResult {
  bucket: Bucket;
  allowed: boolean;
  /** When refused: whole seconds until one token is back (at least 1). */
  retryAfterSeconds: number;
}

export function takeToken(previous: Bucket | undefined, now: number, cfg: ThrottleConfig): TakeResult {
  const perMs = cfg.refillPerMinute / 60_000;
  const base = previous ?? { tokens: cfg.burst, updatedAt: now, measured: 0, windowStart: now };
  const tokens = Math.min(cfg.burst, base.tokens + Math.max(0, now - base.updatedAt) * perMs);
  const full = tokens >= cfg.burst;
  const measured = (full ? 0 : base.measured) + 1;
  const windowStart = full ? now : base.windowStart;
  if (tokens >= 1) {
    return {
      bucket: { tokens: tokens - 1, updatedAt: now, measured, windowStart },
      allowed: true,
      retryAfterSeconds: 0,
    };
  }
  const waitMs = perMs > 0 ? (1 - tokens) / perMs : 3_600_000;
  return {
    bucket: { tokens, updatedAt: now, measured, windowStart },
    allowed: false,
    retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
  };
}
