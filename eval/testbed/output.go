package testbed

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Summary is a phase's line of the main table.
type Summary struct {
	Workload, Placement string
	Requests, OK        int
	SuccessRate         float64
	// Latencies of the successful requests, in ms: complete (client
	// observed), execution (the record's duration), waitTime, initTime;
	// FetchP50 is over those that read mounted data (their fetchTime, a
	// part of the execution), NaN when none did.
	CompleteP50, CompleteP95, ExecP50, WaitP50, InitP50, FetchP50 float64
	// ColdStarts are the successful requests whose record has an
	// initTime: their run created an instance (and waited for the
	// module's compile, when the node had not finished it).
	ColdStarts int
	// VethBytes is the mean over nodes of the bytes on their link, both
	// ways; P2P the mean over nodes of libp2p's bytes by class, both ways.
	VethBytes float64
	P2P       map[string]float64
	// Executing is the number of nodes that ran activations in the
	// phase; CPUCores their mean CPU use in cores over the phase,
	// CPUSeconds their mean CPU time.
	Executing            int
	CPUCores, CPUSeconds float64
	// MemoryMB is the mean over nodes of their peak resident memory
	// (cgroup total_rss).
	MemoryMB float64
	// Scheduling in the phase: schedulings, messages, distinct peers and
	// mean time to a granted claim (ms).
	Schedulings, ScheduleMsgs, SchedulePeers, ScheduleMS float64
	Seconds                                              float64
	DeployError                                          string
}

// Summarize computes a phase's line.
func (ph *Phase) Summarize() Summary {
	s := Summary{Workload: ph.Workload, Placement: ph.Placement, Requests: len(ph.Requests), DeployError: ph.DeployError,
		P2P: map[string]float64{}, Seconds: ph.End.T - ph.Start.T}
	var complete, exec, wait, init, fetch []float64
	for _, r := range ph.Requests {
		if !r.OK {
			continue
		}
		s.OK++
		complete = append(complete, r.ClientMS)
		exec = append(exec, r.DurationMS)
		wait = append(wait, r.WaitMS)
		init = append(init, r.InitMS)
		if r.FetchMS != nil {
			fetch = append(fetch, *r.FetchMS)
		}
		if r.InitMS > 0 {
			s.ColdStarts++
		}
	}
	if s.Requests > 0 {
		s.SuccessRate = float64(s.OK) / float64(s.Requests)
	}
	s.CompleteP50, s.CompleteP95 = quantile(complete, 0.5), quantile(complete, 0.95)
	s.ExecP50, s.WaitP50, s.InitP50 = quantile(exec, 0.5), quantile(wait, 0.5), quantile(init, 0.5)
	s.FetchP50 = quantile(fetch, 0.5)
	n := min(len(ph.Start.Nodes), len(ph.End.Nodes))
	for i := range n {
		a, b := ph.Start.Nodes[i], ph.End.Nodes[i]
		s.VethBytes += float64(b.VethRx-a.VethRx) + float64(b.VethTx-a.VethTx)
		for _, cl := range Classes {
			s.P2P[cl] += b.P2P[cl]["in"] - a.P2P[cl]["in"] + b.P2P[cl]["out"] - a.P2P[cl]["out"]
		}
		if b.Runs > a.Runs {
			s.Executing++
			s.CPUSeconds += b.CPU - a.CPU
		}
		if i < len(ph.Peak) {
			s.MemoryMB += float64(ph.Peak[i]) / (1 << 20)
		}
	}
	if n > 0 {
		s.VethBytes /= float64(n)
		for _, cl := range Classes {
			s.P2P[cl] /= float64(n)
		}
		s.MemoryMB /= float64(n)
	}
	if s.Executing > 0 {
		s.CPUSeconds /= float64(s.Executing)
		if s.Seconds > 0 {
			s.CPUCores = s.CPUSeconds / s.Seconds
		}
	}
	g0, g1 := ph.Start.Gateway, ph.End.Gateway
	s.Schedulings = g1.Schedulings - g0.Schedulings
	s.ScheduleMsgs = g1.DiscoveryMsgs + g1.DeployMsgs - g0.DiscoveryMsgs - g0.DeployMsgs
	s.SchedulePeers = g1.Peers - g0.Peers
	if s.Schedulings > 0 {
		s.ScheduleMS = (g1.ScheduleSeconds - g0.ScheduleSeconds) / s.Schedulings * 1000
	}
	return s
}

