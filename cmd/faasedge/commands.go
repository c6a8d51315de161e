package main

import (
	"flag"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	controllerplugin "github.com/faasedge/faasedge/controller-plugin"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/p2p/sim"
	"github.com/faasedge/faasedge/whisk"
)

// The command line: every subcommand, and the flags that set its options
// (each command's file holds its options and what it does with them).

// commands are the subcommands, sorted by name as usage lists them.
var commands = []command{
	{name: "deploy", summary: "deploy a wasm module as an action through a scheduling node (NAME FILE.wasm)",
		synopsis: deployUsage, options: func() options { return new(deployOptions) }},
	{name: "eval", summary: "run the evaluation on a small deployment: the standalone and N nodes in network namespaces (root)",
		options: func() options { return new(evalOptions) }},
	{name: "exec", summary: "run a wasm action locally (FILE.wasm [--param k=v ...]), or serve the OpenWhisk action proxy (--proxy :8080)",
		synopsis: execUsage, options: func() options { return &execOptions{params: params{}} }},
	{name: "gateway", summary: "run virtual invokers backed by edge offers, and the Function Manager (stock environment)",
		env: gatewayEnv, options: func() options { return new(gatewayOptions) }},
	{name: "invoker", summary: "run the drop-in OpenWhisk invoker (stock arguments and environment)",
		env: invokerEnv, options: func() options { return new(invokerOptions) }},
	{name: "ipfs", summary: "add, get, cat and pin content by IPFS CID (add|get|cat|pin)",
		synopsis: ipfsUsage, options: func() options { return new(ipfsOptions) }},
	{name: "kafkafeed", summary: "run the Kafka feed provider of /whisk.system/messaging (upstream's environment)",
		env: kafkafeedEnv, options: func() options { return new(kafkafeedOptions) }},
	{name: "new", summary: "write a ready action project (Go, Rust or C)",
		synopsis: newUsage, options: func() options { return new(newOptions) }},
	{name: "node", summary: "run an edge node: volunteer memory to the offer ring and run activations",
		options: func() options { return new(nodeOptions) }},
	{name: "sim", summary: "simulate the offer ring at scale (CSV and PNG plots)",
		options: func() options { return new(simOptions) }},
	{name: "standalone", summary: "run the whole stack in one process (API on 127.0.0.1:3233, guest key)",
		options: func() options { return new(standaloneOptions) }},
	{name: "version", summary: "print the version",
		options: func() options { return versionOptions{} }},
}

func (o *deployOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.scheduler, "scheduler", "", "scheduler multiaddr, or /ipns/<name> of the scheduler index")
	fs.IntVar(&o.memory, "memory", 256, "action memory limit (MB)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "deadline of the whole deployment")
	o.host.register(fs, "")
}

