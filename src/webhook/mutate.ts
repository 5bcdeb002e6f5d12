// The pod mutation: a pure function from the pod and the decision to a mutated copy; the
// patch is the diff (fast-json-patch). Everything is checked by name before it is added, so
// reinvocation (reinvocationPolicy: IfNeeded) changes nothing the second time. The copy is
// copy-on-write (only the objects on changed paths are new), which keeps both the copy and
// the diff cheap: fast-json-patch skips subtrees that are the same object. The patch is
// diffed over the pod's mutation view (below), not the whole pod: the same operations without
// walking what the mutation never touches; and remembered per view and plan, since the pods of
// one ReplicaSet or Job all get the same one.
import fastJsonPatch, { type Operation } from "fast-json-patch";
import {
  ADMISSION_MARK_ANNOTATION,
  ADMITTED_IDENTITIES_ANNOTATION,
  DEFAULTS,
  ENV,
  NMI_MODE_ANNOTATION,
  PODID_POD_ANNOTATIONS,
  SIDECAR,
  SIDECAR_PORT,
  WAIT,
  type NmiMode,
} from "../model/constants.ts";
import { isObject, type Obj } from "../model/read.ts";
import { waitContainer, waitPatch, withWaitContainer, type WaitPlan } from "./wait-container.ts";

export interface MutationPlan {
  /** The admission mark to set; undefined removes every podid annotation the pod carries. */
  mark?: string;
  /** The admitted-identities annotation the mark covers (set with the mark). */
  admitted?: string;
  nmiMode: NmiMode;
  /** Set as AZURE_CLIENT_ID when the pod has exactly one identity. */
  clientID?: string;
  sidecarImage: string;
  /** The `podid wait` init container, for pods that asked to start only once their identity answers. */
  wait?: WaitPlan;
  /** Sidecar mode: how the sidecar checks the node NMI's certificate. */
  nmiTls?: NmiTls;
}

/** The node NMI's TLS identity, as sidecars check it: the CA (PEM) and the name on the certificate. */
export interface NmiTls {
  caPem: string;
  serverName: string;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

const CONTAINER_LISTS = ["initContainers", "containers"] as const;
const SIDECAR_SPEC_FIELDS = [...CONTAINER_LISTS, "volumes"] as const;

const HOST_IP_ENV: EnvVar = {
  name: SIDECAR.hostIpEnv,
  valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "status.hostIP" } },
};

function addEnv(container: Obj, vars: EnvVar[]): void {
  const env = Array.isArray(container.env) ? [...(container.env as unknown[])] : [];
  const names = new Set(env.filter(isObject).map((e) => e.name));
  for (const v of vars) if (!names.has(v.name)) env.push(v);
  container.env = env;
}