// quantile is the q-quantile of xs by nearest rank; NaN for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return nan
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}

var nan = func() float64 { var z float64; return z / z }()

// Write writes the tables, the plots and report.md into the run's
// directory (the raw samples and requests are already there).
func (r *Results) Write(series []phaseSnap) error {
	sums := make([]Summary, len(r.Phases))
	for i := range r.Phases {
		sums[i] = r.Phases[i].Summarize()
	}
	kinds := r.kinds()
	steps := []func() error{
		func() error { return r.writeMain(sums) },
		r.writeLoad,
		func() error { return r.writeKinds(kinds) },
		r.writeNodes,
		func() error { return r.writePlots(sums, series) },
		func() error { return r.writeReport(sums, kinds) },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return fmt.Errorf("testbed: output: %w", err)
		}
	}
	return nil
}

func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func writeCSV(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.WriteAll(rows)
	return errors.Join(w.Error(), f.Close())
}

// MainHeader is main.csv's header.
var MainHeader = []string{"workload", "placement", "nodes", "rate", "cpu_cap_cores", "node_memory_mb", "requests", "ok", "success_rate",
	"complete_p50_ms", "complete_p95_ms", "exec_p50_ms", "fetch_p50_ms", "wait_p50_ms", "init_p50_ms", "cold_starts",
	"veth_bytes_per_node", "p2p_dht_bytes_per_node", "p2p_ring_bytes_per_node", "p2p_run_bytes_per_node",
	"p2p_blocks_bytes_per_node", "p2p_control_bytes_per_node",
	"executing_nodes", "cpu_seconds_per_executing_node", "cpu_cores_per_executing_node", "memory_peak_rss_mb_per_node",
	"schedulings", "schedule_messages", "schedule_peers", "schedule_mean_ms", "seconds", "deploy_error"}

func (r *Results) writeMain(sums []Summary) error {
	rows := [][]string{MainHeader}
	for _, s := range sums {
		rows = append(rows, []string{s.Workload, s.Placement, strconv.Itoa(r.Nodes), r.rate(), f2(r.Caps.CPU), strconv.Itoa(r.MemMB),
			strconv.Itoa(s.Requests), strconv.Itoa(s.OK), f2(s.SuccessRate),
			f2(s.CompleteP50), f2(s.CompleteP95), f2(s.ExecP50), f2(s.FetchP50), f2(s.WaitP50), f2(s.InitP50), strconv.Itoa(s.ColdStarts),
			f2(s.VethBytes), f2(s.P2P[ClassDHT]), f2(s.P2P[ClassRing]), f2(s.P2P[ClassRun]), f2(s.P2P[ClassBlocks]), f2(s.P2P[ClassControl]),
			strconv.Itoa(s.Executing), f2(s.CPUSeconds), f2(s.CPUCores), f2(s.MemoryMB),
			f2(s.Schedulings), f2(s.ScheduleMsgs), f2(s.SchedulePeers), f2(s.ScheduleMS), f2(s.Seconds), s.DeployError})
	}
	return writeCSV(filepath.Join(r.Dir, "main.csv"), rows)
}

func (r *Results) rate() string {
	if r.Caps.Rate == "" {
		return "none"
	}
	return r.Caps.Rate
}

// claimed is the share of the volunteered memory the gateway holds in
// claims.
func claimed(g GatewaySnap) float64 {
	if g.AdvertisedMB == 0 {
		return 0
	}
	return g.BackedMB / g.AdvertisedMB
}

