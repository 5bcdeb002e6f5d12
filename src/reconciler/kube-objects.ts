// The reconciler's views of the core objects it watches, which live in the model (one pod
// view for every program, projected per program): re-exported here under the names the
// reconciler's decisions use.
export { parseReconcilerPod as parsePod, type ReconcilerPod as PodInfo } from "../model/pod.ts";
export { parseNamespace, parseNode, type NamespaceInfo, type NodeInfo } from "../model/cluster.ts";
