package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/faasedge/faasedge/feed/kafka"
)

// runKafkaFeed starts the provider configured as upstream's: DB_URL,
// DB_USER, DB_PASS, DB_PREFIX, API_HOST, LOCAL_DEV, PAYLOAD_LIMIT, WORKER,
// INSTANCE and PORT. With --install-catalog it also installs the messaging
// package and its feed actions once the API answers.
func runKafkaFeed(ctx context.Context, args []string, _, stderr io.Writer) error {
	o, err := kafka.OptionsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	fs := newFlags("kafkafeed", stderr)
	workers := envList("WORKERS")
	fs.StringVar(&o.Listen, "listen", o.Listen, "address of the lifecycle endpoint and /health (default :$PORT, :5000)")
	fs.StringVar(&o.APIHost, "api-host", o.APIHost, "OpenWhisk API host, host[:port] for https or a URL ($API_HOST)")
	fs.Var(&workers, "workers", "worker ids new triggers are spread over (repeatable; $WORKERS, comma-separated; default: this worker)")
	install := fs.Bool("install-catalog", false, "install /whisk.system/messaging and its feed actions through the REST API at start-up")
	cat := kafka.Catalog{AuthKey: os.Getenv("CATALOG_AUTH"), Endpoint: os.Getenv("CATALOG_ENDPOINT")}
	fs.StringVar(&cat.AuthKey, "auth", cat.AuthKey, "whisk.system's key for --install-catalog ($CATALOG_AUTH)")
	fs.StringVar(&cat.Endpoint, "endpoint", cat.Endpoint, "the provider's address as invokers reach it, bound as the package's endpoint ($CATALOG_ENDPOINT; default http://<this host>:<port>)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.DBURL == "" {
		return fmt.Errorf("%w: DB_URL is required", errUsage)
	}
	if o.APIHost == "" {
		return fmt.Errorf("%w: API_HOST (or --api-host) is required: the lifecycle endpoint checks keys against it", errUsage)
	}
	if *install && cat.AuthKey == "" {
		return fmt.Errorf("%w: --install-catalog needs --auth (whisk.system's key)", errUsage)
	}
	o.Workers = workers
	log := newLogger(stderr, false)
	o.Logger = log
	p, err := kafka.New(ctx, o)
	if err != nil {
		return err
	}
	log.Info("kafkafeed: listening", "addr", p.Addr(), "worker", o.Worker)
	if *install {
		cat.APIHost, cat.Insecure = o.APIHost, o.LocalDev
		if cat.Endpoint == "" {
			host, _ := os.Hostname()
			_, port, _ := net.SplitHostPort(p.Addr())
			cat.Endpoint = "http://" + net.JoinHostPort(host, port)
		}
		go installCatalog(ctx, cat, log)
	}
	return untilStopped(p.Run(ctx))
}

// installCatalog retries until the API answers: the provider may start
// before the controller.
func installCatalog(ctx context.Context, cat kafka.Catalog, log *slog.Logger) {
	wait := time.Second
	for {
		err := cat.Install(ctx)
		if err == nil {
			log.Info("kafkafeed: installed /whisk.system/messaging", "endpoint", cat.Endpoint)
			return
		}
		log.Warn("kafkafeed: installing the catalog", "err", err, "retry in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}
