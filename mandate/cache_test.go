// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otelcaracal/otelcaracal/mandate"
)

// lifecycleRequest is the cached lifecycle mint of Caracal protocol §10.12.
var lifecycleRequest = mandate.ExchangeRequest{
	Resources: []string{testResource},
	Scopes:    []string{"agent:lifecycle"},
}

// newCache returns a cache in front of a fake STS minting tokens that live
// expiresIn seconds, all on clk.
func newCache(
	t testing.TB,
	clk *fakeClock,
	expiresIn int,
	opts ...mandate.MintCacheOption,
) (*mandate.MintCache, *fakeSTS) {
	t.Helper()
	var sts *fakeSTS
	sts = newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
		writeToken(w, fmt.Sprintf("tok-%d", sts.calls.Load()), expiresIn)
	})
	c := newClient(t, sts.URL, mandate.WithSTSClock(clk.Now))
	return mandate.NewMintCache(c, opts...), sts
}

func mustMint(
	t testing.TB,
	c *mandate.MintCache,
	req mandate.ExchangeRequest,
) *mandate.Token {
	t.Helper()
	tok, err := c.Mint(testContext(t), req)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

func TestMintCacheRefreshMargin(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn int
		// freshFor is how long a token is served: expires_in minus
		// min(60 s, expires_in/2).
		freshFor time.Duration
	}{
		{"long-lived token, 60 s margin", 900, 840 * time.Second},
		{"five minutes", 300, 240 * time.Second},
		{"two minutes, both margins equal", 120, 60 * time.Second},
		{"short-lived token, half its life", 60, 30 * time.Second},
		{"one second", 1, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			c, sts := newCache(t, clk, tt.expiresIn)
			first := mustMint(t, c, lifecycleRequest)

			clk.Advance(tt.freshFor - time.Nanosecond)
			if got := mustMint(t, c, lifecycleRequest); got != first {
				t.Fatalf("token refreshed %v before its margin",
					time.Nanosecond)
			}
			clk.Advance(time.Nanosecond)
			second := mustMint(t, c, lifecycleRequest)
			if second == first || second.AccessToken == first.AccessToken {
				t.Fatal("token not refreshed at its margin")
			}
			if n := sts.calls.Load(); n != 2 {
				t.Errorf("STS exchanges = %d, want 2", n)
			}
			if got := mustMint(t, c, lifecycleRequest); got != second {
				t.Error("refreshed token not cached")
			}
		})
	}
}

func TestMintCacheOneShot(t *testing.T) {
	tests := []struct {
		name string
		req  mandate.ExchangeRequest
	}{
		{
			// Caracal protocol §10.12 step 4: every request mints anew.
			name: "gateway mandate",
			req: mandate.ExchangeRequest{
				Resources:        []string{testResource},
				Scopes:           []string{"data:read"},
				AgentSessionID:   "agent-2",
				DelegationEdgeID: "edge-1",
				TTL:              300 * time.Second,
			},
		},
		{
			name: "approval",
			req: mandate.ExchangeRequest{
				Resources:  []string{testResource},
				Scopes:     []string{"data:write"},
				ApprovalID: "ap-1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sts := newCache(t, newFakeClock(), 300)
			a, b := mustMint(t, c, tt.req), mustMint(t, c, tt.req)
			if a.AccessToken == b.AccessToken {
				t.Error("one-shot mandate reused")
			}
			if n := sts.calls.Load(); n != 2 {
				t.Errorf("STS exchanges = %d, want 2", n)
			}
			if n := c.Len(); n != 0 {
				t.Errorf("Len = %d, want 0", n)
			}
			r, err := mandate.NewMintRequest(tt.req)
			if err != nil || !r.OneShot() {
				t.Errorf("OneShot = false, %v", err)
			}
		})
	}
}

func TestMintCacheOneShotNotShared(t *testing.T) {
	const n = 10
	release, open := newGate(t)
	var sts *fakeSTS
	sts = newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
		blockUntil(r, release)
		writeToken(w, fmt.Sprintf("tok-%d", sts.calls.Load()), 300)
	})
	c := mandate.NewMintCache(newClient(t, sts.URL))
	req := mandate.ExchangeRequest{Resources: []string{testResource},
		AgentSessionID: "agent-2", DelegationEdgeID: "edge-1"}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { _, _ = c.Mint(testContext(t), req) })
	}
	waitFor(t, func() bool { return sts.calls.Load() == n })
	open()
	wg.Wait()
}

