package testbed

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Traffic classes of a node's libp2p bytes, by stream protocol.
const (
	ClassDHT     = "dht"     // the Kademlia DHT under /faasedge (trader lookups, provider records)
	ClassRing    = "ring"    // the offer ring: offers, finds, backup lists, claims
	ClassRun     = "run"     // remote runs: activations sent to the node and their results
	ClassBlocks  = "blocks"  // block exchange (bitswap and CAR streams): code and IPFS data
	ClassControl = "control" // identify, ping, protocol negotiation and the rest
)

// Classes in report order.
var Classes = []string{ClassDHT, ClassRing, ClassRun, ClassBlocks, ClassControl}

// Classify puts a libp2p protocol ID in its traffic class.
func Classify(proto string) string {
	switch {
	case strings.HasPrefix(proto, "/faasedge/kad/"):
		return ClassDHT
	case strings.HasPrefix(proto, "/faasedge/ring/"):
		return ClassRing
	case strings.HasPrefix(proto, "/faasedge/run/"):
		return ClassRun
	case strings.HasPrefix(proto, "/ipfs/bitswap"), strings.HasPrefix(proto, "/faasedge/car/"):
		return ClassBlocks
	default:
		return ClassControl
	}
}

// NodeSnap is a node's counters at one instant.
type NodeSnap struct {
	// VethRx and VethTx are the bridge end's counters: bytes the node
	// sent and received on the wire (Ethernet frames).
	VethRx, VethTx uint64
	// P2P are libp2p's stream bytes by class, "in" and "out".
	P2P map[string]map[string]float64
	// CPU is the CPU time its cgroup used, in seconds.
	CPU float64
	// MemUsage and MemRSS are its cgroup's memory now, in bytes.
	MemUsage, MemRSS uint64
	// Runs and InFlight are the activations it ran and runs now.
	Runs, InFlight float64
	// Scraped is false when its metrics could not be read (a node that
	// was killed): P2P, Runs and InFlight keep their last values.
	Scraped bool
}

// GatewaySnap is the gateway's counters at one instant.
type GatewaySnap struct {
	Claims, ClaimsFailed         float64
	DiscoveryMsgs, DeployMsgs    float64
	Peers                        float64
	Schedulings, ScheduleSeconds float64
	BackedMB, AdvertisedMB       float64
}

// Snap is every counter at one instant.
type Snap struct {
	T       float64 // seconds since the run's start
	Nodes   []NodeSnap
	Gateway GatewaySnap
}

