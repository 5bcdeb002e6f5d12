// URL → what the request is about: group, version, resource, namespace, name, subresource,
// following the apiserver's path layout (/api/v1/..., /apis/<group>/<version>/...). Pure.
import type { Registry } from "./resources.ts";
import { pathNotFound } from "./status.ts";
import type { ResourceDef } from "./types.ts";

export interface ResourceRequest {
  def: ResourceDef;
  /** undefined: all namespaces (or cluster-scoped). */
  namespace?: string;
  name?: string;
  subresource: string;
}

export type Route =
  | { kind: "resource"; req: ResourceRequest }
  | { kind: "groupVersion"; group: string; version: string }
  | { kind: "group"; group: string }
  | { kind: "other"; path: string };

const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

function resolve(reg: Registry, group: string, version: string, rest: string[]): Route {
  if (rest.length === 0) return { kind: "groupVersion", group, version };
  let namespace: string | undefined;
  let parts = rest;
  const nsDef = group === "" ? reg.get("", version, "namespaces") : undefined;
  if (
    parts[0] === "namespaces" &&
    parts.length >= 3 &&
    !(parts.length === 3 && NAMESPACE_SUBRESOURCES.has(parts[2]!))
  ) {
    namespace = parts[1]!;
    parts = parts.slice(2);
  } else if (parts[0] === "namespaces" && nsDef !== undefined) {
    return { kind: "resource", req: { def: nsDef, name: parts[1], subresource: parts[2] ?? "" } };
  }
  const def = reg.get(group, version, parts[0]!);
  if (def === undefined || parts.length > 3) throw pathNotFound();
  if (namespace !== undefined && !def.namespaced) throw pathNotFound();
  const subresource = parts[2] ?? "";
  if (subresource !== "" && !def.subresources.includes(subresource)) throw pathNotFound();
  return {
    kind: "resource",
    req: { def, namespace: def.namespaced ? namespace : undefined, name: parts[1], subresource },
  };
}

export function route(reg: Registry, pathname: string): Route {
  const parts = pathname
    .split("/")
    .filter((p) => p !== "")
    .map(decodeURIComponent);
  if (parts[0] === "api" && parts.length >= 2) return resolve(reg, "", parts[1]!, parts.slice(2));
  if (parts[0] === "apis" && parts.length === 2) return { kind: "group", group: parts[1]! };
  if (parts[0] === "apis" && parts.length >= 3) return resolve(reg, parts[1]!, parts[2]!, parts.slice(3));
  return { kind: "other", path: "/" + parts.join("/") };
}
