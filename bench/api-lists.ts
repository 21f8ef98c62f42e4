/**
 * Synthetic Kubernetes API state for the steering agent and the EDS sidecar: ingress nodes, their Envoy pods and the
 * decoder Service's EndpointSlices, shaped and sized like what `kubectl get -o json` returns on a real cluster
 * (Node status with images and conditions, Pods with their spec and status, slices of at most 100 endpoints with
 * target references), plus `wg show <kilo> allowed-ips` as kgctl connect configures it.
 */
import { createHash } from "node:crypto";
import { GATEWAY_DEFAULTS } from "../infra/gateway";
import { encodeKey } from "../infra/wireguard";

export const DECODER_SERVICE = "decoder";
export const DECODER_NAMESPACE = "iot-decoder";
export const DECODER_PORT_NAME = "coap";
export const DECODER_PORT = 5683;
/** The EndpointSlice controller's default --max-endpoints-per-slice. */
export const ENDPOINTS_PER_SLICE = 100;

export function nodeName(i: number): string {
  return `ingress-${String(i + 1).padStart(4, "0")}`;
}

/** Node i's pod CIDR, a /24 of 100.64.0.0/10; its steering address is the first host of it. */
export function podCidr(i: number): string {
  return `100.${64 + (i >> 8)}.${i & 255}.0/24`;
}

export function steeringAddress(i: number): string {
  return `100.${64 + (i >> 8)}.${i & 255}.1`;
}

function kiloIp(i: number): string {
  return `10.4.${(i + 1) >> 8}.${(i + 1) & 255}`;
}

export function nodeKey(i: number): string {
  return encodeKey(createHash("sha256").update(`bench-node-key-${i}`).digest());
}

function uid(kind: string, i: number, j = 0): string {
  const h = createHash("sha256").update(`${kind}-${i}-${j}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const TIME = "2026-01-01T00:00:00Z";
const IMAGES = [
  "docker.io/envoyproxy/envoy:v1.36.2",
  "registry.example.com/iot/decoder:1.4.0",
  "docker.io/squat/kilo:0.7.0",
  "registry.k8s.io/kube-proxy:v1.34.2",
  "registry.k8s.io/pause:3.10",
  "docker.io/library/node:22-alpine",
  "quay.io/prometheus/node-exporter:v1.9.1",
  "registry.k8s.io/coredns/coredns:v1.12.0",
  "quay.io/cilium/cilium:v1.17.4",
  "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
  "docker.io/grafana/promtail:3.4.2",
  "registry.k8s.io/csi-node-driver-registrar:v2.13.0",
];

function node(i: number, lastSeen: number): object {
  const name = nodeName(i);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      uid: uid("node", i),
      resourceVersion: String(100000 + i),
      creationTimestamp: TIME,
      labels: {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "PRO2-S",
        "beta.kubernetes.io/os": "linux",
        "failure-domain.beta.kubernetes.io/region": "fr-par",
        "failure-domain.beta.kubernetes.io/zone": "fr-par-2",
        [GATEWAY_DEFAULTS.ingressNodeLabel.key]: GATEWAY_DEFAULTS.ingressNodeLabel.value,
        "k8s.scaleway.com/pool-name": "ingress",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "PRO2-S",
        "topology.kubernetes.io/region": "fr-par",
        "topology.kubernetes.io/zone": "fr-par-2",
      },
      annotations: {
        "kilo.squat.ai/discovered-endpoints": "{}",
        "kilo.squat.ai/endpoint": `203.0.113.${i % 250}:51820`,
        "kilo.squat.ai/granularity": "location",
        "kilo.squat.ai/internal-ip": `172.16.${i >> 8}.${i & 255}/32`,
        "kilo.squat.ai/key": nodeKey(i),
        "kilo.squat.ai/last-seen": String(lastSeen),
        "kilo.squat.ai/wireguard-ip": `${kiloIp(i)}/16`,
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
      },
    },
    spec: { podCIDR: podCidr(i), podCIDRs: [podCidr(i)], providerID: `scaleway://instance/fr-par-2/${uid("instance", i)}` },
    status: {
      addresses: [
        { address: `172.16.${i >> 8}.${i & 255}`, type: "InternalIP" },
        { address: name, type: "Hostname" },
      ],
      allocatable: { cpu: "3800m", "ephemeral-storage": "40Gi", "hugepages-1Gi": "0", "hugepages-2Mi": "0", memory: "7Gi", pods: "110" },
      capacity: { cpu: "4", "ephemeral-storage": "48Gi", "hugepages-1Gi": "0", "hugepages-2Mi": "0", memory: "8Gi", pods: "110" },
      conditions: [
        ["MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"],
        ["DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"],
        ["PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"],
        ["Ready", "True", "KubeletReady", "kubelet is posting ready status"],
      ].map(([type, status, reason, message]) => ({ type, status, reason, message, lastHeartbeatTime: TIME, lastTransitionTime: TIME })),
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      images: IMAGES.map((image, k) => ({ names: [`${image.split(":")[0]}@sha256:${createHash("sha256").update(image).digest("hex")}`, image], sizeBytes: 10_000_000 + k * 7_654_321 })),
      nodeInfo: {
        architecture: "amd64",
        bootID: uid("boot", i),
        containerRuntimeVersion: "containerd://2.0.5",
        kernelVersion: "6.8.0-60-generic",
        kubeProxyVersion: "",
        kubeletVersion: "v1.34.2",
        machineID: uid("machine", i).replace(/-/g, ""),
        operatingSystem: "linux",
        osImage: "Ubuntu 24.04.2 LTS",
        systemUUID: uid("system", i),
      },
    },
  };
}