func (o *evalOptions) flags(fs *flag.FlagSet) {
	f := &o.sizes
	fs.IntVar(&f.nodes, "nodes", 5, "edge nodes (N), each a `faasedge node` in its own network namespace")
	fs.StringVar(&o.rate, "rate", "", "link cap per node and direction, as tc writes it (e.g. 20mbit); none by default")
	fs.Float64Var(&o.cpu, "cpu", 0, "CPU cap per node in cores (e.g. 0.5); none by default")
	fs.IntVar(&o.memory, "node-memory", 1024, "memory (MB) each node volunteers, in two offers")
	names := slices.Sorted(maps.Keys(evalWorkloads))
	fs.StringVar(&o.workloads, "workloads", strings.Join(names, ","), "workloads to run, comma-separated ("+strings.Join(names, ", ")+")")
	fs.StringVar(&o.placements, "placements", "local,ipfs", "data placements, comma-separated (local, ipfs)")
	fs.IntVar(&o.requests, "requests", 20, "requests sent at each offered load")
	fs.StringVar(&o.load, "load", "1,4", "offered loads: requests kept in flight, comma-separated")
	fs.DurationVar(&o.interval, "interval", time.Second, "how often the collectors sample")
	fs.StringVar(&o.out, "out", "eval-out", "directory that receives the run's directory")
	fs.StringVar(&f.hashSizes, "hash-sizes", "4k,1m,16m,64m", "file sizes of the hash workload")
	fs.IntVar(&f.restUsers, "rest-users", 0, "users of the rest workload's social network (0: its default)")
	fs.IntVar(&f.restPosts, "rest-posts", 0, "posts of the rest workload's social network (0: its default)")
	fs.IntVar(&f.mnistImages, "mnist-images", 1000, "MNIST test images the mnist workload classifies (0: all 10,000)")
	fs.IntVar(&f.mnistBatch, "mnist-batch", 10, "images per mnist request (1 to 100)")
	fs.IntVar(&f.videoFrames, "video-frames", 48, "frames of the video workload's synthetic MJPEG video")
	fs.StringVar(&f.videoSize, "video-size", "320x240", "frame size of the video workload")
	fs.IntVar(&f.videoChunks, "video-chunks", 0, "chunks the video is split into, one request each (0: one per node)")
	fs.BoolVar(&o.verbose, "v", false, "log the testbed's steps")
	fs.BoolVar(&o.clean, "clean", false, "remove what earlier runs that could not tear down (SIGKILLed) left: processes, namespaces, links, cgroups; then exit")
}

func (o *execOptions) flags(fs *flag.FlagSet) {
	fs.Var(o.params, "param", "an action parameter `key=value` (repeatable; JSON values are taken as JSON)")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "the action's time limit")
	fs.Int64Var(&o.memory, "memory", whisk.DefaultMemoryMB, "the action's memory limit in MB")
	fs.Int64Var(&o.logs, "logs", whisk.DefaultLogsMB, "the action's log limit in MB")
	fs.IntVar(&o.concurrency, "concurrency", 1, "activations one reactor action may run at once")
	fs.StringVar(&o.proxy, "proxy", "", "serve OpenWhisk's action runtime protocol (/init, /run) on this address instead")
	o.node.register(fs, "")
}

func (o *gatewayOptions) flags(fs *flag.FlagSet) {
	o.host.register(fs, defaultDataDir())
	fs.StringVar(&o.ids, "ids", "", "virtual invoker ids: a range like 8-11, or a comma list")
	fs.IntVar(&o.capacity, "capacity", controllerplugin.DefaultCapacityMB, "memory (MB) each virtual invoker advertises and backs with edge claims")
	fs.IntVar(&o.minClaim, "min-claim", controllerplugin.DefaultMinClaimMB, "smallest claim (MB); actions with more memory do not run on edge nodes")
	fs.DurationVar(&o.check, "check", controllerplugin.DefaultCheckInterval, "how often leases are renewed and missing capacity claimed")
	fs.StringVar(&o.uniqueName, "uniqueName", "edge", "prefix of the virtual invokers' uniqueName and displayedName (the id is appended)")
	fs.StringVar(&o.policy, "policy", "bestfit", "scheduling policy: bestfit or worstfit")
	fs.StringVar(&o.apiHost, "api-host", "", "OpenWhisk API base URL; with --auth, enables the Function Manager")
	fs.StringVar(&o.auth, "auth", "", "uuid:key the Function Manager creates actions with")
	fs.StringVar(&o.namespace, "namespace", "_", "namespace the Function Manager deploys into")
	fs.BoolVar(&o.insecure, "insecure", false, "skip TLS verification of the API host")
	fs.StringVar(&o.indexKey, "index-key", "", "operator key file (libp2p private key); publish this node in the scheduler index")
}

func (o *invokerOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&o.id, "id", -1, "invoker instance id (topic invoker{id})")
	fs.StringVar(&o.uniqueName, "uniqueName", "", "unique name of this invoker")
	fs.StringVar(&o.displayedName, "displayedName", "", "name shown by the controller's /invokers")
	fs.IntVar(&o.overwriteID, "overwriteId", -1, "accepted for compatibility; only meaningful with ZooKeeper id assignment")
	o.node.register(fs, "")
	fs.StringVar(&o.redis, "redis", "", "Redis URL (redis://[user:pass@]host:port[/db]) of the key-value store for actions annotated faasedge-kv (none when empty)")
	o.compile.register(fs)
}

