// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcaracal/otelcaracal"
	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/gateway"
)

func TestGatewayRequest(t *testing.T) {
	tests := []struct {
		name, gateway, path string
		url                 string // the URL; empty when refused
		requestURI          string
	}{
		{"base path with slash", "https://gw.example.com/base/", "v1/tools?x=1",
			"https://gw.example.com/base/v1/tools?x=1", "/base/v1/tools?x=1"},
		{"empty path", "https://gw.example.com", "", "https://gw.example.com/", "/"},
		{"base path", "http://host/proxy", "events?limit=10", "http://host/proxy/events?limit=10",
			"/proxy/events?limit=10"},
		{"escaped segment", "https://gw.example.com", "/a%2Fb", "https://gw.example.com/a%2Fb", "/a%2Fb"},
		{"absolute URL", "https://gw.example.com", "https://evil.com/x", "", ""},
		{"scheme-relative", "https://gw.example.com", "//evil.com/x", "", ""},
		{"dot dot", "https://gw.example.com", "/events/../admin", "", ""},
		{"dot", "https://gw.example.com", "./events", "", ""},
		{"encoded dot dot", "https://gw.example.com", "/a/%252e%252e/b", "", ""},
		{"backslash", "https://gw.example.com", `/a\b`, "", ""},
		{"fragment", "https://gw.example.com", "/events#fragment", "", ""},
	}
	clearEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := otelcaracal.FromClientSecret("z", "app", "s", otelcaracal.WithGatewayURL(tt.gateway))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GatewayRequest("resource://calendar", tt.path)
			if tt.url == "" {
				if !errors.Is(err, gateway.ErrPath) {
					t.Fatalf("error %v, want gateway.ErrPath", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.URL.String() != tt.url || got.URL.RequestURI() != tt.requestURI {
				t.Errorf("URL %s (request %s), want %s (%s)", got.URL, got.URL.RequestURI(), tt.url, tt.requestURI)
			}
			if got.Header.Get("X-Caracal-Resource") != "resource://calendar" || len(got.Header) != 1 {
				t.Errorf("headers %v", got.Header)
			}
		})
	}
	c, _ := otelcaracal.FromClientSecret("z", "app", "s")
	if _, err := c.GatewayRequest(" ", "/"); !errors.Is(err, otelcaracal.ErrInvalidRequest) {
		t.Errorf("blank resource: %v", err)
	}
}

// recorder is a reverse proxy that records what passes through it.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: body})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

