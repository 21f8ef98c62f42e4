export * from "./kosmos-cluster";
export * from "./kubernetes-placement";
export * from "./decoder-service";
export * from "./decoder-deployment";
export * from "./wireguard-gateway";
export * from "./envoy-udp-ingress";
export * from "./registry-host";
export * from "./registry-pull-secret";