func (o *ipfsOptions) flags(fs *flag.FlagSet) {
	o.node.register(fs, defaultDataDir())
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "deadline of a fetch")
	fs.BoolVar(&o.quiet, "Q", false, "add: print only the CID")
	fs.IntVar(&o.cidVersion, "cid-version", 0, "add: CID version, 0 (Kubo's default) or 1 (raw leaves)")
	fs.StringVar(&o.out, "o", "", "get: output file")
}

func (o *kafkafeedOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.listen, "listen", "", "address of the lifecycle endpoint and /health (default :$PORT, :5000)")
	fs.StringVar(&o.apiHost, "api-host", "", "OpenWhisk API host, host[:port] for https or a URL ($API_HOST)")
	fs.Var(&o.workers, "workers", "worker ids new triggers are spread over (repeatable; default: this worker)")
	fs.BoolVar(&o.install, "install-catalog", false, "install /whisk.system/messaging and its feed actions through the REST API at start-up")
	fs.StringVar(&o.cat.AuthKey, "auth", "", "whisk.system's key for --install-catalog")
	fs.StringVar(&o.cat.Endpoint, "endpoint", "", "the provider's address as invokers reach it, bound as the package's endpoint (default http://<this host>:<port>)")
}

func (o *newOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.lang, "lang", "go", "the action's language: go, rust or c")
	fs.StringVar(&o.dir, "dir", "", "the project's directory (./NAME)")
}

func (o *nodeOptions) flags(fs *flag.FlagSet) {
	o.host.register(fs, defaultDataDir())
	fs.IntVar(&o.memoryMB, "memory", 1024, "memory (MB) this node volunteers")
	fs.IntVar(&o.vnodes, "vnodes", 2, "offers (virtual nodes) the memory is split into, so it lands in several regions")
	fs.StringVar(&o.pnetKey, "pnet-key", "", "private network key file (libp2p swarm.key format); only holders of it can connect")
	fs.Var(&o.allow, "allow", "peer ID allowed to connect (repeatable); when set, every other peer is refused")
	fs.Var(&o.schedulers, "scheduler", "scheduler multiaddr with /p2p/<id> to push free offers to, the backup list (repeatable)")
	fs.Var(&o.allowHosts, "allow-host", "host actions run here may send HTTP to, when their faasedge-allowed-hosts allows it too (repeatable; \"*\" defers to the actions; none: no outbound HTTP)")
	fs.StringVar(&o.index, "scheduler-index", "", "/ipns/<name> of the scheduler index; its schedulers get the backup list")
	fs.DurationVar(&o.refresh, "refresh", ring.DefaultRefresh, "how often offers are re-published")
	fs.StringVar(&o.data, "data", "", "host directory actions run here read at /data (read-only); none by default")
	fs.StringVar(&o.redis, "redis", "", "Redis server (redis://host:port[/db]) backing the key-value store of actions annotated faasedge-kv; none by default")
	fs.StringVar(&o.metrics, "metrics", "", "address serving Prometheus /metrics (libp2p bytes by protocol, runs), e.g. 127.0.0.1:9464; off by default")
}

