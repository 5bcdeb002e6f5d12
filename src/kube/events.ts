// Kubernetes Events (core/v1) on the objects a program acts on, so `kubectl describe pod`
// tells the user what happened. Recording never throws and never blocks the caller: an Event
// is a courtesy, not part of the reconcile. Repeats of the same event within the dedup window
// bump the count of the existing Event instead of creating new ones, as client-go's
// correlator does.
import { randomBytes } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest, resourcePath } from "./request.ts";

export interface InvolvedObject {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  record(obj: InvolvedObject, type: EventType, reason: string, message: string): void;
  /** Resolves when every event recorded so far has been written (or has failed). */
  flush(): Promise<void>;
}

export interface EventRecorderOptions {
  component: string;
  /** Reporting instance (the pod name). */
  instance?: string;
  dedupWindowMs?: number;
  onError?: (err: unknown) => void;
}

interface Seen {
  name: string;
  count: number;
  first: string;
  at: number;
}

export function createEventRecorder(kc: KubeConfig, opts: EventRecorderOptions): EventRecorder {
  const windowMs = opts.dedupWindowMs ?? 10 * 60_000;
  const seen = new Map<string, Seen>();
  const pending = new Set<Promise<void>>();

  const write = async (obj: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> => {
    const key = [obj.namespace, obj.kind, obj.name, obj.uid ?? "", type, reason, message].join("\u0000");
    const now = new Date();
    const path = resourcePath({ group: "", version: "v1", plural: "events", namespace: obj.namespace });
    const prev = seen.get(key);
    if (prev !== undefined && now.getTime() - prev.at < windowMs) {
      prev.count += 1;
      prev.at = now.getTime();
      await kubeRequest(kc, {
        method: "PATCH",
        path: `${path}/${encodeURIComponent(prev.name)}`,
        contentType: "application/merge-patch+json",
        body: { count: prev.count, lastTimestamp: now.toISOString() },
      });
      return;
    }
    const name = `${obj.name}.${randomBytes(8).toString("hex")}`;
    const ts = now.toISOString();
    seen.set(key, { name, count: 1, first: ts, at: now.getTime() });
    if (seen.size > 4096) for (const [k, v] of seen) if (now.getTime() - v.at >= windowMs) seen.delete(k);
    await kubeRequest(kc, {
      method: "POST",
      path,
      body: {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace: obj.namespace },
        involvedObject: {
          apiVersion: obj.apiVersion ?? "v1",
          kind: obj.kind,
          name: obj.name,
          namespace: obj.namespace,
          uid: obj.uid,
        },
        reason,
        message,
        type,
        count: 1,
        firstTimestamp: ts,
        lastTimestamp: ts,
        source: { component: opts.component },
        reportingComponent: opts.component,
        reportingInstance: opts.instance ?? "",
      },
    });
  };

  return {
    record(obj, type, reason, message) {
      const p = write(obj, type, reason, message)
        .catch((e: unknown) => opts.onError?.(e))
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
