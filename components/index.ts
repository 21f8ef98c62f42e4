export * from "./kosmos-cluster";
