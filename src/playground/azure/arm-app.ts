// The Resource Manager stand-in's HTTP edge: one catch-all route under /subscriptions that
// parses the path, checks api-version and the bearer token, applies injected faults, and hands
// the request to the handlers below, which read and change ArmState. Every call is recorded.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { KeyObject } from "node:crypto";
import { checkArmToken } from "./arm-auth.ts";
import { verifyAccessToken } from "./tokens.ts";
import { armErrors, type ArmError } from "./arm-errors.ts";
import {
  renderOperation,
  renderScaleSet,
  renderScaleSetVm,
  renderUserAssignedIdentity,
  renderVm,
} from "./arm-render.ts";
import { parseArmPath, type ArmRoute } from "./arm-routes.ts";
import type { ArmState, ComputeResource } from "./arm-state.ts";
import type { CallLog } from "./calls.ts";
import type { Faults } from "./faults.ts";
import { credentialId, federatedCredentials } from "./arm-federated.ts";
import { decideIdentityChange } from "./identity-change.ts";
import { identityId, idKey, scaleSetId, vmId } from "./ids.ts";
import { LIMITS } from "../../model/constants.ts";
import { RESOURCE_TYPES } from "./names.ts";

export interface ArmAppDeps {
  state: ArmState;
  calls: CallLog;
  faults: Faults;
  publicKey: KeyObject;
  https?: { key: string; cert: string };
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface Ctx {
  deps: ArmAppDeps;
  route: ArmRoute;
  method: string;
  body: unknown;
  apiVersion: string;
  origin: string;
  authorization: string | undefined;
}

const fromError = (e: ArmError): Reply => ({
  status: e.status,
  body: e.body,
  ...(e.headers ? { headers: e.headers } : {}),
});
const ok = (body: unknown, headers?: Record<string, string>): Reply => ({
  status: 200,
  body,
  ...(headers ? { headers } : {}),
});

export function buildArmApp(deps: ArmAppDeps): FastifyInstance {
  const app = serverFor(deps.https);
  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const path = req.url.split("?")[0] ?? "";
    const route = parseArmPath(path);
    const result = await answer(deps, req, route);
    deps.calls.record({
      service: "arm",
      method: req.method,
      resource: resourceOf(route),
      operation: operationOf(route, req.method),
      target: targetOf(deps, route),
      status: result.status,
      at: deps.state.now(),
    });
    await reply
      .code(result.status)
      .headers({ "content-type": "application/json; charset=utf-8", ...result.headers })
      .send(JSON.stringify(result.body));
  };
  app.all("/subscriptions/*", handler);
  app.setNotFoundHandler(async (req, reply) => {
    const e = armErrors.noRoute(req.url.split("?")[0] ?? "");
    await reply.code(e.status).send(e.body);
  });
  return app;
}

/** A Fastify app over HTTPS when given a key pair (typed as the plain one: routes do not care). */
export function serverFor(https: { key: string; cert: string } | undefined): FastifyInstance {
  return https ? Fastify({ https, logger: false }) : Fastify({ logger: false });
}

function answer(deps: ArmAppDeps, req: FastifyRequest, route: ArmRoute | undefined): Reply | Promise<Reply> {
  const path = req.url.split("?")[0] ?? "";
  if (!route) return fromError(armErrors.noRoute(path));
  const query = req.query as Record<string, string | undefined>;
  const apiVersion = query["api-version"];
  if (!apiVersion) return fromError(armErrors.missingApiVersion());
  const { state } = deps;
  const authError = checkArmToken(
    req.headers.authorization,
    deps.publicKey,
    state.cloud.tenantId,
    Math.floor(state.now() / 1000),
  );
  if (authError) return fromError(authError);
  if (route.sub.toLowerCase() !== state.cloud.subscriptionId.toLowerCase()) {
    return {
      status: 404,
      body: { error: { code: "SubscriptionNotFound", message: `The subscription '${route.sub}' could not be found.` } },
    };
  }
  const injected = deps.faults.takeInjected(req.method);
  if (injected) {
    return {
      status: injected.status,
      body: { error: { code: injected.code, message: injected.message } },
      ...(injected.retryAfterSeconds !== undefined
        ? { headers: { "retry-after": String(injected.retryAfterSeconds) } }
        : {}),
    };
  }
  const ctx: Ctx = {
    deps,
    route,
    method: req.method,
    body: req.body,
    apiVersion,
    origin: `https://${req.headers.host ?? "127.0.0.1"}`,
    authorization: req.headers.authorization,
  };
  if (route.kind === "operation") return getOperation(ctx, route.operationId);
  if (!state.cloud.resourceGroups.some((g) => g.toLowerCase() === route.rg.toLowerCase())) {
    return fromError(armErrors.resourceGroupNotFound(route.rg));
  }
  switch (route.kind) {
    case "scaleSets":
      return route.name === undefined
        ? list(ctx, "scaleSet", route.rg)
        : computeResource(ctx, scaleSetId(route.sub, route.rg, route.name), route.rg, route.name);
    case "vms":
      return route.name === undefined
        ? list(ctx, "vm", route.rg)
        : computeResource(ctx, vmId(route.sub, route.rg, route.name), route.rg, route.name);
    case "scaleSetVms":
      return scaleSetVms(ctx, route);
    case "identities":
      return identities(ctx, route);
    case "federatedCredentials":
      return federatedCredentials({ ...deps, caller: () => callerOf(ctx) }, req.method, req.body, route);
  }
}

