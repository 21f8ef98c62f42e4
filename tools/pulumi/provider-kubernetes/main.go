// Command pulumi-resource-kubernetes serves the Kubernetes provider library. Upstream's own main
// embeds generated files that are not part of the module zip; scripts/pulumi-toolchain.sh writes
// them next to this file in a build directory outside the repository before compiling.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
