// The webhook's file watching is the shared one (the NMI reloads its TLS files the same way).
export { readTls, watchFiles } from "../shared/files.ts";