function resourceOf(route: ArmRoute | undefined): string {
  if (!route) return "unknown";
  return {
    scaleSets: "virtualMachineScaleSets",
    scaleSetVms: "virtualMachineScaleSetVMs",
    vms: "virtualMachines",
    identities: "userAssignedIdentities",
    federatedCredentials: "federatedIdentityCredentials",
    operation: "operations",
  }[route.kind];
}

function operationOf(route: ArmRoute | undefined, method: string): string {
  if (route?.kind === "operation") return "poll";
  const named =
    route !== undefined && (route.kind === "scaleSetVms" ? route.instanceId !== undefined : route.name !== undefined);
  if (method === "GET") return named ? "get" : "list";
  return method.toLowerCase();
}

function targetOf(deps: ArmAppDeps, route: ArmRoute | undefined): string {
  if (!route) return "";
  switch (route.kind) {
    case "operation":
      return deps.state.operations.get(route.operationId)?.resourceKey ?? "";
    case "scaleSets":
      return route.name === undefined ? "" : idKey(scaleSetId(route.sub, route.rg, route.name));
    case "vms":
      return route.name === undefined ? "" : idKey(vmId(route.sub, route.rg, route.name));
    case "scaleSetVms":
      return idKey(
        `${scaleSetId(route.sub, route.rg, route.scaleSet)}/virtualMachines${route.instanceId === undefined ? "" : `/${route.instanceId}`}`,
      );
    case "identities":
      return route.name === undefined ? "" : idKey(identityId(route.sub, route.rg, route.name));
    case "federatedCredentials": {
      const identity = identityId(route.sub, route.rg, route.identity);
      return idKey(route.name === undefined ? identity : credentialId(identity, route.name));
    }
  }
}

function getOperation(ctx: Ctx, operationId: string): Reply {
  if (ctx.method !== "GET") return fromError(armErrors.methodNotAllowed(ctx.method));
  const op = ctx.deps.state.operation(operationId);
  return op ? ok(renderOperation(op)) : fromError(armErrors.entityNotFound());
}

function render(ctx: Ctx, r: ComputeResource): unknown {
  return r.kind === "scaleSet" ? renderScaleSet(ctx.deps.state, r) : renderVm(ctx.deps.state, r);
}

function list(ctx: Ctx, kind: "scaleSet" | "vm", rg: string): Reply {
  if (ctx.method !== "GET") return fromError(armErrors.methodNotAllowed(ctx.method));
  ctx.deps.state.settle();
  const value = [...ctx.deps.state.resources.values()]
    .filter((r) => r.kind === kind && r.resourceGroup.toLowerCase() === rg.toLowerCase())
    .map((r) => render(ctx, r));
  return ok({ value });
}

function computeResource(ctx: Ctx, id: string, rg: string, name: string): Reply {
  const { state } = ctx.deps;
  const r = state.get(id);
  const type = ctx.route.kind === "scaleSets" ? RESOURCE_TYPES.scaleSet : RESOURCE_TYPES.vm;
  if (!r) return fromError(armErrors.resourceNotFound(type, name, rg));
  if (ctx.method === "GET") return ok(render(ctx, r));
  if (ctx.method === "PUT" || ctx.method === "PATCH") return write(ctx, r);
  return fromError(armErrors.methodNotAllowed(ctx.method));
}

