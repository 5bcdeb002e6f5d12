// Polls until `fn` gives a value (not undefined), for what an informer, a controller or the
// simulated kubelet does a little later. Fails naming what it waited for after about 5 s.
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function eventually<T>(fn: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}