func (r *Results) writeLoad() error {
	rows := [][]string{{"workload", "placement", "load", "requests", "ok", "success_rate", "seconds", "throughput_rps", "mean_runs_in_flight", "ring_utilisation", "claimed_fraction", "p2p_blocks_in_bytes_per_node"}}
	for _, ph := range r.Phases {
		for _, lv := range ph.Levels {
			rate, tput := lv.rates()
			rows = append(rows, []string{ph.Workload, ph.Placement, strconv.Itoa(lv.Load), strconv.Itoa(lv.Requests), strconv.Itoa(lv.OK),
				f2(rate), f2(lv.Seconds), f2(tput), f2(ph.inFlight(lv)), strconv.FormatFloat(r.utilisation(ph, lv), 'f', 4, 64), f2(claimed(lv.End.Gateway)), f2(lv.blocksIn())})
		}
	}
	return writeCSV(filepath.Join(r.Dir, "load.csv"), rows)
}

// inFlight is the mean number of the level's runs in flight over the
// ring: their execution times (the records' durations) summed, over the
// level's wall time (Little's law). Sampling the nodes' in-flight gauges
// instead missed every run shorter than the sampling interval: a level of
// 5 ms runs read 0.
func (ph Phase) inFlight(lv Level) float64 {
	if lv.Seconds <= 0 {
		return 0
	}
	ms := 0.0
	for _, q := range ph.Requests {
		if q.Load == lv.Load {
			ms += q.DurationMS
		}
	}
	return ms / 1000 / lv.Seconds
}

// utilisation is the share of the ring's volunteered memory that the
// level's runs held on average: runs in flight times the actions' median
// memory limit, over N times each node's memory.
func (r *Results) utilisation(ph Phase, lv Level) float64 {
	var mem []float64
	for _, q := range ph.Requests {
		if q.Load == lv.Load && q.MemoryMB > 0 {
			mem = append(mem, q.MemoryMB)
		}
	}
	if len(mem) == 0 || r.Nodes == 0 || r.MemMB == 0 {
		return 0
	}
	return ph.inFlight(lv) * quantile(mem, 0.5) / float64(r.Nodes*r.MemMB)
}

// blocksIn is the mean over nodes of the block-exchange bytes they
// received in the level: the data (and code) they fetched while serving
// its requests, none when it was all held already.
func (lv Level) blocksIn() float64 {
	n := min(len(lv.Start.Nodes), len(lv.End.Nodes))
	if n == 0 {
		return 0
	}
	in := 0.0
	for i := range n {
		in += lv.End.Nodes[i].P2P[ClassBlocks]["in"] - lv.Start.Nodes[i].P2P[ClassBlocks]["in"]
	}
	return in / float64(n)
}

// kindSummary is a line of the latencies by request kind.
type kindSummary struct {
	Workload, Placement, Kind      string
	Requests, OK, ColdStarts       int
	CompleteP50, ExecP50, FetchP50 float64
}

// kinds are the phases' latencies by request kind, for the phases whose
// requests have kinds: a median over a hash phase mixes files of 4 KiB
// and 64 MiB, whose times differ by four orders of magnitude.
func (r *Results) kinds() []kindSummary {
	var out []kindSummary
	for _, ph := range r.Phases {
		var lines []kindSummary
		var complete, exec, fetch [][]float64
		at := map[string]int{}
		for _, q := range ph.Requests {
			if q.Kind == "" {
				continue
			}
			k, ok := at[q.Kind]
			if !ok {
				k = len(lines)
				at[q.Kind] = k
				lines = append(lines, kindSummary{Workload: ph.Workload, Placement: ph.Placement, Kind: q.Kind})
				complete, exec, fetch = append(complete, nil), append(exec, nil), append(fetch, nil)
			}
			lines[k].Requests++
			if !q.OK {
				continue
			}
			lines[k].OK++
			if q.InitMS > 0 {
				lines[k].ColdStarts++
			}
			complete[k] = append(complete[k], q.ClientMS)
			exec[k] = append(exec[k], q.DurationMS)
			if q.FetchMS != nil {
				fetch[k] = append(fetch[k], *q.FetchMS)
			}
		}
		for k := range lines {
			lines[k].CompleteP50, lines[k].ExecP50 = quantile(complete[k], 0.5), quantile(exec[k], 0.5)
			lines[k].FetchP50 = quantile(fetch[k], 0.5)
		}
		out = append(out, lines...)
	}
	return out
}

