// Package kv holds the stores behind the key-value capability of actions
// (executor.KeyValue): Redis, shared by a fleet of invokers, and Pebble,
// embedded in one process (faasedge standalone). Every key lives in the
// namespace it was set in; no call reaches another namespace's keys.
package kv

import (
	"errors"
	"strings"
)

var errNamespace = errors.New("kv: a namespace is a non-empty name without NUL bytes")

func checkNamespace(ns string) error {
	if ns == "" || strings.IndexByte(ns, 0) >= 0 {
		return errNamespace
	}
	return nil
}

// upperBound is the least string greater than every string with the given
// prefix of UTF-8 text: 0xff never occurs in UTF-8.
func upperBound(prefix string) string { return prefix + "\xff" }