func (o *simOptions) flags(fs *flag.FlagSet) {
	def, c := sim.DefaultConfig(), &o.cfg
	*c = def
	fs.StringVar(&c.Backend, "backend", def.Backend, "mem (in-memory network, 100,000 nodes and more, virtual time), libp2p (real hosts on loopback) or mocknet (real hosts on libp2p's mocknet, -latency on every link)")
	fs.IntVar(&c.Nodes, "nodes", def.Nodes, "number of nodes")
	fs.StringVar(&o.nodeMem, "node-memory", def.NodeMemory.String(), "memory each node volunteers, MB:weight,...")
	fs.IntVar(&c.VNodes, "vnodes", def.VNodes, "offers (virtual nodes) each node splits its memory into")
	fs.StringVar(&o.requests, "requests", def.Requests.String(), "request sizes, MB:weight,...")
	fs.Float64Var(&c.Rate, "rate", def.Rate, "requests per second over the ring (virtual time on mem)")
	fs.Float64Var(&c.Churn, "churn", def.Churn, "fraction of nodes replaced per refresh period")
	fs.StringVar(&o.policies, "policy", "bestfit,worstfit", "policies to run, comma-separated")
	fs.IntVar(&c.MaxTries, "max-tries", def.MaxTries, "trader lookups before the backup list")
	fs.BoolVar(&c.Backup, "backup", def.Backup, "use the backup list")
	fs.IntVar(&c.Schedulers, "schedulers", def.Schedulers, "scheduler nodes")
	fs.StringVar(&o.levels, "levels", "0.5,0.8,0.9", "utilisation levels measured in steady state")
	fs.IntVar(&c.Measure, "measure", def.Measure, "requests measured per level")
	fs.Uint64Var(&c.Seed, "seed", def.Seed, "random seed")
	fs.DurationVar(&c.Latency, "latency", def.Latency, "one-way message latency (mem: per message on the virtual clock; mocknet: per link)")
	fs.DurationVar(&c.Refresh, "refresh", def.Refresh, "supplier refresh period (mem, virtual time)")
	fs.IntVar(&c.TickEvery, "tick-every", def.TickEvery, "requests between refreshes (libp2p)")
	fs.StringVar(&o.csv, "csv", "", "write results to this CSV file")
	fs.StringVar(&o.plots, "plots", "", "write <prefix>-success.png and <prefix>-messages.png")
	fs.IntVar(&c.Workers, "workers", 0, "goroutines running the refreshes (0: one per core); a mem run's figures depend only on the flags and -seed")
	fs.BoolVar(&o.verbose, "v", false, "log progress")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the runs to this file (go tool pprof)")
}

func (o *standaloneOptions) flags(fs *flag.FlagSet) {
	o.memory, o.edgeMemory = size(2048*whisk.MB), size(1024*whisk.MB)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:3233", "address of the OpenWhisk REST API")
	fs.StringVar(&o.dataDir, "data-dir", filepath.Join(defaultDataDir(), "standalone"), "where documents and compiled modules are kept")
	fs.StringVar(&o.redis, "redis", "", "keep the actions' key-value store in this Redis (redis://host:port[/db]) instead of the embedded one")
	fs.StringVar(&o.couch, "couchdb", "", "use this CouchDB (or pouchdb-server) instead of the embedded store, e.g. http://admin:pass@127.0.0.1:5984")
	fs.IntVar(&o.invokers, "invokers", 1, "number of invoker engines")
	fs.Var(&o.memory, "user-memory", "memory each invoker offers to actions, a `size` such as 2048m or 2g")
	fs.IntVar(&o.edgeNodes, "edge-nodes", 2, "number of edge nodes started on loopback, whose memory virtual invokers lend to the controller (0: none)")
	fs.Var(&o.edgeMemory, "edge-memory", "memory each edge node volunteers, in two offers, a `size` such as 1024m or 1g")
	fs.IntVar(&o.virtual, "virtual-invokers", 1, "number of virtual invokers sharing the edge nodes' memory; their ids follow the invokers'")
	fs.StringVar(&o.dataMount, "data-mount", "", "host directory every action reads at /data, read-only, on the invokers and the edge nodes")
	fs.Var(&o.peers, "peer", "multiaddr (with /p2p/<id>) of an IPFS peer serving ipfs://<CID> action code; repeatable")
	o.compile.register(fs)
	fs.TextVar(&o.logLevel, "log-level", slog.LevelWarn, "log `level` of every component: debug, info, warn or error")
}

func (versionOptions) flags(*flag.FlagSet) {}
