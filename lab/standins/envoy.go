package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// ENVOY STAND-IN. It does what Envoy's udp_proxy with use_original_src_ip does on the
// data path, nothing more: one session per downstream source ip:port, each session an
// upstream UDP socket with IP_TRANSPARENT, neither bound nor connected, and every datagram
// sent with sendmsg and an IP_PKTINFO source address = the device's IP (Envoy's
// UdpActiveSession: "When use_original_src_ip_ is set, the socket should not be connected
// since the source IP will be changed"; writeToSocket with local_ip = the peer's IP). The
// kernel binds each session socket to an ephemeral port on its first send, so the upstream
// sees the device IP with Envoy's port, and a node holds at most as many sessions as it has
// ephemeral ports. Sessions idle for -idle-timeout are closed, as Envoy's idle_timeout does.
// The upstream is chosen by a hash of the source IP over the EDS endpoints (Envoy: Maglev;
// any stable hash shows the same routing facts here).
//
// With -max-connections N (N > 0) the stand-in also does what the cluster's circuit breaker
// (thresholds max_connections, priority DEFAULT) does to udp_proxy, as read in envoyproxy/envoy
// source/extensions/filters/udp/udp_proxy/udp_proxy_filter.cc (commit 01e3bfd3eea6053ef2ceb01a55543572ce76b2b8,
// and the same branch in the later revision that splits UdpActiveSession from TunnelingActiveSession):
//   - ClusterInfo::createSession is reached only for a datagram whose source ip:port has no session
//     (StickySessionClusterInfo::onData looks the session up first). It asks the cluster's
//     connections resource canCreate() (source/common/upstream/resource_manager_impl.h: current < max),
//     and when it cannot, increments cluster.<name>.upstream_cx_overflow and returns nullptr: onData
//     returns StopIteration and that datagram is dropped. No session is made, so nothing of
//     udp.<prefix>.downstream_sess_total/_active/_rx_datagrams/_rx_bytes counts it (those are counted
//     in the ActiveSession constructor and ActiveSession::onData); the next datagram from the same
//     source tries again and, still full, is dropped and counted again: the counter counts datagrams.
//   - Datagrams of existing sessions never reach that check: they are forwarded as before.
//   - The circuit breaker is checked before a host is chosen (upstream_cx_none_healthy comes after).
//   - A session's slot is given back when it ends (idle_timeout, or its host leaving EDS), so a
//     source refused while the budget was full gets a session once one has ended.
//   - circuit_breakers.default.cx_open is 1 while current >= max, remaining_cx is max - current
//     (ManagedResourceImpl::inc/decBy; remaining_cx is published with track_remaining: true).
//
// Envoy counts one resource per cluster across its worker threads; each stand-in process counts its
// own, so a budget is exact with one process (-max-connections is for one worker).
//
// With -stats-listen ADDR the stand-in serves GET /stats/prometheus with these counters under the
// names Envoy's Prometheus output gives them (udp.<stat_prefix>.X as envoy_udp_X{envoy_udp_prefix},
// cluster.<name>.X as envoy_cluster_X{envoy_cluster_name}; counters keep their names, no _total),
// where an operator's Prometheus scrapes Envoy's stats listener. Without these flags nothing
// changes: no budget, no listener.
type envoyStandin struct {
	fd        int
	mu        sync.Mutex
	endpoints []string
	upstream  map[string]*syscall.SockaddrInet4
	sessions  map[uint64]session
	stats     envoyStats
	maxConn   int
	envoy     envoyCounters
}

// envoyCounters are Envoy's own counters for the stats listener; unlike envoyStats they are never
// reset (Envoy's counters only grow), so a scraper's increase() is right across close-sessions.
type envoyCounters struct {
	sessTotal   uint64 // udp.<prefix>.downstream_sess_total
	sessRx      uint64 // udp.<prefix>.downstream_sess_rx_datagrams
	sessRxBytes uint64 // udp.<prefix>.downstream_sess_rx_bytes
	idleTimeout uint64 // udp.<prefix>.idle_timeout
	overflow    uint64 // cluster.<name>.upstream_cx_overflow
	noneHealthy uint64 // cluster.<name>.upstream_cx_none_healthy
	txDatagrams uint64 // cluster.<name>.udp.sess_tx_datagrams
	txErrors    uint64 // cluster.<name>.udp.sess_tx_errors
	txBytes     uint64 // cluster.<name>.upstream_cx_tx_bytes_total
}

