// The serving decision for an identified caller, remembered and waited on. Decisions are pure
// functions of the caches and keys, so they are remembered until either changes: a pod asking
// again (the common case) costs a map lookup, not an HMAC. A decision to wait (an assignment in
// progress) is taken again on every cache change until it changes or time is up.
import type { AdmissionKeys } from "../policy/admission-mark.ts";
import { forbidden, type IdentityRequest } from "./imds.ts";
import type { NmiPod } from "./pod.ts";
import { decideServing, type ServingDecision } from "./serving.ts";
import { gatherServingInput, type NmiView } from "./view.ts";

export interface DeciderDeps {
  nodeName: string;
  view: NmiView;
  admissionKeys: () => AdmissionKeys;
  retryAfterSeconds: number;
  /** How long a request waits for an assignment in progress. */
  waitMs: number;
}

export interface Decider {
  decide(pod: NmiPod, requested: IdentityRequest): ServingDecision;
  /** Decides, waiting while the answer is "wait" (re-reading the pod, which must stay the same pod). */
  decideWaiting(pod: NmiPod, requested: IdentityRequest): Promise<ServingDecision>;
  close(): void;
}

/** Remembered decisions; the map is emptied when full (callers can vary client_id freely). */
const MEMO_MAX = 10_000;
const POLL_MS = 500;

export function createDecider(deps: DeciderDeps): Decider {
  let generation = 0;
  const offChange = deps.view.onChange(() => generation++);
  const memo = new Map<string, { generation: number; keys: AdmissionKeys; decision: ServingDecision }>();

  function decide(pod: NmiPod, requested: IdentityRequest): ServingDecision {
    const keys = deps.admissionKeys();
    const key = `${pod.namespace}/${pod.name}/${pod.uid}|${requested.by}|${requested.by === "none" ? "" : requested.value}`;
    const hit = memo.get(key);
    if (hit !== undefined && hit.generation === generation && hit.keys === keys) return hit.decision;
    const input = gatherServingInput(deps.view, keys, pod, requested, {
      nodeName: deps.nodeName,
      retryAfterSeconds: deps.retryAfterSeconds,
    });
    const decision = decideServing(input);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(key, { generation, keys, decision });
    return decision;
  }

  const changeOrTimeout = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      const off = deps.view.onChange(done);
      function done(): void {
        clearTimeout(t);
        off();
        resolve();
      }
    });

  async function decideWaiting(pod: NmiPod, requested: IdentityRequest): Promise<ServingDecision> {
    let d = decide(pod, requested);
    const deadline = Date.now() + deps.waitMs;
    while (d.kind === "wait" && Date.now() < deadline) {
      await changeOrTimeout(Math.min(POLL_MS, deadline - Date.now()));
      const current = deps.view.pod(pod.namespace, pod.name);
      if (current === undefined || current.uid !== pod.uid)
        return { kind: "refuse", error: forbidden(`Pod ${pod.namespace}/${pod.name} went away while waiting`) };
      d = decide(current, requested);
    }
    return d;
  }

  return { decide, decideWaiting, close: offChange };
}
