// Command faasedge is the single FaaS@Edge binary: the drop-in OpenWhisk
// invoker, the WebAssembly executor, the edge node and the standalone stack
// are its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// command is one subcommand; each lives in its own file.
type command struct {
	name    string
	summary string
	// run gets the arguments after the subcommand name. It returns
	// errUsage (possibly wrapped) to have the usage printed.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands are the subcommands, sorted by name as usage lists them.
var commands = []command{
	{"deploy", "deploy a wasm module as an action through a scheduling node (NAME FILE.wasm)", runDeploy},
	{"eval", "run the evaluation on a small deployment: the standalone and N nodes in network namespaces (root)", runEval},
	{"exec", "run a wasm action locally (FILE.wasm [--param k=v ...]), or serve the OpenWhisk action proxy (--proxy :8080)", runExec},
	{"gateway", "run virtual invokers backed by edge offers, and the Function Manager (stock environment)", runGateway},
	{"invoker", "run the drop-in OpenWhisk invoker (stock arguments and environment)", runInvoker},
	{"ipfs", "add, get, cat and pin content by IPFS CID (add|get|cat|pin)", runIPFS},
	{"kafkafeed", "run the Kafka feed provider of /whisk.system/messaging (upstream's environment)", runKafkaFeed},
	{"new", "write a ready action project (Go, Rust or C)", runNew},
	{"node", "run an edge node: volunteer memory to the offer ring and run activations", runNode},
	{"sim", "simulate the offer ring at scale (CSV and PNG plots)", runSim},
	{"standalone", "run the whole stack in one process (API on 127.0.0.1:3233, guest key)", runStandalone},
	{"version", "print the version", runVersion},
}

// errUsage marks a command-line mistake: exit code 2 instead of 1.
var errUsage = errors.New("usage")

// newFlags is a subcommand's flag set; its mistakes and usage go to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// usageFlags is newFlags for a subcommand with positional arguments: its
// usage is text (the synopsis) followed by the flags.
func usageFlags(name, text string, stderr io.Writer) *flag.FlagSet {
	fs := newFlags(name, stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, text); fs.PrintDefaults() }
	return fs
}

// parseFlags parses a subcommand's flags, refusing positional arguments:
// a mistake is an errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// parseInterleaved parses flags given before, between or after the
// positional arguments (`get CID -o FILE`), which flag.Parse alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// untilStopped is the end of a service that ran until ctx ended: being
// stopped (context.Canceled) is a clean exit.
func untilStopped(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// newLogger writes a subcommand's logs to stderr as text: from info up,
// or from warnings up when quiet.
func newLogger(stderr io.Writer, quiet bool) *slog.Logger {
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == args[0] })
	if i < 0 {
		fmt.Fprintf(stderr, "faasedge: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := commands[i]
	err := c.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "faasedge %s: %v\n", c.name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "faasedge %s: %v\n", c.name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: faasedge <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
}
