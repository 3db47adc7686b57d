package server

import (
	"sync"
	"time"
)

// limiter is a token bucket per client IP for sign-in attempts: burst
// attempts at once, then one more every per. It guards bcrypt too, which
// would otherwise let a client burn CPU.
type limiter struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{burst: float64(burst), every: window / time.Duration(burst), now: now, buckets: map[string]*bucket{}}
}

// refill brings ip's bucket up to date; l.mu is held.
func (l *limiter) refill(ip string) *bucket {
	now := l.now()
	b, ok := l.buckets[ip]
	if !ok {
		if len(l.buckets) > 10000 {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[ip] = b
		return b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
	return b
}

// sweep forgets full buckets so the map stays small.
func (l *limiter) sweep(now time.Time) {
	for ip, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(l.every) >= l.burst {
			delete(l.buckets, ip)
		}
	}
}

// take reserves one attempt of ip before the password is checked, and
// reports whether there was one left. Checking and spending in one step
// means parallel guesses cannot all pass while bcrypt runs.
func (l *limiter) take(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(ip)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back an attempt that turned out to be a right password.
func (l *limiter) refund(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(ip)
	b.tokens = min(l.burst, b.tokens+1)
}