function envoyPod(i: number): object {
  const name = `envoy-udp-ingress-${uid("pod", i).slice(0, 5)}`;
  const labels = { "app.kubernetes.io/name": "envoy-udp-ingress", "app.kubernetes.io/instance": "iot", "controller-revision-hash": "7c9d8f6b5d", "pod-template-generation": "3" };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      generateName: "envoy-udp-ingress-",
      namespace: "iot-ingress",
      uid: uid("pod", i),
      resourceVersion: String(200000 + i),
      creationTimestamp: TIME,
      labels,
      annotations: { "iot-udp-ingress/bootstrap-hash": "3f2a9c1b7d6e5f40" },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "envoy-udp-ingress", uid: uid("ds", 0), controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      nodeName: nodeName(i),
      hostNetwork: true,
      dnsPolicy: "ClusterFirstWithHostNet",
      priorityClassName: "iot-udp-ingress",
      serviceAccountName: "envoy-udp-ingress",
      initContainers: [
        {
          name: "eds-sidecar",
          image: "docker.io/library/node:22-alpine",
          command: ["node", "/opt/eds-sidecar/sidecar.js"],
          restartPolicy: "Always",
          env: ["NODE_NAME", "NAMESPACE", "SERVICE_NAME", "CLUSTER_NAME", "PORT_NAME", "EDS_PATH"].map((n) => ({ name: n, value: n.toLowerCase() })),
          resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } },
          volumeMounts: [{ name: "eds", mountPath: "/var/run/eds" }, { name: "sidecar", mountPath: "/opt/eds-sidecar" }],
        },
      ],
      containers: [
        {
          name: "envoy",
          image: "docker.io/envoyproxy/envoy:v1.36.2",
          args: ["--config-path", "/etc/envoy/envoy.yaml", "--concurrency", "2"],
          ports: [{ containerPort: DECODER_PORT, hostPort: DECODER_PORT, name: "udp", protocol: "UDP" }, { containerPort: 9901, hostPort: 9901, name: "admin", protocol: "TCP" }],
          readinessProbe: { httpGet: { path: "/ready", port: 9901, scheme: "HTTP" }, periodSeconds: 5, failureThreshold: 3, successThreshold: 1, timeoutSeconds: 1 },
          resources: { requests: { cpu: "500m", memory: "256Mi" }, limits: { memory: "1Gi" } },
          securityContext: { capabilities: { add: ["NET_ADMIN", "NET_RAW"] } },
          volumeMounts: [{ name: "config", mountPath: "/etc/envoy" }, { name: "eds", mountPath: "/var/run/eds" }],
        },
      ],
      tolerations: [{ key: "iot-udp-ingress/dedicated", operator: "Exists", effect: "NoSchedule" }, { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" }],
      volumes: [{ name: "config", configMap: { name: "envoy-udp-ingress" } }, { name: "sidecar", configMap: { name: "envoy-eds-sidecar" } }, { name: "eds", emptyDir: {} }],
    },
    status: {
      phase: "Running",
      hostIP: `172.16.${i >> 8}.${i & 255}`,
      podIP: `172.16.${i >> 8}.${i & 255}`,
      qosClass: "Burstable",
      startTime: TIME,
      conditions: ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: TIME })),
      containerStatuses: [
        { name: "envoy", ready: true, started: true, restartCount: 0, image: "docker.io/envoyproxy/envoy:v1.36.2", imageID: "docker.io/envoyproxy/envoy@sha256:0000", containerID: `containerd://${uid("c", i).replace(/-/g, "")}`, state: { running: { startedAt: TIME } } },
      ],
    },
  };
}