function sidecarContainer(image: string, tls: NmiTls | undefined): Obj {
  return {
    name: SIDECAR.containerName,
    image,
    args: [
      "nmi",
      "--mode=sidecar",
      "--host=127.0.0.1",
      `--port=${SIDECAR_PORT}`,
      `--metrics-port=${SIDECAR.metricsPort}`,
    ],
    ports: [{ name: SIDECAR.metricsPortName, containerPort: SIDECAR.metricsPort, protocol: "TCP" }],
    // TLS to the node NMI's sidecar port only; without the CA the sidecar refuses to start and says why.
    env: [
      HOST_IP_ENV,
      { name: SIDECAR.nodeEndpointEnv, value: `https://$(${SIDECAR.hostIpEnv}):${DEFAULTS.nmiSidecarPort}` },
      ...(tls !== undefined
        ? [
            { name: SIDECAR.caEnv, value: tls.caPem },
            { name: SIDECAR.serverNameEnv, value: tls.serverName },
          ]
        : []),
    ],
    resources: { requests: { cpu: "5m", memory: "32Mi" }, limits: { memory: "96Mi" } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: [{ name: SIDECAR.tokenVolumeName, mountPath: SIDECAR.tokenMountPath, readOnly: true }],
  };
}

const tokenVolume = (): Obj => ({
  name: SIDECAR.tokenVolumeName,
  projected: {
    sources: [
      {
        serviceAccountToken: {
          audience: DEFAULTS.sidecarTokenAudience,
          expirationSeconds: SIDECAR.tokenExpirationSeconds,
          path: SIDECAR.tokenFileName,
        },
      },
    ],
  },
});

function addByName(list: unknown, item: Obj): unknown[] {
  const arr = Array.isArray(list) ? [...(list as unknown[])] : [];
  if (!arr.some((x) => isObject(x) && x.name === item.name)) arr.push(item);
  return arr;
}

/** The app containers' env: where the Azure SDK finds the token endpoint, and the client ID. */
function appEnv(plan: MutationPlan): EnvVar[] {
  const vars: EnvVar[] =
    plan.nmiMode === "sidecar"
      ? [{ name: ENV.podIdentityAuthorityHost, value: `http://127.0.0.1:${SIDECAR_PORT}` }]
      : // The host IP var must come first: $(VAR) expands only names defined earlier in the list.
        [
          HOST_IP_ENV,
          { name: ENV.podIdentityAuthorityHost, value: `http://$(${SIDECAR.hostIpEnv}):${DEFAULTS.nmiPort}` },
        ];
  if (plan.clientID !== undefined) vars.push({ name: ENV.clientId, value: plan.clientID });
  return vars;
}

/** A mutated copy of the pod; the input is never changed. */
export function mutatePod(pod: Obj, plan: MutationPlan): Obj {
  const out: Obj = { ...pod };
  const meta: Obj = (out.metadata = isObject(pod.metadata) ? { ...pod.metadata } : {});
  const annotations: Obj = (meta.annotations = isObject(meta.annotations) ? { ...meta.annotations } : {});
  if (plan.mark === undefined) {
    // A pod podid gives no identity carries none of podid's annotations, whoever wrote them.
    for (const a of PODID_POD_ANNOTATIONS) delete annotations[a];
    if (Object.keys(annotations).length === 0) delete meta.annotations;
    return out;
  }
  annotations[ADMISSION_MARK_ANNOTATION] = plan.mark;
  annotations[NMI_MODE_ANNOTATION] = plan.nmiMode;
  annotations[ADMITTED_IDENTITIES_ANNOTATION] = plan.admitted ?? "[]";
  const spec: Obj = (out.spec = isObject(pod.spec) ? { ...pod.spec } : {});
  const env = appEnv(plan);
  for (const key of CONTAINER_LISTS) {
    const list = spec[key];
    if (!Array.isArray(list)) continue;
    spec[key] = list.map((c: unknown) => {
      // podid's own containers carry the env they need from the start.
      if (!isObject(c) || c.name === SIDECAR.containerName || c.name === WAIT.containerName) return c;
      const copy = { ...c };
      addEnv(copy, env);
      return copy;
    });
  }
  if (plan.nmiMode === "sidecar") {
    spec.containers = addByName(spec.containers, sidecarContainer(plan.sidecarImage, plan.nmiTls));
    spec.volumes = addByName(spec.volumes, tokenVolume());
  }
  if (plan.wait !== undefined) spec.initContainers = withWaitContainer(spec.initContainers, waitInit(plan, plan.wait));
  return out;
}

const waitInit = (plan: MutationPlan, wait: WaitPlan): Obj =>
  waitContainer(wait, sidecarContainer(plan.sidecarImage, plan.nmiTls), appEnv(plan), plan.nmiMode);

/** The listed keys of `o` that it has, in its order (the diff lists operations in key order). */
const pick = (o: Obj, keys: readonly string[]): Obj => {
  const out: Obj = {};
  for (const k of Object.keys(o)) if (keys.includes(k)) out[k] = o[k];
  return out;
};

/**
 * The pod as mutatePod sees it in `mode`: metadata.annotations, the containers' names and env,
 * and in sidecar mode the volumes' names; every other field dropped, keys and array indices
 * kept. mutatePod reads and writes nothing else, so diffing the view and its mutation gives
 * the operations, paths included, that diffing the whole pod and its mutation gives (a
 * property test holds the two to it), without walking a spec's and each container's dozen
 * untouched fields. A field mutatePod starts reading must be added here.
 */
export function mutationView(pod: Obj, mode: NmiMode): Obj {
  const view = pick(pod, ["metadata", "spec"]);
  if (isObject(view.metadata)) view.metadata = pick(view.metadata, ["annotations"]);
  if (isObject(view.spec)) {
    const spec = (view.spec = pick(view.spec, mode === "sidecar" ? SIDECAR_SPEC_FIELDS : CONTAINER_LISTS));
    for (const key of CONTAINER_LISTS) {
      const list = spec[key];
      if (Array.isArray(list)) spec[key] = list.map((c: unknown) => (isObject(c) ? pick(c, ["name", "env"]) : c));
    }
    if (Array.isArray(spec.volumes))
      spec.volumes = spec.volumes.map((v: unknown) => (isObject(v) ? pick(v, ["name"]) : v));
  }
  return view;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

// Every pod of a ReplicaSet or Job has the same view (the ServiceAccount plugin's randomly
// named token volume is in the view only in sidecar mode) and the same plan, so the webhook
// would compute the same patch for each: patches are remembered by their whole input, the
// plan and the view as JSON, and shared frozen. Bounded in count (cleared when full) and in
// key size: a review may carry 3 MB, and a thousand views of env vars that large would be
// gigabytes, so larger views are diffed every time. Patches are small (what mutatePod adds).
const PATCH_CACHE_MAX = 1_000;
const PATCH_KEY_MAX_CHARS = 16 * 1024;
const patches = new Map<string, readonly Operation[]>();

/** The JSON Patch that mutatePod makes of `pod` under `plan` (frozen: it may be shared). */
export function podPatch(pod: Obj, plan: MutationPlan): readonly Operation[] {
  const view = mutationView(pod, plan.nmiMode);
  const key = JSON.stringify([
    plan.mark ?? null,
    plan.admitted ?? null,
    plan.nmiMode,
    plan.clientID ?? null,
    plan.sidecarImage,
    plan.nmiMode === "sidecar" ? (plan.nmiTls ?? null) : null,
    plan.wait ?? null,
    view,
  ]);
  const { wait, ...rest } = plan;
  // The wait container goes first among the init containers: one insertion, not a diff (see waitPatch).
  const diff = (): Operation[] => [
    ...fastJsonPatch.compare(view, mutatePod(view, rest)),
    ...(wait !== undefined && plan.mark !== undefined ? waitPatch(view.spec, waitInit(plan, wait)) : []),
  ];
  if (key.length > PATCH_KEY_MAX_CHARS) return diff();
  let ops = patches.get(key);
  if (ops === undefined) {
    ops = deepFreeze(diff());
    if (patches.size >= PATCH_CACHE_MAX) patches.clear();
    patches.set(key, ops);
  }
  return ops;
}
