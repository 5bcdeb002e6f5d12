// The API semantics, independent of HTTP: create, update, patch, delete, get and list with
// admission, defaults, validation, optimistic concurrency, finalizers and dry run, in the order
// the real apiserver runs them (decode+default, mutating admission, prepare+validate,
// validating admission, storage). Internal controllers call the same methods, so their writes
// go through webhooks as a controller's writes do in a real cluster.
import { randomUUID } from "node:crypto";
import { Admission, type AdmissionAttributes } from "./admission/index.ts";
import type { ServiceResolver } from "./admission/call.ts";
import type { Operation } from "./admission/match.ts";
import { applySchema, validateCrd } from "./crd.ts";
import { applyPatchOfType } from "./patch.ts";
import type { Registry } from "./resources.ts";
import { toScale } from "./scale.ts";
import { parseFieldSelector, parseLabelSelector, pinnedField } from "./selectors.ts";
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  notFound,
  type FieldError,
} from "./status.ts";
import type { Store } from "./store.ts";
import {
  applyDefaults,
  decodeError,
  generateSuffix,
  prepareForCreate,
  specChanged,
  validateLabels,
  validateName,
  validateObject,
  validateUpdate,
} from "./strategy.ts";
import {
  apiVersionOf,
  canonicalJson,
  clone,
  getPath,
  isKObject,
  isRecord,
  resourceKey,
  type KObject,
  type ResourceDef,
  type UserInfo,
} from "./types.ts";

export interface RequestCtx {
  user: UserInfo;
  dryRun?: boolean;
  fieldManager?: string;
  fieldValidation?: string;
}

