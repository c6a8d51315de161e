package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"

	"github.com/faasedge/faasedge/internal/pebblelog"
)

// Pebble is an embedded, persistent store: a key is stored as
// namespace NUL key.
type Pebble struct {
	db *pebble.DB
}

// OpenPebble opens (creating it if needed) the store in dir; log receives
// Pebble's own lines.
func OpenPebble(dir string, log *slog.Logger) (*Pebble, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebblelog.Logger{L: log, What: "kv"}})
	if err != nil {
		return nil, fmt.Errorf("kv: open %s: %w", dir, err)
	}
	return &Pebble{db: db}, nil
}

// Close flushes and closes the store.
func (p *Pebble) Close() error { return p.db.Close() }

func pebbleKey(ns, key string) []byte { return []byte(ns + "\x00" + key) }

// Get returns key's value in namespace ns.
func (p *Pebble) Get(_ context.Context, ns, key string) ([]byte, bool, error) {
	if err := checkNamespace(ns); err != nil {
		return nil, false, err
	}
	v, closer, err := p.db.Get(pebbleKey(ns, key))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// Set sets key in namespace ns.
func (p *Pebble) Set(_ context.Context, ns, key string, value []byte) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	return p.db.Set(pebbleKey(ns, key), value, pebble.Sync)
}

// Delete removes key from namespace ns.
func (p *Pebble) Delete(_ context.Context, ns, key string) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	return p.db.Delete(pebbleKey(ns, key), pebble.Sync)
}

// List returns up to limit keys of namespace ns that start with prefix.
func (p *Pebble) List(_ context.Context, ns, prefix string, limit int) ([]string, error) {
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	lower := pebbleKey(ns, prefix)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: pebbleKey(ns, upperBound(prefix))})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	skip := len(ns) + 1
	keys := []string{}
	for ok := it.First(); ok && len(keys) < limit; ok = it.Next() {
		keys = append(keys, string(it.Key()[skip:]))
	}
	return keys, it.Error()
}
