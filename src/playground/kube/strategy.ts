// Per-kind behaviour the real server has in its "strategies": defaults applied on decode,
// fields reset on create (a new pod's status), name rules, and the validation podid or kubectl
// can run into. Pure functions over plain objects.
import { randomBytes } from "node:crypto";
import { labelSelectorObject } from "./selectors.ts";
import type { FieldError } from "./status.ts";
import {
  asArray,
  canonicalJson,
  getPath,
  isRecord,
  resourceKey,
  text,
  type KObject,
  type ResourceDef,
} from "./types.ts";

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/** Validates a name for a resource: DNS subdomain (253) or DNS label (63). */
export function validateName(def: ResourceDef, name: string, field = "metadata.name"): FieldError[] {
  const label = def.dnsLabelNames;
  const ok = label ? DNS1123_LABEL.test(name) && name.length <= 63 : DNS1123_SUBDOMAIN.test(name) && name.length <= 253;
  if (ok) return [];
  const tooLong = name.length > (label ? 63 : 253);
  const why = tooLong ? `must be no more than ${label ? 63 : 253} characters` : label ? LABEL_MSG : SUBDOMAIN_MSG;
  return [{ field, type: "FieldValueInvalid", detail: `Invalid value: "${name}": ${why}` }];
}

const GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
export function generateSuffix(): string {
  const bytes = randomBytes(5);
  return [...bytes].map((b) => GENERATE_ALPHABET[b % GENERATE_ALPHABET.length]).join("");
}

function defaultContainer(c: unknown): void {
  if (!isRecord(c)) return;
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  if (c.imagePullPolicy === undefined && typeof c.image === "string") {
    c.imagePullPolicy = c.image.endsWith(":latest") || !c.image.includes(":") ? "Always" : "IfNotPresent";
  }
  c.resources ??= {};
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isRecord(p)) p.protocol ??= "TCP";
}

function defaultPodSpec(spec: unknown): void {
  if (!isRecord(spec)) return;
  spec.restartPolicy ??= "Always";
  spec.dnsPolicy ??= "ClusterFirst";
  spec.schedulerName ??= "default-scheduler";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  if (spec.serviceAccountName === undefined && typeof spec.serviceAccount === "string")
    spec.serviceAccountName = spec.serviceAccount;
  spec.serviceAccountName ??= "default";
  spec.serviceAccount = spec.serviceAccountName;
  for (const list of ["containers", "initContainers"]) {
    const cs = spec[list];
    if (Array.isArray(cs)) cs.forEach(defaultContainer);
  }
}

function defaultWebhooks(o: KObject, mutating: boolean): void {
  const hooks = o.webhooks;
  if (!Array.isArray(hooks)) return;
  for (const w of hooks) {
    if (!isRecord(w)) continue;
    w.failurePolicy ??= "Fail";
    w.matchPolicy ??= "Equivalent";
    w.namespaceSelector ??= {};
    w.objectSelector ??= {};
    w.timeoutSeconds ??= 10;
    if (mutating) w.reinvocationPolicy ??= "Never";
    if (Array.isArray(w.rules)) for (const r of w.rules) if (isRecord(r)) r.scope ??= "*";
    if (isRecord(w.clientConfig) && isRecord(w.clientConfig.service)) w.clientConfig.service.port ??= 443;
  }
}

function defaultWorkload(o: KObject): void {
  const spec = o.spec;
  if (!isRecord(spec)) return;
  if (isRecord(spec.template)) defaultPodSpec(spec.template.spec);
  if (isRecord(spec.jobTemplate) && isRecord(spec.jobTemplate.spec) && isRecord(spec.jobTemplate.spec.template)) {
    defaultPodSpec(spec.jobTemplate.spec.template.spec);
  }
}

/** Defaults applied whenever an object is decoded (before admission, and after each patch). */
export function applyDefaults(def: ResourceDef, o: KObject): void {
  switch (resourceKey(def)) {
    case "pods":
      o.spec ??= {};
      defaultPodSpec(o.spec);
      return;
    case "deployments.apps":
    case "replicasets.apps":
    case "statefulsets.apps":
      if (isRecord(o.spec)) o.spec.replicas ??= 1;
      defaultWorkload(o);
      return;
    case "daemonsets.apps":
    case "jobs.batch":
    case "cronjobs.batch":
      defaultWorkload(o);
      return;
    case "secrets":
      o.type ??= "Opaque";
      return;
    case "mutatingwebhookconfigurations.admissionregistration.k8s.io":
      defaultWebhooks(o, true);
      return;
    case "validatingwebhookconfigurations.admissionregistration.k8s.io":
      defaultWebhooks(o, false);
      return;
    case "namespaces":
      o.spec = { finalizers: ["kubernetes"] };
      return;
  }
}

/** What the server sets on create regardless of the request (a pod starts Pending). */
export function prepareForCreate(def: ResourceDef, o: KObject): void {
  switch (resourceKey(def)) {
    case "pods":
      o.status = { phase: "Pending", qosClass: "BestEffort" };
      return;
    case "namespaces":
      o.status = { phase: "Active" };
      o.metadata.labels = { ...o.metadata.labels, "kubernetes.io/metadata.name": o.metadata.name! };
      return;
    case "customresourcedefinitions.apiextensions.k8s.io":
      o.status = {};
      return;
  }
  if (def.subresources.includes("status") && !def.group.endsWith("k8s.io")) delete o.status;
}

