// TokenRequest (`serviceaccounts/<sa>/token`) and TokenReview (`authentication.k8s.io/v1`):
// the request/response shapes around the pure signer and review decision in tokens.ts.
import type { KubeApi, RequestCtx } from "./api.ts";
import { ApiError, badRequest, invalid, notFound } from "./status.ts";
import { API_AUDIENCE, ISSUER, reviewToken, type LiveObjects, type TokenClaims, type TokenSigner } from "./tokens.ts";
import { isRecord, text, type ResourceDef, type UserInfo } from "./types.ts";

const MIN_EXPIRATION = 600;
const DEFAULT_EXPIRATION = 3600;
const MAX_EXPIRATION = 2 ** 32;

export class TokenApi {
  private readonly saDef: ResourceDef;
  private readonly podDef: ResourceDef;
  private readonly live: LiveObjects;

  constructor(
    private readonly api: KubeApi,
    readonly signer: TokenSigner,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
    /** The `iss` of the tokens it signs (the server's URL once it listens). */
    private readonly issuer: () => string = () => ISSUER,
  ) {
    this.saDef = api.registry.byResourceKey("serviceaccounts")!;
    this.podDef = api.registry.byResourceKey("pods")!;
    this.live = {
      serviceAccountUid: (ns, name) => api.store.get(this.saDef, ns, name)?.metadata.uid,
      podUid: (ns, name) => api.store.get(this.podDef, ns, name)?.metadata.uid,
    };
  }

  /** Bearer authentication for API requests: a service-account token for the API audience. */
  authenticate(token: string): UserInfo | undefined {
    const r = reviewToken(this.signer, token, [API_AUDIENCE], this.live, this.nowSeconds());
    return r.authenticated ? r.user : undefined;
  }

  review(body: unknown): Record<string, unknown> {
    if (!isRecord(body) || !isRecord(body.spec)) throw badRequest("TokenReview: spec is required");
    const token = body.spec.token;
    const audiences = Array.isArray(body.spec.audiences) ? body.spec.audiences.map(String) : [];
    const out = {
      kind: "TokenReview",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { creationTimestamp: null },
      spec: body.spec,
    };
    if (typeof token !== "string" || token === "") {
      throw invalid({ group: "authentication.k8s.io", plural: "tokenreviews", kind: "TokenReview" }, "", [
        { field: "spec.token", type: "FieldValueRequired", detail: "Required value: token must not be empty" },
      ]);
    }
    const r = reviewToken(this.signer, token, audiences, this.live, this.nowSeconds());
    if (!r.authenticated) return { ...out, status: { user: {}, error: r.error } };
    return { ...out, status: { authenticated: true, user: r.user, audiences: r.audiences } };
  }

  request(ns: string, saName: string, body: unknown, ctx: RequestCtx): Record<string, unknown> {
    const sa = this.api.get(this.saDef, ns, saName);
    const spec = isRecord(body) && isRecord(body.spec) ? body.spec : {};
    const audiences =
      Array.isArray(spec.audiences) && spec.audiences.length > 0 ? spec.audiences.map(String) : [API_AUDIENCE];
    const exp = typeof spec.expirationSeconds === "number" ? spec.expirationSeconds : DEFAULT_EXPIRATION;
    const trDef = { group: "authentication.k8s.io", plural: "serviceaccounts", kind: "TokenRequest" };
    if (exp < MIN_EXPIRATION)
      throw invalid(trDef, saName, [
        {
          field: "spec.expirationSeconds",
          type: "FieldValueInvalid",
          detail: `Invalid value: ${exp}: may not specify a duration less than 10 minutes`,
        },
      ]);
    if (exp > MAX_EXPIRATION)
      throw invalid(trDef, saName, [
        {
          field: "spec.expirationSeconds",
          type: "FieldValueInvalid",
          detail: `Invalid value: ${exp}: may not specify a duration larger than 2^32 seconds`,
        },
      ]);
    const iat = this.nowSeconds();
    const claims: TokenClaims = {
      iss: this.issuer(),
      sub: `system:serviceaccount:${ns}:${saName}`,
      aud: audiences,
      exp: iat + exp,
      iat,
      nbf: iat,
      "kubernetes.io": { namespace: ns, serviceaccount: { name: saName, uid: sa.metadata.uid! } },
    };
    const bound = spec.boundObjectRef;
    if (isRecord(bound)) {
      if (bound.kind !== "Pod") throw badRequest(`cannot bind token to object of type ${String(bound.kind)}`);
      const name = text(bound.name);
      const pod = this.api.store.get(this.podDef, ns, name);
      if (pod === undefined) throw notFound(this.podDef, name);
      if (bound.uid !== undefined && bound.uid !== pod.metadata.uid) {
        throw new ApiError(
          409,
          "Conflict",
          `Operation cannot be fulfilled on pods "${name}": the UID in the bound object reference (${text(bound.uid)}) does not match the UID in record. The object might have been deleted and then recreated`,
          { name, kind: "pods" },
        );
      }
      claims["kubernetes.io"].pod = { name, uid: pod.metadata.uid! };
    }
    const token = ctx.dryRun === true ? "" : this.signer.sign(claims);
    return {
      kind: "TokenRequest",
      apiVersion: "authentication.k8s.io/v1",
      metadata: {
        name: saName,
        namespace: ns,
        creationTimestamp: new Date(iat * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      },
      spec: { audiences, expirationSeconds: exp, boundObjectRef: isRecord(bound) ? bound : null },
      status: { token, expirationTimestamp: new Date((iat + exp) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z") },
    };
  }
}