type session struct {
	fd       int
	upstream string
	lastUsed int64
}

type envoyStats struct {
	Received   uint64   `json:"received"`
	Forwarded  uint64   `json:"forwarded"`
	SendErrors uint64   `json:"sendErrors"`
	NoUpstream uint64   `json:"noUpstream"`
	Sessions   int      `json:"sessions"`
	Endpoints  []string `json:"endpoints"`
	Created    uint64   `json:"created"`
	Expired    uint64   `json:"expired"`
	Overflow   uint64   `json:"overflow"`
	SetupError string   `json:"setupError,omitempty"`
}

func runEnvoy(args []string) {
	fs := flag.NewFlagSet("envoy-standin", flag.ExitOnError)
	listen := fs.String("listen", "", "listener address:port")
	eds := fs.String("eds", "", "EDS file (DiscoveryResponse or ClusterLoadAssignment JSON)")
	idle := fs.Duration("idle-timeout", 60*time.Second, "session idle timeout")
	maxConn := fs.Int("max-connections", 0, "the cluster circuit breaker's max_connections (0: none)")
	statsListen := fs.String("stats-listen", "", "address:port of an HTTP listener serving /stats/prometheus (empty: none)")
	statPrefix := fs.String("stat-prefix", "iot_udp", "udp_proxy stat_prefix, for the stats listener")
	clusterName := fs.String("cluster-name", "decoder", "the upstream cluster's name, for the stats listener")
	fs.Parse(args)
	la, err := parseHostPort(*listen)
	if err != nil {
		fail("envoy-standin: %v", err)
	}
	raiseFileLimit(1 << 20)
	fd, err := udpSocket()
	if err != nil {
		fail("envoy-standin socket: %v", err)
	}
	// Like Envoy's workers (--concurrency), several stand-in processes share the listener
	// with SO_REUSEPORT; the kernel keeps each device's 4-tuple on one worker.
	must(syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1))
	must(syscall.Bind(fd, la))
	e := &envoyStandin{fd: fd, sessions: map[uint64]session{}, maxConn: *maxConn}
	if err := e.load(*eds); err != nil {
		fail("envoy-standin: %v", err)
	}
	if *statsListen != "" {
		ln, err := net.Listen("tcp", *statsListen)
		if err != nil {
			fail("envoy-standin stats listener: %v", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/stats/prometheus", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			w.Write([]byte(e.prometheus(*statPrefix, *clusterName)))
		})
		go http.Serve(ln, mux)
	}
	go e.receive()
	go e.expire(*idle)
	commands(e.handle)
}

// load reads the endpoints; sessions whose upstream left the set are closed, as Envoy
// drains sessions of removed hosts.
func (e *envoyStandin) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	eps, err := edsEndpoints(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	ups := map[string]*syscall.SockaddrInet4{}
	for _, ep := range eps {
		sa, err := parseHostPort(ep)
		if err != nil {
			return err
		}
		ups[ep] = sa
	}
	sort.Strings(eps)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.endpoints, e.upstream = eps, ups
	for k, s := range e.sessions {
		if _, ok := ups[s.upstream]; !ok {
			syscall.Close(s.fd)
			delete(e.sessions, k)
		}
	}
	return nil
}

