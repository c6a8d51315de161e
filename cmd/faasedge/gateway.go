package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	controllerplugin "github.com/faasedge/faasedge/controller-plugin"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p/ring"
)

// gatewayEnv are the gateway's own variables beside the stock invoker
// environment.
var gatewayEnv = map[string]string{"api-host": "FAASEDGE_API_HOST", "auth": "FAASEDGE_AUTH"}

// gatewayOptions are the controller plugin's: virtual invokers with ids
// --ids, configured by the stock invoker environment (KAFKA_HOSTS,
// CONFIG_whisk_couchdb_*, ...), on a scheduling node of the offer ring.
// With --api-host it also serves the Function Manager.
type gatewayOptions struct {
	host                                              hostFlags
	ids, uniqueName, policy, apiHost, auth, namespace string
	indexKey                                          string
	capacity, minClaim                                int
	check                                             time.Duration
	insecure                                          bool
}

func (o *gatewayOptions) run(ctx context.Context, _ []string, _, stderr io.Writer) error {
	idList, err := parseIDs(o.ids)
	if err != nil {
		return fmt.Errorf("%w: --ids: %w", errUsage, err)
	}
	pol, err := ring.ParsePolicy(o.policy)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	base, err := invoker.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg := controllerplugin.NodeConfig{
		Host:   o.host.config(),
		Policy: pol,
		Gateway: controllerplugin.Config{
			Invoker: base, IDs: idList, CapacityMB: o.capacity, MinClaimMB: o.minClaim, CheckInterval: o.check,
			Names: func(id int) (string, string) { n := o.uniqueName + strconv.Itoa(id); return n, n },
		},
		Logger: newLogger(stderr, false),
	}
	switch {
	case o.apiHost != "" && o.auth != "":
		cfg.Manager = &controllerplugin.ManagerConfig{APIHost: o.apiHost, AuthKey: o.auth, Namespace: o.namespace, Insecure: o.insecure}
	case o.apiHost != "":
		cfg.Logger.Warn("Function Manager off: --api-host is set but no --auth (FAASEDGE_AUTH) to create actions with")
	}
	if o.indexKey != "" {
		if cfg.IndexKey, err = readIndexKey(o.indexKey); err != nil {
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
