package main

import "os"

func main() {
	if len(os.Args) < 2 {
		fail("usage: standins devsim|envoy-standin|decoder|scw-api [flags]")
	}
	switch os.Args[1] {
	case "devsim":
		runDevsim(os.Args[2:])
	case "envoy-standin":
		runEnvoy(os.Args[2:])
	case "decoder":
		runDecoder(os.Args[2:])
	case "scw-api":
		runScwAPI(os.Args[2:])
	default:
		fail("unknown stand-in %q", os.Args[1])
	}
}
