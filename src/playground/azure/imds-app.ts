// One node's Instance Metadata Service (plain HTTP, like the real 169.254.169.254): managed
// identity tokens for the identities the node's VM or uniform scale set has at that moment in
// the ARM stand-in, and a small instance document. Error bodies follow real IMDS.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { setTimeout as sleep } from "node:timers/promises";
import { LIMITS } from "../../model/constants.ts";
import type { ArmState, NodeBinding } from "./arm-state.ts";
import type { CallLog } from "./calls.ts";
import type { Faults } from "./faults.ts";
import { idKey } from "./ids.ts";
import { resolveImdsIdentity, type NodeIdentities } from "./imds-identity.ts";
import { ImdsLimiter } from "./imds-limiter.ts";
import { IMDS } from "./names.ts";
import { mintAccessToken, type SigningKey } from "./tokens.ts";

export interface ImdsAppDeps {
  state: ArmState;
  node: NodeBinding;
  calls: CallLog;
  faults: Faults;
  key: SigningKey;
  /** Added delay per token request, so tests can exercise the concurrency limit. */
  latencyMs?: number;
}

const NEWEST_VERSIONS = ["2023-07-01", "2021-12-13", "2021-02-01"];

const bad = (description: string): { error: string; error_description: string } => ({
  error: "invalid_request",
  error_description: description,
});

/** The identities a node's IMDS can hand out right now. */
export function nodeIdentities(state: ArmState, node: NodeBinding): NodeIdentities {
  state.settle();
  const r = state.resources.get(node.resourceKey);
  if (!r) return { user: [] };
  const user = r.effective.userAssigned.flatMap((id) => {
    const rec = state.identities.get(idKey(id));
    return rec ? [{ id: rec.id, clientId: rec.clientId, principalId: rec.principalId }] : [];
  });
  return r.effective.system ? { system: { ...r.systemIdentity, resourceId: r.id }, user } : { user };
}

export function buildImdsApp(deps: ImdsAppDeps): FastifyInstance {
  const app = Fastify({ logger: false });
  const limiter = new ImdsLimiter(LIMITS.imdsRequestsPerSecond, LIMITS.imdsConcurrentRequests);
  const record = (req: FastifyRequest, resource: string, status: number, target: string): void =>
    deps.calls.record({
      service: "imds",
      method: req.method,
      resource,
      operation: resource,
      target,
      status,
      at: deps.state.now(),
    });

  const token = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const send = async (
      status: number,
      body: unknown,
      headers: Record<string, string> = {},
      clientId = "",
    ): Promise<void> => {
      record(req, "token", status, clientId || deps.node.nodeName);
      await reply
        .code(status)
        .headers({ "content-type": "application/json; charset=utf-8", server: "IMDS/150.870.65.1854", ...headers })
        .send(JSON.stringify(body));
    };
    if (req.headers["x-forwarded-for"] !== undefined)
      return send(400, bad("Request contains X-Forwarded-For header; requests through a proxy are not allowed"));
    if (String(req.headers.metadata).toLowerCase() !== "true")
      return send(400, bad("Required metadata header not specified"));
    if (deps.faults.imdsRateLimit && !limiter.tryAcquire(Date.now())) {
      return send(
        429,
        {
          error: "too_many_requests",
          error_description: "Too many requests. IMDS allows 20 requests per second and 5 concurrent requests per VM.",
        },
        { "retry-after": "1" },
      );
    }
    const acquired = deps.faults.imdsRateLimit;
    try {
      if (deps.latencyMs) await sleep(deps.latencyMs);
      const q = req.query as Record<string, string | undefined>;
      if (!q["api-version"]) return await send(400, bad("Required api-version parameter not specified"));
      if (!q.resource) return await send(400, bad("Required audience parameter not specified"));
      const selector = { clientId: q.client_id, objectId: q.object_id, resourceId: q.msi_res_id ?? q.mi_res_id };
      const chosen = resolveImdsIdentity(nodeIdentities(deps.state, deps.node), selector);
      if (!chosen.ok) return await send(400, bad(chosen.description), {}, q.client_id ?? "");
      const nowSeconds = Math.floor(deps.state.now() / 1000);
      const minted = mintAccessToken({
        key: deps.key,
        tenantId: deps.state.cloud.tenantId,
        audience: q.resource,
        subject: chosen.subject,
        nowSeconds,
        lifetimeSeconds: IMDS.tokenLifetimeSeconds,
      });
      await send(
        200,
        {
          access_token: minted.token,
          client_id: chosen.subject.clientId,
          expires_in: String(IMDS.tokenLifetimeSeconds),
          expires_on: String(minted.expiresOn),
          ext_expires_in: String(IMDS.tokenLifetimeSeconds),
          not_before: String(nowSeconds),
          resource: q.resource,
          token_type: "Bearer",
        },
        {},
        chosen.subject.clientId,
      );
    } finally {
      if (acquired) limiter.release();
    }
  };

  const instance = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const send = async (status: number, body: unknown): Promise<void> => {
      record(req, "instance", status, deps.node.nodeName);
      await reply.code(status).header("content-type", "application/json; charset=utf-8").send(JSON.stringify(body));
    };
    if (req.headers["x-forwarded-for"] !== undefined)
      return send(400, { error: "Bad request. X-Forwarded-For header is not allowed." });
    if (String(req.headers.metadata).toLowerCase() !== "true")
      return send(400, { error: "Bad request. Required metadata header not specified" });
    const q = req.query as Record<string, string | undefined>;
    if (!q["api-version"]) {
      return send(400, {
        error:
          "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds",
        "newest-versions": NEWEST_VERSIONS,
      });
    }
    await send(200, instanceDocument(deps.state, deps.node));
  };

  for (const path of [IMDS.tokenPath, `${IMDS.tokenPath}/`]) app.get(path, token);
  for (const path of [IMDS.instancePath, `${IMDS.instancePath}/`]) app.get(path, instance);
  return app;
}

function instanceDocument(state: ArmState, node: NodeBinding): Record<string, unknown> {
  const r = state.resources.get(node.resourceKey);
  return {
    compute: {
      azEnvironment: "AzurePublicCloud",
      location: state.cloud.location,
      name:
        node.scaleSetName && r?.kind === "scaleSet"
          ? `${node.scaleSetName}_${node.vmResourceId.split("/").pop()}`
          : (r?.name ?? node.computerName),
      osProfile: { computerName: node.computerName },
      osType: "Linux",
      resourceGroupName: r?.resourceGroup ?? "",
      resourceId: node.vmResourceId,
      subscriptionId: state.cloud.subscriptionId,
      vmScaleSetName: node.scaleSetName ?? "",
      vmSize: "Standard_D2s_v3",
      vmId: r?.uniqueId ?? "",
      tagsList: [],
    },
    network: { interface: [] },
  };
}
