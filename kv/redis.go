package kv

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Redis keeps each namespace's values in a hash and its key names in a
// sorted set (for listing by prefix in order), both under the hash tag of
// the namespace, so that they share a slot in Redis Cluster.
type Redis struct {
	c redis.UniversalClient
}

// NewRedis is a store on c.
func NewRedis(c redis.UniversalClient) *Redis { return &Redis{c: c} }

// DialRedis is a store on the Redis server at url
// (redis://[user:password@]host:port[/db]).
func DialRedis(url string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("kv: redis URL: %w", err)
	}
	return NewRedis(redis.NewClient(opt)), nil
}

// Close closes the client.
func (r *Redis) Close() error { return r.c.Close() }

// Ping checks that the server answers.
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

func redisKeys(ns string) (values, names string) {
	return "faasedge:kv:{" + ns + "}", "faasedge:kv:{" + ns + "}:keys"
}

// Get returns key's value in namespace ns.
func (r *Redis) Get(ctx context.Context, ns, key string) ([]byte, bool, error) {
	if err := checkNamespace(ns); err != nil {
		return nil, false, err
	}
	values, _ := redisKeys(ns)
	v, err := r.c.HGet(ctx, values, key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return v, true, nil
}

// Set sets key in namespace ns.
func (r *Redis) Set(ctx context.Context, ns, key string, value []byte) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	values, names := redisKeys(ns)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, values, key, value)
		p.ZAdd(ctx, names, redis.Z{Member: key})
		return nil
	})
	return err
}

// Delete removes key from namespace ns.
func (r *Redis) Delete(ctx context.Context, ns, key string) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	values, names := redisKeys(ns)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, values, key)
		p.ZRem(ctx, names, key)
		return nil
	})
	return err
}

// List returns up to limit keys of namespace ns that start with prefix.
func (r *Redis) List(ctx context.Context, ns, prefix string, limit int) ([]string, error) {
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	_, names := redisKeys(ns)
	start, stop := "-", "+"
	if prefix != "" {
		start, stop = "["+prefix, "("+upperBound(prefix)
	}
	return r.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: names, Start: start, Stop: stop, ByLex: true, Count: int64(limit)}).Result()
}
