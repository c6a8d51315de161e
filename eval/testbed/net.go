package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// Names are what a run creates, all under one run-specific prefix so
// that teardown (and a test) removes or lists them by name and never
// touches another run's.
type Names struct{ Prefix string }

// NewNames picks a fresh prefix: "fe" and four hex digits, short enough
// that the longest link name (prefix, "h", node number) fits IFNAMSIZ.
func NewNames() Names {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return Names{Prefix: "fe" + hex.EncodeToString(b)}
}

// Bridge is the run's Linux bridge, in the root namespace.
func (n Names) Bridge() string { return n.Prefix + "br" }

// Netns is node i's network namespace.
func (n Names) Netns(i int) string { return fmt.Sprintf("%sn%d", n.Prefix, i) }

// Veth is the root-namespace end of node i's veth pair, on the bridge;
// its counters are the node's traffic seen from outside (rx: sent by
// the node, tx: received by it).
func (n Names) Veth(i int) string { return fmt.Sprintf("%sh%d", n.Prefix, i) }

// Redis is the cgroup of the run's Redis server.
func (n Names) Redis() string { return n.Prefix + "redis" }

// peerVeth is the node's end before it moves into the namespace and
// becomes eth0.
func (n Names) peerVeth(i int) string { return fmt.Sprintf("%sp%d", n.Prefix, i) }

// Caps are a node's resource limits, modelling a weaker device.
type Caps struct {
	// Rate caps each direction of a node's link, as tc writes rates
	// ("20mbit"); empty: no cap.
	Rate string
	// CPU caps a node's CPU time in cores (0.5: half of one core); zero:
	// no cap.
	CPU float64
}

// Net is the run's bridge and the nodes' namespaces on it: a private /24
// whose .1 is the bridge (the root namespace's address, where the
// standalone listens) and whose .(i+2) is node i.
type Net struct {
	names  Names
	subnet net.IP // x.y.z.0
	nodes  int
}

// ipCmd runs ip or tc; its output is in the error.
func ipCmd(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// ErrNotRoot is returned when the testbed cannot create namespaces,
// links and cgroups because it does not run as root.
var ErrNotRoot = errors.New("testbed: network namespaces, bridges, tc and cgroups need root (run as root, e.g. sudo)")

// freeSubnet picks a 10.213.X.0/24 that no address of this machine is in.
func freeSubnet() (net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 1)
	for range 64 {
		_, _ = rand.Read(b)
		ip := net.IPv4(10, 213, b[0], 0).To4()
		taken := false
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && (n.Contains(ip) || (&net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}).Contains(n.IP)) {
				taken = true
			}
		}
		if !taken {
			return ip, nil
		}
	}
	if ended := endedRuns(); len(ended) > 0 {
		return nil, fmt.Errorf("testbed: no free 10.213.X.0/24; the bridges of runs that did not tear down (%s) hold some: `faasedge eval --clean` removes them", strings.Join(ended, ", "))
	}
	return nil, errors.New("testbed: no free 10.213.X.0/24")
}

// BridgeIP is the root namespace's address on the bridge.
func (t *Net) BridgeIP() net.IP { return t.host(1) }

// NodeIP is node i's address in its namespace.
func (t *Net) NodeIP(i int) net.IP { return t.host(i + 2) }

func (t *Net) host(h int) net.IP {
	ip := append(net.IP(nil), t.subnet...)
	ip[3] = byte(h)
	return ip
}

// setUpNet creates the bridge and n namespaces joined to it by veth
// pairs, each capped to caps.Rate both ways: tbf on the bridge end
// (traffic to the node) and htb on the node's eth0 (traffic from it). On
// an error what was created is left for Teardown, which removes by name.
func setUpNet(ctx context.Context, names Names, n int, caps Caps) (*Net, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if n < 1 || n > 250 {
		return nil, fmt.Errorf("testbed: %d nodes: want 1 to 250", n)
	}
	subnet, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	t := &Net{names: names, subnet: subnet, nodes: n}
	br := names.Bridge()
	cidr := func(ip net.IP) string { return ip.String() + "/24" }
	steps := [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "addr", "add", cidr(t.BridgeIP()), "dev", br},
		{"ip", "link", "set", br, "up"},
	}
	for i := range n {
		ns, h, p := names.Netns(i), names.Veth(i), names.peerVeth(i)
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "link", "add", h, "type", "veth", "peer", "name", p},
			[]string{"ip", "link", "set", p, "netns", ns},
			[]string{"ip", "link", "set", h, "master", br},
			[]string{"ip", "link", "set", h, "up"},
			[]string{"ip", "-n", ns, "link", "set", p, "name", "eth0"},
			[]string{"ip", "-n", ns, "addr", "add", cidr(t.NodeIP(i)), "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
		)
		if caps.Rate != "" {
			steps = append(steps,
				// burst: enough for one 1500-byte frame at any rate
				// tc accepts, and latency bounds the queue.
				[]string{"tc", "qdisc", "add", "dev", h, "root", "tbf", "rate", caps.Rate, "burst", "32kbit", "latency", "400ms"},
				[]string{"tc", "-n", ns, "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "10"},
				[]string{"tc", "-n", ns, "class", "add", "dev", "eth0", "parent", "1:", "classid", "1:10", "htb", "rate", caps.Rate},
			)
		}
	}
	for _, s := range steps {
		if err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return t, fmt.Errorf("testbed: network: %w", err)
		}
	}
	return t, nil
}

// teardownNet deletes the namespaces (their eth0 and its veth peer go
// with them) and the bridge, by name; what is already gone is no error.
func teardownNet(ctx context.Context, names Names) error {
	var errs []error
	left, err := Leftovers(names.Prefix)
	if err != nil {
		return err
	}
	for _, ns := range left.Netns {
		if err := ipCmd(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	// Links whose namespace is gone were deleted with it; list again.
	left, err = Leftovers(names.Prefix)
	if err != nil {
		return err
	}
	for _, l := range left.Links {
		// A veth whose namespace was just deleted may vanish meanwhile.
		if err := ipCmd(ctx, "ip", "link", "del", l); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
