// Checks a certificate credential's client assertion the way Entra does: the certificate is
// named by thumbprint (`x5t#S256`, or SHA-1 `x5t`), the signature is PS256 (MSAL) or RS256,
// issuer and subject are the client ID, the audience is the token endpoint, and it is current.
import { constants, verify } from "node:crypto";
import { entraErrors, type EntraError } from "./entra-errors.ts";
import type { ServicePrincipal } from "./service-principals.ts";
import { decodeJwt } from "./tokens.ts";

const SKEW_SECONDS = 300;

const normaliseB64 = (s: string): string =>
  Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("base64url");

export function checkClientAssertion(
  assertion: string,
  sp: ServicePrincipal,
  tokenEndpoints: string[],
  nowSeconds: number,
): EntraError | undefined {
  const jwt = decodeJwt(assertion);
  if (!jwt) return entraErrors.badAssertion("The assertion is not a JWT.");
  const s256 = typeof jwt.header["x5t#S256"] === "string" ? normaliseB64(jwt.header["x5t#S256"]) : undefined;
  const s1 = typeof jwt.header.x5t === "string" ? normaliseB64(jwt.header.x5t) : undefined;
  const cert = sp.certificates.find(
    (c) => (s256 !== undefined && c.sha256 === s256) || (s1 !== undefined && c.sha1 === s1),
  );
  if (!cert) return entraErrors.unknownCertificate(sp.clientId);
  const data = Buffer.from(jwt.signingInput);
  let good: boolean;
  if (jwt.header.alg === "PS256") {
    good = verify(
      "sha256",
      data,
      { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      jwt.signature,
    );
  } else if (jwt.header.alg === "RS256") {
    good = verify("sha256", data, cert.publicKey, jwt.signature);
  } else {
    return entraErrors.badAssertion(`Unsupported algorithm '${String(jwt.header.alg)}'.`);
  }
  if (!good) return entraErrors.badAssertion("The signature does not match the registered certificate.");
  const c = jwt.claims;
  if (String(c.iss).toLowerCase() !== sp.clientId || String(c.sub).toLowerCase() !== sp.clientId)
    return entraErrors.assertionSubject();
  const aud = typeof c.aud === "string" ? c.aud : "";
  if (!tokenEndpoints.includes(aud)) return entraErrors.assertionAudience(aud);
  if (typeof c.exp !== "number" || c.exp <= nowSeconds) return entraErrors.assertionExpired();
  if (typeof c.nbf === "number" && c.nbf > nowSeconds + SKEW_SECONDS) return entraErrors.assertionExpired();
  return undefined;
}
