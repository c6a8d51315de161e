package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	controllerplugin "github.com/faasedge/faasedge/controller-plugin"
	"github.com/faasedge/faasedge/internal/httpserve"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ipfs"
	"github.com/faasedge/faasedge/p2p/ring"
)

func init() {
	register(command{
		name:    "gateway",
		summary: "run virtual invokers backed by edge offers, and the Function Manager (stock environment)",
		run:     runGateway,
	})
}

// runGateway is the controller plugin: virtual invokers with ids --ids,
// configured by the stock invoker environment (KAFKA_HOSTS,
// CONFIG_whisk_couchdb_*, ...), on a scheduling node of the offer ring.
// With --api-host it also serves the Function Manager.
func runGateway(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
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
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	h, err := p2p.NewHost(ctx, p2p.Config{DataDir: *dataDir, ListenAddrs: listen, Bootstrap: peers})
	if err != nil {
		return err
	}
	defer h.Close()
	code, err := ipfs.New(ctx, h, ipfs.WithDataDir(*dataDir), ipfs.WithLogger(log))
	if err != nil {
		return err
	}
	defer code.Close()
	tr := ring.NewHostTransport(h, log)
	defer tr.Close()
	node, err := ring.New(tr, h.Peerstore().PrivKey(h.ID()), ring.WithPolicy(pol), ring.WithLogger(log))
	if err != nil {
		return err
	}
	node.Start(ctx)
	defer node.Close(context.WithoutCancel(ctx))

	fmOn := *apiHost != "" && *auth != ""
	if *apiHost != "" && *auth == "" {
		log.Warn("Function Manager off: --api-host is set but no --auth (FAASEDGE_AUTH) to create actions with")
	}
	if fmOn {
		fm, err := controllerplugin.NewFunctionManager(node, code, controllerplugin.ManagerConfig{
			APIHost: *apiHost, AuthKey: *auth, Namespace: *namespace, Insecure: *insecure,
		}, log)
		if err != nil {
			return err
		}
		fm.Register(tr)
	}
	if *indexKey != "" {
		key, err := readIndexKey(*indexKey)
		if err != nil {
			return err
		}
		go publishIndex(ctx, h, key, log)
	}

	gw, err := controllerplugin.New(ctx, node, base, idList,
		controllerplugin.WithCapacity(*capacity), controllerplugin.WithMinClaim(*minClaim),
		controllerplugin.WithCheckInterval(*check), controllerplugin.WithPublisher(code),
		controllerplugin.WithNames(func(id int) (string, string) {
			n := *uniqueName + strconv.Itoa(id)
			return n, n
		}),
		controllerplugin.WithLogger(log))
	if err != nil {
		return err
	}
	if base.HTTPAddr != "" {
		ln, err := net.Listen("tcp", base.HTTPAddr)
		if err != nil {
			return fmt.Errorf("gateway: listen %s: %w", base.HTTPAddr, err)
		}
		srv := httpserve.Server(gw.Handler(), invoker.HTTPLimits)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server", "err", err)
			}
		}()
		defer srv.Close()
	}
	log.Info("gateway started", "peer", h.ID(), "addrs", h.FullAddrs(), "ids", idList, "capacityMB", *capacity, "functionManager", fmOn)
	if err := gw.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// indexTTL is how long a scheduler index record is valid; it is
// published again at half that.
const indexTTL = 24 * time.Hour

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

// publishIndex lists this node in the scheduler index under the operator
// key, so that `faasedge deploy --scheduler /ipns/<name>` finds it. It
// retries until the DHT takes the record (the ring may still be forming
// at start-up) and publishes again before the record expires.
func publishIndex(ctx context.Context, h *p2p.Host, key crypto.PrivKey, log *slog.Logger) {
	wait := time.Second
	for {
		name, err := ring.PublishIndex(ctx, h.DHT, key, h.FullAddrs(), uint64(time.Now().UnixMilli()), indexTTL)
		if err == nil {
			log.Info("listed in the scheduler index", "name", "/ipns/"+name.String())
			wait = indexTTL / 2
		} else if ctx.Err() == nil {
			log.Warn("publishing the scheduler index failed, retrying", "err", err, "in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
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
