// Resource Manager's bearer-token check, decided purely: signature against the playground key,
// issuer of the cloud's tenant, an ARM audience (with or without the slash), and times.
import type { KeyObject } from "node:crypto";
import { armErrors, type ArmError } from "./arm-errors.ts";
import { ARM_AUDIENCES } from "./names.ts";
import { stsIssuer, verifyAccessToken } from "./tokens.ts";

/** Accepted clock skew for `nbf` (ARM tolerates a few minutes). */
const NBF_SKEW_SECONDS = 300;

export function checkArmToken(
  authorization: string | undefined,
  key: KeyObject,
  tenantId: string,
  nowSeconds: number,
): ArmError | undefined {
  if (authorization === undefined || authorization === "") return armErrors.missingToken();
  const m = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (!m) return armErrors.invalidToken("The 'Authorization' header must be 'Bearer <token>'.");
  const verified = verifyAccessToken(m[1]!, key);
  if (!verified.ok) {
    return armErrors.invalidToken(
      verified.reason === "malformed" ? "The token is not a JWT." : "The token's signature could not be verified.",
    );
  }
  const c = verified.claims;
  if (c.iss !== stsIssuer(tenantId))
    return armErrors.invalidToken(`The token's issuer '${String(c.iss)}' is not the tenant's.`);
  const aud = typeof c.aud === "string" ? c.aud : "";
  if (!(ARM_AUDIENCES as readonly string[]).includes(aud)) return armErrors.wrongAudience(aud, ARM_AUDIENCES);
  if (typeof c.exp !== "number" || typeof c.nbf !== "number")
    return armErrors.invalidToken("The token has no 'exp' or 'nbf' claim.");
  if (c.exp <= nowSeconds) return armErrors.expiredToken(new Date(c.exp * 1000), new Date(nowSeconds * 1000));
  if (c.nbf > nowSeconds + NBF_SKEW_SECONDS) return armErrors.invalidToken("The token is not valid yet.");
  return undefined;
}
