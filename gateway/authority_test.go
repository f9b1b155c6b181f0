// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/exporter"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
)

const toolResource = "resource://tools"

// world is a control plane, a tool API behind its Gateway, and a session
// holding a delegation for the tool.
type world struct {
	cp       *caracaltest.Server
	tool     *httptest.Server
	spans    *tracetest.SpanRecorder
	tp       *sdktrace.TracerProvider
	client   *http.Client
	root     string
	child    string
	edge     string
	mu       sync.Mutex
	upstream []*http.Request
	errs     []string
}

func newWorld(t *testing.T, verify bool) *world {
	t.Helper()
	w := &world{cp: caracaltest.NewServer(), spans: tracetest.NewSpanRecorder()}
	var handlerOpts []gateway.Option
	if verify {
		v, err := w.cp.Verifier(toolResource)
		if err != nil {
			t.Fatal(err)
		}
		handlerOpts = append(handlerOpts, gateway.WithVerifier(v))
	}
	w.tp = sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(exporter.NewSpanProcessor()), sdktrace.WithSpanProcessor(w.spans))
	otelOpt := gateway.WithOTelHTTPOptions(otelhttp.WithTracerProvider(w.tp))
	w.tool = httptest.NewServer(gateway.NewHandler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.upstream = append(w.upstream, r)
		w.mu.Unlock()
		if r.URL.Path == "/redirect" {
			http.Redirect(rw, r, "/elsewhere", http.StatusFound)
			return
		}
		env := baggage.FromContext(r.Context())
		io.WriteString(rw, env.AgentSession)
	}), "tool", append([]gateway.Option{otelOpt, gateway.WithPropagators(propagation.TraceContext{})},
		handlerOpts...)...))
	w.cp.AddResource(toolResource, w.tool.URL, "tools:read")

	var err error
	if w.root, err = w.cp.NewSession(""); err != nil {
		t.Fatal(err)
	}
	if w.child, err = w.cp.NewSession(w.root); err != nil {
		t.Fatal(err)
	}
	w.edge, err = w.cp.NewDelegation(caracaltest.Delegation{
		Source: w.root, Target: w.child, Resource: toolResource, Scopes: []string{"tools:read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sts, err := w.cp.STSClient()
	if err != nil {
		t.Fatal(err)
	}
	w.client = gateway.NewClient(otelOpt, gateway.WithPropagators(propagation.TraceContext{}),
		gateway.WithGateway(w.cp.GatewayURL(), gateway.Binding{Resource: toolResource, UpstreamPrefix: w.tool.URL}),
		gateway.WithMandates(gateway.Mint(mandate.NewMintCache(sts), []string{"tools:read"}, 0)))
	t.Cleanup(func() {
		w.client.CloseIdleConnections()
		w.tool.Close()
		w.cp.Close()
		_ = w.tp.Shutdown(context.Background())
		w.checkNoTokenLeak(t)
	})
	return w
}

// ctx returns a context acting as the child under the delegation.
func (w *world) ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, err := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
		AgentSession: w.child, DelegationEdge: w.edge, Hop: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func (w *world) get(t *testing.T, ctx context.Context, url string, hdr ...string) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := w.client.Do(req)
	if err != nil {
		w.mu.Lock()
		w.errs = append(w.errs, err.Error())
		w.mu.Unlock()
		return nil, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	w.mu.Lock()
	w.errs = append(w.errs, string(body))
	w.mu.Unlock()
	return resp, string(body), nil
}

func attrs(s sdktrace.ReadOnlySpan) *attribute.Set {
	set := attribute.NewSet(s.Attributes()...)
	return &set
}

func serverSpans(w *world) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range w.spans.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			out = append(out, s)
		}
	}
	return out
}

// TestGatewayRoundTrip: a delegated call goes through the Gateway with a
// fresh gateway mandate; the tool verifies the resource mandate the Gateway
// sends, and its spans are attributed from the signed claims.
func TestGatewayRoundTrip(t *testing.T) {
	w := newWorld(t, true)
	ctx, err := baggage.ContextWithMember(w.ctx(t), "tenant", "hooli")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // each request mints its own one-shot mandate
		resp, body, err := w.get(t, ctx, w.tool.URL+"/search?q=x")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || body != w.child {
			t.Fatalf("status %d, body %q, calls %v", resp.StatusCode, body, w.cp.Calls())
		}
	}
	w.mu.Lock()
	up := w.upstream[0]
	w.mu.Unlock()
	if got := up.Header.Get("Baggage"); got != "tenant=hooli" {
		t.Errorf("upstream baggage = %q, want the Gateway to strip caracal.*", got)
	}
	if up.URL.RawQuery != "q=x" || up.URL.Path != "/search" {
		t.Errorf("upstream URL = %s", up.URL)
	}
	if calls := w.cp.Calls()["/oauth/2/token"]; calls != 2 {
		t.Errorf("%d mints for 2 requests, want 2 one-shot mints", calls)
	}
	spans := serverSpans(w)
	if len(spans) != 2 {
		t.Fatalf("%d server spans", len(spans))
	}
	a := attrs(spans[0])
	for k, want := range map[attribute.Key]string{
		exporter.AttributionKey:  exporter.AttributionVerified,
		exporter.AgentSessionKey: w.child,
		exporter.DelegationKey:   w.edge,
		exporter.ZoneKey:         w.cp.ZoneID,
		exporter.ApplicationKey:  w.cp.ApplicationID,
	} {
		if v, _ := a.Value(k); v.AsString() != want {
			t.Errorf("%s = %q, want %q", k, v.AsString(), want)
		}
	}
	if v, _ := a.Value(exporter.DelegationPathKey); strings.Join(v.AsStringSlice(), ",") != w.edge {
		t.Errorf("path = %v", v.AsStringSlice())
	}
	if v, _ := a.Value(exporter.HopKey); v.AsInt64() != 1 {
		t.Errorf("hop = %d", v.AsInt64())
	}
}

