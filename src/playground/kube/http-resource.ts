// The resource routes of the playground's HTTP edge: a request for a resource, by method, to
// the API operation (get, list, watch, create and the POST subresources, update and patch,
// scale, delete and deletecollection), with the answer shaped as the API server shapes it.
import { Readable } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { KubeApi } from "./api.ts";
import { bind } from "./controllers/nodes.ts";
import type { HttpOptions } from "./http.ts";
import { asList, ctxOf, deleteOptionsOf, listChunks, parseBody, warningHeader, type Query } from "./http-request.ts";
import { serveWatch, type WatchContext } from "./http-watch.ts";
import { applyPatchOfType } from "./patch.ts";
import type { ResourceRequest } from "./routing.ts";
import { replicasOf, toScale } from "./scale.ts";
import { ApiError, badRequest, methodNotAllowed, pathNotFound, successStatus } from "./status.ts";
import { toTable, wantsTable } from "./table.ts";
import { apiVersionOf, isRecord, resourceKey, type KObject, type UserInfo } from "./types.ts";

export interface ResourceContext extends WatchContext {
  api: KubeApi;
  opts: HttpOptions;
}

/** One request for a resource, with what every handler needs. */
export interface ResourceCall {
  ctx: ResourceContext;
  rr: ResourceRequest;
  req: FastifyRequest;
  reply: FastifyReply;
  q: Query;
  user: UserInfo;
}

function respondObject(c: ResourceCall, o: KObject, code = 200): unknown {
  if (wantsTable(c.req.headers.accept))
    return c.reply.code(code).send(toTable(c.rr.def, [o], { resourceVersion: o.metadata.resourceVersion }));
  return c.reply.code(code).send(o);
}

function addWarnings(reply: FastifyReply, warnings: string[]): void {
  const unique = [...new Set(warnings)];
  if (unique.length > 0) void reply.header("warning", unique.map(warningHeader));
}

export function serveResource(c: ResourceCall): unknown {
  const { def } = c.rr;
  if (def.namespaced && c.rr.namespace === undefined && (c.rr.name !== undefined || c.req.method === "POST"))
    throw pathNotFound();
  switch (c.req.method) {
    case "GET":
      return get(c);
    case "POST":
      return post(c);
    case "PUT":
    case "PATCH":
      return write(c);
    case "DELETE":
      return c.rr.name === undefined ? deleteCollection(c) : del(c);
    default:
      throw methodNotAllowed();
  }
}

function get(c: ResourceCall): unknown {
  const { def, name } = c.rr;
  if (name === undefined)
    return c.q.watch === "true" || c.q.watch === "1"
      ? serveWatch(c.ctx, def, c.rr.namespace, c.req, c.reply, c.q)
      : list(c);
  if (def.createOnly === true) throw methodNotAllowed();
  if (c.rr.subresource === "scale") return scale(c);
  return respondObject(c, c.ctx.api.get(def, c.rr.namespace ?? "", name));
}

/** `scale`: read as an autoscaling/v1 Scale, written as a patch of the main object's spec.replicas. */
async function scale(c: ResourceCall): Promise<unknown> {
  const { def } = c.rr;
  const ns = c.rr.namespace ?? "";
  const current = c.ctx.api.get(def, ns, c.rr.name!);
  if (c.req.method === "GET") return toScale(current);
  const body = parseBody(c.req);
  const next =
    c.req.method === "PUT" ? body : applyPatchOfType(c.req.headers["content-type"] ?? "", toScale(current), body, true);
  const replicas = replicasOf(next);
  if (typeof replicas === "string") throw badRequest(replicas);
  const rv = isRecord(next) && isRecord(next.metadata) ? next.metadata.resourceVersion : undefined;
  const patch = { metadata: typeof rv === "string" && rv !== "" ? { resourceVersion: rv } : {}, spec: { replicas } };
  const ctx = ctxOf(c.q, c.user);
  const out = await c.ctx.api.patch(def, ns, c.rr.name!, "application/merge-patch+json", patch, ctx, "scale");
  return toScale(out.object);
}

async function write(c: ResourceCall): Promise<unknown> {
  const { def, name, subresource } = c.rr;
  if (name === undefined || def.createOnly === true) throw methodNotAllowed();
  if (subresource === "scale") return scale(c);
  const ns = c.rr.namespace ?? "";
  const body = parseBody(c.req);
  const ctx = ctxOf(c.q, c.user);
  const out =
    c.req.method === "PUT"
      ? await c.ctx.api.update(def, ns, name, body, ctx, subresource === "finalize" ? "" : subresource)
      : await c.ctx.api.patch(def, ns, name, c.req.headers["content-type"] ?? "", body, ctx, subresource);
  addWarnings(c.reply, out.warnings);
  return respondObject(c, out.object);
}

