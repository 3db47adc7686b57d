// Package worker runs go-libsql work in child processes of the attache binary.
//
// Why processes: go-libsql work does not run in parallel inside one process,
// it ignores context cancellation (a runaway query can only be stopped by
// killing its process), and a crash in its native code takes the whole
// process down. A child started from the same binary gives both cores, a
// hard deadline and crash containment. Parent and child talk gob over the
// child's stdin and stdout; the child's stderr is passed through.
package worker

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// RoleEnv names the environment variable that makes the binary a worker.
const RoleEnv = "ATTACHE_WORKER"

// Role returns the role this process was started in ("" for the main program).
func Role() string { return os.Getenv(RoleEnv) }

// ErrTimeout is returned by Call when the deadline passed and the child was killed.
var ErrTimeout = errors.New("time limit reached; the work was stopped")

// Proc is one child process.
type Proc struct {
	cmd  *exec.Cmd
	enc  *gob.Encoder
	dec  *gob.Decoder
	in   io.WriteCloser
	out  *bufio.Writer
	done chan struct{}
	mu   sync.Mutex
	dead bool
	hwm  int64 // its own peak RSS, read as Close began
}

// Start launches the current executable as a worker with the given role.
func Start(role string) (*Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start %s worker: %w", role, err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), RoleEnv+"="+role)
	cmd.SysProcAttr = procAttr()
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s worker: %w", role, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s worker: %w", role, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s worker: %w", role, err)
	}
	lowerPriority(cmd.Process.Pid, role)
	bw := bufio.NewWriter(in)
	p := &Proc{cmd: cmd, in: in, out: bw, enc: gob.NewEncoder(bw), dec: gob.NewDecoder(bufio.NewReader(out)), done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Call sends req and decodes the answer into resp. With a timeout > 0 the
// child is killed when it has not answered in time, and ErrTimeout returned.
// After any error the Proc is dead and must not be used again.
func (p *Proc) Call(req, resp any, timeout time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return errors.New("worker process has exited")
	}
	var timer *time.Timer
	timedOut := make(chan struct{})
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() {
			close(timedOut)
			p.cmd.Process.Kill()
		})
	}
	err := p.enc.Encode(req)
	if err == nil {
		err = p.out.Flush()
	}
	if err == nil {
		err = p.dec.Decode(resp)
	}
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		p.dead = true
		p.cmd.Process.Kill()
		select {
		case <-timedOut:
			return ErrTimeout
		default:
		}
		<-p.done
		return fmt.Errorf("worker process died (%s): %w", p.cmd.ProcessState, err)
	}
	return nil
}

// MaxRSS is the child's peak resident memory in bytes, known once it
// exited: its own (VmHWM) when Close could read it, else rusage's, which
// is at least the parent's size when the child started.
func (p *Proc) MaxRSS() int64 {
	select {
	case <-p.done:
	default:
		return 0
	}
	if p.hwm > 0 {
		return p.hwm
	}
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // Linux reports KiB
	}
	return 0
}

// Close ends the child: its stdin closes, and it exits when it sees EOF.
func (p *Proc) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = true
	if p.cmd.Process != nil {
		p.hwm = peakRSS(p.cmd.Process.Pid)
	}
	p.in.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// Kill stops the child at once.
func (p *Proc) Kill() {
	p.mu.Lock()
	p.dead = true
	p.mu.Unlock()
	p.cmd.Process.Kill()
	<-p.done
}

// Serve is the child's loop: it decodes requests of type Req from r, calls
// handle, and encodes each answer to w, until r ends.
func Serve[Req, Resp any](r io.Reader, w io.Writer, handle func(*Req) *Resp) error {
	dec := gob.NewDecoder(bufio.NewReader(r))
	bw := bufio.NewWriter(w)
	enc := gob.NewEncoder(bw)
	for {
		var req Req
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("worker: read request: %w", err)
		}
		if err := enc.Encode(handle(&req)); err != nil {
			return fmt.Errorf("worker: write answer: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("worker: write answer: %w", err)
		}
	}
}

// Pool keeps idle children of one role for reuse, so a bounded query costs a
// round trip, not a process start.
type Pool struct {
	role string
	max  int
	mu   sync.Mutex
	idle []*Proc
	sem  chan struct{}
}

// NewPool makes a pool of at most size busy children.
func NewPool(role string, size int) *Pool {
	return &Pool{role: role, max: size, sem: make(chan struct{}, size)}
}

// Call runs one request on an idle child (starting one if none is idle),
// killing it at the timeout. At most size calls run at once; others wait.
func (p *Pool) Call(req, resp any, timeout time.Duration) error {
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	proc, err := p.get()
	if err != nil {
		return err
	}
	if err := proc.Call(req, resp, timeout); err != nil {
		return err // proc is dead; it is not returned to the pool
	}
	p.mu.Lock()
	p.idle = append(p.idle, proc)
	p.mu.Unlock()
	return nil
}

func (p *Pool) get() (*Proc, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		proc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return proc, nil
	}
	p.mu.Unlock()
	return Start(p.role)
}

// Close ends every idle child.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, proc := range idle {
		proc.Close()
	}
}
