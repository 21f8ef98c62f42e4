package main

import (
	"encoding/binary"
	"flag"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// The fleet namespace owns the whole device subnet (`ip route add local <subnet> dev lo`),
// so one socket bound to 0.0.0.0:<device port> receives every device's downlinks, and
// IP_PKTINFO on send picks each datagram's device source address.
type fleet struct {
	fds      []int // one socket per device port
	base     netip.Addr
	devices  uint32
	port     int
	ports    int
	dst      *syscall.SockaddrInet4
	mu       sync.Mutex
	got      []bool // per device: a valid downlink arrived
	datagram uint64
	wrongDst uint64
	sources  map[string]uint64
}

func runDevsim(args []string) {
	fs := flag.NewFlagSet("devsim", flag.ExitOnError)
	base := fs.String("base", "", "first device address")
	n := fs.Int("devices", 0, "number of devices")
	port := fs.Int("port", 20000, "first device UDP port")
	ports := fs.Int("ports", 1, "number of device ports")
	dst := fs.String("dst", "", "ingress address:port")
	fs.Parse(args)
	b, err := netip.ParseAddr(*base)
	if err != nil || *n <= 0 {
		fail("devsim: need -base and -devices")
	}
	d, err := parseHostPort(*dst)
	if err != nil {
		fail("devsim: %v", err)
	}
	f := &fleet{base: b, devices: uint32(*n), port: *port, ports: *ports, dst: d, got: make([]bool, *n), sources: map[string]uint64{}}
	for i := 0; i < *ports; i++ {
		fd, err := udpSocket()
		if err != nil {
			fail("devsim socket: %v", err)
		}
		must(syscall.SetsockoptInt(fd, syscall.SOL_IP, syscall.IP_TRANSPARENT, 1))
		must(syscall.SetsockoptInt(fd, syscall.SOL_IP, syscall.IP_FREEBIND, 1))
		must(syscall.SetsockoptInt(fd, syscall.SOL_IP, syscall.IP_PKTINFO, 1))
		must(syscall.Bind(fd, &syscall.SockaddrInet4{Port: *port + i}))
		f.fds = append(f.fds, fd)
		go f.receive(fd, *port+i)
	}
	commands(f.handle)
}

func must(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func (f *fleet) receive(fd, localPort int) {
	buf := make([]byte, 2048)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := syscall.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			continue
		}
		dg, ok := decode(buf[:n])
		src, ok4 := from.(*syscall.SockaddrInet4)
		if !ok || !ok4 || dg.kind != kindDownlink {
			continue
		}
		dstAddr, haveDst := pktinfoDst(oob[:oobn])
		f.mu.Lock()
		f.datagram++
		if !haveDst || dg.device >= f.devices || deviceIndex(f.base, dstAddr) != int64(dg.device) || devicePort(f.port, f.ports, dg.device) != localPort {
			f.wrongDst++
		} else {
			f.got[dg.device] = true
		}
		f.sources[sockaddrString(src)]++
		f.mu.Unlock()
	}
}

func pktinfoDst(oob []byte) ([4]byte, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return [4]byte{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_IP && m.Header.Type == syscall.IP_PKTINFO && len(m.Data) >= int(unsafe.Sizeof(syscall.Inet4Pktinfo{})) {
			info := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&m.Data[0]))
			return info.Addr, true
		}
	}
	return [4]byte{}, false
}

type sendResult struct {
	Sent    uint64            `json:"sent"`
	Seconds float64           `json:"seconds"`
	Rate    float64           `json:"rate"`
	Errors  uint64            `json:"errors"`
	Buckets map[string]uint64 `json:"buckets,omitempty"`
}

type downlinkResult struct {
	Devices   uint64            `json:"devices"`
	Datagrams uint64            `json:"datagrams"`
	WrongDst  uint64            `json:"wrongDst"`
	Sources   map[string]uint64 `json:"sources"`
	Missing   []uint32          `json:"missingSample"`
}

