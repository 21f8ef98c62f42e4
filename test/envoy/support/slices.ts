import type { EndpointSlice } from "../../../infra/envoy";

/** The node, cluster and port name the EDS tests select endpoints for. */
export const selection = { nodeName: "ingress-1", clusterName: "decoder", portName: "coap" };
export const udpPort = { name: "coap", port: 5683, protocol: "UDP" };

export function slice(name: string, endpoints: EndpointSlice["endpoints"], ports: EndpointSlice["ports"] = [udpPort], addressType = "IPv4"): EndpointSlice {
  return { metadata: { name, labels: { "kubernetes.io/service-name": "decoder" } }, addressType, endpoints, ports };
}

export const upstream = (address: string, port = 5683) => ({ endpoint: { address: { socket_address: { address, port_value: port } } } });

/** One slice with one endpoint on the selected node. */
export const ONE_ENDPOINT = [slice("s", [{ addresses: ["10.1.0.2"], nodeName: "ingress-1" }])];