function validatePod(o: KObject): FieldError[] {
  const cs = getPath(o, "spec.containers");
  if (!Array.isArray(cs) || cs.length === 0)
    return [{ field: "spec.containers", type: "FieldValueRequired", detail: "Required value" }];
  const errs: FieldError[] = [];
  cs.forEach((c, i) => {
    if (!isRecord(c) || typeof c.name !== "string" || c.name === "")
      errs.push({ field: `spec.containers[${i}].name`, type: "FieldValueRequired", detail: "Required value" });
    if (!isRecord(c) || typeof c.image !== "string" || c.image === "")
      errs.push({ field: `spec.containers[${i}].image`, type: "FieldValueRequired", detail: "Required value" });
  });
  return errs;
}

function validateSelectorWorkload(o: KObject): FieldError[] {
  const sel = getPath(o, "spec.selector");
  if (!isRecord(sel)) return [{ field: "spec.selector", type: "FieldValueRequired", detail: "Required value" }];
  const labels = getPath(o, "spec.template.metadata.labels");
  const tl = isRecord(labels) ? (labels as Record<string, string>) : {};
  if (!labelSelectorObject(sel)(tl)) {
    return [
      {
        field: "spec.template.metadata.labels",
        type: "FieldValueInvalid",
        detail: `Invalid value: ${JSON.stringify(tl)}: \`selector\` does not match template \`labels\``,
      },
    ];
  }
  return [];
}

function validateWebhooks(o: KObject): FieldError[] {
  const hooks = o.webhooks;
  if (hooks === undefined) return [];
  if (!Array.isArray(hooks))
    return [{ field: "webhooks", type: "FieldValueInvalid", detail: "Invalid value: must be a list" }];
  const errs: FieldError[] = [];
  hooks.forEach((w, i) => {
    const at = `webhooks[${i}]`;
    if (!isRecord(w))
      return errs.push({ field: at, type: "FieldValueInvalid", detail: "Invalid value: must be an object" });
    if (typeof w.name !== "string" || w.name.split(".").length < 3) {
      errs.push({
        field: `${at}.name`,
        type: "FieldValueInvalid",
        detail: `Invalid value: "${String(w.name)}": should be a domain with at least three segments separated by dots`,
      });
    }
    if (!["None", "NoneOnDryRun"].includes(String(w.sideEffects))) {
      errs.push(
        w.sideEffects === undefined
          ? {
              field: `${at}.sideEffects`,
              type: "FieldValueRequired",
              detail: "Required value: must specify one of None, NoneOnDryRun",
            }
          : {
              field: `${at}.sideEffects`,
              type: "FieldValueNotSupported",
              detail: `Unsupported value: "${text(w.sideEffects)}": supported values: "None", "NoneOnDryRun"`,
            },
      );
    }
    if (!Array.isArray(w.admissionReviewVersions) || !w.admissionReviewVersions.includes("v1")) {
      errs.push({
        field: `${at}.admissionReviewVersions`,
        type: "FieldValueInvalid",
        detail: "Invalid value: must include at least one of v1, v1beta1",
      });
    }
    if (typeof w.timeoutSeconds === "number" && (w.timeoutSeconds < 1 || w.timeoutSeconds > 30)) {
      errs.push({
        field: `${at}.timeoutSeconds`,
        type: "FieldValueInvalid",
        detail: `Invalid value: ${w.timeoutSeconds}: the timeout value must be between 1 and 30 seconds`,
      });
    }
    const cc = w.clientConfig;
    if (!isRecord(cc) || (cc.url === undefined) === (cc.service === undefined)) {
      errs.push({
        field: `${at}.clientConfig`,
        type: "FieldValueRequired",
        detail: "Required value: exactly one of url or service is required",
      });
    }
    return undefined;
  });
  return errs;
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const LABEL_KEY_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/** metadata.labels: qualified-name keys and label values, as the real server checks them. */
export function validateLabels(labels: Record<string, string> | undefined): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    const slash = k.lastIndexOf("/");
    const [prefix, name] = slash >= 0 ? [k.slice(0, slash), k.slice(slash + 1)] : ["", k];
    const prefixOk = slash < 0 || (DNS1123_SUBDOMAIN.test(prefix) && prefix.length <= 253);
    if (!prefixOk || !LABEL_NAME.test(name) || name.length > 63) {
      errs.push({
        field: "metadata.labels",
        type: "FieldValueInvalid",
        detail: `Invalid value: "${k}": ${prefixOk ? LABEL_KEY_MSG : `prefix part ${SUBDOMAIN_MSG}`}`,
      });
    }
    if (typeof v !== "string" || (v !== "" && (!LABEL_NAME.test(v) || v.length > 63))) {
      errs.push({
        field: "metadata.labels",
        type: "FieldValueInvalid",
        detail: `Invalid value: "${text(v)}": ${LABEL_VALUE_MSG}`,
      });
    }
  }
  return errs;
}

