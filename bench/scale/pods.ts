// Realistic pods for the scale run, about 9.8 KB of JSON each as the API server stores them:
// a ReplicaSet owner, two containers with env, mounts, probes and resources, a config volume
// (the ServiceAccount admission plugin adds the projected token volume and its mounts), the
// managedFields of the create and of the kubelet's status write, and a kubelet-like status.
import { BINDING_LABEL } from "../../src/model/constants.ts";

const env = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    name: `${prefix}_SETTING_${i}`,
    value: `value-${i}-of-${prefix.toLowerCase()}`,
  }));

function container(name: string, image: string, envCount: number) {
  return {
    name,
    image,
    imagePullPolicy: "IfNotPresent",
    ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
    env: [
      ...env(name.toUpperCase(), envCount),
      { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
    ],
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    volumeMounts: [
      { name: "config", mountPath: "/etc/app", readOnly: true },
      { name: "cache", mountPath: "/var/cache/app" },
    ],
    readinessProbe: { httpGet: { path: "/ready", port: "http" }, periodSeconds: 10 },
  };
}

export interface PodPlan {
  name: string;
  namespace: string;
  node: string;
  app: string;
  /** The binding selector, for the 5% that ask for an identity. */
  selector?: string;
}

export function podBody(p: PodPlan): Record<string, unknown> {
  const hash = "5d8f7c9b6d";
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: p.name,
      labels: {
        app: p.app,
        "app.kubernetes.io/part-of": "shop",
        "pod-template-hash": hash,
        ...(p.selector !== undefined ? { [BINDING_LABEL]: p.selector } : {}),
      },
      annotations: { "kubectl.kubernetes.io/restartedAt": "2026-11-20T08:00:00Z", "prometheus.io/scrape": "true" },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: `${p.app}-${hash}`,
          uid: "0b6c5f3e-1c1e-4b7e-9a57-2f7d5c0e8a11",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      nodeName: p.node,
      containers: [
        container("app", `registry.example/${p.app}:1.4.2`, 10),
        container("proxy", "registry.example/envoy:1.30", 4),
      ],
      volumes: [
        { name: "config", configMap: { name: `${p.app}-config`, defaultMode: 420 } },
        { name: "cache", emptyDir: { sizeLimit: "1Gi" } },
      ],
      terminationGracePeriodSeconds: 30,
    },
  };
}

/** What a kubelet reports once the pod runs. */
export function podStatus(ip: string, hostIP: string): Record<string, unknown> {
  const t = "2026-11-20T08:00:05Z";
  const state = (name: string, image: string) => ({
    name,
    image,
    imageID: `${image}@sha256:3c1f0e9b2a7d4c5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6`,
    containerID: "containerd://6f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4",
    ready: true,
    started: true,
    restartCount: 0,
    state: { running: { startedAt: t } },
    lastState: {},
  });
  return {
    status: {
      phase: "Running",
      podIP: ip,
      podIPs: [{ ip }],
      hostIP,
      startTime: t,
      qosClass: "Burstable",
      conditions: ["Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({
        type,
        status: "True",
        lastProbeTime: null,
        lastTransitionTime: t,
      })),
      containerStatuses: [state("app", "registry.example/app:1.4.2"), state("proxy", "registry.example/envoy:1.30")],
    },
  };
}
