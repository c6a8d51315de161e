package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"

	controllerplugin "github.com/faasedge/faasedge/controller-plugin"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ring"
)

// runGateway is the controller plugin: virtual invokers with ids --ids,
// configured by the stock invoker environment (KAFKA_HOSTS,
// CONFIG_whisk_couchdb_*, ...), on a scheduling node of the offer ring.
// With --api-host it also serves the Function Manager.
func runGateway(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("gateway", stderr)
	ids := fs.String("ids", "", "virtual invoker ids: a range like 8-11, or a comma list")
	capacity := fs.Int("capacity", controllerplugin.DefaultCapacityMB, "memory (MB) each virtual invoker advertises and backs with edge claims")
	minClaim := fs.Int("min-claim", controllerplugin.DefaultMinClaimMB, "smallest claim (MB); actions with more memory do not run on edge nodes")
	check := fs.Duration("check", controllerplugin.DefaultCheckInterval, "how often leases are renewed and missing capacity claimed")
	uniqueName := fs.String("uniqueName", "edge", "prefix of the virtual invokers' uniqueName and displayedName (the id is appended)")
	policy := fs.String("policy", "bestfit", "scheduling policy: bestfit or worstfit")
	dataDir := fs.String("data-dir", defaultDataDir(), "node data directory: identity key and block store")
	var peers, listen repeated
	fs.Var(&peers, "peer", "ring peer multiaddr with /p2p/<id> to bootstrap from (repeatable)")
	fs.Var(&listen, "listen", "libp2p listen multiaddr (repeatable; default "+strings.Join(p2p.DefaultListenAddrs, ",")+")")
	apiHost := fs.String("api-host", os.Getenv("FAASEDGE_API_HOST"), "OpenWhisk API base URL; with --auth, enables the Function Manager")
	auth := fs.String("auth", os.Getenv("FAASEDGE_AUTH"), "uuid:key the Function Manager creates actions with")
	namespace := fs.String("namespace", "_", "namespace the Function Manager deploys into")
	insecure := fs.Bool("insecure", false, "skip TLS verification of the API host")
	indexKey := fs.String("index-key", "", "operator key file (libp2p private key); publish this node in the scheduler index")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	idList, err := parseIDs(*ids)
	if err != nil {
		return fmt.Errorf("%w: --ids: %w", errUsage, err)
	}
	pol, err := ring.ParsePolicy(*policy)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	base, err := invoker.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg := controllerplugin.NodeConfig{
		Host:   p2p.Config{DataDir: *dataDir, ListenAddrs: listen, Bootstrap: peers},
		Policy: pol,
		Gateway: controllerplugin.Config{
			Invoker: base, IDs: idList, CapacityMB: *capacity, MinClaimMB: *minClaim, CheckInterval: *check,
			Names: func(id int) (string, string) { n := *uniqueName + strconv.Itoa(id); return n, n },
		},
		Logger: newLogger(stderr, false),
	}
	switch {
	case *apiHost != "" && *auth != "":
		cfg.Manager = &controllerplugin.ManagerConfig{APIHost: *apiHost, AuthKey: *auth, Namespace: *namespace, Insecure: *insecure}
	case *apiHost != "":
		cfg.Logger.Warn("Function Manager off: --api-host is set but no --auth (FAASEDGE_AUTH) to create actions with")
	}
	if *indexKey != "" {
		if cfg.IndexKey, err = readIndexKey(*indexKey); err != nil {
			return err
		}
	}
	n, err := controllerplugin.StartNode(ctx, cfg)
	if err != nil {
		return err
	}
	return untilStopped(n.Run(ctx))
}

// readIndexKey reads the operator key the scheduler index is signed with.
func readIndexKey(keyFile string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("index key: %w", err)
	}
	key, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("index key %s: %w", keyFile, err)
	}
	return key, nil
}

// parseIDs reads "8-11" or "8,9,12".
func parseIDs(s string) ([]int, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("%q is not a range like 8-11", s)
		}
		out := make([]int, 0, b-a+1)
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
		return out, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not an invoker id", f)
		}
		out = append(out, n)
	}
	return out, nil
}
