// Access tokens for the stand-ins: v1-shaped JWTs (issuer https://sts.windows.net/<tenant>/),
// RS256-signed with one playground key whose public half the Entra stand-in publishes as JWKS.
// Azurite checks issuer, audience and times but not the signature; the ARM stand-in checks all.
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import { STS_ISSUER_PREFIX } from "./names.ts";

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as a JWK, for the JWKS document. */
  jwk: Record<string, unknown>;
}

export function createSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const der = publicKey.export({ type: "spki", format: "der" });
  const kid = createHash("sha256").update(der).digest("base64url").slice(0, 27);
  return { kid, privateKey, publicKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, use: "sig", alg: "RS256" } };
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

export function signJwt(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64url(header)}.${b64url(claims)}`;
  return `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

/** Splits and decodes a compact JWT without checking it; undefined when it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as unknown;
    if (typeof header !== "object" || header === null || typeof claims !== "object" || claims === null)
      return undefined;
    return {
      header: header as Record<string, unknown>,
      claims: claims as Record<string, unknown>,
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2]!, "base64url"),
    };
  } catch {
    return undefined;
  }
}

/** Who a token is for: an app (service principal) or a managed identity. */
export interface TokenSubject {
  /** Client (application) ID: `appid`. */
  clientId: string;
  /** Object (principal) ID: `oid` and `sub`. */
  objectId: string;
  /** Managed identities only: the identity's resource ID (`xms_mirid`). */
  resourceId?: string;
  /** `appidacr`: 0 managed identity/public, 1 secret, 2 certificate. */
  authMethod: "0" | "1" | "2";
}

export interface MintOptions {
  key: SigningKey;
  tenantId: string;
  audience: string;
  subject: TokenSubject;
  nowSeconds: number;
  lifetimeSeconds: number;
}

export interface MintedToken {
  token: string;
  expiresOn: number;
}

export function stsIssuer(tenantId: string): string {
  return `${STS_ISSUER_PREFIX}${tenantId}/`;
}

export function mintAccessToken(o: MintOptions): MintedToken {
  const exp = o.nowSeconds + o.lifetimeSeconds;
  const claims: Record<string, unknown> = {
    aud: o.audience,
    iss: stsIssuer(o.tenantId),
    iat: o.nowSeconds,
    nbf: o.nowSeconds,
    exp,
    appid: o.subject.clientId,
    appidacr: o.subject.authMethod,
    idp: stsIssuer(o.tenantId),
    idtyp: "app",
    oid: o.subject.objectId,
    sub: o.subject.objectId,
    tid: o.tenantId,
    uti: randomUUID().replaceAll("-", ""),
    ver: "1.0",
  };
  if (o.subject.resourceId !== undefined) claims.xms_mirid = o.subject.resourceId;
  return {
    token: signJwt({ alg: "RS256", typ: "JWT", kid: o.key.kid, x5t: o.key.kid }, claims, o.key.privateKey),
    expiresOn: exp,
  };
}

export type VerifyResult =
  { ok: true; claims: Record<string, unknown> } | { ok: false; reason: "malformed" | "signature" };

/** Checks an RS256 token's signature against the playground key. Claims are the caller's to judge. */
export function verifyAccessToken(token: string, publicKey: KeyObject): VerifyResult {
  const jwt = decodeJwt(token);
  if (!jwt) return { ok: false, reason: "malformed" };
  if (jwt.header.alg !== "RS256") return { ok: false, reason: "signature" };
  const good = verify("sha256", Buffer.from(jwt.signingInput), publicKey, jwt.signature);
  return good ? { ok: true, claims: jwt.claims } : { ok: false, reason: "signature" };
}

/** A certificate's public key and thumbprints as clients name them in `x5t#S256` and `x5t`. */
export interface CertificateInfo {
  publicKey: KeyObject;
  sha256: string;
  sha1: string;
}

export function certificateInfo(certPem: string): CertificateInfo {
  const b64 = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  const der = Buffer.from(b64, "base64");
  return {
    publicKey: createPublicKey(certPem),
    sha256: createHash("sha256").update(der).digest("base64url"),
    sha1: createHash("sha1").update(der).digest("base64url"),
  };
}
