// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// MintRefreshMargin is the longest a MintCache refreshes a token before it
// expires (Caracal protocol §5.4): a cached token is served while
// IssuedAt + ExpiresIn - now > min(MintRefreshMargin, ExpiresIn/2).
const MintRefreshMargin = 60 * time.Second

// MintCacheMaxEntries is the default capacity of a MintCache (Caracal
// protocol §5.4). When it is full, the entry stored longest ago goes.
const MintCacheMaxEntries = 10000

// MintRequest is an ExchangeRequest checked and normalized once, so that
// a MintCache lookup neither sorts, joins nor allocates. Build it with
// NewMintRequest and reuse it for every mint of the same request; the
// zero value is a request with no field set.
type MintRequest struct {
	form         exchangeForm
	forceRefresh bool
}

// NewMintRequest checks and normalizes req as STSClient.Exchange would,
// returning an error that wraps ErrExchangeInvalidRequest for a request
// that cannot be sent.
func NewMintRequest(req ExchangeRequest) (MintRequest, error) {
	f, err := newExchangeForm(req)
	if err != nil {
		return MintRequest{}, err
	}
	return MintRequest{form: f, forceRefresh: req.ForceRefresh}, nil
}

// OneShot reports whether r bypasses the cache: it carries both an agent
// session and a delegation (the STS mints a single-use use=gateway
// mandate), or an approval id (consumed by the exchange it approves).
func (r MintRequest) OneShot() bool { return r.form.oneShot() }

// MintCacheOption configures a MintCache.
type MintCacheOption interface {
	applyMintCache(mintCacheConfig) mintCacheConfig
}

type mintCacheOptionFunc func(mintCacheConfig) mintCacheConfig

func (f mintCacheOptionFunc) applyMintCache(
	c mintCacheConfig,
) mintCacheConfig {
	return f(c)
}

type mintCacheConfig struct {
	maxEntries int
}

func newMintCacheConfig(opts []MintCacheOption) mintCacheConfig {
	c := mintCacheConfig{maxEntries: MintCacheMaxEntries}
	for _, o := range opts {
		if o != nil {
			c = o.applyMintCache(c)
		}
	}
	return c
}

// WithMintCacheMaxEntries sets how many tokens the cache holds. A value
// that is not positive keeps the default, MintCacheMaxEntries.
func WithMintCacheMaxEntries(n int) MintCacheOption {
	return mintCacheOptionFunc(func(c mintCacheConfig) mintCacheConfig {
		if n > 0 {
			c.maxEntries = n
		}
		return c
	})
}

// cacheKey identifies a cached token. gen changes whenever the
// credentials change or the cache is invalidated, so neither an old
// entry nor an exchange still in flight from before can be served; the
// secret itself is not part of the key.
type cacheKey struct {
	zone string
	app  string
	gen  uint64
	form exchangeForm
}

type cacheEntry struct {
	tok        *Token
	freshUntil time.Time
	elem       *list.Element // in MintCache.order; Value is the cacheKey
}

// cacheFlight is one exchange that identical misses wait for. It stands in
// for golang.org/x/sync/singleflight, which this module does not depend
// on, and which could not let one waiter leave on its own context while
// the others keep waiting.
type cacheFlight struct {
	done chan struct{}
	tok  *Token
	err  error
}

// MintCache mints mandates through an STSClient and caches the reusable
// ones (Caracal protocol §5.4, §5.5). It is safe for concurrent use.
//
// Requests whose MintRequest.OneShot is true go straight to the STS:
// never read from or written to the cache, never shared. Any other
// request is cached under its zone, application, agent session,
// delegation, subject record, resources, scope and TTL, and served while
// fresh (see MintRefreshMargin). Identical concurrent misses share one
// exchange.
//
// The cache asks the client's CredentialSource on every Mint, hit or
// miss, and drops every entry when the credentials differ from the last
// ones; keep the source cheap. Freshness follows the client's clock (see
// WithSTSClock).
type MintCache struct {
	client *STSClient
	max    int

	mu      sync.RWMutex
	gen     uint64
	same    func(STSCredentials) bool // matches the credentials of gen
	entries map[cacheKey]*cacheEntry
	order   list.List // oldest first
	flights map[cacheKey]*cacheFlight
}

// NewMintCache returns an empty cache in front of client, which must not
// be nil.
func NewMintCache(client *STSClient, opts ...MintCacheOption) *MintCache {
	if client == nil {
		panic("caracal mandate: NewMintCache with a nil STSClient")
	}
	c := &MintCache{
		client:  client,
		max:     newMintCacheConfig(opts).maxEntries,
		entries: make(map[cacheKey]*cacheEntry),
		flights: make(map[cacheKey]*cacheFlight),
	}
	c.order.Init()
	return c
}

// Mint returns a token for req, from the cache when it holds a fresh one.
// It is NewMintRequest followed by MintPrepared; prepare the request once
// instead when it has several resources or scopes and Mint is hot.
func (c *MintCache) Mint(
	ctx context.Context,
	req ExchangeRequest,
) (*Token, error) {
	r, err := NewMintRequest(req)
	if err != nil {
		return nil, err
	}
	return c.MintPrepared(ctx, r)
}