/** POSTs that are not creates: reviews, a ServiceAccount's token, a pod's binding. */
async function postSubresource(c: ResourceCall, body: unknown): Promise<unknown> {
  const { def, name } = c.rr;
  const ns = c.rr.namespace ?? "";
  if (resourceKey(def) === "tokenreviews.authentication.k8s.io")
    return c.reply.code(201).send(c.ctx.opts.tokens.review(body));
  if (def.group === "authorization.k8s.io") {
    // RBAC is not emulated: every authenticated caller may do everything.
    return c.reply.code(201).send({
      ...(isRecord(body) ? body : {}),
      apiVersion: apiVersionOf(def),
      kind: def.kind,
      status: { allowed: true, reason: "the podid playground does not emulate RBAC" },
    });
  }
  if (name !== undefined && c.rr.subresource === "token" && resourceKey(def) === "serviceaccounts")
    return c.reply.code(201).send(c.ctx.opts.tokens.request(ns, name, body, ctxOf(c.q, c.user)));
  if (name !== undefined && c.rr.subresource === "binding") {
    const target = isRecord(body) && isRecord(body.target) ? body.target.name : undefined;
    if (typeof target !== "string" || target === "") throw badRequest("target.name: Required value");
    await bind(c.ctx.api, def, c.ctx.api.get(def, ns, name), target, ctxOf(c.q, c.user));
    return c.reply.code(201).send(successStatus());
  }
  return undefined;
}

async function post(c: ResourceCall): Promise<unknown> {
  const body = parseBody(c.req);
  const answered = await postSubresource(c, body);
  if (answered !== undefined) return answered;
  if (c.rr.name !== undefined) throw methodNotAllowed();
  const out = await c.ctx.api.create(c.rr.def, c.rr.namespace ?? "", body, ctxOf(c.q, c.user));
  addWarnings(c.reply, out.warnings);
  return respondObject(c, out.object, 201);
}

function deleteContext(c: ResourceCall, body: Record<string, unknown>) {
  const options = deleteOptionsOf(c.q, body);
  const base = ctxOf(c.q, c.user);
  return { options, ctx: { ...base, dryRun: base.dryRun === true || options.dryRun } };
}

async function deleteCollection(c: ResourceCall): Promise<unknown> {
  const { def } = c.rr;
  if (def.createOnly === true || !def.verbs.includes("deletecollection")) throw methodNotAllowed();
  const body = parseBody(c.req);
  const { options, ctx } = deleteContext(c, isRecord(body) ? body : {});
  const selectors = { labelSelector: c.q.labelSelector, fieldSelector: c.q.fieldSelector };
  const { items } = c.ctx.api.list(def, c.rr.namespace, selectors);
  const deleted: KObject[] = [];
  for (const o of items) {
    try {
      const propagation = { propagationPolicy: options.propagationPolicy };
      deleted.push(
        (await c.ctx.api.delete(def, o.metadata.namespace ?? "", o.metadata.name!, propagation, ctx)).object,
      );
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }
  return asList(def, deleted, { resourceVersion: String(c.ctx.api.store.currentRv()) });
}

async function del(c: ResourceCall): Promise<unknown> {
  const { def } = c.rr;
  const name = c.rr.name!;
  const ns = c.rr.namespace ?? "";
  const raw = parseBody(c.req);
  const body = isRecord(raw) ? raw : {};
  const { options, ctx } = deleteContext(c, body);
  const { propagationPolicy, preconditions, gracePeriodSeconds } = options;
  const out = await c.ctx.api.delete(def, ns, name, { propagationPolicy, preconditions, gracePeriodSeconds }, ctx);
  addWarnings(c.reply, out.warnings);
  // 200 with the object, also when finalizers keep it (the apiserver answers 202 only for the
  // deprecated orphanDependents=false).
  const kept = c.ctx.api.store.get(def, ns, name)?.metadata.uid === out.object.metadata.uid;
  return c.reply.code(body.orphanDependents === false && kept ? 202 : 200).send(out.object);
}

function list(c: ResourceCall): unknown {
  const { def } = c.rr;
  if (def.createOnly === true) throw methodNotAllowed();
  const q = c.q;
  const limit = q.limit !== undefined ? Number(q.limit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0))
    throw badRequest(`limit: Invalid value: "${q.limit}": must be a non-negative integer`);
  const query = { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector, limit, continue: q.continue };
  const res = c.ctx.api.list(def, c.rr.namespace, query);
  const meta: Record<string, unknown> = { resourceVersion: res.resourceVersion };
  if (res.continue !== undefined)
    Object.assign(meta, { continue: res.continue, remainingItemCount: res.remainingItemCount });
  if (wantsTable(c.req.headers.accept))
    return c.reply.send(toTable(def, res.items, meta, Date.now(), q.includeObject !== "None"));
  // Lists can be large (the benchmarks list 150,000 pods): stream them from the per-version JSON cache.
  return c.reply.type("application/json").send(Readable.from(listChunks(def, res.items, meta)));
}