func (r *Results) writeKinds(kinds []kindSummary) error {
	rows := [][]string{{"workload", "placement", "kind", "requests", "ok", "complete_p50_ms", "exec_p50_ms", "fetch_p50_ms", "cold_starts"}}
	for _, k := range kinds {
		rows = append(rows, []string{k.Workload, k.Placement, k.Kind, strconv.Itoa(k.Requests), strconv.Itoa(k.OK),
			f2(k.CompleteP50), f2(k.ExecP50), f2(k.FetchP50), strconv.Itoa(k.ColdStarts)})
	}
	return writeCSV(filepath.Join(r.Dir, "kinds.csv"), rows)
}

// rates are the level's success rate and its throughput (requests per
// second).
func (lv Level) rates() (success, throughput float64) {
	if lv.Requests > 0 {
		success = float64(lv.OK) / float64(lv.Requests)
	}
	if lv.Seconds > 0 {
		throughput = float64(lv.Requests) / lv.Seconds
	}
	return success, throughput
}

func (r *Results) writeNodes() error {
	head := []string{"workload", "placement", "node", "veth_rx_bytes", "veth_tx_bytes"}
	for _, cl := range Classes {
		head = append(head, "p2p_"+cl+"_in_bytes", "p2p_"+cl+"_out_bytes")
	}
	head = append(head, "cpu_seconds", "runs", "memory_peak_rss_mb")
	rows := [][]string{head}
	for _, ph := range r.Phases {
		for i := range min(len(ph.Start.Nodes), len(ph.End.Nodes)) {
			a, b := ph.Start.Nodes[i], ph.End.Nodes[i]
			row := []string{ph.Workload, ph.Placement, strconv.Itoa(i),
				strconv.FormatUint(b.VethRx-a.VethRx, 10), strconv.FormatUint(b.VethTx-a.VethTx, 10)}
			for _, cl := range Classes {
				row = append(row, f2(b.P2P[cl]["in"]-a.P2P[cl]["in"]), f2(b.P2P[cl]["out"]-a.P2P[cl]["out"]))
			}
			peak := 0.0
			if i < len(ph.Peak) {
				peak = float64(ph.Peak[i]) / (1 << 20)
			}
			row = append(row, f2(b.CPU-a.CPU), f2(b.Runs-a.Runs), f2(peak))
			rows = append(rows, row)
		}
	}
	return writeCSV(filepath.Join(r.Dir, "nodes.csv"), rows)
}

// Plots are the PNG files a run draws.
var Plots = []string{"latency.png", "bytes.png", "success.png", "memory.png", "cpu.png"}