func (f *fleet) handle(args []string) any {
	switch args[0] {
	case "send": // send ROUND RATE [COUNT [FROM]]: COUNT datagrams cycling over the devices from device FROM (default one each, from 0)
		if len(args) < 3 || len(args) > 5 {
			return errorReply{"usage: send ROUND RATE [COUNT [FROM]]"}
		}
		round, _ := strconv.ParseUint(args[1], 10, 32)
		rate, _ := strconv.ParseFloat(args[2], 64)
		count := uint64(f.devices)
		if len(args) >= 4 {
			count, _ = strconv.ParseUint(args[3], 10, 64)
		}
		from := uint64(0)
		if len(args) == 5 {
			from, _ = strconv.ParseUint(args[4], 10, 64)
		}
		return f.sendFrom(uint32(round), rate, count, from, nil)
	case "stream": // stream ROUND RATE SECONDS: cycle over the devices, counting per send-time bucket
		if len(args) != 4 {
			return errorReply{"usage: stream ROUND RATE SECONDS"}
		}
		round, _ := strconv.ParseUint(args[1], 10, 32)
		rate, _ := strconv.ParseFloat(args[2], 64)
		secs, _ := strconv.ParseFloat(args[3], 64)
		buckets := map[string]uint64{}
		return f.send(uint32(round), rate, uint64(rate*secs), buckets)
	case "downlinks":
		f.mu.Lock()
		defer f.mu.Unlock()
		r := downlinkResult{Datagrams: f.datagram, WrongDst: f.wrongDst, Sources: f.sources, Missing: []uint32{}}
		for i, g := range f.got {
			if g {
				r.Devices++
			} else if len(r.Missing) < 10 {
				r.Missing = append(r.Missing, uint32(i))
			}
		}
		srcs := make(map[string]uint64, len(f.sources))
		for k, v := range f.sources {
			srcs[k] = v
		}
		r.Sources = srcs
		return r
	case "reset-downlinks":
		f.mu.Lock()
		defer f.mu.Unlock()
		f.got = make([]bool, f.devices)
		f.datagram, f.wrongDst, f.sources = 0, 0, map[string]uint64{}
		return map[string]bool{"ok": true}
	}
	return errorReply{"unknown command " + args[0]}
}

// send paces total datagrams at rate per second in sendmmsg batches.
func (f *fleet) send(round uint32, rate float64, total uint64, buckets map[string]uint64) sendResult {
	return f.sendFrom(round, rate, total, 0, buckets)
}

// sendFrom is send starting the cycle at device `from` (a later group of devices on its own).
func (f *fleet) sendFrom(round uint32, rate float64, total, from uint64, buckets map[string]uint64) sendResult {
	const batch = 64
	payloads := make([]byte, batch*payloadSize)
	iovs := make([]syscall.Iovec, batch)
	oobs := make([]byte, batch*syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Inet4Pktinfo{}))))
	oobLen := len(oobs) / batch
	msgs := make([]mmsghdr, batch)
	var dst syscall.RawSockaddrInet4
	dst.Family = syscall.AF_INET
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&dst.Port))[:], uint16(f.dst.Port))
	dst.Addr = f.dst.Addr
	start := time.Now()
	var sent, errs uint64
	for sent < total {
		// Pace: never ahead of rate*elapsed by more than one batch.
		for {
			allowed := uint64(time.Since(start).Seconds()*rate) + batch
			if sent+batch <= allowed || sent == 0 {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		// One sendmmsg per socket: the batch ends where the device port changes.
		first := uint32((from + sent) % uint64(f.devices))
		port := devicePort(f.port, f.ports, first)
		k := uint64(0)
		for k < batch && sent+k < total && devicePort(f.port, f.ports, uint32((from+sent+k)%uint64(f.devices))) == port {
			k++
		}
		fd := f.fds[port-f.port]
		now := time.Now().UnixNano()
		for i := uint64(0); i < k; i++ {
			dev := uint32((from + sent + i) % uint64(f.devices))
			p := payloads[i*payloadSize : (i+1)*payloadSize]
			datagram{kindUplink, dev, now, round}.encode(p)
			iovs[i] = syscall.Iovec{Base: &p[0]}
			iovs[i].SetLen(payloadSize)
			o := oobs[int(i)*oobLen : int(i+1)*oobLen]
			h := (*syscall.Cmsghdr)(unsafe.Pointer(&o[0]))
			h.Level = syscall.SOL_IP
			h.Type = syscall.IP_PKTINFO
			h.SetLen(syscall.CmsgLen(int(unsafe.Sizeof(syscall.Inet4Pktinfo{}))))
			info := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&o[syscall.CmsgLen(0)]))
			*info = syscall.Inet4Pktinfo{Spec_dst: deviceAddr(f.base, dev)}
			msgs[i].hdr = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&dst)), Namelen: syscall.SizeofSockaddrInet4, Iov: &iovs[i], Iovlen: 1, Control: &o[0]}
			msgs[i].hdr.SetControllen(oobLen)
		}
		done := uint64(0)
		for done < k {
			m, err := sendmmsg(fd, msgs[done:k])
			if err != nil {
				if err == syscall.EAGAIN || err == syscall.ENOBUFS || err == syscall.EINTR {
					time.Sleep(50 * time.Microsecond)
					continue
				}
				// A failed datagram (e.g. a route missing during a gateway restart) counts as sent and lost.
				errs++
				m = 1
			}
			done += uint64(m)
		}
		if buckets != nil {
			buckets[strconv.FormatInt(now/bucketNanos, 10)] += k
		}
		sent += k
	}
	secs := time.Since(start).Seconds()
	return sendResult{Sent: sent, Seconds: secs, Rate: float64(sent) / secs, Errors: errs, Buckets: buckets}
}