// MintPrepared returns a token for r, from the cache when it holds a fresh
// one. A hit does not allocate.
//
// The returned Token may be shared with the cache and other callers and
// must not be modified. Errors are as for STSClient.Exchange; an
// access_denied for an agent session without a delegation carries a hint
// (Caracal protocol §5.5).
//
// A miss starts the exchange on its own goroutine, bounded by the client
// timeout and detached from ctx's cancellation: when ctx ends first, Mint
// returns ctx's error, while the exchange goes on for the callers that
// share it and to fill the cache.
func (c *MintCache) MintPrepared(
	ctx context.Context,
	r MintRequest,
) (*Token, error) {
	creds, err := c.client.credentials(ctx)
	if err != nil {
		return nil, err
	}
	if r.OneShot() {
		tok, err := c.client.exchange(ctx, creds, r.form)
		return tok, mintHint(r, err)
	}
	key := cacheKey{zone: creds.ZoneID, app: creds.ApplicationID, form: r.form}
	if !r.forceRefresh {
		if tok := c.lookup(creds, key); tok != nil {
			return tok, nil
		}
	}
	tok, err := c.miss(ctx, creds, key, r.forceRefresh)
	return tok, mintHint(r, err)
}

// lookup returns the fresh token cached under key for creds, or nil.
func (c *MintCache) lookup(creds STSCredentials, key cacheKey) *Token {
	now := c.client.cfg.now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.same == nil || !c.same(creds) {
		return nil
	}
	key.gen = c.gen
	if e := c.entries[key]; e != nil && now.Before(e.freshUntil) {
		return e.tok
	}
	return nil
}

// miss joins or starts the exchange for key and waits for it.
func (c *MintCache) miss(
	ctx context.Context,
	creds STSCredentials,
	key cacheKey,
	force bool,
) (*Token, error) {
	c.mu.Lock()
	if c.same == nil || !c.same(creds) {
		// New credentials: a rotated secret or another application
		// (Caracal protocol §5.4 drops the cache). A closure holds them
		// so that printing the cache with any verb cannot show the
		// secret.
		c.resetLocked()
		c.same = func(o STSCredentials) bool { return o == creds }
	}
	key.gen = c.gen
	f := c.flights[key]
	if f == nil {
		// Another flight may have filled the entry since lookup.
		e := c.entries[key]
		if !force && e != nil && c.client.cfg.now().Before(e.freshUntil) {
			c.mu.Unlock()
			return e.tok, nil
		}
		f = &cacheFlight{done: make(chan struct{})}
		c.flights[key] = f
		go c.fill(context.WithoutCancel(ctx), creds, key, f)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fill runs the exchange of flight f and stores its token. ctx carries no
// cancellation; the client timeout bounds the exchange.
func (c *MintCache) fill(
	ctx context.Context,
	creds STSCredentials,
	key cacheKey,
	f *cacheFlight,
) {
	tok, err := c.client.exchange(ctx, creds, key.form)
	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	if err == nil && key.gen == c.gen {
		c.storeLocked(key, tok)
	}
	c.mu.Unlock()
	f.tok, f.err = tok, err
	close(f.done)
}

// storeLocked caches tok under key, evicting the oldest entries beyond
// the capacity.
func (c *MintCache) storeLocked(key cacheKey, tok *Token) {
	margin := min(MintRefreshMargin, tok.ExpiresIn/2)
	fresh := tok.IssuedAt.Add(tok.ExpiresIn - margin)
	if e := c.entries[key]; e != nil {
		e.tok, e.freshUntil = tok, fresh
		c.order.MoveToBack(e.elem)
		return
	}
	c.entries[key] = &cacheEntry{
		tok:        tok,
		freshUntil: fresh,
		elem:       c.order.PushBack(key),
	}
	for len(c.entries) > c.max {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(cacheKey))
	}
}

// resetLocked drops every entry and moves to a new generation, so that
// exchanges in flight do not store their tokens.
func (c *MintCache) resetLocked() {
	c.gen++
	clear(c.entries)
	c.order.Init()
}

// Invalidate drops every cached token, for example after the Coordinator
// rejected one with 401 (Caracal protocol §5.4). Exchanges in flight
// still answer their callers but are not stored, and later requests do
// not join them.
func (c *MintCache) Invalidate() {
	c.mu.Lock()
	c.resetLocked()
	c.mu.Unlock()
}

// Len returns the number of cached tokens, stale ones included.
func (c *MintCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// mintHint appends the remediation of Caracal protocol §5.5 to an
// access_denied for an agent session without a delegation.
func mintHint(r MintRequest, err error) error {
	var se *STSError
	if err == nil || r.form.agentSession == "" || r.form.delegation != "" ||
		!errors.As(err, &se) || se.Code != "access_denied" {
		return err
	}
	return fmt.Errorf("%w (an agent session without a delegation holds "+
		"lifecycle-only authority; mint under a delegation to reach a "+
		"resource)", err)
}