func (r *Results) writePlots(sums []Summary, series []phaseSnap) error {
	var names []string
	for _, s := range sums {
		names = append(names, s.Workload+"/"+s.Placement)
	}
	save := func(p *plot.Plot, name string) error {
		p.BackgroundColor = color.White
		return p.Save(8*vg.Inch, 4.5*vg.Inch, filepath.Join(r.Dir, name))
	}
	bars := func(title, ylabel string, groups []string, vals [][]float64) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.Y.Label.Text = ylabel
		w := vg.Points(12)
		for i, g := range groups {
			v := make(plotter.Values, len(vals[i]))
			for j, x := range vals[i] {
				if x != x { // NaN: no successful request
					x = 0
				}
				v[j] = x
			}
			b, err := plotter.NewBarChart(v, w)
			if err != nil {
				continue
			}
			b.Color = plotutil.Color(i)
			b.Offset = w * vg.Length(float64(i)-float64(len(groups)-1)/2)
			p.Add(b)
			p.Legend.Add(g, b)
		}
		p.Legend.Top = true
		p.NominalX(names...)
		return p
	}
	col := func(f func(Summary) float64) []float64 {
		out := make([]float64, len(sums))
		for i, s := range sums {
			out[i] = f(s)
		}
		return out
	}
	lat := bars("median latency of successful requests (this machine, bridge, no added latency)", "ms",
		[]string{"complete (client)", "execution (duration)", "data fetch (fetchTime)", "waitTime", "initTime"},
		[][]float64{col(func(s Summary) float64 { return s.CompleteP50 }), col(func(s Summary) float64 { return s.ExecP50 }),
			col(func(s Summary) float64 { return s.FetchP50 }),
			col(func(s Summary) float64 { return s.WaitP50 }), col(func(s Summary) float64 { return s.InitP50 })})
	if err := save(lat, "latency.png"); err != nil {
		return err
	}
	var byClass [][]float64
	for _, cl := range Classes {
		byClass = append(byClass, col(func(s Summary) float64 { return s.P2P[cl] / 1024 }))
	}
	byClass = append(byClass, col(func(s Summary) float64 { return s.VethBytes / 1024 }))
	if err := save(bars("bytes per node by traffic class (libp2p) and on the link (veth)", "KiB", append(slices.Clone(Classes), "veth"), byClass), "bytes.png"); err != nil {
		return err
	}

	sp := plot.New()
	sp.Title.Text = "request success rate against offered load"
	sp.X.Label.Text = "requests in flight"
	sp.Y.Label.Text = "success rate"
	sp.Y.Min, sp.Y.Max = 0, 1.05
	for i, ph := range r.Phases {
		var xy plotter.XYs
		for _, lv := range ph.Levels {
			if lv.Requests > 0 {
				xy = append(xy, plotter.XY{X: float64(lv.Load), Y: float64(lv.OK) / float64(lv.Requests)})
			}
		}
		if len(xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, pts.Color, pts.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		sp.Add(l, pts)
		sp.Legend.Add(ph.Name, l, pts)
	}
	sp.Legend.Left = true
	if err := save(sp, "success.png"); err != nil {
		return err
	}

	overTime := func(title, ylabel string, y func(prev, cur NodeSnap, dt float64) float64) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "seconds since start"
		p.Y.Label.Text = ylabel
		for i := range r.Nodes {
			var xy plotter.XYs
			for k := 1; k < len(series); k++ {
				a, b := series[k-1], series[k]
				if i >= len(a.Nodes) || i >= len(b.Nodes) || b.T <= a.T {
					continue
				}
				xy = append(xy, plotter.XY{X: b.T, Y: y(a.Nodes[i], b.Nodes[i], b.T-a.T)})
			}
			if len(xy) == 0 {
				continue
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				continue
			}
			l.Color = plotutil.Color(i)
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("node %d", i), l)
		}
		p.Legend.Top = true
		return p
	}
	mem := overTime("resident memory of each node over time (cgroup total_rss)", "MiB", func(_, cur NodeSnap, _ float64) float64 { return float64(cur.MemRSS) / (1 << 20) })
	if err := save(mem, "memory.png"); err != nil {
		return err
	}
	cpu := overTime(fmt.Sprintf("CPU of each node over time (cgroup cpuacct; cap %s cores)", capCPU(r.Caps)), "cores",
		func(prev, cur NodeSnap, dt float64) float64 { return (cur.CPU - prev.CPU) / dt })
	return save(cpu, "cpu.png")
}

