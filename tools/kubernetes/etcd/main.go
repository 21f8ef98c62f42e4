// Command etcd is go.etcd.io/etcd/server/v3's etcd, built from the Go module proxy: the same entry
// point as upstream's server/main.go, which is not importable (package main).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