// TestSpoofedBaggage: baggage that names another session does not change
// who a verified mandate says acted; without a verifier it is a claim.
func TestSpoofedBaggage(t *testing.T) {
	for _, verify := range []bool{true, false} {
		t.Run(map[bool]string{true: "verified", false: "claimed"}[verify], func(t *testing.T) {
			w := newWorld(t, verify)
			tok, err := w.cp.Sign(mandate.Claims{
				RegisteredClaims: jwtAudience(toolResource),
				AgentSessionID:   w.child, DelegationEdgeID: w.edge, Target: []string{toolResource},
				DelegationPath: []string{w.edge}, HopCount: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, w.tool.URL+"/x", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Baggage", "caracal.agent_session=forged,caracal.hop=9")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			http.DefaultClient.CloseIdleConnections()
			want, attribution := w.child, exporter.AttributionVerified
			if !verify {
				want, attribution = "forged", exporter.AttributionClaimed
			}
			if string(body) != want {
				t.Errorf("handler saw session %q, want %q", body, want)
			}
			a := attrs(serverSpans(w)[0])
			if v, _ := a.Value(exporter.AgentSessionKey); v.AsString() != want {
				t.Errorf("span session = %q, want %q", v.AsString(), want)
			}
			if v, _ := a.Value(exporter.AttributionKey); v.AsString() != attribution {
				t.Errorf("attribution = %q, want %q", v.AsString(), attribution)
			}
		})
	}
}

func TestGatewayRefusals(t *testing.T) {
	w := newWorld(t, true)
	sts, err := w.cp.STSClient()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sts.Exchange(context.Background(), mandate.ExchangeRequest{
		Resources: []string{toolResource}, Scopes: []string{"tools:read"},
		AgentSessionID: w.child, DelegationEdgeID: w.edge,
	})
	if err != nil {
		t.Fatal(err)
	}
	direct := func(bearer string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, w.cp.GatewayURL()+"/search", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set(gateway.ResourceHeader, toolResource)
		resp, err := w.cp.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		w.mu.Lock()
		w.errs = append(w.errs, string(body))
		w.mu.Unlock()
		return resp.StatusCode, string(body)
	}
	if code, body := direct(tok.AccessToken); code != http.StatusOK {
		t.Fatalf("first use: %d %s", code, body)
	}
	if code, body := direct(tok.AccessToken); code != http.StatusUnauthorized || !strings.Contains(body, "replay") {
		t.Errorf("replay: %d %s", code, body)
	}
	if code, body := direct(strings.Repeat("a", 4097)); code != http.StatusUnauthorized ||
		!strings.Contains(body, "too large") {
		t.Errorf("oversized: %d %s", code, body)
	}
	w.cp.RevokeDelegation(w.edge)
	_, _, err = w.get(t, w.ctx(t), w.tool.URL+"/search")
	if err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Errorf("revoked edge: %v", err)
	}
}

// TestNotGatewayBound: requests outside the bindings get neither a mandate
// nor the envelope (propagation is gateway-only by default).
func TestNotGatewayBound(t *testing.T) {
	w := newWorld(t, false)
	other := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		io.WriteString(rw, r.Header.Get("Authorization")+"|"+r.Header.Get("Baggage")+"|"+r.Header.Get("Traceparent"))
	}))
	defer other.Close()
	ctx, span := w.tp.Tracer("t").Start(w.ctx(t), "caller")
	defer span.End()
	_, body, err := w.get(t, ctx, other.URL+"/x")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(body, "|")
	if parts[0] != "" || parts[1] != "" || !strings.HasPrefix(parts[2], "00-") {
		t.Errorf("authorization|baggage|traceparent = %q", body)
	}
	if calls := w.cp.Calls()["/oauth/2/token"]; calls != 0 {
		t.Errorf("%d mints for a request outside the gateway", calls)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	w := newWorld(t, false)
	resp, _, err := w.get(t, w.ctx(t), w.tool.URL+"/redirect")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status %d, want the 302 returned", resp.StatusCode)
	}
	// A client that follows redirects gets an error, not a second mandate.
	plain := &http.Client{Transport: w.client.Transport}
	req, _ := http.NewRequestWithContext(w.ctx(t), http.MethodGet, w.tool.URL+"/redirect", nil)
	resp, err = plain.Do(req)
	if !errors.Is(err, gateway.ErrRedirect) {
		t.Errorf("followed redirect: %v", err)
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("status %d: %s", resp.StatusCode, body)
		}
	}
}

func TestMissingMandateRefused(t *testing.T) {
	w := newWorld(t, true)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, w.tool.URL+"/x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	defer http.DefaultClient.CloseIdleConnections()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"missing_token"`) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	if n := len(serverSpans(w)); n != 1 {
		t.Errorf("%d server spans for a refused request, want 1", n)
	}
}

func jwtAudience(aud string) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{Audience: jwt.ClaimStrings{aud}}
}

// checkNoTokenLeak fails if any token the control plane issued, or any of
// its segments, appears in a span or in an error or body the test saw.
func (w *world) checkNoTokenLeak(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	assertNoTokens(t, w.spans.Ended(), w.errs, w.cp.IssuedTokens())
}