func capCPU(c Caps) string {
	if c.CPU == 0 {
		return "none"
	}
	return f2(c.CPU)
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.2f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func fmtMS(v float64) string {
	if v != v {
		return "–"
	}
	return fmt.Sprintf("%.1f", v)
}

func (r *Results) writeReport(sums []Summary, kinds []kindSummary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# FaaS@Edge evaluation: small deployment\n\n")
	fmt.Fprintf(&b, "Run %s, written %s.\n\n", filepath.Base(r.Dir), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "**Testbed:** N = %d `faasedge node` processes, each in its own network namespace on a Linux bridge, "+
		"volunteering %d MB in two offers; link cap per node and direction: **%s** (tbf towards the node, htb from it); "+
		"CPU cap per node: **%s cores** (cgroup cpu quota). The standalone runs in the testbed's process, edge-only "+
		"(no regular invoker: every activation runs on a node through the gateway's virtual invoker); its IPFS node is "+
		"the data owner of the IPFS placement and executes nothing. "+
		"Placements: local reads a copy of the data in each node's /data; ipfs reads it at /ipfs/<CID> from the data owner; "+
		"the hash workload measures IPFS apart as ipfs-cold (each request reads a file of its own, fresh random bytes added on "+
		"the data owner at deployment: no node held a block of it) and ipfs-warm (the fixed files, which the deployment had "+
		"every node read first: twice by twice as many requests at once as nodes; the load table's fetched bytes show whether "+
		"a node was missed). Phases run in the order listed. A cold start is a run that created its instance (its record has an "+
		"initTime), and waited for the module's compile when the node had not finished it.\n\n", r.Nodes, r.MemMB, r.rate(), capCPU(r.Caps))
	b.WriteString("**Latency source:** every latency here is measured on this machine over the bridge, with no added latency " +
		"(netem is not available; latency models come only from libp2p mocknet or the simulator, `faasedge sim`). " +
		"Complete latency is the client's, from the blocking invoke to its answer; execution latency is the activation " +
		"record's `duration`; waitTime and initTime are the record's annotations. Data-fetch time is the record's fetchTime " +
		"annotation (an addition to stock OpenWhisk): the part of the execution the function spent waiting for data from its " +
		"mounts, /ipfs blocks from the node's store or its peers and /data's disk, timed by the executor in every open, stat, " +
		"listing and read; its median is over the requests that read mounted data (– when none did: the REST workload's local " +
		"placement reads its store through the key-value import). Medians are over successful requests.\n\n")
	b.WriteString("## Main table\n\n")
	b.WriteString("| workload | placement | requests | success | complete p50 ms | execution p50 ms | fetch p50 ms | wait p50 ms | init p50 ms | cold starts | bytes/node (veth) | libp2p bytes/node dht / ring / run / blocks / control | executing nodes | CPU s per executing node (cores) | peak RSS/node |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n")
	for _, s := range sums {
		if s.DeployError != "" {
			fmt.Fprintf(&b, "| %s | %s | 0 | deploy failed: %s | | | | | | | | | | | |\n", s.Workload, s.Placement, strings.ReplaceAll(s.DeployError, "|", "/"))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f%% | %s | %s | %s | %s | %s | %d | %s | %s / %s / %s / %s / %s | %d | %.2f (%.2f) | %.1f MiB |\n",
			s.Workload, s.Placement, s.Requests, 100*s.SuccessRate, fmtMS(s.CompleteP50), fmtMS(s.ExecP50), fmtMS(s.FetchP50), fmtMS(s.WaitP50), fmtMS(s.InitP50), s.ColdStarts,
			fmtBytes(s.VethBytes), fmtBytes(s.P2P[ClassDHT]), fmtBytes(s.P2P[ClassRing]), fmtBytes(s.P2P[ClassRun]), fmtBytes(s.P2P[ClassBlocks]), fmtBytes(s.P2P[ClassControl]),
			s.Executing, s.CPUSeconds, s.CPUCores, s.MemoryMB)
	}
	b.WriteString("\nBytes per node are means over the N nodes for the whole phase (deployment and every offered load), both directions: " +
		"veth counts Ethernet frames on the node's link; libp2p counts stream bytes by protocol before encryption and multiplexing " +
		"(dht: /faasedge/kad; ring: /faasedge/ring offers, finds, backup lists, claims; run: /faasedge/run activations and results; " +
		"blocks: block exchange, bitswap and /faasedge/car streams, code and IPFS data; control: identify, ping, negotiation). CPU is cgroup cpuacct time of the nodes that ran activations in the phase; memory is the cgroup's resident set (total_rss: the page cache of the data read is left out; samples.jsonl has both).\n\n")
	b.WriteString("## Success rate against offered load and ring utilisation\n\n")
	b.WriteString("Mean runs in flight is the level's execution time (the records' durations, summed) over its wall time, by Little's law. Ring utilisation is the mean memory the runs in flight held (runs in flight times the action's memory limit) over the memory the N nodes volunteer; the gateway holds claims on the claimed share. Fetched is the block-exchange bytes a node received during the level (mean over nodes): the data and code it had to fetch to serve it.\n\n")
	b.WriteString("| workload | placement | requests in flight | requests | success | throughput req/s | mean runs in flight | ring utilisation | claimed share of volunteered memory | fetched/node |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, ph := range r.Phases {
		for _, lv := range ph.Levels {
			rate, tput := lv.rates()
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %.0f%% | %.2f | %.2f | %.1f%% | %.0f%% | %s |\n", ph.Workload, ph.Placement, lv.Load, lv.Requests, 100*rate, tput, ph.inFlight(lv), 100*r.utilisation(ph, lv), 100*claimed(lv.End.Gateway), fmtBytes(lv.blocksIn()))
		}
	}
	if len(kinds) > 0 {
		b.WriteString("\n## Latency by request kind\n\n")
		b.WriteString("A phase's medians above mix its kinds of request (the hash workload's files of 4 KiB to 64 MiB); here each kind apart, every offered load together. Cold starts: requests whose record has an initTime.\n\n")
		b.WriteString("| workload | placement | kind | requests | success | complete p50 ms | execution p50 ms | fetch p50 ms | cold starts |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, k := range kinds {
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %s | %s | %s | %d |\n", k.Workload, k.Placement, k.Kind, k.Requests, k.OK, fmtMS(k.CompleteP50), fmtMS(k.ExecP50), fmtMS(k.FetchP50), k.ColdStarts)
		}
	}
	b.WriteString("\n## Deployment efficiency\n\n")
	b.WriteString("The gateway schedules when it claims edge memory for its virtual invoker (the ring's Scheduling, Alg. 3); activations then run on the claims. " +
		"Most schedulings happen at set-up; a phase schedules again only when a claim was lost.\n\n")
	b.WriteString("A scheduling that finds no offer of the size asked fails, and the gateway asks again for half (down to its smallest claim): " +
		"schedulings count both, granted claims the ones that succeeded.\n\n")
	b.WriteString("| when | schedulings | granted claims | messages per scheduling | distinct peers per scheduling | mean time to scheduled ms |\n|---|---:|---:|---:|---:|---:|\n")
	sched := func(name string, a, z GatewaySnap) {
		n := z.Schedulings - a.Schedulings
		if n <= 0 {
			fmt.Fprintf(&b, "| %s | 0 | 0 | | | |\n", name)
			return
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.1f | %.1f | %.1f |\n", name, n, z.Claims-a.Claims,
			(z.DiscoveryMsgs+z.DeployMsgs-a.DiscoveryMsgs-a.DeployMsgs)/n, (z.Peers-a.Peers)/n, (z.ScheduleSeconds-a.ScheduleSeconds)/n*1000)
	}
	sched("set-up", GatewaySnap{}, r.Setup.Gateway)
	for _, ph := range r.Phases {
		sched(ph.Name, ph.Start.Gateway, ph.End.Gateway)
	}
	b.WriteString("\n## Plots\n\n")
	for _, p := range Plots {
		fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(p, ".png"), p)
	}
	b.WriteString("## Files\n\n" +
		"- `samples.jsonl`: every sample, one JSON record per point (t, phase, node, metric, labels, value); node -1 is the gateway.\n" +
		"- `requests.jsonl`: every request (client latency, activation id, duration, initTime, waitTime, fetchTime and fetchBytes, check result).\n" +
		"- `main.csv`, `load.csv`, `kinds.csv`, `nodes.csv`: the tables above, and per node per phase.\n" +
		"- `standalone.log`, `nodes/<i>/node.log`: the processes' logs.\n\n")
	b.WriteString("## Not measured here\n\n" +
		"- No latency is added on the links (no netem).\n")
	return os.WriteFile(filepath.Join(r.Dir, "report.md"), []byte(b.String()), 0o644)
}