// form decodes a recorded STS form.
func form(t *testing.T, r recorded) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestApplicationTransport is the wire scenario of Caracal protocol
// §10.12, against the in-process control plane seen through recording
// proxies.
func TestApplicationTransport(t *testing.T) {
	cp := newControlPlane(t)
	control := newRecorder(t, cp.STSURL())
	gw := newRecorder(t, cp.GatewayURL())
	prefix := cp.upstream.URL + "/api"
	clearEnv(t)
	c, err := otelcaracal.FromClientSecret(cp.ZoneID, cp.ApplicationID, cp.ClientSecret,
		otelcaracal.WithSTSURL(control.URL), otelcaracal.WithCoordinatorURL(control.URL),
		otelcaracal.WithGatewayURL(gw.URL),
		otelcaracal.WithBindings(gateway.Binding{Resource: resTools, UpstreamPrefix: prefix}))
	if err != nil {
		t.Fatal(err)
	}
	hc := c.Transport(nil, otelcaracal.TransportOptions{
		AsApplication: true, Scopes: []string{scopeRead}, Labels: []string{"worker"}, TTL: 300 * time.Second,
	})
	for range 2 {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, prefix+"/tasks?x=1", nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var echo map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&echo)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || echo["path"] != "/tasks" || echo["query"] != "x=1" {
			t.Fatalf("response %d %v", resp.StatusCode, echo)
		}
	}

	reqs := control.requests()
	if len(reqs) != 6 {
		t.Fatalf("%d control-plane requests, want 6: %+v", len(reqs), reqs)
	}
	// 1. The lifecycle token.
	if f := form(t, reqs[0]); reqs[0].Path != "/oauth/2/token" || f.Get("scope") != "agent:lifecycle" ||
		f.Get("resource") != resTools || f.Has("agent_session_id") {
		t.Errorf("lifecycle exchange %s %v", reqs[0].Path, f)
	}
	// 2. Two task sessions, with distinct keys.
	var sessions []string
	for _, r := range reqs[1:3] {
		b := decodeBody(t, r.Body)
		if r.Path != "/zones/"+cp.ZoneID+"/agents" || b["application_id"] != cp.ApplicationID ||
			b["lifecycle"] != "task" || b["ttl_seconds"] != 420.0 || !equalJSON(b["labels"], []any{"worker"}) {
			t.Errorf("start %s %v", r.Path, b)
		}
		sessions = append(sessions, r.Header.Get("Idempotency-Key"))
	}
	if sessions[0] == "" || sessions[0] == sessions[1] {
		t.Errorf("idempotency keys %q", sessions)
	}
	// 3. The delegation source → target.
	d := decodeBody(t, reqs[3].Body)
	if reqs[3].Path != "/zones/"+cp.ZoneID+"/delegations" || d["issuer_application_id"] != cp.ApplicationID ||
		d["receiver_application_id"] != cp.ApplicationID || d["source_session_id"] == d["target_session_id"] ||
		!equalJSON(d["scopes"], []any{scopeRead}) || d["ttl_seconds"] != 420.0 ||
		!equalJSON(d["constraints"], map[string]any{"resources": []any{resTools}}) {
		t.Errorf("delegation %v", d)
	}
	// 4. A delegated mint per request.
	for _, r := range reqs[4:] {
		f := form(t, r)
		if f.Get("zone_id") != cp.ZoneID || f.Get("application_id") != cp.ApplicationID ||
			f.Get("agent_session_id") != d["target_session_id"] || f.Get("delegation_edge_id") == "" ||
			f.Get("scope") != scopeRead || f.Get("resource") != resTools || f.Get("ttl_seconds") != "300" {
			t.Errorf("delegated mint %v", f)
		}
	}
	// 5. What the Gateway received.
	seen := map[string]bool{}
	for _, r := range gw.requests() {
		bag := r.Header.Get("Baggage")
		if r.Path != "/tasks" || r.Query != "x=1" || r.Header.Get("X-Caracal-Resource") != resTools ||
			!strings.HasPrefix(r.Header.Get("Traceparent"), "00-") ||
			!strings.Contains(bag, "caracal.agent_session="+d["target_session_id"].(string)) ||
			!strings.Contains(bag, "caracal.delegation_edge=") {
			r.Header.Del("Authorization")
			t.Errorf("gateway request %s %s?%s %v", r.Method, r.Path, r.Query, r.Header)
		}
		seen[r.Header.Get("Authorization")] = true
	}
	if len(seen) != 2 {
		t.Errorf("%d distinct mandates for 2 requests", len(seen))
	}

	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls := cp.Calls(); calls[routeEnd] != 2 {
		t.Errorf("Close ended %d sessions, want 2", calls[routeEnd])
	}
}

func equalJSON(got, want any) bool {
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	return bytes.Equal(a, b)
}

// TestTransportPropagation checks what requests that are not
// gateway-bound carry, and that a gateway-bound one needs a bound context.
func TestTransportPropagation(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
	}))
	defer other.Close()
	cp := newControlPlane(t)
	c := cp.client(t, otelcaracal.WithBindings(gateway.Binding{Resource: resTools, UpstreamPrefix: cp.upstream.URL}))
	ctx, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{AgentSession: "s1"})
	ctx, _ = baggage.ContextWithMember(ctx, "tenant", "hooli")
	tests := []struct {
		name        string
		propagation gateway.Propagation
		envelope    bool
	}{
		{"gateway only", gateway.PropagateGatewayOnly, false},
		{"always", gateway.PropagateAlways, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := c.Transport(nil, otelcaracal.TransportOptions{Scopes: []string{scopeRead},
				Propagation: tt.propagation})
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, other.URL+"/x", nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			bag := got.Get("Baggage")
			if got.Get("Authorization") != "" || !strings.Contains(bag, "tenant=hooli") ||
				strings.Contains(bag, "caracal.agent_session") != tt.envelope {
				t.Errorf("headers %v", got)
			}
		})
	}
	t.Run("unbound gateway-bound request", func(t *testing.T) {
		hc := c.Transport(nil, otelcaracal.TransportOptions{Scopes: []string{scopeRead}})
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, cp.upstream.URL+"/x", nil)
		if _, err := hc.Do(req); !errors.Is(err, otelcaracal.ErrNotBound) {
			t.Errorf("error %v, want ErrNotBound", err)
		}
	})
	t.Run("application transport, request not bound to the gateway", func(t *testing.T) {
		hc := c.Transport(nil, otelcaracal.TransportOptions{Scopes: []string{scopeRead}, AsApplication: true})
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, other.URL+"/x", nil)
		if _, err := hc.Do(req); !errors.Is(err, otelcaracal.ErrNotGatewayBound) {
			t.Errorf("error %v, want ErrNotGatewayBound", err)
		}
	})
}

