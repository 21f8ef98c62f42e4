package main

// INSTANCE API STAND-IN, not Scaleway's API: the two calls the gateway pair's role hook makes on its flexible IP,
// GET and PATCH /instance/v1/zones/{zone}/ips/{id}, with the shapes of scaleway-sdk-go api/instance/v1
// (GetIPResponse and UpdateIPResponse are {"ip": IP}; IP.server is a ServerSummary {id, name} or null;
// UpdateIPRequest.server is a NullableStringValue: a server ID, or null to detach) and the X-Auth-Token header.
//
// A PATCH is also what Scaleway's network does when a routed IP moves: from then on the address's traffic goes to
// the new server. The lab's "internet" is one bridge, so the stand-in makes every namespace on it send the
// address's packets to the new server's interface (a permanent neighbour entry on each one's up0), whatever the old
// server still answers. Commands on stdin: `state` (the holder and every move so far, with its time).

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"
)

type scwServer struct {
	id, name, ns, mac string
}

type scwMove struct {
	AtMs int64  `json:"atMs"`
	From string `json:"from"`
	To   string `json:"to"`
}

type scwAPI struct {
	mu        sync.Mutex
	token     string
	zone      string
	ipID      string
	address   string
	servers   map[string]scwServer
	neighbors []string
	holder    string
	moves     []scwMove
	requests  int
	refused   int
}

func (a *scwAPI) ipJSON() map[string]any {
	var server any
	if s, ok := a.servers[a.holder]; ok {
		server = map[string]string{"id": s.id, "name": s.name}
	}
	return map[string]any{"ip": map[string]any{"id": a.ipID, "address": a.address, "zone": a.zone, "type": "routed_ipv4", "server": server}}
}

func (a *scwAPI) route(to scwServer) error {
	for _, ns := range a.neighbors {
		out, err := exec.Command("ip", "-n", ns, "neigh", "replace", a.address, "lladdr", to.mac, "dev", "up0", "nud", "permanent").CombinedOutput()
		if err != nil {
			return fmt.Errorf("routing %s to %s in %s: %v: %s", a.address, to.name, ns, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func (a *scwAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests++
	w.Header().Set("Content-Type", "application/json")
	answer := func(status int, v any) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("X-Auth-Token") != a.token {
		a.refused++
		answer(http.StatusUnauthorized, map[string]string{"type": "denied_authentication", "message": "invalid token"})
		return
	}
	if r.URL.Path != fmt.Sprintf("/instance/v1/zones/%s/ips/%s", a.zone, a.ipID) {
		answer(http.StatusNotFound, map[string]string{"type": "not_found", "resource": "instance_ip"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		answer(http.StatusOK, a.ipJSON())
	case http.MethodPatch:
		var body map[string]*string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			answer(http.StatusBadRequest, map[string]string{"type": "invalid_arguments", "message": err.Error()})
			return
		}
		target, given := body["server"]
		if !given {
			answer(http.StatusOK, a.ipJSON())
			return
		}
		to := ""
		if target != nil {
			s, ok := a.servers[*target]
			if !ok {
				answer(http.StatusNotFound, map[string]string{"type": "not_found", "resource": "instance_server"})
				return
			}
			if err := a.route(s); err != nil {
				answer(http.StatusInternalServerError, map[string]string{"type": "internal", "message": err.Error()})
				return
			}
			to = s.id
		}
		if to != a.holder {
			a.moves = append(a.moves, scwMove{AtMs: time.Now().UnixMilli(), From: a.holder, To: to})
			a.holder = to
		}
		answer(http.StatusOK, a.ipJSON())
	default:
		answer(http.StatusMethodNotAllowed, map[string]string{"type": "invalid_request"})
	}
}

func runScwAPI(args []string) {
	fs := flag.NewFlagSet("scw-api", flag.ExitOnError)
	listen := fs.String("listen", "", "address:port")
	token := fs.String("token", "", "the API key's secret key")
	zone := fs.String("zone", "", "zone of the flexible IP")
	ipID := fs.String("ip-id", "", "the flexible IP's ID")
	address := fs.String("address", "", "the flexible IP's address")
	servers := fs.String("servers", "", "id=name/namespace/mac,... of the servers the IP may be routed to")
	neighbors := fs.String("neighbors", "", "namespace,... on the bridge whose packets to the address follow it")
	holder := fs.String("holder", "", "the server the IP is routed to at the start")
	fs.Parse(args)
	a := &scwAPI{token: *token, zone: *zone, ipID: *ipID, address: *address, servers: map[string]scwServer{}, neighbors: strings.Split(*neighbors, ","), holder: *holder}
	for _, entry := range strings.Split(*servers, ",") {
		id, rest, ok := strings.Cut(entry, "=")
		parts := strings.Split(rest, "/")
		if !ok || len(parts) != 3 {
			fail("scw-api: bad -servers entry %q", entry)
		}
		a.servers[id] = scwServer{id: id, name: parts[0], ns: parts[1], mac: parts[2]}
	}
	if s, ok := a.servers[a.holder]; ok {
		if err := a.route(s); err != nil {
			fail("scw-api: %v", err)
		}
	}
	go func() {
		if err := http.ListenAndServe(*listen, a); err != nil {
			fail("scw-api: %v", err)
		}
	}()
	commands(func(args []string) any {
		a.mu.Lock()
		defer a.mu.Unlock()
		switch args[0] {
		case "state":
			return map[string]any{"holder": a.holder, "moves": a.moves, "requests": a.requests, "refused": a.refused}
		}
		return errorReply{Error: "unknown command " + args[0]}
	})
}
