// The list-watch under every informer. A list in pages, then a watch from the list's
// resourceVersion (client-node's Watch streams and parses the events). After a dropped
// connection, an idle timeout or the server's own timeout the watch is resumed from the last
// resourceVersion it saw, so nothing is listed again; only `410 Gone` (that resourceVersion
// is older than the server's history) relists. Nothing is kept here: every object goes to
// the sink as it arrives, so the informer above stores only its projection. (client-node's
// ListWatch keeps every object whole in a map of its own, and relists after every error.)
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import { WATCH } from "../model/constants.ts";
import { KubeApiError, kubeRequest } from "./request.ts";
import type { TrackedWatch } from "./watch-health.ts";

export interface RawObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** Where listed and watched objects go. */
export interface WatchSink {
  /** A (re)list begins; its objects follow through `listed`, then `listEnd`. */
  listStart(): void;
  listed(raw: RawObject): void;
  /** The list is complete: whatever it did not show is gone. */
  listEnd(): void;
  event(type: "ADDED" | "MODIFIED" | "DELETED", raw: RawObject): void;
}

/** What the watch can vouch for, for /readyz, the NMI's freshness rule and the tests. */
export interface WatchHealth {
  resource: string;
  /** The first list is done. */
  synced: boolean;
  /** A watch is open and the server accepted our resourceVersion: the cache is current. */
  watching: boolean;
  /** Since when `watching` has had its present value (ms since the epoch). */
  since: number;
  /** Watches re-opened (after a drop, an idle or server timeout) and relists after 410 Gone. */
  restarts: number;
  relists: number;
  lastError?: string;
}

export interface ListWatchOptions {
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  pageSize?: number;
  onError?: (err: unknown) => void;
  /** Where the program's metrics read this watch's health (src/kube/watch-health.ts). */
  tracked?: TrackedWatch;
}

type WatchEnd = { expired: boolean; err: unknown; opened: boolean; heard: boolean; openedAt: number };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const isTimeout = (e: unknown): boolean => e instanceof Error && e.name === "TimeoutError";
const isGone = (e: unknown): boolean =>
  (e instanceof KubeApiError && e.statusCode === 410) || (e as { statusCode?: number } | null)?.statusCode === 410;

export class ListWatchLoop {
  private resourceVersion = "";
  private stopped = false;
  private abort: AbortController | undefined;
  private readonly state: WatchHealth;
  private retryMs = 0;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: ListWatchOptions,
    private readonly sink: WatchSink,
  ) {
    this.state = { resource: opts.path, synced: false, watching: false, since: Date.now(), restarts: 0, relists: 0 };
  }

  health(): WatchHealth {
    return { ...this.state };
  }

  /** Lists until it succeeds or `timeoutMs` passes, then keeps watching in the background. */
  async start(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.list();
        break;
      } catch (err) {
        this.failed(err);
        if (this.stopped || Date.now() + this.retryMs > deadline) {
          this.stopped = true;
          throw new Error(
            `could not list ${this.opts.path} from the Kubernetes API (is the server reachable and the CRD installed?): ${message(err)}`,
            { cause: err },
          );
        }
        await sleep(this.retryMs);
      }
    }
    void this.loop();
  }

  /** One list, no watch (one-shot readers). */
  listOnly(): Promise<void> {
    return this.list();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.resourceVersion === "") {
        try {
          await this.list();
        } catch (err) {
          this.failed(err);
          await sleep(this.retryMs);
          continue;
        }
      }
      const end = await this.watchOnce();
      if (this.stopped) return;
      await this.afterWatch(end);
    }
  }

  /**
   * Decides how to go on after a watch ended. The server's own timeout and our idle timeout
   * are planned: the watch is resumed from where it was at once, and stays "watching" (the
   * server replays what happened in between). Anything else breaks it until a watch is open
   * again: a failure is retried with backoff from the same resourceVersion, 410 Gone relists.
   */
  private async afterWatch(end: WatchEnd): Promise<void> {
    this.state.restarts++;
    if (end.expired || isGone(end.err)) {
      this.setWatching(false);
      this.resourceVersion = ""; // 410 Gone: our resourceVersion is older than the server's history
      this.retryMs = 0;
      return;
    }
    const quickClose = end.err === null && !end.heard && Date.now() - end.openedAt < 1000;
    if (end.opened && ((end.err === null && !quickClose) || isTimeout(end.err))) {
      this.retryMs = 0;
      return;
    }
    this.setWatching(false);
    this.failed(end.err ?? new Error("the watch closed at once"));
    await sleep(this.retryMs);
  }

  private failed(err: unknown): void {
    this.opts.tracked?.failed();
    this.state.lastError = message(err);
    this.retryMs = Math.min(Math.max(this.retryMs * 2, WATCH.retryMinMs), WATCH.retryMaxMs);
    if (!this.stopped) this.opts.onError?.(err);
  }

  private setWatching(on: boolean): void {
    if (this.state.watching === on) return;
    this.state.watching = on;
    this.state.since = Date.now();
    if (on) this.opts.tracked?.up();
    else this.opts.tracked?.down();
  }

  private async list(): Promise<void> {
    let cont: string | undefined;
    let rv = "";
    this.sink.listStart();
    do {
      const page = await kubeRequest<{
        items?: RawObject[];
        metadata?: { resourceVersion?: string; continue?: string };
      }>(this.kc, {
        path: this.opts.path,
        query: {
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
          limit: this.opts.pageSize ?? WATCH.pageSize,
          continue: cont,
        },
      });
      if (this.stopped) return;
      for (const item of page.items ?? []) this.sink.listed(item);
      rv ||= page.metadata?.resourceVersion ?? "";
      cont = page.metadata?.continue || undefined;
    } while (cont !== undefined);
    this.sink.listEnd();
    if (this.state.synced) {
      this.state.relists++;
      this.opts.tracked?.relisted();
    }
    this.state.synced = true;
    this.resourceVersion = rv;
    this.retryMs = 0;
    // Current as of this list; the watch goes on from its resourceVersion, as after a resume.
    this.setWatching(true);
  }

  private watchOnce(): Promise<WatchEnd> {
    const watch = new Watch(this.kc); // re-opens a watch that hears nothing for 30 s (its idle timeout)
    const span = WATCH.maxTimeoutSeconds - WATCH.minTimeoutSeconds;
    const query = {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: WATCH.minTimeoutSeconds + Math.floor(Math.random() * span),
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    };
    const end: WatchEnd = { expired: false, err: null, opened: false, heard: false, openedAt: Date.now() };
    return new Promise((resolve) => {
      let done = false;
      const onEvent = (type: string, obj: unknown): void => {
        if (type === "ERROR") {
          const status = obj as { code?: number; message?: string };
          if (status.code === 410) end.expired = true;
          else this.state.lastError = status.message ?? "watch error";
          return;
        }
        end.heard = true;
        const raw = obj as RawObject;
        if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") this.sink.event(type, raw);
        this.resourceVersion = raw.metadata?.resourceVersion || this.resourceVersion;
      };
      const onDone = (err: unknown): void => {
        done = true;
        end.err = err ?? null;
        resolve(end);
      };
      watch.watch(this.opts.path, query, onEvent, onDone).then((ctrl) => {
        this.abort = ctrl;
        if (this.stopped) ctrl.abort();
        else if (!done) {
          end.opened = true;
          this.setWatching(true);
        }
      }, onDone);
    });
  }
}
