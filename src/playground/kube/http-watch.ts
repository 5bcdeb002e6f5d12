// Watch streams as the API server serves them: headers flushed at once, newline-delimited
// events (Tables for `kubectl get -w`), bookmarks when asked for, the server's own timeout,
// and `410 Gone` as an ERROR event when the history asked for is gone.
import type { ServerResponse } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { KubeApi } from "./api.ts";
import type { Query } from "./http-request.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { ApiError, badRequest, methodNotAllowed } from "./status.ts";
import type { EventType } from "./store.ts";
import { toTable, wantsTable } from "./table.ts";
import { apiVersionOf, resourceKey, type KObject, type ResourceDef } from "./types.ts";

export interface WatchContext {
  api: KubeApi;
  bookmarkIntervalMs: number;
  /** Every open watch's finish function, so the server can end them all. */
  open: Set<() => void>;
}

interface WatchParams {
  from: number | undefined;
  timeoutSeconds: number;
  bookmarks: boolean;
}

function watchParams(q: Query): WatchParams {
  const rvParam = q.resourceVersion ?? "";
  const from = rvParam === "" || rvParam === "0" ? undefined : Number(rvParam);
  if (from !== undefined && !Number.isFinite(from))
    throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a number`);
  return {
    from,
    timeoutSeconds: q.timeoutSeconds !== undefined ? Number(q.timeoutSeconds) : 1800,
    bookmarks: q.allowWatchBookmarks === "true",
  };
}

function openStream(reply: FastifyReply): { res: ServerResponse; write: (s: string) => void } {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "application/json",
    "cache-control": "no-cache, private",
    "transfer-encoding": "chunked",
  });
  res.flushHeaders();
  return {
    res,
    write: (s) => {
      if (!res.writableEnded && !res.destroyed) res.write(s);
    },
  };
}

/** `kubectl get -w` watches Tables: one row per event, column definitions on the first only. */
function tableEncoder(def: ResourceDef, q: Query): (type: EventType, object: KObject) => string {
  let first = true;
  return (type, object) => {
    const t = toTable(
      def,
      [object],
      { resourceVersion: object.metadata.resourceVersion },
      Date.now(),
      q.includeObject !== "None",
    );
    if (!first) t.columnDefinitions = [];
    first = false;
    return JSON.stringify({ type, object: t }) + "\n";
  };
}

const bookmark = (api: KubeApi, def: ResourceDef): string =>
  JSON.stringify({
    type: "BOOKMARK",
    object: {
      kind: def.kind,
      apiVersion: apiVersionOf(def),
      metadata: { resourceVersion: String(api.store.currentRv()) },
    },
  }) + "\n";

export function serveWatch(
  ctx: WatchContext,
  def: ResourceDef,
  ns: string | undefined,
  req: FastifyRequest,
  reply: FastifyReply,
  q: Query,
): void {
  if (def.createOnly === true) throw methodNotAllowed();
  const labels = parseLabelSelector(q.labelSelector);
  const fields = parseFieldSelector(q.fieldSelector, resourceKey(def));
  const p = watchParams(q);
  const { res, write } = openStream(reply);
  const encodeTable = wantsTable(req.headers.accept) ? tableEncoder(def, q) : undefined;
  const stopper: { stop?: () => void } = {};
  const timers: NodeJS.Timeout[] = [];
  const finish = (): void => {
    stopper.stop?.();
    timers.forEach(clearTimeout);
    timers.forEach(clearInterval);
    ctx.open.delete(finish);
    if (!res.writableEnded) res.end();
  };
  ctx.open.add(finish);
  res.on("close", finish);
  const result = ctx.api.store.watch(
    def,
    {
      namespace: def.namespaced ? ns : undefined,
      labels,
      fields,
      send: (type: EventType, object: KObject, json: () => string) => write(encodeTable?.(type, object) ?? json()),
      close: () => finish(),
    },
    p.from,
  );
  if ("tooOld" in result) {
    const e = new ApiError(410, "Expired", `too old resource version: ${p.from} (${result.tooOld})`);
    write(JSON.stringify({ type: "ERROR", object: e.toStatus() }) + "\n");
    finish();
    return;
  }
  stopper.stop = result.stop;
  if (p.bookmarks) timers.push(setInterval(() => write(bookmark(ctx.api, def)), ctx.bookmarkIntervalMs).unref());
  const end = (): void => {
    if (p.bookmarks) write(bookmark(ctx.api, def));
    finish();
  };
  timers.push(setTimeout(end, Math.max(0, p.timeoutSeconds) * 1000).unref());
}