export interface WriteResult {
  object: KObject;
  warnings: string[];
}

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface ListResult {
  items: KObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface DeleteOptions {
  propagationPolicy?: "Background" | "Foreground" | "Orphan";
  /** Pods only (with a kubelet): 0 deletes at once, as `--grace-period=0 --force`. */
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
const PROTECTED_NAMESPACES = new Set(["default", "kube-system", "kube-public"]);

export class KubeApi {
  readonly admission: Admission;
  /** Propagation policy of pending deletions, by uid, for the garbage collector. */
  readonly propagation = new Map<string, string>();
  /** Set by the kubelet simulation: scheduled pods then terminate gracefully, finished by their kubelet. */
  gracefulPodDeletion = false;
  private readonly nsDef: ResourceDef;

  constructor(
    readonly registry: Registry,
    readonly store: Store,
    resolveService: ServiceResolver,
    onWebhookError?: (webhook: string, err: unknown) => void,
  ) {
    this.nsDef = registry.get("", "v1", "namespaces")!;
    const mwc = registry.get("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")!;
    const vwc = registry.get("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations")!;
    this.admission = new Admission({
      mutatingConfigs: () => store.list(mwc),
      validatingConfigs: () => store.list(vwc),
      namespaceLabels: (ns) => store.get(this.nsDef, "", ns)?.metadata.labels,
      resolveService,
      redefault: () => undefined,
      decodeError,
      onWebhookError,
    });
  }

  get(def: ResourceDef, ns: string, name: string): KObject {
    const o = this.store.get(def, def.namespaced ? ns : "", name);
    if (o === undefined) throw notFound(def, name);
    return o;
  }

  list(def: ResourceDef, ns: string | undefined, q: ListQuery): ListResult {
    const labels = parseLabelSelector(q.labelSelector);
    const fields = parseFieldSelector(q.fieldSelector, resourceKey(def));
    const rv = String(this.store.currentRv());
    const pinned = pinnedField(q.fieldSelector, "metadata.name");
    let items: KObject[];
    if (pinned !== undefined && (ns !== undefined || !def.namespaced)) {
      const one = this.store.get(def, def.namespaced ? ns! : "", pinned);
      items = one !== undefined ? [one] : [];
    } else {
      items = this.store.list(def, def.namespaced ? ns : undefined);
    }
    items = items.filter((o) => labels(o.metadata.labels) && fields(o));
    if (q.limit === undefined || q.limit <= 0) return { items, resourceVersion: rv };
    // Pages in key order (namespace/name), as etcd returns them; later pages skip what came before.
    const after = q.continue !== undefined && q.continue !== "" ? decodeContinue(q.continue) : undefined;
    const keyed = items
      .map((o) => ({ k: `${o.metadata.namespace ?? ""}/${o.metadata.name}`, o }))
      .filter((e) => after === undefined || e.k > after);
    keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
    const page = keyed.slice(0, q.limit);
    const rest = keyed.length - page.length;
    if (rest <= 0) return { items: page.map((e) => e.o), resourceVersion: rv };
    const token = Buffer.from(JSON.stringify({ after: page[page.length - 1]!.k })).toString("base64url");
    return { items: page.map((e) => e.o), resourceVersion: rv, continue: token, remainingItemCount: rest };
  }

  /** Decodes a request body for a resource: kind/apiVersion and namespace must agree with the URL. */
  decode(def: ResourceDef, body: unknown, ns: string): KObject {
    if (!isRecord(body)) throw badRequest(`the body of the request was in an unknown format - expected a JSON object`);
    const o = clone(body) as KObject;
    if (!isRecord(o.metadata)) o.metadata = {};
    const apiVersion = apiVersionOf(def);
    if (o.apiVersion !== undefined && o.apiVersion !== apiVersion) {
      throw badRequest(
        `the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${apiVersion})`,
      );
    }
    if (o.kind !== undefined && o.kind !== def.kind) {
      throw badRequest(
        `${String(o.kind)} in version "${def.version}" cannot be handled as a ${def.kind}: the kind in the data (${String(o.kind)}) does not match the expected kind (${def.kind})`,
      );
    }
    o.apiVersion = apiVersion;
    o.kind = def.kind;
    if (def.namespaced) {
      if (o.metadata.namespace !== undefined && o.metadata.namespace !== "" && o.metadata.namespace !== ns) {
        throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
      }
      o.metadata.namespace = ns;
    } else {
      delete o.metadata.namespace;
    }
    const decodeErr = decodeError(def, o);
    if (decodeErr !== undefined)
      throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${decodeErr}`);
    return o;
  }

  /** Defaults and, for custom resources, the schema (pruning with fieldValidation). */
  private defaultAndPrune(def: ResourceDef, o: KObject, ctx: RequestCtx, warnings: string[]): void {
    applyDefaults(def, o);
    if (def.schema === undefined) return;
    const out = applySchema(def.schema, o);
    if (out.unknown.length > 0) {
      if (ctx.fieldValidation === "Strict") {
        throw badRequest(
          `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${out.unknown.map((u) => `unknown field "${u}"`).join(", ")}`,
        );
      }
      if (ctx.fieldValidation !== "Ignore") warnings.push(...out.unknown.map((u) => `unknown field "${u}"`));
    }
    if (out.errors.length > 0) throw invalid(def, o.metadata.name ?? "", out.errors);
  }

  private checkNamespace(def: ResourceDef, ns: string, name: string): void {
    if (!def.namespaced) return;
    const n = this.store.get(this.nsDef, "", ns);
    if (n === undefined) throw notFound(this.nsDef, ns);
    if (n.metadata.deletionTimestamp !== undefined) {
      throw forbidden(
        `${resourceKey(def)} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
        {
          name: ns,
          kind: "namespaces",
          causes: [
            {
              reason: "NamespaceTerminating",
              message: `namespace ${ns} is being terminated`,
              field: "metadata.namespace",
            },
          ],
        },
      );
    }
  }

  private attrs(
    def: ResourceDef,
    op: Operation,
    ns: string,
    name: string,
    ctx: RequestCtx,
    extra: Partial<AdmissionAttributes>,
  ): AdmissionAttributes {
    const optionsKind = op === "DELETE" ? "DeleteOptions" : op === "CREATE" ? "CreateOptions" : "UpdateOptions";
    const options: Record<string, unknown> = { kind: optionsKind, apiVersion: "meta.k8s.io/v1" };
    if (ctx.dryRun === true) options.dryRun = ["All"];
    if (ctx.fieldManager !== undefined && op !== "DELETE") options.fieldManager = ctx.fieldManager;
    if (ctx.fieldValidation !== undefined && op !== "DELETE") options.fieldValidation = ctx.fieldValidation;
    return {
      def,
      subresource: "",
      kind: { group: def.group, version: def.version, kind: def.kind },
      operation: op,
      namespace: def.namespaced ? ns : "",
      name,
      dryRun: ctx.dryRun === true,
      options,
      user: ctx.user,
      ...extra,
    };
  }

  /** UPDATE attributes; a `scale` write is reviewed as an autoscaling/v1 Scale, as the real server does. */
  private updateAttrs(
    def: ResourceDef,
    ns: string,
    name: string,
    ctx: RequestCtx,
    subresource: string,
    next: KObject,
    old: KObject,
  ): AdmissionAttributes {
    if (subresource === "scale") {
      const kind = { group: "autoscaling", version: "v1", kind: "Scale" };
      return this.attrs(def, "UPDATE", ns, name, ctx, {
        subresource,
        kind,
        object: toScale(next),
        oldObject: toScale(old),
      });
    }
    return this.attrs(def, "UPDATE", ns, name, ctx, { subresource, object: next, oldObject: old });
  }

  private validateAll(def: ResourceDef, o: KObject, old?: KObject): void {
    const decodeErr = decodeError(def, o);
    if (decodeErr !== undefined)
      throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${decodeErr}`);
    const errs: FieldError[] = [
      ...validateName(def, o.metadata.name!),
      ...validateLabels(o.metadata.labels),
      ...validateObject(def, o),
    ];
    if (old !== undefined) errs.push(...validateUpdate(def, old, o));
    if (resourceKey(def) === "customresourcedefinitions.apiextensions.k8s.io") errs.push(...validateCrd(o));
    if (errs.length > 0) throw invalid(def, o.metadata.name!, errs);
  }

  async create(def: ResourceDef, ns: string, body: unknown, ctx: RequestCtx): Promise<WriteResult> {
    const warnings: string[] = [];
    let o = this.decode(def, body, ns);
    this.defaultAndPrune(def, o, ctx, warnings);
    this.checkNamespace(def, ns, o.metadata.name ?? o.metadata.generateName ?? "");
    const mut = await this.admission.mutate(this.attrs(def, "CREATE", ns, o.metadata.name ?? "", ctx, { object: o }));
    warnings.push(...mut.warnings);
    o = mut.object ?? o;
    applyDefaults(def, o);
    if (def.namespaced) o.metadata.namespace = ns;
    if ((o.metadata.name ?? "") === "") {
      if ((o.metadata.generateName ?? "") === "") {
        throw invalid(def, "", [
          {
            field: "metadata.name",
            type: "FieldValueRequired",
            detail: "Required value: name or generateName is required",
          },
        ]);
      }
      o.metadata.name = `${o.metadata.generateName}${generateSuffix()}`;
    }
    this.validateAll(def, o);
    const meta = o.metadata;
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    if (def.generation) meta.generation = 1;
    else delete meta.generation;
    prepareForCreate(def, o);
    if (def.schema !== undefined) this.defaultAndPrune(def, o, { ...ctx, fieldValidation: "Ignore" }, []);
    if (this.store.get(def, def.namespaced ? ns : "", meta.name!) !== undefined) throw alreadyExists(def, meta.name!);
    warnings.push(...(await this.admission.validate(this.attrs(def, "CREATE", ns, meta.name!, ctx, { object: o }))));
    if (this.store.get(def, def.namespaced ? ns : "", meta.name!) !== undefined) throw alreadyExists(def, meta.name!);
    if (ctx.dryRun === true) return { object: o, warnings };
    return { object: this.store.put(def, o), warnings };
  }

  async update(
    def: ResourceDef,
    ns: string,
    name: string,
    body: unknown,
    ctx: RequestCtx,
    subresource = "",
  ): Promise<WriteResult> {
    const old = this.get(def, ns, name);
    const o = this.decode(def, body, ns);
    if (o.metadata.name !== undefined && o.metadata.name !== name) {
      throw badRequest(`the name of the object (${o.metadata.name}) does not match the name on the URL (${name})`);
    }
    o.metadata.name = name;
    if (def.requireResourceVersionOnUpdate && (o.metadata.resourceVersion ?? "") === "") {
      throw invalid(def, name, [
        {
          field: "metadata.resourceVersion",
          type: "FieldValueInvalid",
          detail: "Invalid value: 0x0: must be specified for an update",
        },
      ]);
    }
    return this.commitUpdate(def, old, o, ctx, subresource);
  }

  async patch(
    def: ResourceDef,
    ns: string,
    name: string,
    contentType: string,
    body: unknown,
    ctx: RequestCtx,
    subresource = "",
  ): Promise<WriteResult> {
    const old = this.get(def, ns, name);
    const patched = applyPatchOfType(contentType, old, body, def.strategicMerge);
    if (!isKObject(patched)) throw badRequest("the patch removed the object's metadata");
    const o = this.decode(def, patched, ns);
    o.metadata.name = name;
    return this.commitUpdate(def, old, o, ctx, subresource);
  }

  /** The object an update stores: what the subresource may change, the rest kept from the old object. */
  private compose(def: ResourceDef, old: KObject, o: KObject, subresource: string): KObject {
    let next: KObject;
    if (subresource === "status") next = { ...clone(old), status: o.status };
    else if (def.subresources.includes("status") && resourceKey(def) !== "namespaces")
      next = { ...o, status: clone(old.status) };
    else next = o;
    if (next.status === undefined) delete next.status;
    if (subresource !== "status") next.metadata = { ...o.metadata };
    const keep = [
      "uid",
      "creationTimestamp",
      "namespace",
      "name",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "generation",
    ] as const;
    for (const k of keep) {
      if (old.metadata[k] === undefined) delete next.metadata[k];
      else next.metadata[k] = old.metadata[k] as never;
    }
    if (resourceKey(def) === "namespaces") {
      next.spec = old.spec;
      // The apiserver keeps this label equal to the name whatever the client sends.
      next.metadata.labels = { ...next.metadata.labels, "kubernetes.io/metadata.name": old.metadata.name! };
    }
    delete next.metadata.managedFields;
    return next;
  }

  private async commitUpdate(
    def: ResourceDef,
    old: KObject,
    o: KObject,
    ctx: RequestCtx,
    subresource: string,
  ): Promise<WriteResult> {
    const name = old.metadata.name!;
    const ns = old.metadata.namespace ?? "";
    const rv = o.metadata.resourceVersion ?? "";
    if (rv !== "" && rv !== old.metadata.resourceVersion) throw conflict(def, name);
    const warnings: string[] = [];
    this.defaultAndPrune(def, o, ctx, warnings);
    let next = this.compose(def, old, o, subresource);
    const mut = await this.admission.mutate(this.updateAttrs(def, ns, name, ctx, subresource, next, old));
    warnings.push(...mut.warnings);
    if (subresource !== "scale") next = this.compose(def, old, mut.object ?? next, subresource);
    this.validateAll(def, next, old);
    if (def.generation) next.metadata.generation = (old.metadata.generation ?? 1) + (specChanged(old, next) ? 1 : 0);
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    warnings.push(...(await this.admission.validate(this.updateAttrs(def, ns, name, ctx, subresource, next, old))));
    const current = this.store.get(def, ns, name);
    if (current === undefined) throw notFound(def, name);
    if (current.metadata.resourceVersion !== old.metadata.resourceVersion) throw conflict(def, name);
    if (ctx.dryRun === true) return { object: next, warnings };
    if (next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0) {
      return { object: this.store.remove(def, ns, name)!, warnings };
    }
    if (canonicalJson(next) === canonicalJson(old)) return { object: old, warnings };
    return { object: this.store.put(def, next), warnings };
  }

  async delete(def: ResourceDef, ns: string, name: string, opts: DeleteOptions, ctx: RequestCtx): Promise<WriteResult> {
    const old = this.get(def, ns, name);
    const pre = opts.preconditions;
    if (pre?.uid !== undefined && pre.uid !== old.metadata.uid) {
      throw conflict(
        def,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(
        def,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${old.metadata.resourceVersion}`,
      );
    }
    if (resourceKey(def) === "namespaces" && PROTECTED_NAMESPACES.has(name)) {
      throw forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`, {
        name,
        kind: "namespaces",
      });
    }
    const dry = ctx.dryRun === true || opts.dryRun === true;
    const deleteAttrs = this.attrs(def, "DELETE", ns, name, { ...ctx, dryRun: dry }, { oldObject: old });
    const warnings = (await this.admission.mutate(deleteAttrs)).warnings;
    warnings.push(...(await this.admission.validate(deleteAttrs)));
    if (dry) return { object: old, warnings };
    this.propagation.set(old.metadata.uid!, opts.propagationPolicy ?? "Background");
    if (resourceKey(def) === "namespaces") return { object: this.terminateNamespace(old), warnings };
    const pending = this.pendingDeletion(def, old, opts);
    if (pending !== undefined) return { object: pending, warnings };
    return { object: this.store.remove(def, ns, name)!, warnings };
  }

  /** The object as it stays while deletion waits: for its finalizers, or for a kubelet to stop a pod. */
  private pendingDeletion(def: ResourceDef, old: KObject, opts: DeleteOptions): KObject | undefined {
    const finalizers = (old.metadata.finalizers ?? []).length > 0;
    const grace = this.gracePeriod(def, old, opts);
    if (!finalizers && grace === 0) return undefined;
    if (old.metadata.deletionTimestamp !== undefined) {
      // Already terminating: only a shorter grace period changes anything.
      if (grace >= (old.metadata.deletionGracePeriodSeconds ?? 0)) return old;
      const shorter = clone(old);
      shorter.metadata.deletionGracePeriodSeconds = grace;
      return this.store.put(def, shorter);
    }
    const marked = clone(old);
    marked.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    marked.metadata.deletionGracePeriodSeconds = grace;
    return this.store.put(def, marked);
  }

  /** Pods on a node with a (simulated) kubelet terminate gracefully; everything else at once. */
  private gracePeriod(def: ResourceDef, old: KObject, opts: DeleteOptions): number {
    if (resourceKey(def) !== "pods" || !this.gracefulPodDeletion) return 0;
    const node = getPath(old, "spec.nodeName");
    if (typeof node !== "string" || node === "") return 0;
    if (opts.gracePeriodSeconds !== undefined) return Math.max(0, opts.gracePeriodSeconds);
    if (old.metadata.deletionGracePeriodSeconds !== undefined) return old.metadata.deletionGracePeriodSeconds;
    const t = getPath(old, "spec.terminationGracePeriodSeconds");
    return typeof t === "number" && t >= 0 ? t : 30;
  }

  private terminateNamespace(old: KObject): KObject {
    if (old.metadata.deletionTimestamp !== undefined) return old;
    const marked = clone(old);
    marked.metadata.deletionTimestamp = now();
    marked.status = { ...(isRecord(marked.status) ? marked.status : {}), phase: "Terminating" };
    return this.store.put(this.nsDef, marked);
  }

  /** Creates unless it exists (controllers' idempotent writes); errors other than AlreadyExists propagate. */
  async ensure(def: ResourceDef, ns: string, body: KObject, ctx: RequestCtx): Promise<void> {
    try {
      await this.create(def, ns, body, ctx);
    } catch (err) {
      if (!(err instanceof ApiError && err.reason === "AlreadyExists")) throw err;
    }
  }
}

function decodeContinue(token: string): string {
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    if (isRecord(v) && typeof v.after === "string") return v.after;
  } catch {
    // fall through
  }
  throw badRequest(`continue key is not valid: ${token}`);
}
