// Package pebblelog routes Pebble's log lines to log/slog.
package pebblelog

import (
	"fmt"
	"log/slog"
)

// Logger is a pebble.Logger that logs at debug level (errors at error
// level) instead of on the standard logger, each line prefixed with what.
type Logger struct {
	L    *slog.Logger
	What string
}

func (p Logger) Infof(format string, args ...any) {
	p.L.Debug(p.What + ": pebble: " + fmt.Sprintf(format, args...))
}

func (p Logger) Errorf(format string, args ...any) {
	p.L.Error(p.What + ": pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf panics: Pebble calls it on corruption it cannot go on from.
func (p Logger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(p.What+": pebble: "+format, args...))
}