// prometheus renders the counters as Envoy's /stats/prometheus does: one "# TYPE" line per
// metric, names sorted, tags from Envoy's default tag extractors.
func (e *envoyStandin) prometheus(prefix, cluster string) string {
	e.mu.Lock()
	c := e.envoy
	active := uint64(len(e.sessions))
	endpoints := uint64(len(e.endpoints))
	maxConn := e.maxConn
	e.mu.Unlock()
	udp := fmt.Sprintf(`envoy_udp_prefix="%s"`, prefix)
	cl := fmt.Sprintf(`envoy_cluster_name="%s"`, cluster)
	type metric struct {
		name, kind, labels string
		value              uint64
	}
	ms := []metric{
		{"envoy_udp_downstream_sess_total", "counter", udp, c.sessTotal},
		{"envoy_udp_downstream_sess_rx_datagrams", "counter", udp, c.sessRx},
		{"envoy_udp_downstream_sess_rx_bytes", "counter", udp, c.sessRxBytes},
		// The stand-in relays nothing back (decoders answer devices straight from the pod).
		{"envoy_udp_downstream_sess_tx_datagrams", "counter", udp, 0},
		// Every datagram reaching the stand-in comes from a device: the bootstrap's matcher is not modelled.
		{"envoy_udp_downstream_sess_no_route", "counter", udp, 0},
		{"envoy_udp_idle_timeout", "counter", udp, c.idleTimeout},
		{"envoy_udp_downstream_sess_active", "gauge", udp, active},
		{"envoy_cluster_upstream_cx_overflow", "counter", cl, c.overflow},
		{"envoy_cluster_upstream_cx_none_healthy", "counter", cl, c.noneHealthy},
		{"envoy_cluster_upstream_cx_tx_bytes_total", "counter", cl, c.txBytes},
		{"envoy_cluster_udp_sess_tx_datagrams", "counter", cl, c.txDatagrams},
		{"envoy_cluster_udp_sess_tx_errors", "counter", cl, c.txErrors},
		{"envoy_cluster_udp_sess_rx_datagrams", "counter", cl, 0},
		{"envoy_cluster_membership_total", "gauge", cl, endpoints},
		{"envoy_cluster_membership_healthy", "gauge", cl, endpoints},
	}
	if maxConn > 0 {
		open, remaining := uint64(0), uint64(0)
		if active >= uint64(maxConn) {
			open = 1
		} else {
			remaining = uint64(maxConn) - active
		}
		ms = append(ms,
			metric{"envoy_cluster_circuit_breakers_default_cx_open", "gauge", cl, open},
			metric{"envoy_cluster_circuit_breakers_default_remaining_cx", "gauge", cl, remaining},
		)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "# TYPE %s %s\n%s{%s} %d\n", m.name, m.kind, m.name, m.labels, m.value)
	}
	return b.String()
}

// edsEndpoints accepts the protobuf-JSON forms Envoy reads from a path_config_source file:
// a DiscoveryResponse whose resources are ClusterLoadAssignments, or one
// ClusterLoadAssignment; field names in either snake_case or lowerCamelCase.
func edsEndpoints(b []byte) ([]string, error) {
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var clas []any
	if rs, ok := doc["resources"].([]any); ok {
		clas = rs
	} else {
		clas = []any{doc}
	}
	out := []string{}
	for _, c := range clas {
		cla, _ := c.(map[string]any)
		for _, l := range list(cla, "endpoints") {
			for _, lbe := range list(l, "lb_endpoints", "lbEndpoints") {
				if hs, ok := field(lbe, "health_status", "healthStatus").(string); ok && hs != "HEALTHY" && hs != "UNKNOWN" {
					continue
				}
				ep, _ := lbe["endpoint"].(map[string]any)
				addr, _ := ep["address"].(map[string]any)
				sa, _ := field(addr, "socket_address", "socketAddress").(map[string]any)
				ip, _ := sa["address"].(string)
				port, _ := field(sa, "port_value", "portValue").(float64)
				if ip == "" || port == 0 {
					return nil, fmt.Errorf("endpoint without socket address: %v", lbe)
				}
				out = append(out, fmt.Sprintf("%s:%d", ip, int(port)))
			}
		}
	}
	return out, nil
}

func field(m map[string]any, names ...string) any {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v
		}
	}
	return nil
}

func list(m map[string]any, names ...string) []map[string]any {
	raw, _ := field(m, names...).([]any)
	out := []map[string]any{}
	for _, r := range raw {
		if mm, ok := r.(map[string]any); ok {
			out = append(out, mm)
		}
	}
	return out
}

func (e *envoyStandin) receive() {
	buf := make([]byte, 2048)
	for {
		n, from, err := syscall.Recvfrom(e.fd, buf, 0)
		if err != nil {
			continue
		}
		src, ok := from.(*syscall.SockaddrInet4)
		if !ok {
			continue
		}
		e.forward(src, buf[:n])
	}
}

