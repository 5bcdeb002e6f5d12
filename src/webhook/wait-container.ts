// The init container `podid wait` that pods opting in with the wait-for-identity annotation
// get, so their containers start with a usable identity: it blocks until each identity the
// pod was admitted with answers through the NMI, or fails after the bounded time naming the
// identity and the reason. It goes first among the init containers (others may need the
// identity too), made from the sidecar container (same image and hardening), with the env the
// app containers get; in sidecar mode it is a copy of the sidecar container (env, token volume,
// security context), since init containers run before the sidecar does.
import type { Operation } from "fast-json-patch";
import { WAIT, type NmiMode } from "../model/constants.ts";
import { isObject, type Obj } from "../model/read.ts";
import type { AzureIdentity } from "../model/types.ts";
import { parseWaitAnnotation } from "../wait/decide.ts";

export interface WaitPlan {
  identities: Array<{ name: string; clientID: string }>;
  timeoutSeconds: number;
}

/** The pod's wait plan, when its annotation asks for one and it was admitted with identities. */
export function waitPlanFor(
  annotations: Record<string, string>,
  identities: readonly AzureIdentity[],
): WaitPlan | undefined {
  const a = parseWaitAnnotation(annotations[WAIT.annotation]);
  // A bad value is denied by the validating route, with the annotation named.
  if (!a.ok || a.timeoutSeconds === undefined || identities.length === 0) return undefined;
  return {
    identities: identities.map((i) => ({ name: i.metadata.name, clientID: i.clientID })),
    timeoutSeconds: a.timeoutSeconds,
  };
}

/** The validating routes' check: the annotation's message when its value is not one podid knows. */
export function waitAnnotationError(annotations: Record<string, string>): string | undefined {
  const a = parseWaitAnnotation(annotations[WAIT.annotation]);
  return a.ok ? undefined : a.message;
}

const waitArgs = (w: WaitPlan): string[] => [
  "wait",
  ...w.identities.map((i) => `--identity=${i.name}:${i.clientID}`),
  `--timeout=${w.timeoutSeconds}s`,
];

/**
 * Built from the sidecar container, so it has the sidecar's image, resources and hardening.
 * Daemonset mode: the app's env (where the NMI is, the client ID); sidecar mode: the whole
 * sidecar spec (env, token volume), since it runs the sidecar's forwarder itself.
 */
export function waitContainer(w: WaitPlan, sidecar: Obj, env: unknown[], mode: NmiMode): Obj {
  if (mode === "sidecar") {
    // Its own forwarder on a free loopback port; the sidecar's ports are the sidecar's.
    const { ports: _ports, ...copy } = sidecar;
    return { ...copy, name: WAIT.containerName, args: [...waitArgs(w), "--sidecar"] };
  }
  return {
    name: WAIT.containerName,
    image: sidecar.image,
    args: waitArgs(w),
    env,
    resources: sidecar.resources,
    securityContext: sidecar.securityContext,
  };
}

const hasWait = (list: unknown): boolean =>
  Array.isArray(list) && list.some((c) => isObject(c) && c.name === WAIT.containerName);

/** The init containers with the wait container first (unchanged when it is there already). */
export function withWaitContainer(list: unknown, container: Obj): unknown[] {
  const arr = Array.isArray(list) ? [...(list as unknown[])] : [];
  return hasWait(arr) ? arr : [container, ...arr];
}

/**
 * The patch operation that puts the wait container first. A diff of the list would replace
 * every init container after it (and, diffed over the mutation view, with only their names and
 * env): inserting at index 0 is one operation, applied after the others, whose paths name the
 * init containers by their indices before the insertion.
 */
export function waitPatch(spec: unknown, container: Obj): Operation[] {
  const list = isObject(spec) ? spec.initContainers : undefined;
  if (hasWait(list)) return [];
  if (!Array.isArray(list)) return [{ op: "add", path: "/spec/initContainers", value: [container] }];
  return [{ op: "add", path: "/spec/initContainers/0", value: container }];
}
