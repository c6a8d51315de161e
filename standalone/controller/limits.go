package controller

import "github.com/faasedge/faasedge/whisk"

type limitsPut struct {
	Timeout     *int64 `json:"timeout"`
	Memory      *int64 `json:"memory"`
	Logs        *int64 `json:"logs"`
	Concurrency *int   `json:"concurrency"`
}

// execSizeLimit is Exec.sizeLimit: 48 MB of code.
const execSizeLimit = 48 << 20

// LimitRanges are the ranges actions are checked against: the stock
// configuration's, with concurrency up to 500 as the local deployment allows
// (limit_action_concurrency_max). The standalone's invokers get the same, so
// they never refuse an action this controller accepted.
func LimitRanges() whisk.LimitRanges {
	r := whisk.DefaultLimitRanges()
	r.Concurrency.Max, r.NamespaceConcurrency.Max = 500, 500
	return r
}

func (l *limitsPut) apply(base whisk.Limits) (whisk.Limits, error) {
	if l == nil {
		return base, nil
	}
	r := LimitRanges()
	for _, c := range []struct {
		v          *int64
		what, unit string
		r          whisk.Range
		dst        *int64
	}{
		{l.Timeout, "timeout", " milliseconds", r.Timeout, &base.Timeout},
		{l.Memory, "memory", " MB", r.Memory, &base.Memory},
		{l.Logs, "log size", " MB", r.Logs, &base.Logs},
	} {
		if c.v == nil {
			continue
		}
		if err := checkRange(c.what, *c.v, c.unit, c.r); err != nil {
			return base, err
		}
		*c.dst = *c.v
	}
	if l.Concurrency != nil {
		if err := checkRange("concurrency", int64(*l.Concurrency), "", r.Concurrency); err != nil {
			return base, err
		}
		base.Concurrency = *l.Concurrency
	}
	return base, nil
}

// checkRange is the stock limit check's message: "memory 64 MB below
// allowed threshold of 128 MB".
func checkRange(what string, v int64, unit string, r whisk.Range) error {
	switch {
	case v < r.Min:
		return badRequest("%s %d%s below allowed threshold of %d%s", what, v, unit, r.Min, unit)
	case v > r.Max:
		return badRequest("%s %d%s exceeds allowed threshold of %d%s", what, v, unit, r.Max, unit)
	}
	return nil
}
