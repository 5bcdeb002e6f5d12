// The NMI's projection of a pod (the fields it decides on), from the model's one pod view.
export { parseNmiPod, type NmiPod } from "../model/pod.ts";
