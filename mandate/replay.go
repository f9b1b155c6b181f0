// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import (
	"fmt"
	"sync"
	"time"
)

// MaxReplayEntries bounds the mandates a replay check remembers at once.
// When it is full of unexpired mandates, new ones are refused: the check
// fails closed.
const MaxReplayEntries = 100_000

// ErrReplay means a single-use mandate was presented again (Caracal
// protocol §7.3 step 9). It matches ErrInvalidToken.
var ErrReplay = fmt.Errorf("%w: token replay detected", ErrInvalidToken)

// replayCache remembers the jti of each single-use mandate until it could
// no longer be verified.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time // jti → when to forget it
	next time.Time            // earliest forget time, for purging
}

// check records c and fails with ErrReplay if it was seen. Session
// mandates are reusable and not recorded.
func (r *replayCache) check(c *Claims, now time.Time) error {
	if c.Use == UseSession {
		return nil
	}
	forget := now.Add(2 * ClockLeeway)
	if c.ExpiresAt != nil {
		forget = c.ExpiresAt.Add(ClockLeeway)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = make(map[string]time.Time)
	}
	if _, ok := r.seen[c.ID]; ok {
		return ErrReplay
	}
	if len(r.seen) >= MaxReplayEntries || (!r.next.IsZero() && now.After(r.next)) {
		r.purge(now)
	}
	if len(r.seen) >= MaxReplayEntries {
		return newError(ErrReplay, "replay check full")
	}
	r.seen[c.ID] = forget
	if r.next.IsZero() || forget.Before(r.next) {
		r.next = forget
	}
	return nil
}

func (r *replayCache) purge(now time.Time) {
	r.next = time.Time{}
	for jti, forget := range r.seen {
		if now.After(forget) {
			delete(r.seen, jti)
		} else if r.next.IsZero() || forget.Before(r.next) {
			r.next = forget
		}
	}
}
