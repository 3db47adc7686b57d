// Command attache is the one binary: it builds rollups from a fleet of
// per-tenant SQLite databases and serves them as reports, exports and digests.
// Each subcommand lives in a file of its own; main only dispatches.
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
	"sort"
	"strings"
	"syscall"

	"github.com/attache/attache"
	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/roles"
)

func main() {
	// The binary is also its own worker: the engine and the query sandbox
	// start it again as child processes (see internal/worker).
	if code, ok := roles.Serve(); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(Main(ctx, os.Args[1:], env))
}

// Env is what a command may touch of the outside world, so tests can run
// the real program with buffers.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Log returns a text logger on stderr; ATTACHE_LOG=debug shows more.
func (e *Env) Log() *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("ATTACHE_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
}

type command struct {
	run     func(ctx context.Context, env *Env, args []string) error
	summary string
}

func commands() map[string]command {
	return map[string]command{
		"demo":    {runDemo, "generate a demo fleet of tenant databases"},
		"run":     {runRun, "run queries over every tenant into rollups, once"},
		"query":   {runQuery, "run an ad-hoc cross-tenant query"},
		"tenants": {runTenants, "list the fleet: size, last modified, last ok, last error"},
		"check":   {runCheck, "validate config, queries and reports; find tenants that cannot run a query"},
		"serve":   {runServe, "serve the dashboard and run scheduled jobs and digests"},
		"export":  {runExport, "write a report as an Excel workbook or a panel as CSV"},
		"digest":  {runDigest, "send (or --dry-run print) an email digest now"},
		"passwd":  {runPasswd, "print a bcrypt hash of a password read from stdin"},
	}
}

// exitUsage is returned for bad flags, so the exit code tells the two apart.
var errUsage = errors.New("usage")

// Main runs one subcommand and returns the process exit code.
func Main(ctx context.Context, args []string, env *Env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout, cmds)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "attache: unknown command %q\n\n", args[0])
		usage(env.Stderr, cmds)
		return 2
	}
	if err := cmd.run(ctx, env, args[1:]); err != nil {
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(env.Stderr, "attache %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "attache: analytics and reports for a fleet of per-tenant SQLite databases")
	fmt.Fprintln(w, "\nUsage: attache COMMAND [flags]   (attache COMMAND -h for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
}

// newFlags makes a FlagSet that writes to stderr and returns errors.
func newFlags(env *Env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: attache %s %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, mapping bad flags to errUsage (already reported).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(interleave(fs, args)); err != nil {
		return errUsage
	}
	return nil
}

// interleave moves flags after positional arguments to the front, so
// `attache query "SQL" --format csv` works as users type it.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, pos...)
}

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "config file (default: ./config.yaml if present, else the embedded default)")
}

// loadConfig loads path, or ./config.yaml, or the embedded default.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat("config.yaml"); err == nil {
			path = "config.yaml"
		}
	}
	return config.Load(path, attache.DefaultConfig, attache.Files)
}

// strList is a repeatable string flag (--query a --query b, or a,b).
type strList []string

func (s *strList) String() string { return strings.Join(*s, ",") }
func (s *strList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}