// mintOrNil is mustMint for goroutines other than the test's: it reports
// an error without stopping the test.
func mintOrNil(
	t *testing.T,
	c *mandate.MintCache,
	req mandate.ExchangeRequest,
) *mandate.Token {
	tok, err := c.Mint(testContext(t), req)
	if err != nil {
		t.Errorf("Mint: %v", err)
		return &mandate.Token{}
	}
	return tok
}

// newGate returns a channel that handlers block on and the function that
// opens it. The gate also opens at cleanup, before the server closes, so
// a failing test cannot leave a handler blocked.
func newGate(t *testing.T) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(open)
	return ch, open
}

// blockUntil holds a handler until gate opens or the client goes away,
// which the fake STS's cleanup forces.
func blockUntil(r *http.Request, gate <-chan struct{}) {
	select {
	case <-gate:
	case <-r.Context().Done():
	}
}

// waitFor polls cond until it holds or the test deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMintCacheSingleFlight(t *testing.T) {
	const n = 50
	release, open := newGate(t)
	sts := newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
		blockUntil(r, release)
		writeToken(w, "shared", 300)
	})
	c := mandate.NewMintCache(newClient(t, sts.URL))

	var started, wg sync.WaitGroup
	toks := make([]*mandate.Token, n)
	errs := make([]error, n)
	started.Add(n)
	for i := range n {
		wg.Go(func() {
			started.Done()
			toks[i], errs[i] = c.Mint(testContext(t), lifecycleRequest)
		})
	}
	started.Wait()
	waitFor(t, func() bool { return sts.calls.Load() >= 1 })
	time.Sleep(50 * time.Millisecond) // let the others pile up
	open()
	wg.Wait()

	if got := sts.calls.Load(); got != 1 {
		t.Errorf("STS exchanges = %d, want 1", got)
	}
	for i := range n {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %v, %v", i, toks[i], errs[i])
		}
	}
}

func TestMintCacheCanceledWaiter(t *testing.T) {
	release, open := newGate(t)
	sts := newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
		blockUntil(r, release)
		writeToken(w, "late", 300)
	})
	c := mandate.NewMintCache(newClient(t, sts.URL))

	ctx, cancel := context.WithCancel(context.Background())
	canceled := make(chan error, 1)
	go func() {
		_, err := c.Mint(ctx, lifecycleRequest)
		canceled <- err
	}()
	waitFor(t, func() bool { return sts.calls.Load() == 1 })

	patient := make(chan *mandate.Token, 1)
	go func() { patient <- mintOrNil(t, c, lifecycleRequest) }()

	cancel()
	select {
	case err := <-canceled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("canceled Mint error = %v", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("canceled Mint did not return")
	}
	open()
	if tok := <-patient; tok.AccessToken != "late" {
		t.Errorf("patient caller got %v", tok)
	}
	if got := mustMint(t, c, lifecycleRequest); got.AccessToken != "late" {
		t.Errorf("exchange of the canceled caller not cached: %v", got)
	}
	if n := sts.calls.Load(); n != 1 {
		t.Errorf("STS exchanges = %d, want 1", n)
	}
}

func TestMintCacheEviction(t *testing.T) {
	c, sts := newCache(t, newFakeClock(), 300,
		mandate.WithMintCacheMaxEntries(3))
	req := func(i int) mandate.ExchangeRequest {
		return mandate.ExchangeRequest{
			Resources: []string{fmt.Sprintf("resource://r%d", i)}}
	}
	steps := []struct {
		mint  int
		calls int64 // STS exchanges after the mint
	}{
		{1, 1}, {2, 2}, {3, 3}, // full
		{4, 4},         // evicts r1
		{2, 4},         // hit: a read does not make an entry younger
		{1, 5},         // miss, evicts r2
		{4, 5}, {3, 5}, // hits
		{2, 6}, // was evicted
	}
	for i, s := range steps {
		mustMint(t, c, req(s.mint))
		if got := sts.calls.Load(); got != s.calls {
			t.Fatalf("step %d (r%d): STS exchanges = %d, want %d", i,
				s.mint, got, s.calls)
		}
		if n := c.Len(); n > 3 {
			t.Fatalf("step %d: Len = %d over the cap", i, n)
		}
	}
}

func TestMintCacheDefaultCap(t *testing.T) {
	if mandate.MintCacheMaxEntries != 10000 {
		t.Errorf("MintCacheMaxEntries = %d", mandate.MintCacheMaxEntries)
	}
	if mandate.MintRefreshMargin != time.Minute {
		t.Errorf("MintRefreshMargin = %v", mandate.MintRefreshMargin)
	}
}

