// Service-account tokens as the real server issues them: RS256 JWTs with audiences, expiry and
// an optional pod binding (TokenRequest), and TokenReview answers that check the signature,
// the audience, the expiry and that the service account and bound pod still exist with the
// same uid.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  createHash,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import { isRecord, type UserInfo } from "./types.ts";

export const API_AUDIENCE = "https://kubernetes.default.svc.cluster.local";
export const ISSUER = "https://kubernetes.default.svc.cluster.local";
export const EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name";
export const EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid";

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  "kubernetes.io": {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
  };
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString("base64url");

export class TokenSigner {
  private readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly kid: string;

  constructor(privateKeyPem?: string) {
    const pem =
      privateKeyPem ??
      generateKeyPairSync("rsa", { modulusLength: 2048 })
        .privateKey.export({ type: "pkcs8", format: "pem" })
        .toString();
    this.privateKey = createPrivateKey(pem);
    this.publicKey = createPublicKey(this.privateKey);
    this.kid = createHash("sha256")
      .update(this.publicKey.export({ type: "spki", format: "der" }))
      .digest("base64url");
  }

  sign(claims: TokenClaims): string {
    const head = b64url(JSON.stringify({ alg: "RS256", kid: this.kid }));
    const body = b64url(JSON.stringify(claims));
    const sig = sign("sha256", Buffer.from(`${head}.${body}`), this.privateKey);
    return `${head}.${body}.${b64url(sig)}`;
  }

  /** The claims of a token this signer issued, or an error text. */
  decode(token: string): TokenClaims | string {
    const parts = token.split(".");
    if (parts.length !== 3) return "invalid bearer token";
    const [head, body, sig] = parts as [string, string, string];
    const ok = verify("sha256", Buffer.from(`${head}.${body}`), this.publicKey, Buffer.from(sig, "base64url"));
    if (!ok) return "invalid bearer token, square/go-jose: error in cryptographic primitive";
    try {
      const claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as unknown;
      if (!isRecord(claims) || !isRecord(claims["kubernetes.io"])) return "invalid bearer token";
      return claims as unknown as TokenClaims;
    } catch {
      return "invalid bearer token";
    }
  }

  jwks(): unknown {
    const jwk = this.publicKey.export({ format: "jwk" });
    return { keys: [{ use: "sig", kty: "RSA", kid: this.kid, alg: "RS256", n: jwk.n, e: jwk.e }] };
  }
}

export interface LiveObjects {
  serviceAccountUid(namespace: string, name: string): string | undefined;
  podUid(namespace: string, name: string): string | undefined;
}

export type ReviewResult =
  { authenticated: true; user: UserInfo; audiences: string[] } | { authenticated: false; error: string };

/** TokenReview's decision for a token and the audiences the caller wants (pure, given the clock and objects). */
export function reviewToken(
  signer: TokenSigner,
  token: string,
  wanted: string[],
  live: LiveObjects,
  nowSeconds: number,
): ReviewResult {
  const claims = signer.decode(token);
  if (typeof claims === "string") return { authenticated: false, error: `[${claims}]` };
  const audiences = wanted.length > 0 ? wanted : [API_AUDIENCE];
  const matched = audiences.filter((a) => claims.aud.includes(a));
  if (matched.length === 0) {
    return {
      authenticated: false,
      error: `[invalid bearer token, token audiences ${JSON.stringify(claims.aud)} is invalid for the target audiences ${JSON.stringify(audiences)}]`,
    };
  }
  if (nowSeconds >= claims.exp)
    return { authenticated: false, error: "[invalid bearer token, service account token has expired]" };
  if (nowSeconds + 60 < claims.nbf)
    return { authenticated: false, error: "[invalid bearer token, token not yet valid]" };
  const k = claims["kubernetes.io"];
  if (live.serviceAccountUid(k.namespace, k.serviceaccount.name) !== k.serviceaccount.uid) {
    return { authenticated: false, error: "[invalid bearer token, service account token has been invalidated]" };
  }
  const extra: Record<string, string[]> = {};
  if (k.pod !== undefined) {
    if (live.podUid(k.namespace, k.pod.name) !== k.pod.uid) {
      return {
        authenticated: false,
        error: `[invalid bearer token, pod "${k.pod.name}" not found or its uid changed: the token has been invalidated]`,
      };
    }
    extra[EXTRA_POD_NAME] = [k.pod.name];
    extra[EXTRA_POD_UID] = [k.pod.uid];
  }
  return {
    authenticated: true,
    audiences: matched,
    user: {
      username: `system:serviceaccount:${k.namespace}:${k.serviceaccount.name}`,
      uid: k.serviceaccount.uid,
      groups: ["system:serviceaccounts", `system:serviceaccounts:${k.namespace}`, "system:authenticated"],
      extra,
    },
  };
}