// Sample is one point of the raw samples (samples.jsonl).
type Sample struct {
	T      float64           `json:"t"`
	Phase  string            `json:"phase"`
	Node   int               `json:"node"` // -1: the gateway
	Metric string            `json:"metric"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// collector samples the nodes and the gateway every interval into
// samples.jsonl, under the phase running.
type collector struct {
	tb    *Testbed
	mu    sync.Mutex
	phase string
	last  []NodeSnap
	out   *bufio.Writer
	file  *os.File
	peak  []uint64 // each node's highest resident memory in the phase
	quit  chan struct{}
	done  chan struct{}
	// series keeps every snapshot with its phase, for the plots over time.
	series []phaseSnap
}

type phaseSnap struct {
	phase string
	Snap
}

func newCollector(tb *Testbed) *collector {
	c := &collector{tb: tb, phase: "startup", last: make([]NodeSnap, len(tb.nodes)),
		peak: make([]uint64, len(tb.nodes)), quit: make(chan struct{}), done: make(chan struct{})}
	f, err := os.Create(filepath.Join(tb.dir, "samples.jsonl"))
	if err != nil {
		tb.cfg.Logger.Error("testbed: samples", "err", err)
		c.out = bufio.NewWriter(io.Discard)
	} else {
		c.file, c.out = f, bufio.NewWriter(f)
	}
	return c
}

func (c *collector) run(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		c.sample()
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
	}
}

func (c *collector) stop() {
	close(c.quit)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Flush()
	if c.file != nil {
		c.file.Close()
	}
}

// sample takes a snapshot and writes it as samples of the current phase.
func (c *collector) sample() Snap {
	s := c.snap()
	c.mu.Lock()
	defer c.mu.Unlock()
	enc := json.NewEncoder(c.out)
	put := func(node int, metric string, labels map[string]string, v float64) {
		_ = enc.Encode(Sample{T: s.T, Phase: c.phase, Node: node, Metric: metric, Labels: labels, Value: v})
	}
	for i, n := range s.Nodes {
		put(i, "veth_rx_bytes", nil, float64(n.VethRx))
		put(i, "veth_tx_bytes", nil, float64(n.VethTx))
		put(i, "cpu_seconds", nil, n.CPU)
		put(i, "memory_usage_bytes", nil, float64(n.MemUsage))
		put(i, "memory_rss_bytes", nil, float64(n.MemRSS))
		put(i, "runs", nil, n.Runs)
		put(i, "runs_in_flight", nil, n.InFlight)
		scraped := 0.0
		if n.Scraped {
			scraped = 1
		}
		put(i, "metrics_scraped", nil, scraped)
		for _, cl := range Classes {
			for _, dir := range []string{"in", "out"} {
				put(i, "p2p_bytes", map[string]string{"class": cl, "direction": dir}, n.P2P[cl][dir])
			}
		}
		c.peak[i] = max(c.peak[i], n.MemRSS)
	}
	g := s.Gateway
	put(-1, "claims", nil, g.Claims)
	put(-1, "claims_failed", nil, g.ClaimsFailed)
	put(-1, "schedule_messages", map[string]string{"kind": "discovery"}, g.DiscoveryMsgs)
	put(-1, "schedule_messages", map[string]string{"kind": "deploy"}, g.DeployMsgs)
	put(-1, "schedule_peers", nil, g.Peers)
	put(-1, "schedulings", nil, g.Schedulings)
	put(-1, "schedule_seconds", nil, g.ScheduleSeconds)
	put(-1, "backed_mb", nil, g.BackedMB)
	put(-1, "advertised_mb", nil, g.AdvertisedMB)
	c.series = append(c.series, phaseSnap{c.phase, s})
	return s
}

// meterSettle is how long a phase boundary waits before its snapshot:
// libp2p's bandwidth meters fold the bytes streams moved into their
// totals once a second, so a snapshot taken at once would leave the last
// second's bytes to the next phase.
const meterSettle = 1500 * time.Millisecond

// enter starts a phase: the snapshot returned is its start, and the
// phase's memory peaks start again.
func (c *collector) enter(phase string) Snap {
	time.Sleep(meterSettle)
	c.mu.Lock()
	c.phase = phase
	for i := range c.peak {
		c.peak[i] = 0
	}
	c.mu.Unlock()
	return c.sample()
}

// leave ends the phase: its last snapshot and each node's memory peak.
func (c *collector) leave() (Snap, []uint64) {
	time.Sleep(meterSettle)
	s := c.sample()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.phase = "between"
	return s, append([]uint64(nil), c.peak...)
}

func (c *collector) snap() Snap {
	tb := c.tb
	s := Snap{T: time.Since(tb.start).Seconds(), Nodes: make([]NodeSnap, len(tb.nodes))}
	var wg sync.WaitGroup
	for i, n := range tb.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Nodes[i] = c.nodeSnap(i, n)
		}()
	}
	wg.Wait()
	s.Gateway = gatewaySnap(tb)
	return s
}

func (c *collector) nodeSnap(i int, n *Node) NodeSnap {
	var ns NodeSnap
	ns.VethRx, _ = readUint(filepath.Join("/sys/class/net", n.Veth, "statistics", "rx_bytes"))
	ns.VethTx, _ = readUint(filepath.Join("/sys/class/net", n.Veth, "statistics", "tx_bytes"))
	ns.CPU, _ = n.cg.CPUSeconds()
	ns.MemUsage, ns.MemRSS, _ = n.cg.Memory()
	fams, err := scrapeNode(n)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		last := c.last[i]
		ns.P2P, ns.Runs = last.P2P, last.Runs
		return ns
	}
	ns.Scraped = true
	ns.P2P = map[string]map[string]float64{}
	for _, cl := range Classes {
		ns.P2P[cl] = map[string]float64{}
	}
	for _, m := range fams["faasedge_p2p_stream_bytes_total"].GetMetric() {
		ns.P2P[Classify(labelValue(m, "protocol"))][labelValue(m, "direction")] += m.GetCounter().GetValue()
	}
	for _, m := range fams["faasedge_edge_runs_total"].GetMetric() {
		ns.Runs = m.GetCounter().GetValue()
	}
	for _, m := range fams["faasedge_edge_runs_in_flight"].GetMetric() {
		ns.InFlight = m.GetGauge().GetValue()
	}
	c.last[i] = ns
	return ns
}

// scrapeNode reads a node's /metrics inside its namespace.
func scrapeNode(n *Node) (map[string]*metricFamily, error) {
	if n.Exited() {
		return nil, fmt.Errorf("node %d exited", n.Index)
	}
	resp, err := n.scrape.Get(n.metricsURL())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("node %d metrics: %s", n.Index, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]*metricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// gatewaySnap reads the gateway's series in process.
func gatewaySnap(tb *Testbed) GatewaySnap {
	var g GatewaySnap
	gw := tb.stack.Gateway()
	if gw == nil {
		return g
	}
	rec := httptest.NewRecorder()
	gw.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	fams, err := parseMetrics(rec.Body)
	if err != nil {
		return g
	}
	for _, m := range fams["faasedge_gateway_claims_total"].GetMetric() {
		if labelValue(m, "result") == "granted" {
			g.Claims += m.GetCounter().GetValue()
		} else {
			g.ClaimsFailed += m.GetCounter().GetValue()
		}
	}
	for _, m := range fams["faasedge_gateway_schedule_messages_total"].GetMetric() {
		if labelValue(m, "kind") == "deploy" {
			g.DeployMsgs += m.GetCounter().GetValue()
		} else {
			g.DiscoveryMsgs += m.GetCounter().GetValue()
		}
	}
	for _, m := range fams["faasedge_gateway_schedule_peers_total"].GetMetric() {
		g.Peers += m.GetCounter().GetValue()
	}
	for _, m := range fams["faasedge_gateway_schedule_seconds"].GetMetric() {
		g.Schedulings += float64(m.GetHistogram().GetSampleCount())
		g.ScheduleSeconds += m.GetHistogram().GetSampleSum()
	}
	for _, m := range fams["faasedge_gateway_capacity_backed_mb"].GetMetric() {
		g.BackedMB += m.GetGauge().GetValue()
	}
	for _, m := range fams["faasedge_gateway_capacity_advertised_mb"].GetMetric() {
		g.AdvertisedMB += m.GetGauge().GetValue()
	}
	return g
}

// labelValue is m's label name, "" when it has none.
func labelValue(m *metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

type (
	metricFamily = dto.MetricFamily
	metric       = dto.Metric
)