func TestMintMandate(t *testing.T) {
	cp := newControlPlane(t)
	c := cp.client(t)
	err := c.Session(context.Background(), func(ctx context.Context) error {
		// A session without a delegation: session-bound mandates, cached.
		a, err := c.MintMandate(ctx, resTools, []string{scopeRead}, otelcaracal.MintOptions{})
		if err != nil {
			return err
		}
		b, err := c.MintMandate(ctx, resTools, []string{scopeRead}, otelcaracal.MintOptions{})
		if err != nil {
			return err
		}
		if a.AccessToken != b.AccessToken {
			t.Error("a session-bound mandate was not reused")
		}
		return c.Session(ctx, func(ctx context.Context) error {
			// Under a delegation: one-shot gateway mandates.
			a, err := c.MintMandate(ctx, resTools, []string{scopeRead}, otelcaracal.MintOptions{TTL: time.Minute})
			if err != nil {
				return err
			}
			b, err := c.MintMandate(ctx, resTools, []string{scopeRead}, otelcaracal.MintOptions{TTL: time.Minute})
			if err != nil {
				return err
			}
			if a.AccessToken == b.AccessToken {
				t.Error("a delegated mandate was reused")
			}
			return nil
		}, otelcaracal.SessionOptions{Authority: narrow()})
	}, otelcaracal.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		resource string
		scopes   []string
	}{{"blank resource", " ", []string{scopeRead}}, {"no scope", resTools, nil}} {
		if _, err := c.MintMandate(context.Background(), tt.resource, tt.scopes,
			otelcaracal.MintOptions{}); !errors.Is(err, otelcaracal.ErrInvalidRequest) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	clearEnv(t)
	t.Setenv("CARACAL_ZONE_ID", "z")
	t.Setenv("CARACAL_APPLICATION_ID", "a")
	t.Setenv("CARACAL_BOOTSTRAP_TOKEN", "opaque-token")
	boot, err := otelcaracal.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boot.MintMandate(context.Background(), resTools, []string{scopeRead},
		otelcaracal.MintOptions{}); !errors.Is(err, otelcaracal.ErrNoClientSecret) {
		t.Errorf("bootstrap client: %v", err)
	}
}

func TestFetchRefusesBeforeSending(t *testing.T) {
	cp := newControlPlane(t)
	c := cp.client(t)
	_, err := c.Fetch(context.Background(), http.MethodGet, resTools, "/a/../b", nil, otelcaracal.TransportOptions{})
	if !errors.Is(err, gateway.ErrPath) {
		t.Errorf("error %v", err)
	}
	if n := cp.Calls()["gateway"]; n != 0 {
		t.Errorf("%d gateway requests", n)
	}
}

// hostRecorder is a RoundTripper that records the hosts it sends to.
type hostRecorder struct {
	mu    sync.Mutex
	hosts []string
}

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.hosts = append(h.hosts, r.URL.Host)
	h.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestTransportBase sends a request under a binding's prefix through a
// base transport of the caller's: it reaches the upstream by way of the
// Gateway.
func TestTransportBase(t *testing.T) {
	cp := newControlPlane(t)
	c := cp.client(t, otelcaracal.WithBindings(gateway.Binding{Resource: resTools, UpstreamPrefix: cp.upstream.URL}))
	base := &hostRecorder{}
	err := c.Session(context.Background(), func(ctx context.Context) error {
		return c.Session(ctx, func(ctx context.Context) error {
			hc := c.Transport(base, otelcaracal.TransportOptions{Scopes: []string{scopeRead}, TTL: time.Minute})
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cp.upstream.URL+"/v1/items", nil)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var echo map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&echo)
			if resp.StatusCode != http.StatusOK || echo["path"] != "/v1/items" || echo["authorization"] != true {
				t.Errorf("response %d %v", resp.StatusCode, echo)
			}
			return nil
		}, otelcaracal.SessionOptions{Authority: narrow()})
	}, otelcaracal.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gw, _ := url.Parse(cp.GatewayURL())
	base.mu.Lock()
	defer base.mu.Unlock()
	if len(base.hosts) != 1 || base.hosts[0] != gw.Host {
		t.Errorf("base transport sent to %v, want the Gateway %s", base.hosts, gw.Host)
	}
}
