package testbed

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// metricsPort is where each node serves /metrics, on its namespace's
// loopback.
const metricsPort = 9464

// Node is one `faasedge node` process in its namespace and cgroup.
type Node struct {
	Index   int
	Netns   string
	Veth    string
	IP      net.IP
	DataDir string // shown to its actions at /data
	cg      *cgroup
	cmd     *exec.Cmd
	logf    *os.File
	done    chan struct{}
	waitErr error
	scrape  *http.Client
	mu      sync.Mutex
	killed  bool
}

// nodeOpts are what every node of a run shares.
type nodeOpts struct {
	bin       string
	memoryMB  int
	refresh   time.Duration
	peers     []string // the gateway's ring member and the IPFS node
	scheduler []string
	redis     string
	caps      Caps
}

// startNode makes node i's cgroup and starts its process in it, as
// `ip netns exec NS faasedge node ...`, so that the node and everything
// it starts are counted from their first instruction.
func startNode(names Names, tn *Net, runDir string, i int, o nodeOpts) (*Node, error) {
	n := &Node{Index: i, Netns: names.Netns(i), Veth: names.Veth(i), IP: tn.NodeIP(i), done: make(chan struct{})}
	var err error
	if n.cg, err = newCgroup(names.Netns(i), o.caps.CPU); err != nil {
		return nil, err
	}
	dir := filepath.Join(runDir, "nodes", strconv.Itoa(i))
	n.DataDir = filepath.Join(dir, "data")
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		return nil, err
	}
	if n.logf, err = os.Create(filepath.Join(dir, "node.log")); err != nil {
		return nil, err
	}
	args := []string{"node",
		"--listen", fmt.Sprintf("/ip4/%s/tcp/4001", n.IP),
		"--data-dir", filepath.Join(dir, "state"),
		"--data", n.DataDir,
		"--memory", strconv.Itoa(o.memoryMB), "--vnodes", "2",
		"--refresh", o.refresh.String(),
		"--metrics", fmt.Sprintf("127.0.0.1:%d", metricsPort),
		"--allow-host", "*",
	}
	for _, p := range o.peers {
		args = append(args, "--peer", p)
	}
	for _, s := range o.scheduler {
		args = append(args, "--scheduler", s)
	}
	if o.redis != "" {
		args = append(args, "--redis", o.redis)
	}
	n.cmd = n.cg.command("ip", append([]string{"netns", "exec", n.Netns, o.bin}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.logf, n.logf
	// Its own process group (a terminal's Ctrl-C reaches the testbed,
	// which stops the nodes in order), and killed with the testbed.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		n.logf.Close()
		return nil, fmt.Errorf("testbed: start node %d: %w", i, err)
	}
	go func() {
		n.waitErr = n.cmd.Wait()
		n.logf.Close()
		close(n.done)
	}()
	n.scrape = &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dialInNetns(ctx, n.Netns, network, addr)
			},
			MaxIdleConns: 1,
		},
	}
	return n, nil
}

// Pid is the node process's id.
func (n *Node) Pid() int { return n.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (n *Node) Exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Kill ends the node at once (SIGKILL), as a device that fails.
func (n *Node) Kill() {
	n.mu.Lock()
	n.killed = true
	n.mu.Unlock()
	_ = n.cmd.Process.Kill()
	<-n.done
}

// stop asks the node to withdraw its offers and exit (SIGTERM), and kills
// it after grace.
func (n *Node) stop(grace time.Duration) {
	if n.Exited() {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(grace):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	n.scrape.CloseIdleConnections()
}

// metricsURL is the node's /metrics, reached through its namespace.
func (n *Node) metricsURL() string { return fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort) }
