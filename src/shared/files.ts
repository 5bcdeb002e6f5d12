// Files the programs re-read when they change: serving certificates and keys (cert-manager
// rotates them in place) and the admission keys (rotated through the shared Secret).
import { readFileSync, unwatchFile, watchFile, type Stats } from "node:fs";

/** Calls `onChange` when any of the files' mtime or size changes; returns the stop function. */
export function watchFiles(files: string[], intervalMs: number, onChange: () => void): () => void {
  const listener = (cur: Stats, prev: Stats): void => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) onChange();
  };
  for (const f of files) watchFile(f, { interval: intervalMs, persistent: false }, listener);
  return () => {
    for (const f of files) unwatchFile(f, listener);
  };
}

export function readTls(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
