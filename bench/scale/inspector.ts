// Reads a running program's V8 heap from outside, without changing how it runs: SIGUSR1 opens
// Node's inspector in the target (on the loopback port its inert `--inspect-port=0` picked,
// which it prints to its log), and the Chrome DevTools Protocol asks it for a full garbage
// collection and for its heap usage. What is resident after that collection is what the
// program holds; what was resident before it is what the kernel saw (garbage included).
import { readFileSync } from "node:fs";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Inspector {
  /** Full collection (V8's "all available garbage", memory-reducing), then the heap used (MB). */
  collect(): Promise<number>;
  close(): void;
}

async function inspectorUrl(pid: number, logFile: string): Promise<string> {
  process.kill(pid, "SIGUSR1");
  for (let i = 0; i < 100; i++) {
    const m = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(readFileSync(logFile, "utf8"));
    if (m !== null) return m[1]!;
    await sleep(100);
  }
  throw new Error(`the inspector of ${pid} did not open (see ${logFile})`);
}

export async function attachInspector(pid: number, logFile: string): Promise<Inspector> {
  const ws = new WebSocket(await inspectorUrl(pid, logFile));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("could not connect to the inspector")), { once: true });
  });
  let id = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.addEventListener("message", (ev: MessageEvent) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  });
  const call = (method: string): Promise<unknown> =>
    new Promise((resolve) => {
      const n = ++id;
      pending.set(n, resolve);
      ws.send(JSON.stringify({ id: n, method }));
    });
  return {
    async collect() {
      await call("HeapProfiler.collectGarbage");
      const usage = (await call("Runtime.getHeapUsage")) as { usedSize: number };
      return usage.usedSize / 2 ** 20;
    },
    close: () => ws.close(),
  };
}
