// Command pulumi-resource-random bridges HashiCorp's Terraform random provider (a plugin-framework
// provider) to Pulumi with the token layout of the @pulumi/random SDK:
// `random:index/randomBytes:RandomBytes` for the Terraform resource `random_bytes`.
package main

import (
	"context"
	"encoding/json"

	pfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// version is the plugin version, set with -ldflags -X to the @pulumi/random npm version.
var version string

func main() {
	ctx := context.Background()
	info := tfbridge.ProviderInfo{
		P:       pfbridge.ShimProvider(shim.NewProvider()),
		Name:    "random",
		Version: version,
		// Bridge metadata records history (renames, aliases) of a published provider; this build has none.
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
	}
	// The whole Terraform name becomes the Pulumi name, as in the npm SDK (random_bytes -> RandomBytes).
	info.MustComputeTokens(tokens.SingleModule("", "index", tokens.MakeStandard("random")))

	// The framework bridge requires a package schema; it only answers GetSchema, which a preview of
	// a Node.js program does not call, so the package header is enough.
	header, err := json.Marshal(map[string]string{"name": "random", "version": version})
	if err != nil {
		panic(err)
	}
	pfbridge.Main(ctx, "random", info, pfbridge.ProviderMetadata{PackageSchema: header})
}
