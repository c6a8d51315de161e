package sim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Dist is a discrete distribution of memory sizes in MB, written
// "512:3,1024:2,2048:1" (value:weight; a missing weight is 1).
type Dist struct {
	vals    []int
	cum     []int
	total   int
	textual string
}

// ParseLevels reads comma-separated utilisation levels ("0.5,0.8,0.9"),
// the steady states Config.Levels measures.
func ParseLevels(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("level %q: %w", f, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseDist reads a Dist.
func ParseDist(s string) (Dist, error) {
	d := Dist{textual: s}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		v, w, _ := strings.Cut(part, ":")
		val, err := strconv.Atoi(v)
		if err != nil || val < 1 {
			return Dist{}, fmt.Errorf("sim: distribution %q: bad value %q", s, v)
		}
		weight := 1
		if w != "" {
			if weight, err = strconv.Atoi(w); err != nil || weight < 1 {
				return Dist{}, fmt.Errorf("sim: distribution %q: bad weight %q", s, w)
			}
		}
		d.vals = append(d.vals, val)
		d.total += weight
		d.cum = append(d.cum, d.total)
	}
	if len(d.vals) == 0 {
		return Dist{}, fmt.Errorf("sim: distribution %q is empty", s)
	}
	return d, nil
}

// MustDist is ParseDist for constants.
func MustDist(s string) Dist {
	d, err := ParseDist(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Draw picks a value.
func (d Dist) Draw(r *rand.Rand) int {
	x := r.IntN(d.total)
	for i, c := range d.cum {
		if x < c {
			return d.vals[i]
		}
	}
	return d.vals[len(d.vals)-1]
}

// Mean is the distribution's mean.
func (d Dist) Mean() float64 {
	prev, sum := 0, 0.0
	for i, c := range d.cum {
		sum += float64(d.vals[i] * (c - prev))
		prev = c
	}
	return sum / float64(d.total)
}

func (d Dist) String() string { return d.textual }
