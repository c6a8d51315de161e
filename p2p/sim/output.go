package sim

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

var csvHeader = []string{
	"kind", "backend", "policy", "nodes", "level", "utilisation", "requests", "succeeded", "success_rate",
	"feasible", "feasible_success_rate", "from_backup", "mean_tries", "mean_discovery_msgs", "mean_deploy_msgs", "mean_distinct_peers",
	"discovery_p50_ms", "discovery_p99_ms", "deployment_p50_ms", "deployment_p99_ms",
	"bandwidth_bytes_per_node_s", "memory_bytes_per_node", "lost", "latency_source",
}

// WriteTable writes the steady-state points as an aligned text table, the
// summary `faasedge sim` prints.
func WriteTable(w io.Writer, reports []Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// Wall-clock latencies to the millisecond, as the virtual ones are.
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	fmt.Fprintln(tw, "backend\tpolicy\tnodes\tlevel\tutil\tsuccess\tfeasible-success\ttries\tdisc-msgs\tdeploy-msgs\tpeers\tdisc-p50\tdisc-p99\tdep-p50\tbackup\tB/s/node\tB/node")
	for _, rep := range reports {
		for _, p := range rep.Steady {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.3f\t%.4f\t%.4f\t%.2f\t%.1f\t%.2f\t%.1f\t%v\t%v\t%v\t%d\t%.0f\t%.0f\n",
				p.Backend, p.Policy, p.Nodes, p.Level, p.Utilisation, p.SuccessRate(), p.FeasibleSuccessRate(),
				p.Tries, p.DiscoveryMsgs, p.DeployMsgs, p.DistinctPeers, ms(p.DiscoveryP50), ms(p.DiscoveryP99), ms(p.DeploymentP50), p.FromBackup, p.BandwidthPerNode, p.MemoryPerNode)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Where the latencies come from, once per back-end and setting.
	seen := map[string]bool{}
	for _, rep := range reports {
		for _, p := range rep.Steady {
			if !seen[p.LatencySource] {
				seen[p.LatencySource] = true
				if _, err := fmt.Fprintf(w, "%s latencies (disc-p50, disc-p99, dep-p50): %s\n", p.Backend, p.LatencySource); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// WriteCSV writes steady-state and ramp points, one row each.
func WriteCSV(w io.Writer, reports []Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	ms := func(p Point, d func(Point) float64) string { return f(d(p)) }
	for _, rep := range reports {
		for _, set := range []struct {
			kind string
			pts  []Point
		}{{"steady", rep.Steady}, {"ramp", rep.Ramp}} {
			for _, p := range set.pts {
				row := []string{
					set.kind, p.Backend, p.Policy, strconv.Itoa(p.Nodes), f(p.Level), f(p.Utilisation),
					strconv.Itoa(p.Requests), strconv.Itoa(p.Succeeded), f(p.SuccessRate()),
					strconv.Itoa(p.Feasible), f(p.FeasibleSuccessRate()), strconv.Itoa(p.FromBackup),
					f(p.Tries), f(p.DiscoveryMsgs), f(p.DeployMsgs), f(p.DistinctPeers),
					ms(p, func(p Point) float64 { return p.DiscoveryP50.Seconds() * 1000 }),
					ms(p, func(p Point) float64 { return p.DiscoveryP99.Seconds() * 1000 }),
					ms(p, func(p Point) float64 { return p.DeploymentP50.Seconds() * 1000 }),
					ms(p, func(p Point) float64 { return p.DeploymentP99.Seconds() * 1000 }),
					f(p.BandwidthPerNode), f(p.MemoryPerNode), strconv.Itoa(p.Lost), p.LatencySource,
				}
				if err := cw.Write(row); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WritePlots draws success rate and mean messages per discovery against
// utilisation, per policy: the ramp (the ring filling up, no releases) as a
// line, the steady-state levels (requests and releases balanced) as separate
// markers. The two are different workloads, so they are never joined.
func WritePlots(successPNG, messagesPNG string, reports []Report) error {
	draw := func(file, title, ylabel string, y func(Point) float64) error {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "utilisation"
		p.Y.Label.Text = ylabel
		p.Add(plotter.NewGrid())
		xys := func(pts []Point) plotter.XYs {
			pts = append([]Point(nil), pts...)
			sort.Slice(pts, func(i, j int) bool { return pts[i].Utilisation < pts[j].Utilisation })
			xy := make(plotter.XYs, len(pts))
			for j, pt := range pts {
				xy[j] = plotter.XY{X: pt.Utilisation, Y: y(pt)}
			}
			return xy
		}
		for i, rep := range reports {
			var first Point
			switch {
			case len(rep.Ramp) > 0:
				first = rep.Ramp[0]
			case len(rep.Steady) > 0:
				first = rep.Steady[0]
			default:
				continue
			}
			name := fmt.Sprintf("%s %s n=%d", first.Policy, first.Backend, first.Nodes)
			c := plotutil.Color(i)
			if len(rep.Ramp) > 0 {
				l, pts, err := plotter.NewLinePoints(xys(rep.Ramp))
				if err != nil {
					return err
				}
				l.Color, pts.Color = c, c
				pts.Shape = plotutil.Shape(i)
				l.Dashes = plotutil.Dashes(i)
				p.Add(l, pts)
				p.Legend.Add(name+" ramp", l, pts)
			}
			if len(rep.Steady) > 0 {
				sc, err := plotter.NewScatter(xys(rep.Steady))
				if err != nil {
					return err
				}
				sc.Color = c
				sc.Shape = plotutil.Shape(i + 4)
				sc.Radius = vg.Points(5)
				p.Add(sc)
				p.Legend.Add(name+" steady", sc)
			}
		}
		// The ramp climbs to the right: the top left stays clear.
		p.Legend.Top = true
		p.Legend.Left = true
		p.BackgroundColor = color.White
		return p.Save(7*vg.Inch, 4.5*vg.Inch, file)
	}
	if err := draw(successPNG, "request success rate", "success rate", func(p Point) float64 { return p.SuccessRate() }); err != nil {
		return fmt.Errorf("sim: plot: %w", err)
	}
	if err := draw(messagesPNG, "messages per discovery", "messages", func(p Point) float64 { return p.DiscoveryMsgs }); err != nil {
		return fmt.Errorf("sim: plot: %w", err)
	}
	return nil
}