export interface EndpointPlacement {
  /** The node of endpoint k of the Service. */
  readonly nodeOf: (k: number) => number;
  readonly count: number;
}

/** `count` endpoints, `perNode` on each node in turn (node 0 first). */
export function endpointsPerNode(nodes: number, perNode: number): EndpointPlacement {
  return { count: nodes * perNode, nodeOf: (k) => Math.floor(k / perNode) };
}

/** A unique address per endpoint (the sidecar keeps one endpoint per address and port). */
export function endpointAddress(k: number): string {
  return `100.${96 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;
}

/** The slice names are stable per index, so a MODIFIED event replaces one slice. */
export function sliceName(s: number): string {
  return `${DECODER_SERVICE}-${uid("slice", s).slice(0, 5)}`;
}

/** The decoder Service's EndpointSlices: ENDPOINTS_PER_SLICE endpoints each, in endpoint order. `notReady`: endpoint indexes with ready=false. */
export function decoderSlices(placement: EndpointPlacement, notReady: ReadonlySet<number> = new Set(), resourceVersion = "300000"): Array<Record<string, unknown>> {
  const slices: Array<Record<string, unknown>> = [];
  for (let s = 0; s * ENDPOINTS_PER_SLICE < placement.count; s++) slices.push(decoderSlice(placement, s, notReady, resourceVersion));
  return slices;
}

export function decoderSlice(placement: EndpointPlacement, s: number, notReady: ReadonlySet<number>, resourceVersion: string): Record<string, unknown> {
  const endpoints: object[] = [];
  for (let k = s * ENDPOINTS_PER_SLICE; k < Math.min(placement.count, (s + 1) * ENDPOINTS_PER_SLICE); k++) {
    const node = placement.nodeOf(k);
    const ready = !notReady.has(k);
    endpoints.push({
      addresses: [endpointAddress(k)],
      conditions: { ready, serving: ready, terminating: false },
      nodeName: nodeName(node),
      targetRef: { kind: "Pod", name: `decoder-${uid("dpod", k).slice(0, 10)}`, namespace: DECODER_NAMESPACE, uid: uid("dpod", k) },
      zone: "fr-par-2",
    });
  }
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: sliceName(s),
      generateName: `${DECODER_SERVICE}-`,
      namespace: DECODER_NAMESPACE,
      uid: uid("slice", s),
      resourceVersion,
      creationTimestamp: TIME,
      generation: 1,
      labels: {
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "kubernetes.io/service-name": DECODER_SERVICE,
        "service.kubernetes.io/headless": "",
      },
      annotations: { "endpoints.kubernetes.io/last-change-trigger-time": TIME },
      ownerReferences: [{ apiVersion: "v1", kind: "Service", name: DECODER_SERVICE, uid: uid("svc", 0), controller: true, blockOwnerDeletion: true }],
    },
    addressType: "IPv4",
    endpoints,
    ports: [{ name: DECODER_PORT_NAME, port: DECODER_PORT, protocol: "UDP" }],
  };
}

export interface ApiFiles {
  readonly nodes: string;
  readonly pods: string;
  readonly slices: string;
  /** `wg show <kilo> allowed-ips`. */
  readonly routes: string;
}

/**
 * The three lists the steering agent fetches and the Kilo interface's peers, for `nodes` healthy ingress nodes with
 * `perNode` ready decoder endpoints each, last seen by Kilo at `lastSeen` (Unix seconds).
 */
export function steeringApiState(nodes: number, perNode: number, lastSeen: number): ApiFiles {
  const list = (kind: string, apiVersion: string, items: readonly object[]) => JSON.stringify({ apiVersion, kind, metadata: { resourceVersion: "400000" }, items });
  const indexes = Array.from({ length: nodes }, (_, i) => i);
  return {
    nodes: list("NodeList", "v1", indexes.map((i) => node(i, lastSeen))),
    pods: list("PodList", "v1", indexes.map(envoyPod)),
    slices: list("EndpointSliceList", "discovery.k8s.io/v1", decoderSlices(endpointsPerNode(nodes, perNode))),
    routes: indexes.map((i) => `${nodeKey(i)}\t${podCidr(i)} ${kiloIp(i)}/32\n`).join(""),
  };
}