func (e *envoyStandin) forward(src *syscall.SockaddrInet4, payload []byte) {
	key := uint64(src.Addr[0])<<40 | uint64(src.Addr[1])<<32 | uint64(src.Addr[2])<<24 | uint64(src.Addr[3])<<16 | uint64(src.Port)
	now := time.Now().UnixNano()
	e.mu.Lock()
	e.stats.Received++
	s, ok := e.sessions[key]
	if !ok {
		// The circuit breaker comes first, as in ClusterInfo::createSession (see the type's comment).
		if e.maxConn > 0 && len(e.sessions) >= e.maxConn {
			e.stats.Overflow++
			e.envoy.overflow++
			e.mu.Unlock()
			return
		}
		if len(e.endpoints) == 0 {
			e.stats.NoUpstream++
			e.envoy.noneHealthy++
			e.mu.Unlock()
			return
		}
		h := fnv.New32a()
		h.Write(src.Addr[:])
		up := e.endpoints[h.Sum32()%uint32(len(e.endpoints))]
		fd, err := upstreamSocket()
		if err != nil {
			e.noteError(err)
			e.mu.Unlock()
			return
		}
		s = session{fd: fd, upstream: up}
		e.stats.Created++
		e.envoy.sessTotal++
	}
	e.envoy.sessRx++
	e.envoy.sessRxBytes += uint64(len(payload))
	s.lastUsed = now
	e.sessions[key] = s
	to := e.upstream[s.upstream]
	e.mu.Unlock()
	// The device IP as source, chosen per datagram (IP_PKTINFO), as Envoy's writeToSocket does.
	oob := make([]byte, syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Inet4Pktinfo{}))))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = syscall.SOL_IP
	h.Type = syscall.IP_PKTINFO
	h.SetLen(syscall.CmsgLen(int(unsafe.Sizeof(syscall.Inet4Pktinfo{}))))
	*(*syscall.Inet4Pktinfo)(unsafe.Pointer(&oob[syscall.CmsgLen(0)])) = syscall.Inet4Pktinfo{Spec_dst: src.Addr}
	err := syscall.Sendmsg(s.fd, payload, oob, to, 0)
	e.mu.Lock()
	if err != nil {
		e.noteError(err)
		e.envoy.txErrors++
	} else {
		e.stats.Forwarded++
		e.envoy.txDatagrams++
		e.envoy.txBytes += uint64(len(payload))
	}
	e.mu.Unlock()
}

// noteError counts a failed session set-up or send (EAGAIN on the first send means no
// ephemeral port was left for the session socket).
func (e *envoyStandin) noteError(err error) {
	e.stats.SendErrors++
	if e.stats.SetupError == "" {
		e.stats.SetupError = err.Error()
	}
}

func (e *envoyStandin) expire(idle time.Duration) {
	for range time.Tick(idle / 4) {
		limit := time.Now().Add(-idle).UnixNano()
		e.mu.Lock()
		for k, s := range e.sessions {
			if s.lastUsed < limit {
				syscall.Close(s.fd)
				delete(e.sessions, k)
				e.stats.Expired++
				e.envoy.idleTimeout++
			}
		}
		e.mu.Unlock()
	}
}

// upstreamSocket is Envoy's session socket with use_original_src_ip: IP_TRANSPARENT, unbound.
func upstreamSocket() (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_IP, syscall.IP_TRANSPARENT, 1); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (e *envoyStandin) handle(args []string) any {
	switch args[0] {
	case "stats":
		e.mu.Lock()
		defer e.mu.Unlock()
		s := e.stats
		s.Sessions = len(e.sessions)
		s.Endpoints = e.endpoints
		return s
	case "eds": // eds FILE: reload the endpoints
		if len(args) != 2 {
			return errorReply{"usage: eds FILE"}
		}
		if err := e.load(args[1]); err != nil {
			return errorReply{err.Error()}
		}
		return map[string]any{"endpoints": e.endpoints}
	case "close-sessions":
		e.mu.Lock()
		defer e.mu.Unlock()
		n := len(e.sessions)
		for k, s := range e.sessions {
			syscall.Close(s.fd)
			delete(e.sessions, k)
		}
		e.stats = envoyStats{}
		return map[string]int{"closed": n}
	}
	return errorReply{"unknown command " + args[0]}
}

// SO_REUSEPORT is missing from the syscall package's Linux constants.
const soReusePort = 0xf
