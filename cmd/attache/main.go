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
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/attache/attache/internal/yamlfile"

	"golang.org/x/term"

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
	// Verbose is -v: log progress instead of drawing a progress bar.
	Verbose bool
}

// Log returns a text logger on stderr. On a terminal without -v it logs
// only warnings and errors (a progress bar and a summary say the rest);
// elsewhere (a pipe, cron, CI) and with -v it logs progress too.
// ATTACHE_LOG=debug shows more.
func (e *Env) Log() *slog.Logger {
	level := slog.LevelInfo
	if e.Terminal() && !e.Verbose {
		level = slog.LevelWarn
	}
	if os.Getenv("ATTACHE_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
}

// Terminal reports whether stderr is a terminal a person watches.
func (e *Env) Terminal() bool {
	f, ok := e.Stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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

// errUsage is returned for bad flags (already reported), so the exit code
// tells a mistyped command (2) from one that failed (1).
var errUsage = errors.New("usage")

// usageError is a bad flag value or argument: its message is printed and the
// exit code is 2, like a flag the parser refused.
type usageError struct{ msg string }

func (e usageError) Error() string        { return e.msg }
func (e usageError) Is(target error) bool { return target == errUsage }

// badUsage reports a bad flag value or argument: exit code 2.
func badUsage(format string, a ...any) error {
	return usageError{fmt.Sprintf(format, a...)}
}

// Main runs one subcommand and returns the process exit code: 0 done, 1
// failed, 2 mistyped (bad flags, unknown command, no command at all).
func Main(ctx context.Context, args []string, env *Env) int {
	cmds := commands()
	if len(args) == 0 {
		usage(env.Stderr, cmds)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(env.Stdout, cmds)
		return 0
	case "help":
		if len(args) == 1 {
			usage(env.Stdout, cmds)
			return 0
		}
		if _, ok := cmds[args[1]]; !ok {
			fmt.Fprintf(env.Stderr, "attache help: unknown command %q%s\n\n", args[1], didYouMean(args[1], commandNames(cmds)))
			usage(env.Stderr, cmds)
			return 2
		}
		return Main(ctx, []string{args[1], "--help"}, env)
	case "-version", "--version", "version":
		fmt.Fprintln(env.Stdout, version())
		return 0
	}
	name := args[0]
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(env.Stderr, "attache: unknown command %q%s\n\n", name, didYouMean(name, commandNames(cmds)))
		usage(env.Stderr, cmds)
		return 2
	}
	if wantsHelp(args[1:]) {
		// Asked-for help is the output, not an error: stdout, exit 0.
		help := *env
		help.Stderr = env.Stdout
		env = &help
	}
	err := cmd.run(ctx, env, args[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "attache %s: %v\n(attache help %s lists its flags)\n", name, err, name)
		return 2
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(env.Stderr, "attache %s: %v\n", name, err)
	return 1
}

// wantsHelp reports whether the arguments ask for help (before any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// version is the module version and the commit the binary was built from,
// as the Go toolchain recorded them.
func version() string {
	v, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if dirty {
				rev += "+changes"
			}
			v += " " + rev
		}
		v += " " + bi.GoVersion
	}
	return "attache " + v
}

func commandNames(cmds map[string]command) []string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// didYouMean suggests the nearest of names to s, when one is close:
// "; did you mean run?".
func didYouMean(s string, names []string) string {
	if n := yamlfile.Nearest(s, names); n != "" {
		return "; did you mean " + n + "?"
	}
	return ""
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "attache: analytics and reports for a fleet of per-tenant SQLite databases")
	fmt.Fprintln(w, "\nUsage: attache COMMAND [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, n := range commandNames(cmds) {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nattache help COMMAND shows a command's flags; attache --version the version.")
	fmt.Fprintln(w, "Every command takes --config FILE (default ./config.yaml, else the built-in demo) and -v (log progress).")
	fmt.Fprintln(w, "Exit status: 0 done, 1 failed (the message says why), 2 bad command or flags.")
}

// newFlags makes a FlagSet that writes to stderr and returns errors.
func newFlags(env *Env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		summary := commands()[name].summary
		fmt.Fprintf(env.Stderr, "attache %s: %s\n\nUsage: attache %s %s\n\nFlags:\n", name, summary, name, args)
		fs.PrintDefaults()
	}
	fs.BoolVar(&env.Verbose, "v", false, "log progress to stderr (on a terminal the default is a progress bar)")
	return fs
}

// parse parses flags, mapping bad flags to errUsage (already reported);
// -h is flag.ErrHelp, which exits 0.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(interleave(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
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
