// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otelcaracal/otelcaracal/baggage"
)

// Provisioning of the application transport (Caracal protocol §7.2).
const (
	// maxAppEntries is how many provisioned delegations are kept.
	maxAppEntries = 19
	// appSessionSlack is added to the mandate TTL for the sessions' TTL.
	appSessionSlack = 120 * time.Second
	// appRenewBefore is how long before the sessions end they are
	// replaced.
	appRenewBefore = 60 * time.Second
)

// appKey identifies one provisioned delegation.
type appKey struct {
	resource, scopes, labels string
	ttl                      time.Duration
}

// appEntry is a delegation between two task sessions, provisioned once.
type appEntry struct {
	ready          chan struct{} // closed when provisioned or failed
	source, target string
	edge           string
	until          time.Time
	err            error
}

// appSessions caches the application transport's sessions and
// delegations per resource, scopes, labels and TTL.
type appSessions struct {
	c       *Client
	mu      sync.Mutex
	entries map[appKey]*appEntry
	order   []appKey // oldest first
}

func newAppSessions(c *Client) *appSessions {
	return &appSessions{c: c, entries: make(map[appKey]*appEntry)}
}

// get returns the provisioned delegation for resource, provisioning it
// on first use and when it is about to end. Concurrent requests share one
// provisioning.
func (a *appSessions) get(ctx context.Context, resource string, opts TransportOptions) (*appEntry, error) {
	scopes := slices.Sorted(slices.Values(opts.Scopes))
	labels := opts.Labels
	if len(labels) == 0 {
		labels = []string{a.c.app}
	}
	key := appKey{resource, strings.Join(scopes, " "), strings.Join(labels, "\x00"), opts.TTL}

	var stale []*appEntry
	defer func() {
		for _, old := range stale {
			_ = a.retire(ctx, old) // best effort (Caracal protocol §7.2)
		}
	}()
	for {
		a.mu.Lock()
		e := a.entries[key]
		if e == nil {
			e = &appEntry{ready: make(chan struct{})}
			a.entries[key] = e
			a.order = append(a.order, key)
			for len(a.order) > maxAppEntries {
				stale = append(stale, a.entries[a.order[0]])
				a.removeLocked(a.order[0])
			}
			a.mu.Unlock()
			// Other requests wait for this provisioning: one caller's
			// cancellation must not fail theirs. Each call has its own
			// timeout.
			if a.provision(context.WithoutCancel(ctx), e, resource, scopes, labels, opts.TTL); e.err != nil {
				a.forget(key, e)
				return nil, e.err
			}
			return e, nil
		}
		a.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		switch {
		case e.err != nil:
			return nil, e.err
		case a.c.cfg.now().Before(e.until):
			return e, nil
		}
		if a.forget(key, e) {
			stale = append(stale, e)
		}
	}
}

// forget removes e from the cache if it is still there, and reports
// whether it was.
func (a *appSessions) forget(key appKey, e *appEntry) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.entries[key] != e {
		return false
	}
	a.removeLocked(key)
	return true
}

func (a *appSessions) removeLocked(key appKey) {
	delete(a.entries, key)
	a.order = slices.DeleteFunc(a.order, func(k appKey) bool { return k == key })
}

// provision starts the source and target sessions and the delegation
// between them (Caracal protocol §7.2, §10.12 steps 2–3).
func (a *appSessions) provision(
	ctx context.Context,
	e *appEntry,
	resource string,
	scopes, labels []string,
	mandateTTL time.Duration,
) {
	defer close(e.ready)
	c := a.c
	ttl := mandateTTL + appSessionSlack
	secs, err := seconds("application session TTL", ttl)
	if err != nil {
		e.err = err
		return
	}
	body := startBody{ApplicationID: c.app, Lifecycle: lifecycleTask, TTLSeconds: secs, Labels: labels}
	src, err := c.startRaw(ctx, body, "")
	if err != nil {
		e.err = err
		return
	}
	e.source = src.AgentSessionID
	tgt, err := c.startRaw(ctx, body, "")
	if err != nil {
		e.err = errors.Join(err, c.end(ctx, e.source, 0))
		return
	}
	e.target = tgt.AgentSessionID
	d, err := c.delegate(ctx, baggage.Envelope{AgentSession: e.source}, DelegateOptions{
		Target:      e.target,
		Scopes:      scopes,
		TTL:         ttl,
		Constraints: DelegationConstraints{Resources: []string{resource}},
	})
	if err != nil {
		e.err = errors.Join(err, a.retire(ctx, e))
		return
	}
	e.edge = d.ID
	e.until = c.cfg.now().Add(ttl - appRenewBefore)
}

// retire ends an entry's sessions, best effort.
func (a *appSessions) retire(ctx context.Context, e *appEntry) error {
	var errs []error
	for _, id := range []string{e.target, e.source} {
		if id != "" {
			errs = append(errs, a.c.end(ctx, id, 0))
		}
	}
	return errors.Join(errs...)
}

// retireAll ends every provisioned entry's sessions and forgets them.
func (a *appSessions) retireAll(ctx context.Context) error {
	a.mu.Lock()
	var all []*appEntry
	for _, k := range a.order {
		all = append(all, a.entries[k])
	}
	clear(a.entries)
	a.order = nil
	a.mu.Unlock()
	var errs []error
	for _, e := range all {
		<-e.ready
		errs = append(errs, a.retire(ctx, e))
	}
	return errors.Join(errs...)
}