func TestMintCacheKey(t *testing.T) {
	base := mandate.ExchangeRequest{
		Resources: []string{"resource://a", "resource://b"},
		Scopes:    []string{"read", "write"},
		TTL:       300 * time.Second,
	}
	tests := []struct {
		name   string
		change func(*mandate.ExchangeRequest)
		hit    bool
	}{
		{"same", func(*mandate.ExchangeRequest) {}, true},
		{"resources reordered, repeated, padded",
			func(r *mandate.ExchangeRequest) {
				r.Resources = []string{" resource://b", "resource://a",
					"resource://b"}
			}, true},
		{"scopes reordered", func(r *mandate.ExchangeRequest) {
			r.Scopes = []string{"write", "read", "read "}
		}, true},
		{"force refresh", func(r *mandate.ExchangeRequest) {
			r.ForceRefresh = true
		}, false},
		{"other resource", func(r *mandate.ExchangeRequest) {
			r.Resources = []string{"resource://a"}
		}, false},
		{"other scope", func(r *mandate.ExchangeRequest) {
			r.Scopes = []string{"read"}
		}, false},
		{"other TTL", func(r *mandate.ExchangeRequest) {
			r.TTL = 600 * time.Second
		}, false},
		{"no TTL", func(r *mandate.ExchangeRequest) { r.TTL = 0 }, false},
		{"agent session", func(r *mandate.ExchangeRequest) {
			r.AgentSessionID = "agent-1"
		}, false},
		{"subject record", func(r *mandate.ExchangeRequest) {
			r.SubjectRecordID = "record-1"
		}, false},
		{"resources joined differently", func(r *mandate.ExchangeRequest) {
			r.Resources = []string{"resource://a resource://b"}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sts := newCache(t, newFakeClock(), 300)
			mustMint(t, c, base)
			req := base
			tt.change(&req)
			_, err := c.Mint(testContext(t), req)
			if tt.name == "resources joined differently" {
				if !errors.Is(err, mandate.ErrExchangeInvalidRequest) {
					t.Errorf("Mint error = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := int64(2)
			if tt.hit {
				want = 1
			}
			if got := sts.calls.Load(); got != want {
				t.Errorf("STS exchanges = %d, want %d", got, want)
			}
		})
	}
}

func TestMintCacheForceRefresh(t *testing.T) {
	c, sts := newCache(t, newFakeClock(), 300)
	first := mustMint(t, c, lifecycleRequest)
	force := lifecycleRequest
	force.ForceRefresh = true
	refreshed := mustMint(t, c, force)
	if refreshed.AccessToken == first.AccessToken {
		t.Fatal("ForceRefresh served the cached token")
	}
	if got := mustMint(t, c, lifecycleRequest); got != refreshed {
		t.Error("ForceRefresh did not refill the cache")
	}
	if n := sts.calls.Load(); n != 2 {
		t.Errorf("STS exchanges = %d, want 2", n)
	}
}

func TestMintCacheInvalidate(t *testing.T) {
	c, sts := newCache(t, newFakeClock(), 300)
	mustMint(t, c, lifecycleRequest)
	c.Invalidate()
	if n := c.Len(); n != 0 {
		t.Errorf("Len after Invalidate = %d", n)
	}
	mustMint(t, c, lifecycleRequest)
	if n := sts.calls.Load(); n != 2 {
		t.Errorf("STS exchanges = %d, want 2", n)
	}
}

func TestMintCacheInvalidateDuringExchange(t *testing.T) {
	release, open := newGate(t)
	var sts *fakeSTS
	sts = newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
		n := sts.calls.Load()
		if n == 1 {
			blockUntil(r, release)
		}
		writeToken(w, fmt.Sprintf("tok-%d", n), 300)
	})
	c := mandate.NewMintCache(newClient(t, sts.URL))
	old := make(chan *mandate.Token, 1)
	go func() { old <- mintOrNil(t, c, lifecycleRequest) }()
	waitFor(t, func() bool { return sts.calls.Load() == 1 })

	c.Invalidate()
	// A request after Invalidate must not join the older exchange, which
	// stays blocked until the gate opens.
	ctx, cancel := context.WithTimeout(testContext(t), time.Second)
	defer cancel()
	fresh, err := c.Mint(ctx, lifecycleRequest)
	open()
	if err != nil {
		t.Fatalf("Mint after Invalidate: %v", err)
	}
	if got := <-old; got.AccessToken != "tok-1" {
		t.Errorf("older caller got %s", got.AccessToken)
	}
	if fresh.AccessToken != "tok-2" {
		t.Errorf("caller after Invalidate got %s", fresh.AccessToken)
	}
	if got := mustMint(t, c, lifecycleRequest); got != fresh {
		t.Errorf("cache holds %s, want tok-2", got.AccessToken)
	}
}

func TestMintCacheCredentialRotation(t *testing.T) {
	var secret atomic.Value
	secret.Store("secret-1")
	sts := newFakeSTS(t, nil)
	client, err := mandate.NewSTSClient(sts.URL, mandate.CredentialSourceFunc(
		func(context.Context) (mandate.STSCredentials, error) {
			return mandate.STSCredentials{ZoneID: "z", ApplicationID: "app",
				ClientSecret: secret.Load().(string)}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	c := mandate.NewMintCache(client)
	mustMint(t, c, lifecycleRequest)
	mustMint(t, c, lifecycleRequest)
	secret.Store("secret-2")
	mustMint(t, c, lifecycleRequest)
	if n := sts.calls.Load(); n != 2 {
		t.Errorf("STS exchanges = %d, want 2", n)
	}
	if _, form := sts.lastRequest(); form.Get("client_secret") != "secret-2" {
		t.Errorf("client_secret = %q after rotation",
			form.Get("client_secret"))
	}
	if n := c.Len(); n != 1 {
		t.Errorf("Len = %d, want 1 (old entries dropped)", n)
	}
}

func TestMintCacheErrorsNotCached(t *testing.T) {
	var sts *fakeSTS
	sts = newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
		if sts.calls.Load() == 1 {
			writeJSON(w, 503, `{"error":"sts_unavailable"}`)
			return
		}
		writeToken(w, "ok", 300)
	})
	c := mandate.NewMintCache(newClient(t, sts.URL))
	_, err := c.Mint(testContext(t), lifecycleRequest)
	var se *mandate.STSError
	if !errors.As(err, &se) || !se.Retryable() {
		t.Fatalf("first Mint error = %v", err)
	}
	if tok := mustMint(t, c, lifecycleRequest); tok.AccessToken != "ok" {
		t.Errorf("second Mint = %v", tok)
	}
}

func TestMintCacheAccessDeniedHint(t *testing.T) {
	tests := []struct {
		name     string
		req      mandate.ExchangeRequest
		wantHint bool
	}{
		{"session without delegation", mandate.ExchangeRequest{
			Resources: []string{testResource}, AgentSessionID: "agent-1"},
			true},
		{"delegated", mandate.ExchangeRequest{
			Resources: []string{testResource}, AgentSessionID: "agent-1",
			DelegationEdgeID: "edge-1"}, false},
		{"lifecycle", lifecycleRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 403, `{"error":"access_denied",`+
					`"error_description":"policy denied (lifecycle)"}`)
			})
			c := mandate.NewMintCache(newClient(t, sts.URL))
			_, err := c.Mint(testContext(t), tt.req)
			var se *mandate.STSError
			if !errors.As(err, &se) || se.Code != "access_denied" {
				t.Fatalf("Mint error = %v", err)
			}
			if got := strings.Contains(err.Error(), "lifecycle-only"); got !=
				tt.wantHint {
				t.Errorf("hint = %v, want %v: %v", got, tt.wantHint, err)
			}
		})
	}
}

func BenchmarkMintCacheHit(b *testing.B) {
	prepared := mandate.ExchangeRequest{
		Resources: []string{"resource://a", "resource://b", "resource://c"},
		Scopes:    []string{"data:read", "data:write"},
		TTL:       300 * time.Second,
	}
	sts := newFakeSTS(b, nil)
	c := mandate.NewMintCache(newClient(b, sts.URL))
	ctx := context.Background()
	r, err := mandate.NewMintRequest(prepared)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Mint(ctx, lifecycleRequest); err != nil {
		b.Fatal(err)
	}
	if _, err := c.MintPrepared(ctx, r); err != nil {
		b.Fatal(err)
	}

	b.Run("Mint", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Mint(ctx, lifecycleRequest); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MintPrepared", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.MintPrepared(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Mint(ctx, lifecycleRequest); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	if n := sts.calls.Load(); n != 2 {
		b.Errorf("STS exchanges = %d, want 2", n)
	}
}
