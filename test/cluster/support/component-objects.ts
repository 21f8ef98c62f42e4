import { withSecretsRevealed } from "../../support/kubernetes-schema";
import { recordResources, settle, valueOf, type RecordedResource } from "../../support/pulumi-mocks";
import { ENVOY_POD_SELECTOR } from "../../../components/envoy-udp-ingress";
import { GATEWAY_HOST } from "../../../infra/gateway/plan";

/** A Kubernetes object as a component would send it to the API server. */
export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** A recorded resource of a component and the object it stands for. */
export interface ComponentObject {
  /** Pulumi resource name, e.g. `gw-rolebinding-decoder`. */
  resource: string;
  object: KubernetesObject;
}

/** Namespaces and names as stacks/environment.ts wires the components (the config defaults). */
export const WIRING = {
  ingressNamespace: "iot-ingress",
  decoderNamespace: "iot-decoder",
  decoderService: "decoder",
  // The preview stack names them `${stack}-gateway` and `${stack}-envoy`.
  gatewayName: "preview-gateway",
  envoyName: "preview-envoy",
  observabilityName: "preview-observability",
  ingressNodeLabel: { key: "iot-udp-ingress/role", value: "ingress" },
} as const;

export interface ComponentObjectOptions {
  /**
   * Also the Prometheus Operator's objects: Envoy's PodMonitor, the gateway's ServiceMonitor, and IngressObservability's
   * PrometheusRule and dashboard ConfigMap. Default: false (the components' defaults: scrape annotations, no rules).
   */
  monitoring?: boolean;
}

/**
 * Runs the real WireguardGateway and EnvoyUdpIngress components under the mocks (test/support/pulumi-mocks.ts) and
 * returns the Kubernetes objects they declare, with secrets revealed: the components' own output, not a copy of it.
 * The arguments follow stacks/environment.ts: the gateway's identity lives in the ingress namespace, the steering
 * agent watches the Envoy pods there and the decoder's EndpointSlices in the decoder namespace.
 */
export async function componentKubernetesObjects(options: ComponentObjectOptions = {}): Promise<ComponentObject[]> {
  const recorded = recordResources();
  const components = await import("../../../components");
  const monitoring = options.monitoring ?? false;
  const placement = {
    nodeLabel: WIRING.ingressNodeLabel,
    nodeTaint: { ...WIRING.ingressNodeLabel, effect: "NoSchedule" as const },
  };
  new components.EnvoyUdpIngress(WIRING.envoyName, {
    namespace: WIRING.ingressNamespace,
    createNamespace: true,
    envoyImage: "envoyproxy/envoy:v1.40.2",
    edsSidecarImage: "node:22.21.1-alpine3.22",
    listenerPort: 5683,
    deviceSubnets: ["10.200.0.0/20"],
    placement,
    decoder: { namespace: WIRING.decoderNamespace, serviceName: WIRING.decoderService },
    sessions: { devices: 2000, reportIntervalSeconds: 60, ingressNodes: 3 },
    ...(monitoring ? { metrics: { scrape: "podMonitor" as const } } : {}),
  });
  const gateway = new components.WireguardGateway(WIRING.gatewayName, {
    zone: "fr-par-1",
    tunnelAddress: "10.5.0.1",
    deviceSubnets: ["10.200.0.0/20"],
    uplink: {
      address: "10.5.1.1",
      concentrators: [
        { name: "test-apn", publicKey: "FivtuBrHeD4Z4BpQca5Gng+gApYzRGb3tdtj68rbMUA=", endpoint: "203.0.113.10:51821", sourceCidrs: ["203.0.113.10/32"] },
      ],
    },
    ingress: { address: "10.5.1.1", port: 5683 },
    devices: { expectedCount: 2000, reportIntervalSeconds: 60 },
    steering: {
      ingressNodeLabel: WIRING.ingressNodeLabel,
      envoyNamespace: WIRING.ingressNamespace,
      envoyPodSelector: ENVOY_POD_SELECTOR,
      decoderNamespace: WIRING.decoderNamespace,
      decoderServiceName: WIRING.decoderService,
    },
    tools: {
      kgctl: { version: "0.6.0", sha256: "a".repeat(64) },
      kubectl: { version: "v1.34.1", sha256: "7721f265e18709862655affba5343e85e1980639395d5754473dafaadcaa69e3" },
    },
    cluster: { podCidr: "100.64.0.0/15", apiServerUrl: "https://127.0.0.1:6443", caCertificate: "Q0EtREFUQQ==" },
    identityNamespace: WIRING.ingressNamespace,
    ...(monitoring ? { metrics: { scrape: "serviceMonitor" as const } } : {}),
  });
  if (monitoring) {
    new components.IngressObservability(WIRING.observabilityName, {
      namespace: WIRING.ingressNamespace,
      alerts: { maxConnections: 4096, steeringIntervalSeconds: 5, uplinkInterface: GATEWAY_HOST.uplinkInterface },
      prometheusRule: true,
      grafanaDashboard: true,
      labels: { release: "kube-prometheus-stack" },
    });
  }
  await settle();
  await valueOf(gateway.cloudInit);
  await settle();
  return recorded.filter(isKubernetesObject).map((resource) => {
    const object = withSecretsRevealed(resource.inputs) as KubernetesObject;
    if (typeof object.metadata?.name !== "string") throw new Error(`${resource.name} (${resource.type}) has no metadata.name`);
    return { resource: resource.name, object };
  });
}

function isKubernetesObject(resource: RecordedResource): boolean {
  return resource.custom && resource.type.startsWith("kubernetes:");
}

/** The objects of some kinds, in the order the components declared them. */
export function ofKinds(objects: readonly ComponentObject[], ...kinds: string[]): ComponentObject[] {
  return objects.filter(({ object }) => kinds.includes(object.kind));
}

/** The one object of a kind whose resource name matches. */
export function onlyObject(objects: readonly ComponentObject[], kind: string, resource: RegExp): KubernetesObject {
  const matches = objects.filter((entry) => entry.object.kind === kind && resource.test(entry.resource));
  if (matches.length !== 1) {
    throw new Error(`expected one ${kind} whose resource name matches ${resource}, found ${matches.map((entry) => entry.resource).join(", ") || "none"}`);
  }
  return matches[0].object;
}
