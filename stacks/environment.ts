import { KosmosCluster } from "../components";
import type { EnvironmentConfig } from "./config";

/** What one environment is made of; the stack exports a selection of it. */
export interface Environment {
  readonly cluster: KosmosCluster;
}

/** Creates an environment from validated config: the cluster, then what runs on it and in front of it. */
export function createEnvironment(stackName: string, config: EnvironmentConfig): Environment {
  const { cluster: clusterConfig } = config;
  const cluster = new KosmosCluster(
    stackName,
    {
      clusterName: clusterConfig.name,
      kubernetesVersion: clusterConfig.kubernetesVersion,
      type: clusterConfig.type,
      region: clusterConfig.region,
      podCidr: clusterConfig.podCidr,
      serviceCidr: clusterConfig.serviceCidr,
      tags: [...clusterConfig.tags, `environment=${config.environment}`],
      deleteAdditionalResources: clusterConfig.deleteAdditionalResources,
      autoUpgrade: clusterConfig.autoUpgrade,
      ingressPool: clusterConfig.ingressPool,
      generalPools: clusterConfig.generalPools,
      externalPools: clusterConfig.externalPools,
    },
    { protect: clusterConfig.protect },
  );
  return { cluster };
}
