package sim

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

var csvHeader = []string{
	"kind", "backend", "policy", "nodes", "level", "utilisation", "requests", "succeeded", "success_rate",
	"feasible", "feasible_success_rate", "from_backup", "mean_tries", "mean_discovery_msgs", "mean_deploy_msgs",
	"discovery_p50_ms", "discovery_p99_ms", "deployment_p50_ms", "deployment_p99_ms",
	"bandwidth_bytes_per_node_s", "memory_bytes_per_node", "lost",
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
					f(p.Tries), f(p.DiscoveryMsgs), f(p.DeployMsgs),
					ms(p, func(p Point) float64 { return p.DiscoveryP50.Seconds() * 1000 }),
					ms(p, func(p Point) float64 { return p.DiscoveryP99.Seconds() * 1000 }),
					ms(p, func(p Point) float64 { return p.DeploymentP50.Seconds() * 1000 }),
					ms(p, func(p Point) float64 { return p.DeploymentP99.Seconds() * 1000 }),
					f(p.BandwidthPerNode), f(p.MemoryPerNode), strconv.Itoa(p.Lost),
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
// utilisation, one line per policy, from the ramp and steady points.
func WritePlots(successPNG, messagesPNG string, reports []Report) error {
	type series struct {
		name string
		pts  []Point
	}
	var ss []series
	for _, rep := range reports {
		pts := append(append([]Point(nil), rep.Ramp...), rep.Steady...)
		if len(pts) == 0 {
			continue
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].Utilisation < pts[j].Utilisation })
		ss = append(ss, series{name: fmt.Sprintf("%s %s n=%d", pts[0].Policy, pts[0].Backend, pts[0].Nodes), pts: pts})
	}
	draw := func(file, title, ylabel string, y func(Point) float64) error {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "utilisation"
		p.Y.Label.Text = ylabel
		p.Add(plotter.NewGrid())
		for i, s := range ss {
			xy := make(plotter.XYs, len(s.pts))
			for j, pt := range s.pts {
				xy[j] = plotter.XY{X: pt.Utilisation, Y: y(pt)}
			}
			l, pts, err := plotter.NewLinePoints(xy)
			if err != nil {
				return err
			}
			c := plotutil.Color(i)
			l.Color, pts.Color = c, c
			pts.Shape = plotutil.Shape(i)
			l.Dashes = plotutil.Dashes(i)
			p.Add(l, pts)
			p.Legend.Add(s.name, l, pts)
		}
		p.Legend.Top = false
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
