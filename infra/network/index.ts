export * from "./cidr";
export * from "./device-subnets";
