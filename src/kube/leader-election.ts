// Leader election on a coordination.k8s.io/v1 Lease (client-node has none built in). Same
// protocol as client-go's: the holder renews renewTime every retry period; a candidate takes
// the lease over only when it has seen no renewal for leaseDuration by its own clock (so clock
// skew between replicas does not matter); every write carries the resourceVersion it read, so
// two candidates cannot both win. A leader that cannot renew within renewDeadline steps down.
import type { KubeConfig } from "@kubernetes/client-node";
import { isConflict, isNotFound, kubeRequest, resourcePath } from "./request.ts";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** This candidate's identity, unique per replica (pod name + random suffix). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Called when this replica becomes leader; the signal aborts when it stops leading. */
  onStartedLeading: (signal: AbortSignal) => void;
  /** Called once when leadership is lost or released. */
  onStoppedLeading?: () => void;
  onError?: (err: unknown) => void;
}

export interface LeaderElector {
  isLeader(): boolean;
  /** Stops campaigning; a leader releases the lease so another replica takes over at once. */
  stop(opts?: { release?: boolean }): Promise<void>;
}

interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/** MicroTime: RFC 3339 with microseconds, as the API server writes it. */
export const microTime = (d = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

export function startLeaderElection(kc: KubeConfig, opts: LeaderElectionOptions): LeaderElector {
  const leaseDurationMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  const path = resourcePath({
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    namespace: opts.namespace,
  });
  const itemPath = `${path}/${encodeURIComponent(opts.name)}`;
  const stopCampaign = new AbortController();

  let leading: AbortController | undefined;
  let lastRenew = 0;
  // What we last saw of someone else's lease, and when (by our clock).
  let observed: { holder: string; renewTime: string; at: number } | undefined;

  const desired = (current: Lease | undefined, now: Date): Lease["spec"] => {
    const holder = current?.spec.holderIdentity ?? "";
    const transitions = current?.spec.leaseTransitions ?? 0;
    const keep = holder === opts.identity;
    return {
      holderIdentity: opts.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(leaseDurationMs / 1000)),
      acquireTime: keep ? (current?.spec.acquireTime ?? microTime(now)) : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: keep ? transitions : holder === "" && current === undefined ? 0 : transitions + 1,
    };
  };

  /** One attempt to acquire or renew; true when we hold the lease afterwards. */
  const tryAcquireOrRenew = async (): Promise<boolean> => {
    const now = new Date();
    let current: Lease | undefined;
    try {
      current = await kubeRequest<Lease>(kc, { path: itemPath });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (current === undefined) {
      const body: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: opts.name, namespace: opts.namespace },
        spec: desired(undefined, now),
      };
      await kubeRequest(kc, { method: "POST", path, body });
      return true;
    }
    const holder = current.spec.holderIdentity ?? "";
    if (holder !== "" && holder !== opts.identity) {
      const renewTime = current.spec.renewTime ?? "";
      if (observed === undefined || observed.holder !== holder || observed.renewTime !== renewTime) {
        observed = { holder, renewTime, at: Date.now() };
      }
      const duration = (current.spec.leaseDurationSeconds ?? leaseDurationMs / 1000) * 1000;
      if (observed.at + duration > Date.now()) return false;
    }
    const body: Lease = { ...current, spec: desired(current, now) };
    await kubeRequest(kc, { method: "PUT", path: itemPath, body });
    return true;
  };

  const stepDown = (): void => {
    if (leading === undefined) return;
    leading.abort();
    leading = undefined;
    opts.onStoppedLeading?.();
  };

  const loop = async (): Promise<void> => {
    while (!stopCampaign.signal.aborted) {
      let held = false;
      try {
        held = await tryAcquireOrRenew();
      } catch (e) {
        if (!isConflict(e)) opts.onError?.(e);
      }
      if (stopCampaign.signal.aborted) break;
      if (held) {
        lastRenew = Date.now();
        observed = undefined;
        if (leading === undefined) {
          leading = new AbortController();
          opts.onStartedLeading(leading.signal);
        }
      } else if (leading !== undefined && Date.now() - lastRenew > renewDeadlineMs) {
        stepDown();
      } else if (leading !== undefined && observed !== undefined) {
        // Someone else holds it now (we were too slow to renew): stop at once.
        stepDown();
      }
      await sleep(retryPeriodMs, stopCampaign.signal);
    }
  };
  const running = loop();

  return {
    isLeader: () => leading !== undefined,
    async stop({ release = true } = {}) {
      stopCampaign.abort();
      await running;
      const wasLeader = leading !== undefined;
      stepDown();
      if (!release || !wasLeader) return;
      try {
        const current = await kubeRequest<Lease>(kc, { path: itemPath });
        if (current.spec.holderIdentity !== opts.identity) return;
        const spec = { ...current.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime() };
        await kubeRequest(kc, { method: "PUT", path: itemPath, body: { ...current, spec } });
      } catch (e) {
        opts.onError?.(e);
      }
    },
  };
}
