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

// allow reports whether ip may try now.
func (l *limiter) allow(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refill(ip).tokens >= 1
}

// spend uses one attempt of ip.
func (l *limiter) spend(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(ip)
	b.tokens = max(0, b.tokens-1)
}
