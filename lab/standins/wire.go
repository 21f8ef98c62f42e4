// Package main holds the lab's fast stand-ins: a device fleet simulator, an Envoy
// udp_proxy stand-in and a decoder stand-in. They are driven over stdin (one command
// per line) and answer with one JSON object per line on stdout.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// Datagram layout shared by all stand-ins. The device index lets the decoder check that
// the source address it sees is the device's own address, not a proxy's.
const (
	kindUplink   = 'U'
	kindDownlink = 'D'
	payloadSize  = 48
	bucketNanos  = 100_000_000 // stream statistics are kept per 100 ms of send time
)

type datagram struct {
	kind     byte
	device   uint32
	sentUnix int64
	round    uint32
}

func (d datagram) encode(b []byte) {
	b[0] = d.kind
	binary.BigEndian.PutUint32(b[1:5], d.device)
	binary.BigEndian.PutUint64(b[5:13], uint64(d.sentUnix))
	binary.BigEndian.PutUint32(b[13:17], d.round)
}

func decode(b []byte) (datagram, bool) {
	if len(b) < 17 || (b[0] != kindUplink && b[0] != kindDownlink) {
		return datagram{}, false
	}
	return datagram{b[0], binary.BigEndian.Uint32(b[1:5]), int64(binary.BigEndian.Uint64(b[5:13])), binary.BigEndian.Uint32(b[13:17])}, true
}

func deviceAddr(base netip.Addr, index uint32) [4]byte {
	b := base.As4()
	v := binary.BigEndian.Uint32(b[:]) + index
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], v)
	return out
}

// Devices use ports portBase .. portBase+ports-1, in blocks of devicesPerPortBlock
// consecutive devices, so a decoder can tell a device's own port from a proxy's.
const devicesPerPortBlock = 64

func devicePort(portBase, ports int, index uint32) int {
	return portBase + int(index/devicesPerPortBlock)%ports
}

func deviceIndex(base netip.Addr, addr [4]byte) int64 {
	b := base.As4()
	return int64(binary.BigEndian.Uint32(addr[:])) - int64(binary.BigEndian.Uint32(b[:]))
}

func parseHostPort(s string) (*syscall.SockaddrInet4, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("bad IPv4 address:port %q", s)
	}
	return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
}

func sockaddrString(sa *syscall.SockaddrInet4) string {
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
}

// udpSocket opens a blocking UDP socket with large buffers (root may exceed rmem_max).
func udpSocket() (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 32<<20)
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, 8<<20)
	return fd, nil
}

// raiseFileLimit raises the descriptor limit to n, or to the hard limit when raising that
// is not permitted (no CAP_SYS_RESOURCE).
func raiseFileLimit(n uint64) {
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}) == nil {
		return
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

var outMu sync.Mutex

func reply(v any) {
	outMu.Lock()
	defer outMu.Unlock()
	b, _ := json.Marshal(v)
	os.Stdout.Write(append(b, '\n'))
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(2)
}

// commands reads one command per line and hands the fields to handle until stdin closes.
func commands(handle func(args []string) any) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		args := strings.Fields(sc.Text())
		if len(args) == 0 {
			continue
		}
		if args[0] == "quit" {
			return
		}
		reply(handle(args))
	}
}

type errorReply struct {
	Error string `json:"error"`
}

// mmsghdr mirrors struct mmsghdr for sendmmsg(2).
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
