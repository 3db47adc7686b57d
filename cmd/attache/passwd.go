package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

// runPasswd is `attache passwd`: it reads a password from stdin (without
// echo on a terminal) and prints its bcrypt hash for auth.users.
func runPasswd(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "passwd", "[--cost N]   (reads the password from stdin)")
	cost := fset.Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost, %d..%d", bcrypt.MinCost, bcrypt.MaxCost))
	if err := parse(fset, args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: the password is read from stdin, never from the command line", fset.Arg(0))
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		return badUsage("--cost %d is out of range; use %d..%d", *cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	pw, tty, err := readPassword(env)
	if err != nil {
		return err
	}
	if pw == "" {
		return errors.New("the password is empty")
	}
	if len(pw) > 72 {
		return errors.New("the password is longer than 72 bytes, which bcrypt cannot hash; use a shorter one")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		return fmt.Errorf("bcrypt: %w", err)
	}
	fmt.Fprintln(env.Stdout, string(hash))
	if tty {
		fmt.Fprintf(env.Stderr, "add to config.yaml under auth.users:\n  - {name: NAME, password_hash: %q, role: viewer}   # or role: admin\n", hash)
	}
	return nil
}

// readPassword reads twice without echo from a terminal, or one line from a
// pipe (so `echo pw | attache passwd` works in scripts).
func readPassword(env *Env) (string, bool, error) {
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.Stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", true, fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(env.Stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", true, fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", true, errors.New("the passwords differ")
		}
		return string(a), true, nil
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", false, errors.New("no password on stdin; type it at a terminal or pipe it in: echo 'secret' | attache passwd")
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}
