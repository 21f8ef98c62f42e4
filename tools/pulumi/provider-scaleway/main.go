// Command pulumi-resource-scaleway bridges Scaleway's Terraform provider (its SDKv2 part, which
// holds the Kubernetes, instance and VPC resources) to Pulumi with the token layout of the
// @pulumiverse/scaleway SDK: `scaleway:<module>/<camelName>:<PascalName>`.
package main

import (
	pulumitokens "github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/scaleway/terraform-provider-scaleway/v2/provider"
)

// version is the plugin version, set with -ldflags -X to the @pulumiverse/scaleway npm version.
var version string

// moduleOfPrefix maps the Terraform name prefix (after "scaleway_") to the SDK's module.
var moduleOfPrefix = map[string]string{
	"account_": "account", "apple_silicon_": "applesilicon", "autoscaling_": "autoscaling",
	"baremetal_": "elasticmetal", "block_": "block", "cockpit_": "observability", "container_": "containers",
	"datawarehouse_": "datawarehouse", "domain_": "domain", "function_": "functions", "iam_": "iam",
	"inference_": "inference", "instance_": "instance", "interlink_": "interlink", "iot_": "iot", "ipam_": "ipam",
	"k8s_": "kubernetes", "kafka_": "kafka", "lb_": "loadbalancers", "mnq_": "mnq", "mongodb_": "mongodb",
	"object_": "object", "opensearch_": "opensearch", "rdb_": "databases", "redis_": "redis",
	"registry_": "registry", "s2s_vpn_": "s2svpn", "secret_": "secrets", "tem_": "tem", "vpc_": "network",
}

// exceptions are resources whose Pulumi name is not their Terraform name minus the module prefix.
var exceptions = map[string]string{
	"scaleway_vpc":              "scaleway:network/vpc:Vpc",
	"scaleway_lb":               "scaleway:loadbalancers/loadBalancer:LoadBalancer",
	"scaleway_object":           "scaleway:object/item:Item",
	"scaleway_sdb_sql_database": "scaleway:databases/serverlessDatabase:ServerlessDatabase",
}

func providerInfo() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:         shimv2.NewProvider(provider.SDKProvider(provider.DefaultConfig())()),
		Name:      "scaleway",
		Version:   version,
		GitHubOrg: "scaleway",
		Resources: map[string]*tfbridge.ResourceInfo{},
	}
	for tf, tok := range exceptions {
		info.Resources[tf] = &tfbridge.ResourceInfo{Tok: pulumitokens.Type(tok)}
	}
	info.MustComputeTokens(tokens.MappedModules("scaleway_", "index", moduleOfPrefix, tokens.MakeStandard("scaleway")))
	return info
}

func main() {
	// No package schema: it only feeds GetSchema and an advisory input type check, and the
	// program's inputs are already typed by the npm SDK.
	tfbridge.Main("scaleway", version, providerInfo(), nil)
}