function write(ctx: Ctx, r: ComputeResource): Reply {
  const { state, faults } = ctx.deps;
  const key = idKey(r.id);
  const group = r.kind === "scaleSet" ? "PutVMScaleSet3Min" : "PutVM3Min";
  const bucket = state.takeWriteToken(key);
  if (faults.throttling && !bucket.allowed) {
    const now = state.now();
    return fromError(
      armErrors.throttled(group, bucket.retryAfterSeconds, {
        start: new Date(bucket.bucket.windowStart),
        end: new Date(now + bucket.retryAfterSeconds * 1000),
        allowed: state.throttle.burst,
        measured: bucket.bucket.measured,
      }),
    );
  }
  if (faults.conflicts && state.busy(r)) return fromError(armErrors.conflict());
  if (typeof ctx.body !== "object" || ctx.body === null || Array.isArray(ctx.body)) {
    return fromError(armErrors.invalidBody("the body must be a JSON object"));
  }
  const body = ctx.body as Record<string, unknown>;
  const decision = decideIdentityChange({
    current: r.identities,
    request: body.identity ?? undefined,
    mode: ctx.method === "PUT" ? "put" : "patch",
    resourceId: r.id,
    lookupIdentity: (id) => state.lookupIdentity(id)?.id,
    checkExistence: faults.unknownIdentities,
    limit: faults.identityLimit ? LIMITS.identitiesPerArmRequest : undefined,
  });
  if (!decision.ok) return fromError(decision.error);
  const tags = parseTags(body.tags);
  if (tags === null) return fromError(armErrors.invalidBody("tags must be an object of strings", "tags"));
  const op = state.write(r, decision.next, tags);
  const headers: Record<string, string> = {
    "x-ms-ratelimit-remaining-resource": `Microsoft.Compute/${group};${Math.floor(bucket.bucket.tokens)}`,
  };
  if (!op.done) {
    const location = `${ctx.origin}/subscriptions/${state.cloud.subscriptionId}/providers/Microsoft.Compute/locations`;
    headers["azure-asyncoperation"] =
      `${location}/${r.location}/operations/${op.id}?api-version=${encodeURIComponent(ctx.apiVersion)}`;
  }
  return ok(render(ctx, r), headers);
}

/** undefined: no tags in the request; null: malformed. */
function parseTags(tags: unknown): Record<string, string> | undefined | null {
  if (tags === undefined) return undefined;
  if (typeof tags !== "object" || tags === null || Array.isArray(tags)) return null;
  const entries = Object.entries(tags as Record<string, unknown>);
  return entries.every(([, v]) => typeof v === "string")
    ? (Object.fromEntries(entries) as Record<string, string>)
    : null;
}

function scaleSetVms(ctx: Ctx, route: Extract<ArmRoute, { kind: "scaleSetVms" }>): Reply {
  if (ctx.method !== "GET") return fromError(armErrors.methodNotAllowed(ctx.method));
  const { state } = ctx.deps;
  const ss = state.get(scaleSetId(route.sub, route.rg, route.scaleSet));
  if (!ss || ss.kind !== "scaleSet")
    return fromError(armErrors.resourceNotFound(RESOURCE_TYPES.scaleSet, route.scaleSet, route.rg));
  if (ss.orchestrationMode !== "Uniform") {
    // Flexible scale sets list their members as ordinary VMs.
    return route.instanceId === undefined ? ok({ value: [] }) : fromError(armErrors.entityNotFound());
  }
  if (route.instanceId === undefined) {
    return ok({ value: (ss.instances ?? []).map((i) => renderScaleSetVm(state, ss, i.instanceId)) });
  }
  const vm = renderScaleSetVm(state, ss, route.instanceId);
  return vm ? ok(vm) : fromError(armErrors.entityNotFound());
}

function identities(ctx: Ctx, route: Extract<ArmRoute, { kind: "identities" }>): Reply {
  if (ctx.method !== "GET") return fromError(armErrors.methodNotAllowed(ctx.method));
  const { state } = ctx.deps;
  if (route.name === undefined) {
    const value = [...state.identities.values()]
      .filter((i) => i.resourceGroup.toLowerCase() === route.rg.toLowerCase())
      .map((i) => renderUserAssignedIdentity(state, i));
    return ok({ value });
  }
  const id = identityId(route.sub, route.rg, route.name);
  // Authorization comes before existence in Resource Manager: a caller without read gets 403 either way.
  if (ctx.deps.faults.unreadableIdentities.has(idKey(id))) {
    const caller = callerOf(ctx);
    return fromError(armErrors.authorizationFailed(caller.appId, caller.oid, `${RESOURCE_TYPES.identity}/read`, id));
  }
  const i = state.lookupIdentity(id);
  return i
    ? ok(renderUserAssignedIdentity(state, i))
    : fromError(armErrors.resourceNotFound(RESOURCE_TYPES.identity, route.name, route.rg));
}

/** The caller's application and object IDs, from its (already checked) token. */
function callerOf(ctx: Ctx): { appId: string; oid: string } {
  const token = /^Bearer\s+(\S+)$/i.exec(ctx.authorization ?? "")?.[1] ?? "";
  const v = verifyAccessToken(token, ctx.deps.publicKey);
  const claim = (k: string): string => (v.ok && typeof v.claims[k] === "string" ? v.claims[k] : "");
  return { appId: claim("appid") || claim("azp"), oid: claim("oid") };
}
