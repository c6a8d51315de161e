package whisk

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Range is the permitted min..max of one action limit.
type Range struct{ Min, Max int64 }

// LimitRanges are the configured ranges of the action limits: the system's
// (whisk.time-limit, whisk.memory, whisk.log-limit, whisk.concurrency-limit)
// and the namespace defaults (whisk.namespace-default-limit.*), which apply
// to a namespace without limits of its own. Timeouts are in ms, memory and
// logs in MB.
type LimitRanges struct {
	Timeout, Memory, Logs, Concurrency Range
	// The namespace defaults. The stock loader falls back to the system
	// range when a namespace default lacks its min or its max.
	NamespaceTimeout, NamespaceMemory, NamespaceLogs, NamespaceConcurrency Range
}

// DefaultLimitRanges are the ranges of the stock application.conf, where
// the namespace defaults are the system ranges: time 100 ms..5 min, memory
// 128..512 MB, logs 0..10 MB, concurrency 1..1.
func DefaultLimitRanges() LimitRanges {
	r := LimitRanges{
		Timeout: Range{100, 300000}, Memory: Range{MinMemoryMB, 512},
		Logs: Range{0, DefaultLogsMB}, Concurrency: Range{1, 1},
	}
	r.NamespaceTimeout, r.NamespaceMemory, r.NamespaceLogs, r.NamespaceConcurrency = r.Timeout, r.Memory, r.Logs, r.Concurrency
	return r
}

// Validate is the stock startup check: each namespace default range lies
// within its system range.
func (r LimitRanges) Validate() error {
	for _, c := range []struct {
		name    string
		sys, ns Range
	}{
		{"time-limit", r.Timeout, r.NamespaceTimeout}, {"memory", r.Memory, r.NamespaceMemory},
		{"log-limit", r.Logs, r.NamespaceLogs}, {"concurrency-limit", r.Concurrency, r.NamespaceConcurrency},
	} {
		if c.sys.Max < c.ns.Max {
			return fmt.Errorf("whisk: %s: the system max limit must be greater than the namespace max limit", c.name)
		}
		if c.sys.Min > c.ns.Min {
			return fmt.Errorf("whisk: %s: the system min limit must be less than the namespace min limit", c.name)
		}
	}
	return nil
}

// allowed is UserLimits.allowedMax*/allowedMin*: the namespace's own limit,
// else the namespace default, capped by the system range.
func allowed(userMin, userMax *int64, ns, sys Range) (lo, hi int64) {
	lo, hi = ns.Min, ns.Max
	if userMin != nil {
		lo = *userMin
	}
	if userMax != nil {
		hi = *userMax
	}
	return max(lo, sys.Min), min(hi, sys.Max)
}

func intPtr64(p *int) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

// CheckNamespace is ActionLimits.checkLimits, which the stock invoker runs
// on every fetched action against the invoking user's limits: timeout,
// memory, concurrency, then logs, each max before min. The error text is
// the stock ActionLimitsException message, word for word (it becomes the
// activation's applicationError).
func (l Limits) CheckNamespace(u UserLimits, r LimitRanges) error {
	for _, c := range []struct {
		value            int64
		userMin, userMax *int64
		ns, sys          Range
		what, unit       string
	}{
		{l.Timeout, u.MinActionTimeout, u.MaxActionTimeout, r.NamespaceTimeout, r.Timeout, "duration", " milliseconds"},
		{l.Memory, u.MinActionMemory, u.MaxActionMemory, r.NamespaceMemory, r.Memory, "memory size", " MB"},
		{int64(l.Concurrency), intPtr64(u.MinActionConcurrency), intPtr64(u.MaxActionConcurrency), r.NamespaceConcurrency, r.Concurrency, "concurrency", ""},
		{l.Logs, u.MinActionLogs, u.MaxActionLogs, r.NamespaceLogs, r.Logs, "log size", " MB"},
	} {
		lo, hi := allowed(c.userMin, c.userMax, c.ns, c.sys)
		switch {
		case c.value > hi:
			return limitError("%s %d%s exceeds allowed threshold of %d%s", c.what, c.value, c.unit, hi, c.unit)
		case c.value < lo:
			return limitError("%s %d%s below allowed threshold of %d%s", c.what, c.value, c.unit, lo, c.unit)
		}
	}
	return nil
}

// LimitError is an action limit outside the namespace's range; its text
// starts with "requirement failed: " as Scala's require writes it.
type LimitError struct{ Msg string }

func (e *LimitError) Error() string { return e.Msg }

func limitError(format string, args ...any) error {
	return &LimitError{Msg: "requirement failed: " + fmt.Sprintf(format, args...)}
}

// ParseConfigDuration reads a duration as OpenWhisk's configuration gives
// it (CONFIG_whisk_blacklist_pollInterval="5 minutes"): HOCON duration
// syntax, a number with an optional unit, a bare number being milliseconds.
func ParseConfigDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid duration %q: no number", s)
	}
	n, err := strconv.ParseFloat(t[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	unit := strings.TrimSpace(t[i:])
	mult, ok := durationUnits[unit]
	if !ok {
		mult, ok = durationUnits[strings.TrimSuffix(unit, "s")]
	}
	if !ok {
		return 0, fmt.Errorf("invalid duration %q: unknown unit %q", s, unit)
	}
	return time.Duration(n * float64(mult)), nil
}

// durationUnits are HOCON's duration units; plural forms drop their "s".
var durationUnits = map[string]time.Duration{
	"": time.Millisecond, "ns": time.Nanosecond, "nano": time.Nanosecond, "nanosecond": time.Nanosecond,
	"us": time.Microsecond, "micro": time.Microsecond, "microsecond": time.Microsecond,
	"ms": time.Millisecond, "milli": time.Millisecond, "millisecond": time.Millisecond,
	"s": time.Second, "second": time.Second,
	"m": time.Minute, "minute": time.Minute,
	"h": time.Hour, "hour": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour,
}
