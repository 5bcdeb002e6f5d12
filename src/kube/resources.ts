// What podid's programs watch, named once: the core resources and podid's own kinds, each with
// the model's parser as its transform. A program's informer set is a few lines of these.
import { GROUP, KINDS, VERSION, type PodidKind } from "../model/constants.ts";
import {
  parseAzureAssignedIdentity,
  parseAzureIdentity,
  parseAzureIdentityBinding,
  parseAzurePodIdentityException,
  parseAzurePodIdentityPolicy,
} from "../model/parse.ts";
import type { Parsed } from "../model/types.ts";
import type { CacheOptions, ResourceRef } from "./cache.ts";

export const CORE = {
  pods: { group: "", version: "v1", plural: "pods" },
  nodes: { group: "", version: "v1", plural: "nodes" },
  namespaces: { group: "", version: "v1", plural: "namespaces" },
} as const satisfies Record<string, ResourceRef>;

const PARSERS = {
  AzureIdentity: parseAzureIdentity,
  AzureIdentityBinding: parseAzureIdentityBinding,
  AzureAssignedIdentity: parseAzureAssignedIdentity,
  AzurePodIdentityException: parseAzurePodIdentityException,
  AzurePodIdentityPolicy: parseAzurePodIdentityPolicy,
} as const satisfies Record<PodidKind, (o: unknown) => Parsed<unknown>>;

/** The parsed type of a podid kind. */
export type KindValue<K extends PodidKind> = (typeof PARSERS)[K] extends (o: unknown) => Parsed<infer T> ? T : never;

export const podidResource = (kind: PodidKind): ResourceRef => ({
  group: GROUP,
  version: VERSION,
  plural: KINDS[kind].plural,
});

/** An informer of a podid kind, parsed by the model's parser; `extra` adds indexes or selectors. */
export function podidKind<K extends PodidKind>(
  kind: K,
  extra: Partial<CacheOptions<KindValue<K>>> = {},
): CacheOptions<KindValue<K>> {
  return { ...podidResource(kind), parse: PARSERS[kind] as (o: unknown) => Parsed<KindValue<K>>, ...extra };
}

/** An informer of a core resource with the given transform. */
export function core<T>(
  resource: keyof typeof CORE,
  parse: (o: unknown) => Parsed<T>,
  extra: Partial<CacheOptions<T>> = {},
): CacheOptions<T> {
  return { ...CORE[resource], parse, ...extra };
}
