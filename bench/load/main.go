// bench-load: the UDP sender of `npm run bench` (bench/gateway.ts). It runs in the sender namespace, which owns the
// device subnet (`ip route add local <subnet> dev lo`), and sends datagrams to the ingress address from many device
// source addresses, chosen per datagram with IP_PKTINFO, in sendmmsg batches.
//
// Commands, one per line on stdin, each answered by one JSON line on stdout:
//
//	send RATE COUNT SOURCES OFFSET
//	    COUNT datagrams, the k-th from device OFFSET + (k mod SOURCES), paced at RATE per second (0: as fast as the
//	    kernel takes them). Answer: {"sent", "seconds", "rate", "errors"}.
//
// Device i has the address BASE + 1 + i. The receiving side counts with nft counters, so this program only sends.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

const (
	batch       = 64
	payloadSize = 64
)

type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

func sendmmsg(fd int, msgs []mmsghdr) (int, error) {
	r, _, e := syscall.Syscall6(sysSendmmsg, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

type sender struct {
	fd   int
	base uint32
	dst  syscall.RawSockaddrInet4
}

type result struct {
	Sent    uint64  `json:"sent"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	Errors  uint64  `json:"errors"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-load: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	base := flag.String("base", "", "the address before the first device (device i is BASE + 1 + i)")
	dst := flag.String("dst", "", "destination address:port")
	port := flag.Int("port", 40000, "source UDP port of every device")
	flag.Parse()
	b, err := netip.ParseAddr(*base)
	if err != nil || !b.Is4() {
		fail("need -base as an IPv4 address")
	}
	d, err := netip.ParseAddrPort(*dst)
	if err != nil || !d.Addr().Is4() {
		fail("need -dst as IPv4 address:port")
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		fail("socket: %v", err)
	}
	for _, opt := range [][3]int{
		{syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, 8 << 20},
		{syscall.SOL_IP, syscall.IP_TRANSPARENT, 1},
		{syscall.SOL_IP, syscall.IP_FREEBIND, 1},
	} {
		if err := syscall.SetsockoptInt(fd, opt[0], opt[1], opt[2]); err != nil {
			fail("setsockopt %v: %v", opt, err)
		}
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: *port}); err != nil {
		fail("bind: %v", err)
	}
	a4 := b.As4()
	s := &sender{fd: fd, base: binary.BigEndian.Uint32(a4[:])}
	s.dst.Family = syscall.AF_INET
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.dst.Port))[:], d.Port())
	s.dst.Addr = d.Addr().As4()

	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] != "send" || len(f) != 5 {
			_ = out.Encode(map[string]string{"error": "usage: send RATE COUNT SOURCES OFFSET"})
			continue
		}
		rate, err1 := strconv.ParseFloat(f[1], 64)
		count, err2 := strconv.ParseUint(f[2], 10, 64)
		sources, err3 := strconv.ParseUint(f[3], 10, 32)
		offset, err4 := strconv.ParseUint(f[4], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || sources == 0 || rate < 0 {
			_ = out.Encode(map[string]string{"error": "bad send arguments: " + in.Text()})
			continue
		}
		_ = out.Encode(s.send(rate, count, uint32(sources), uint32(offset)))
	}
}

// send paces COUNT datagrams at RATE per second, never more than one batch ahead of rate x elapsed.
func (s *sender) send(rate float64, total uint64, sources, offset uint32) result {
	payloads := make([]byte, batch*payloadSize)
	iovs := make([]syscall.Iovec, batch)
	oobLen := syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Inet4Pktinfo{})))
	oobs := make([]byte, batch*oobLen)
	msgs := make([]mmsghdr, batch)
	for i := range msgs {
		p := payloads[i*payloadSize : (i+1)*payloadSize]
		iovs[i] = syscall.Iovec{Base: &p[0]}
		iovs[i].SetLen(payloadSize)
		o := oobs[i*oobLen : (i+1)*oobLen]
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&o[0]))
		h.Level = syscall.SOL_IP
		h.Type = syscall.IP_PKTINFO
		h.SetLen(syscall.CmsgLen(int(unsafe.Sizeof(syscall.Inet4Pktinfo{}))))
		msgs[i].hdr = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&s.dst)), Namelen: syscall.SizeofSockaddrInet4, Iov: &iovs[i], Iovlen: 1, Control: &o[0]}
		msgs[i].hdr.SetControllen(oobLen)
	}
	start := time.Now()
	var sent, errs uint64
	for sent < total {
		if rate > 0 {
			for {
				allowed := uint64(time.Since(start).Seconds()*rate) + batch
				if sent+batch <= allowed || sent == 0 {
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		k := uint64(batch)
		if total-sent < k {
			k = total - sent
		}
		for i := uint64(0); i < k; i++ {
			seq := sent + i
			device := offset + uint32(seq%uint64(sources))
			binary.BigEndian.PutUint64(payloads[i*payloadSize:], seq)
			o := oobs[int(i)*oobLen:]
			info := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&o[syscall.CmsgLen(0)]))
			var addr [4]byte
			binary.BigEndian.PutUint32(addr[:], s.base+1+device)
			*info = syscall.Inet4Pktinfo{Spec_dst: addr}
		}
		done := uint64(0)
		for done < k {
			m, err := sendmmsg(s.fd, msgs[done:k])
			if err != nil {
				if err == syscall.EAGAIN || err == syscall.ENOBUFS || err == syscall.EINTR {
					time.Sleep(20 * time.Microsecond)
					continue
				}
				// A datagram the kernel refused counts as sent and lost.
				errs++
				m = 1
			}
			done += uint64(m)
		}
		sent += k
	}
	secs := time.Since(start).Seconds()
	return result{Sent: sent, Seconds: secs, Rate: float64(sent) / secs, Errors: errs}
}
