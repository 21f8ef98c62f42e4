package main

import (
	"bufio"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The decoder stand-in is a pod's UDP server: it records the source address of every
// datagram and, on request, sends one downlink to each device it saw, to the address it
// saw, from its own listening socket (as a decoder replying to a device would).
type decoder struct {
	fd      int
	base    netip.Addr
	devices uint32
	devPort int
	ports   int
	mu      sync.Mutex
	rounds  map[uint32]*roundStats
}

type roundStats struct {
	Datagrams uint64 `json:"datagrams"`
	SourceOK  uint64 `json:"sourceOk"`
	SourceBad uint64 `json:"sourceBad"`
	// Datagrams whose source port was the device's own port (Envoy substitutes its own).
	DevicePort uint64            `json:"devicePort"`
	Devices    uint64            `json:"devices"`
	Buckets    map[string]uint64 `json:"buckets"`
	BadSample  []string          `json:"badSample"`
	seen       map[uint32]*syscall.SockaddrInet4
	// When each device's first datagram of the round was sent (its payload's stamp) and received here,
	// Unix nanoseconds: when a device arrived on this node (the bench's recovery part).
	first map[uint32][2]int64
}

func runDecoder(args []string) {
	fs := flag.NewFlagSet("decoder", flag.ExitOnError)
	listen := fs.String("listen", "", "address:port to listen on")
	base := fs.String("base", "", "first device address")
	n := fs.Int("devices", 0, "number of devices")
	devPort := fs.Int("device-port", 20000, "first device UDP port")
	ports := fs.Int("device-ports", 1, "number of device ports")
	fs.Parse(args)
	b, err := netip.ParseAddr(*base)
	if err != nil || *n <= 0 {
		fail("decoder: need -base and -devices")
	}
	la, err := parseHostPort(*listen)
	if err != nil {
		fail("decoder: %v", err)
	}
	fd, err := udpSocket()
	if err != nil {
		fail("decoder socket: %v", err)
	}
	must(syscall.Bind(fd, la))
	d := &decoder{fd: fd, base: b, devices: uint32(*n), devPort: *devPort, ports: *ports, rounds: map[uint32]*roundStats{}}
	go d.receive()
	commands(d.handle)
}

func (d *decoder) round(r uint32) *roundStats {
	s, ok := d.rounds[r]
	if !ok {
		s = &roundStats{Buckets: map[string]uint64{}, BadSample: []string{}, seen: map[uint32]*syscall.SockaddrInet4{}, first: map[uint32][2]int64{}}
		d.rounds[r] = s
	}
	return s
}

func (d *decoder) receive() {
	buf := make([]byte, 2048)
	for {
		n, from, err := syscall.Recvfrom(d.fd, buf, 0)
		if err != nil {
			continue
		}
		src, ok4 := from.(*syscall.SockaddrInet4)
		dg, ok := decode(buf[:n])
		if !ok || !ok4 || dg.kind != kindUplink {
			continue
		}
		d.mu.Lock()
		s := d.round(dg.round)
		s.Datagrams++
		s.Buckets[strconv.FormatInt(dg.sentUnix/bucketNanos, 10)]++
		if dg.device < d.devices && deviceIndex(d.base, src.Addr) == int64(dg.device) {
			s.SourceOK++
			if src.Port == devicePort(d.devPort, d.ports, dg.device) {
				s.DevicePort++
			}
			if _, dup := s.seen[dg.device]; !dup {
				s.seen[dg.device] = &syscall.SockaddrInet4{Port: src.Port, Addr: src.Addr}
				s.first[dg.device] = [2]int64{dg.sentUnix, time.Now().UnixNano()}
				s.Devices++
			}
		} else {
			s.SourceBad++
			if len(s.BadSample) < 5 {
				s.BadSample = append(s.BadSample, fmt.Sprintf("device %d from %s", dg.device, sockaddrString(src)))
			}
		}
		d.mu.Unlock()
	}
}

func (d *decoder) handle(args []string) any {
	if len(args) < 2 {
		return errorReply{"usage: report|devices|downlink|forget ROUND ..."}
	}
	r64, _ := strconv.ParseUint(args[1], 10, 32)
	r := uint32(r64)
	switch args[0] {
	case "report": // report ROUND
		d.mu.Lock()
		defer d.mu.Unlock()
		s := *d.round(r)
		s.Buckets = make(map[string]uint64, len(s.Buckets))
		for k, v := range d.round(r).Buckets {
			s.Buckets[k] = v
		}
		s.BadSample = append([]string{}, s.BadSample...)
		return s
	case "devices": // devices ROUND FILE: write the device indexes seen, one per line
		if len(args) != 3 {
			return errorReply{"usage: devices ROUND FILE"}
		}
		d.mu.Lock()
		s := d.round(r)
		idx := make([]uint32, 0, len(s.seen))
		for i := range s.seen {
			idx = append(idx, i)
		}
		d.mu.Unlock()
		f, err := os.Create(args[2])
		if err != nil {
			return errorReply{err.Error()}
		}
		w := bufio.NewWriter(f)
		for _, i := range idx {
			fmt.Fprintln(w, i)
		}
		w.Flush()
		f.Close()
		return map[string]int{"written": len(idx)}
	case "firsts": // firsts ROUND FILE: per device seen, "device sent-ns received-ns" of its first datagram
		if len(args) != 3 {
			return errorReply{"usage: firsts ROUND FILE"}
		}
		d.mu.Lock()
		s := d.round(r)
		lines := make([]string, 0, len(s.first))
		for i, t := range s.first {
			lines = append(lines, fmt.Sprintf("%d %d %d", i, t[0], t[1]))
		}
		d.mu.Unlock()
		if err := os.WriteFile(args[2], []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return errorReply{err.Error()}
		}
		return map[string]int{"written": len(lines)}
	case "downlink": // downlink ROUND RATE [observed]: one datagram to each device seen in ROUND
		// To the device IP at the device's own port, as a backend downlink is addressed; with
		// "observed", to the source address the decoder saw, as a naive reply would be.
		if len(args) != 3 && !(len(args) == 4 && args[3] == "observed") {
			return errorReply{"usage: downlink ROUND RATE [observed]"}
		}
		observed := len(args) == 4
		rate, _ := strconv.ParseFloat(args[2], 64)
		d.mu.Lock()
		targets := make(map[uint32]*syscall.SockaddrInet4, len(d.round(r).seen))
		for i, a := range d.round(r).seen {
			if observed {
				targets[i] = a
			} else {
				targets[i] = &syscall.SockaddrInet4{Port: devicePort(d.devPort, d.ports, i), Addr: a.Addr}
			}
		}
		d.mu.Unlock()
		buf := make([]byte, payloadSize)
		start := time.Now()
		var sent, errs uint64
		for dev, to := range targets {
			for float64(sent) > time.Since(start).Seconds()*rate {
				time.Sleep(200 * time.Microsecond)
			}
			datagram{kindDownlink, dev, time.Now().UnixNano(), r}.encode(buf)
			if err := syscall.Sendto(d.fd, buf, 0, to); err != nil {
				errs++
			}
			sent++
		}
		return map[string]uint64{"sent": sent, "errors": errs}
	case "forget": // forget ROUND
		d.mu.Lock()
		delete(d.rounds, r)
		d.mu.Unlock()
		return map[string]bool{"ok": true}
	}
	return errorReply{"unknown command " + args[0]}
}
