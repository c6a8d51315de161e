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

// kafkafeedEnv are the catalog installation's variables and the workers';
// kafka.OptionsFromEnv reads the rest of upstream's.
var kafkafeedEnv = map[string]string{"workers": "WORKERS", "auth": "CATALOG_AUTH", "endpoint": "CATALOG_ENDPOINT"}

// kafkafeedOptions start the provider configured as upstream's: DB_URL,
// DB_USER, DB_PASS, DB_PREFIX, API_HOST, LOCAL_DEV, PAYLOAD_LIMIT, WORKER,
// INSTANCE and PORT. With --install-catalog it also installs the messaging
// package and its feed actions once the API answers.
type kafkafeedOptions struct {
	listen, apiHost string
	workers         repeated
	install         bool
	cat             kafka.Catalog
}

func (o *kafkafeedOptions) run(ctx context.Context, _ []string, _, stderr io.Writer) error {
	opts, err := kafka.OptionsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if o.listen != "" {
		opts.Listen = o.listen
	}
	if o.apiHost != "" {
		opts.APIHost = o.apiHost
	}
	if opts.DBURL == "" {
		return fmt.Errorf("%w: DB_URL is required", errUsage)
	}
	if opts.APIHost == "" {
		return fmt.Errorf("%w: API_HOST (or --api-host) is required: the lifecycle endpoint checks keys against it", errUsage)
	}
	if o.install && o.cat.AuthKey == "" {
		return fmt.Errorf("%w: --install-catalog needs --auth (whisk.system's key)", errUsage)
	}
	opts.Workers = o.workers
	log := newLogger(stderr, false)
	opts.Logger = log
	p, err := kafka.New(ctx, opts)
	if err != nil {
		return err
	}
	log.Info("kafkafeed: listening", "addr", p.Addr(), "worker", opts.Worker)
	if o.install {
		cat := o.cat
		cat.APIHost, cat.Insecure = opts.APIHost, opts.LocalDev
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