const POD_UPDATE_FORBIDDEN =
  "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/** What an update may not change: a pod's spec beyond images, activeDeadlineSeconds and tolerations. */
export function validateUpdate(def: ResourceDef, old: KObject, next: KObject): FieldError[] {
  if (resourceKey(def) !== "pods") return [];
  const mutable = (o: KObject): string => {
    const spec = structuredClone(isRecord(o.spec) ? o.spec : {});
    for (const list of ["containers", "initContainers"]) {
      const cs = spec[list];
      if (Array.isArray(cs)) for (const c of cs) if (isRecord(c)) delete c.image;
    }
    delete spec.activeDeadlineSeconds;
    delete spec.tolerations;
    delete spec.terminationGracePeriodSeconds;
    return canonicalJson(spec);
  };
  return mutable(old) === mutable(next)
    ? []
    : [{ field: "spec", type: "FieldValueForbidden", detail: POD_UPDATE_FORBIDDEN }];
}

const goKind = (v: unknown): string =>
  Array.isArray(v)
    ? "array"
    : v === null
      ? "null"
      : typeof v === "object"
        ? "object"
        : typeof v === "boolean"
          ? "bool"
          : typeof v;

/**
 * Where a real server's typed decoding would fail (a string field holding a number, say), the
 * message its JSON decoder gives; undefined when the shapes podid writes are right. Covers
 * metadata maps and the pod fields webhooks patch (env, volumes, annotations).
 */
export function decodeError(def: ResourceDef, o: KObject): string | undefined {
  const m = o.metadata as Record<string, unknown>;
  for (const k of ["labels", "annotations"]) {
    const map = m[k];
    if (map === undefined || map === null) continue;
    if (!isRecord(map))
      return `json: cannot unmarshal ${goKind(map)} into Go struct field ObjectMeta.metadata.${k} of type map[string]string`;
    for (const v of Object.values(map))
      if (typeof v !== "string")
        return `json: cannot unmarshal ${goKind(v)} into Go struct field ObjectMeta.metadata.${k} of type string`;
  }
  if (resourceKey(def) !== "pods") return undefined;
  for (const list of ["containers", "initContainers"]) {
    for (const c of asArray(getPath(o, ["spec", list]))) {
      const err = isRecord(c)
        ? envDecodeError(list, c.env)
        : `json: cannot unmarshal ${goKind(c)} into Go struct field PodSpec.spec.${list} of type v1.Container`;
      if (err !== undefined) return err;
    }
  }
  return undefined;
}

function envDecodeError(list: string, env: unknown): string | undefined {
  for (const e of asArray(env)) {
    if (!isRecord(e))
      return `json: cannot unmarshal ${goKind(e)} into Go struct field Container.spec.${list}.env of type v1.EnvVar`;
    for (const f of ["name", "value"]) {
      if (e[f] !== undefined && typeof e[f] !== "string")
        return `json: cannot unmarshal ${goKind(e[f])} into Go struct field EnvVar.spec.${list}.env.${f} of type string`;
    }
  }
  return undefined;
}

/** Endpoints may not hold loopback addresses (the apiserver's ValidateNonSpecialIP). */
function validateEndpoints(o: KObject): FieldError[] {
  const subsets = Array.isArray(o.subsets) ? (o.subsets as unknown[]) : [];
  const errs: FieldError[] = [];
  subsets.forEach((sub, i) => {
    for (const list of ["addresses", "notReadyAddresses"] as const) {
      const addrs = isRecord(sub) && Array.isArray(sub[list]) ? (sub[list] as unknown[]) : [];
      addrs.forEach((a, j) => {
        const ip = isRecord(a) && typeof a.ip === "string" ? a.ip : "";
        if (/^127\./.test(ip) || ip === "::1")
          errs.push({
            field: `subsets[${i}].${list}[${j}].ip`,
            type: "FieldValueInvalid",
            detail: `Invalid value: "${ip}": may not be in the loopback range (127.0.0.0/8, ::1/128)`,
          });
      });
    }
  });
  return errs;
}

/** Kind-specific validation (beyond names), run before validating admission. */
export function validateObject(def: ResourceDef, o: KObject): FieldError[] {
  switch (resourceKey(def)) {
    case "pods":
      return validatePod(o);
    case "deployments.apps":
    case "replicasets.apps":
    case "statefulsets.apps":
    case "daemonsets.apps":
      return validateSelectorWorkload(o);
    case "mutatingwebhookconfigurations.admissionregistration.k8s.io":
    case "validatingwebhookconfigurations.admissionregistration.k8s.io":
      return validateWebhooks(o);
    case "endpoints":
      return validateEndpoints(o);
  }
  return [];
}

/** Does an update change anything but metadata and status (so metadata.generation moves)? */
export function specChanged(a: KObject, b: KObject): boolean {
  const strip = (o: KObject): string => {
    const { metadata: _m, status: _s, ...rest } = o;
    return canonicalJson(rest);
  };
  return strip(a) !== strip(b);
}
