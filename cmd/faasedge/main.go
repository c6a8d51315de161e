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
	"strings"
	"syscall"
)

// command is one subcommand: commands.go lists them, each one's file holds
// its options and their run.
type command struct {
	name    string
	summary string
	// synopsis heads the usage of a command that takes positional
	// arguments; flags may come before, between or after them. A command
	// without one refuses positional arguments.
	synopsis string
	// env names the variables that give flags their defaults (flag name
	// to variable), for commands the stock deployments configure by
	// environment.
	env map[string]string
	// options returns new options, which flags gives their defaults.
	options func() options
}

// options are a command's settings: flags declares them on the command's
// flag set, with their defaults; run runs the command with them and the
// positional arguments, and returns errUsage (possibly wrapped) for a
// command-line mistake.
type options interface {
	flags(fs *flag.FlagSet)
	run(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// errUsage marks a command-line mistake: exit code 2 instead of 1.
var errUsage = errors.New("usage")

// parse binds c's options to a flag set and parses args into them: flags
// given before, between or after the positional arguments (`get CID -o
// FILE`), which flag.Parse alone stops at. A mistake is an errUsage, its
// usage printed to stderr by the flag package.
func (c *command) parse(args []string, stderr io.Writer) (options, []string, error) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { c.usage(stderr, fs) }
	o := c.options()
	o.flags(fs)
	if err := envDefaults(fs, c.env); err != nil {
		return nil, nil, err
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if c.synopsis == "" && len(pos) > 0 {
		return nil, nil, fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	return o, pos, nil
}

// lookup is the command named name, or nil.
func lookup(name string) *command {
	if i := slices.IndexFunc(commands, func(c command) bool { return c.name == name }); i >= 0 {
		return &commands[i]
	}
	return nil
}

// run parses args into c's options and runs c with them.
func (c *command) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, pos, err := c.parse(args, stderr)
	if err != nil {
		return err
	}
	err = o.run(ctx, pos, stdout, stderr)
	if errors.Is(err, errUsage) && c.synopsis != "" {
		// The mistake is about the positional arguments the synopsis
		// shows.
		fmt.Fprintln(stderr, c.synopsis)
	}
	return err
}

// usage is the synopsis (or the summary), then the flags: spelt --name as
// the README and the errors spell them (the flag package takes -name and
// --name alike), -x for one letter.
func (c *command) usage(w io.Writer, fs *flag.FlagSet) {
	if c.synopsis != "" {
		fmt.Fprintln(w, c.synopsis)
	} else {
		fmt.Fprintf(w, "usage: faasedge %s [flags]\n\n%s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nflags:")
	fs.VisitAll(func(f *flag.Flag) {
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		typ, text := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  %s%s", dashes, f.Name)
		if typ != "" {
			fmt.Fprintf(w, " %s", typ)
		}
		fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(text, "\n", "\n    \t"))
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			if typ == "string" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(w)
	})
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
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "faasedge: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
