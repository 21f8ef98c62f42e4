import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseStackConfig, rawStackConfigFromPulumi, type EnvironmentConfig } from "./config";
import { createEnvironment } from "./environment";

function loadConfig(): EnvironmentConfig {
  try {
    return parseStackConfig(rawStackConfigFromPulumi(pulumi.runtime.allConfig()));
  } catch (error) {
    if (error instanceof ConfigError) {
      // A RunError ends the program with its message alone, without a stack trace.
      throw new pulumi.RunError(error.message);
    }
    throw error;
  }
}

const config = loadConfig();
const environment = createEnvironment(pulumi.getStack(), config);

export const environmentName = config.environment;
export const clusterProtected = config.cluster.protect;
export const clusterId = environment.cluster.clusterId;
export const apiServerUrl = environment.cluster.apiServerUrl;
export const kubeconfig = environment.cluster.kubeconfig;
export const ingressNodeLabel = environment.cluster.ingressNodeLabel;
export const ingressNodeTaint = environment.cluster.ingressNodeTaint;
export const deviceSubnets = config.devices.subnets;
