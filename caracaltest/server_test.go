// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracaltest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/mandate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const res = "resource://tools"

func newServer(t *testing.T) (*caracaltest.Server, *httptest.Server) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := map[string]any{"path": r.URL.Path, "query": r.URL.RawQuery, "header": r.Header}
		w.Header().Set("Server", "upstream/1.0")
		w.Header().Set("X-Caracal-Identity", "leak")
		_ = json.NewEncoder(w).Encode(h)
	}))
	srv := caracaltest.NewServer()
	srv.AddResource(res, up.URL+"/base", "tools:read", "tools:write")
	t.Cleanup(func() {
		srv.Close()
		up.Close()
	})
	return srv, up
}

func exchange(t *testing.T, srv *caracaltest.Server, req mandate.ExchangeRequest) (*mandate.Token, error) {
	t.Helper()
	c, err := srv.STSClient()
	if err != nil {
		t.Fatal(err)
	}
	return c.Exchange(context.Background(), req)
}

func TestLifecycleMandate(t *testing.T) {
	srv, _ := newServer(t)
	tok, err := exchange(t, srv, mandate.ExchangeRequest{Resources: []string{res}, Scopes: []string{"agent:lifecycle"}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := srv.Verifier(srv.Issuer(), mandate.WithAllowedUses(mandate.UseSession))
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.Use != mandate.UseSession || c.SID == "" || c.RootSID != c.SID || c.ClientID != srv.ApplicationID ||
		c.ZoneID != srv.ZoneID || c.Scope != "agent:lifecycle" || strings.Join(c.Target, ",") != res {
		t.Errorf("claims = %+v", c)
	}
	if tok.ExpiresIn != 15*time.Minute {
		t.Errorf("expires in %v, want the 15 min default", tok.ExpiresIn)
	}
	// Any other scope without a session is refused.
	_, err = exchange(t, srv, mandate.ExchangeRequest{Resources: []string{res}, Scopes: []string{"tools:read"}})
	var se *mandate.STSError
	if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden || se.Code != "access_denied" {
		t.Errorf("non-lifecycle root mint: %v", err)
	}
}

func TestSTSRefusals(t *testing.T) {
	srv, _ := newServer(t)
	post := func(body, ctype string) (int, map[string]string) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
			srv.STSURL()+"/oauth/2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	good := "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&zone_id=" + srv.ZoneID +
		"&application_id=" + srv.ApplicationID + "&client_secret=" + srv.ClientSecret
	tests := []struct {
		name, body, ctype string
		status            int
		code              string
	}{
		{"wrong secret", strings.Replace(good, srv.ClientSecret, "nope", 1) + "&resource=" + res, "", 401, "access_denied"},
		{"wrong zone", strings.Replace(good, srv.ZoneID, "other", 1) + "&resource=" + res, "", 403, "zone_invalid"},
		{"missing resource", good + "&scope=agent%3Alifecycle", "", 400, "invalid_token"},
		{"duplicate field", good + "&scope=a&scope=b&resource=" + res, "", 400, "invalid_token"},
		{"ttl over cap", good + "&resource=" + res + "&scope=agent%3Alifecycle&ttl_seconds=3601", "", 400, "invalid_token"},
		{"negative ttl", good + "&resource=" + res + "&scope=agent%3Alifecycle&ttl_seconds=-1", "", 400, "invalid_token"},
		{"not a form", good, "application/json", 415, "invalid_request"},
		{"unknown resource", good + "&resource=resource://nope&scope=agent%3Alifecycle", "", 403, "access_denied"},
		{"subject token", good + "&resource=" + res + "&subject_token=x", "", 403, "access_denied"},
		{"actor token", good + "&resource=" + res + "&actor_token=x", "", 400, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctype := tt.ctype
			if ctype == "" {
				ctype = "application/x-www-form-urlencoded"
			}
			status, body := post(tt.body, ctype)
			if status != tt.status || body["error"] != tt.code || body["requestId"] == "" {
				t.Errorf("%d %v, want %d %s", status, body, tt.status, tt.code)
			}
			if strings.Contains(body["error_description"], srv.ClientSecret) {
				t.Error("secret in error")
			}
		})
	}
}

// provision starts a root and a child session and a delegation between
// them for res.
func provision(t *testing.T, srv *caracaltest.Server, d caracaltest.Delegation) (string, string, string) {
	t.Helper()
	root, err := srv.NewSession("")
	if err != nil {
		t.Fatal(err)
	}
	child, err := srv.NewSession(root)
	if err != nil {
		t.Fatal(err)
	}
	d.Source, d.Target = root, child
	if d.Resource == "" && len(d.Constraints.Resources) == 0 {
		d.Resource = res
	}
	edge, err := srv.NewDelegation(d)
	if err != nil {
		t.Fatal(err)
	}
	return root, child, edge
}

func TestDelegatedMandate(t *testing.T) {
	srv, _ := newServer(t)
	_, child, edge := provision(t, srv, caracaltest.Delegation{Scopes: []string{"tools:read"}})
	tok, err := exchange(t, srv, mandate.ExchangeRequest{
		Resources: []string{res}, Scopes: []string{"tools:read"}, AgentSessionID: child, DelegationEdgeID: edge,
	})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := srv.Verifier(srv.Issuer(), mandate.WithAllowedUses(mandate.UseGateway))
	c, err := v.Verify(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.Use != mandate.UseGateway || c.AgentSessionID != child || c.DelegationEdgeID != edge ||
		c.HopCount != 1 || strings.Join(c.DelegationPath, ",") != edge || len(c.DelegationChain) != 2 ||
		c.DelegationChain[1].DelegationEdgeID != "" || c.DelegationChain[0].DelegationEdgeID != edge {
		t.Errorf("claims = %+v", c)
	}
	for _, bad := range []mandate.ExchangeRequest{
		{Resources: []string{res}, Scopes: []string{"tools:write"}, AgentSessionID: child, DelegationEdgeID: edge},
		{Resources: []string{res}, Scopes: []string{"agent:lifecycle"}, AgentSessionID: child, DelegationEdgeID: edge},
		{Resources: []string{res}, Scopes: []string{"tools:read"}, AgentSessionID: "session-x", DelegationEdgeID: edge},
	} {
		if _, err := exchange(t, srv, bad); err == nil {
			t.Errorf("minted %+v", bad)
		}
	}
	srv.RevokeDelegation(edge)
	if _, err := exchange(t, srv, mandate.ExchangeRequest{
		Resources: []string{res}, Scopes: []string{"tools:read"}, AgentSessionID: child, DelegationEdgeID: edge,
	}); err == nil {
		t.Error("minted under a revoked edge")
	}
}

// TestDelegationTTLCap: a mint without a TTL is capped at the edge's
// ttl_seconds; one asking for more is refused (§5.3).
func TestDelegationTTLCap(t *testing.T) {
	srv, _ := newServer(t)
	_, child, edge := provision(t, srv, caracaltest.Delegation{
		Scopes: []string{"tools:read"}, Constraints: caracaltest.Constraints{TTLSeconds: 120},
	})
	req := mandate.ExchangeRequest{
		Resources: []string{res}, Scopes: []string{"tools:read"}, AgentSessionID: child, DelegationEdgeID: edge,
	}
	tok, err := exchange(t, srv, req)
	if err != nil || tok.ExpiresIn != 2*time.Minute {
		t.Fatalf("default TTL: %v %v", tok, err)
	}
	req.TTL = 5 * time.Minute
	var se *mandate.STSError
	if _, err := exchange(t, srv, req); !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
		t.Errorf("TTL over the cap: %v", err)
	}
}

func TestApprovalHold(t *testing.T) {
	srv, _ := newServer(t)
	srv.SetResource(caracaltest.Resource{ID: res, RequireApproval: true})
	_, child, edge := provision(t, srv, caracaltest.Delegation{Scopes: []string{"tools:read"}})
	req := mandate.ExchangeRequest{
		Resources: []string{res}, Scopes: []string{"tools:read"}, AgentSessionID: child, DelegationEdgeID: edge,
	}
	_, err := exchange(t, srv, req)
	var ar *mandate.ApprovalRequiredError
	if !errors.As(err, &ar) {
		t.Fatalf("want an approval hold, got %v", err)
	}
	if !srv.Approve(ar.ApprovalID) {
		t.Fatal("no pending approval")
	}
	c, _ := srv.STSClient()
	state, err := c.WaitApproval(context.Background(), ar.ApprovalID, time.Second)
	if err != nil || state != caracaltest.ApprovalApproved {
		t.Fatalf("wait: %q %v", state, err)
	}
	req.ApprovalID = ar.ApprovalID
	if _, err := exchange(t, srv, req); err != nil {
		t.Fatalf("approved mint: %v", err)
	}
	if _, err := exchange(t, srv, req); err == nil {
		t.Error("approval used twice")
	}
}

func TestGatewayProxy(t *testing.T) {
	srv, _ := newServer(t)
	_, child, edge := provision(t, srv, caracaltest.Delegation{Scopes: []string{"tools:read"}})
	tok, err := exchange(t, srv, mandate.ExchangeRequest{
		Resources: []string{res}, Scopes: []string{"tools:read"}, AgentSessionID: child, DelegationEdgeID: edge,
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.GatewayURL()+"/v1/x?a=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("X-Caracal-Resource", res)
	req.Header.Set("X-Caracal-Other", "drop")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("Baggage", "caracal.agent_session=forged,tenant=t,caracal.custom=x")
	req.Header.Set("Traceparent", "00-0123456789abcdef0123456789abcdef-aabbccddeeff0011-01")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Path, Query string
		Header      http.Header
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || got.Path != "/base/v1/x" || got.Query != "a=1" {
		t.Fatalf("%d %+v", resp.StatusCode, got)
	}
	h := got.Header
	if h.Get("Baggage") != "tenant=t" || h.Get("X-Caracal-Other") != "" || h.Get("X-Caracal-Resource") != "" ||
		h.Get("X-Forwarded-For") == "10.0.0.1" ||
		h.Get("Traceparent") != "00-0123456789abcdef0123456789abcdef-aabbccddeeff0011-01" {
		t.Errorf("upstream headers = %v", h)
	}
	up := strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	if up == tok.AccessToken || up == "" {
		t.Fatal("upstream did not get a resource mandate of its own")
	}
	v, _ := srv.Verifier(res)
	c, err := v.Verify(context.Background(), up)
	if err != nil || c.Use != mandate.UseResource || c.AgentSessionID != child || c.RootSID == c.SID {
		t.Errorf("resource mandate: %+v %v", c, err)
	}
	if resp.Header.Get("Server") != "" || resp.Header.Get("X-Caracal-Identity") != "" ||
		resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("X-Caracal-Token-Expires-In") == "" {
		t.Errorf("response headers = %v", resp.Header)
	}
}

func TestGatewayRefusals(t *testing.T) {
	srv, _ := newServer(t)
	_, child, edge := provision(t, srv, caracaltest.Delegation{Scopes: []string{"tools:read"}})
	mint := func() string {
		tok, err := exchange(t, srv, mandate.ExchangeRequest{
			Resources: []string{res}, Scopes: []string{"tools:read"}, AgentSessionID: child, DelegationEdgeID: edge,
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	resourceUse, err := srv.Sign(mandate.Claims{
		Use: mandate.UseResource, Target: []string{res},
		RegisteredClaims: jwt.RegisteredClaims{Audience: jwt.ClaimStrings{srv.Issuer()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, auth, resource, extra string
		status                            int
		description                       string
	}{
		{"no bearer", "/x", "", res, "", 401, "missing bearer token"},
		{"basic", "/x", "Basic abc", res, "", 401, "missing bearer token"},
		{"too large", "/x", "Bearer " + strings.Repeat("a", 4097), res, "", 401, "bearer token too large"},
		{"malformed", "/x", "Bearer abc", res, "", 401, "malformed bearer token"},
		{"client id header", "/x", "Bearer " + mint(), res, "X-Caracal-Client-ID", 400, "identity comes from the token"},
		{"no resource", "/x", "Bearer " + mint(), "", "", 400, "missing routing headers"},
		{"traversal", "/a/%252e%252e/b", "Bearer " + mint(), res, "", 400, "path traversal"},
		{"other resource", "/x", "Bearer " + mint(), "resource://nope", "", 403,
			"policy denied (resource_outside_delegation)"},
		{"wrong use", "/x", "Bearer " + resourceUse, res, "", 403, "gateway mandate required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.GatewayURL()+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.resource != "" {
				req.Header.Set("X-Caracal-Resource", tt.resource)
			}
			if tt.extra != "" {
				req.Header.Set(tt.extra, "x")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var m map[string]string
			_ = json.Unmarshal(body, &m)
			if resp.StatusCode != tt.status || m["error_description"] != tt.description ||
				resp.Header.Get("Content-Type") != "application/json" || m["requestId"] == "" {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestCoordinator(t *testing.T) {
	srv, _ := newServer(t)
	tok, err := exchange(t, srv, mandate.ExchangeRequest{Resources: []string{res}, Scopes: []string{"agent:lifecycle"}})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path string, body any, hdr ...string) (int, map[string]any, http.Header) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(context.Background(), method, srv.CoordinatorURL()+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m, resp.Header
	}
	z := "/zones/" + srv.ZoneID
	start := map[string]any{"application_id": srv.ApplicationID, "lifecycle": "task", "ttl_seconds": 60}
	st, parent, _ := call("POST", z+"/agents", start, "Idempotency-Key", "k1")
	if st != 201 || parent["agent_session_id"] == nil || parent["delegation_edge_id"] != nil {
		t.Fatalf("start: %d %v", st, parent)
	}
	st, again, h := call("POST", z+"/agents", start, "Idempotency-Key", "k1")
	if st != 201 || again["agent_session_id"] != parent["agent_session_id"] || h.Get("Idempotency-Replayed") != "true" {
		t.Errorf("replay: %d %v %v", st, again, h)
	}
	start["ttl_seconds"] = 61
	if st, body, _ := call("POST", z+"/agents", start, "Idempotency-Key", "k1"); st != 409 ||
		body["error"] != "idempotency_key_conflict" {
		t.Errorf("conflict: %d %v", st, body)
	}
	p := parent["agent_session_id"].(string)
	_, child, _ := call("POST", z+"/agents", map[string]any{
		"application_id": srv.ApplicationID, "parent_id": p, "parent_authority": "none",
	})
	c := child["agent_session_id"].(string)
	st, edge, _ := call("POST", z+"/delegations", map[string]any{
		"issuer_application_id": srv.ApplicationID, "source_session_id": p, "target_session_id": c,
		"receiver_application_id": srv.ApplicationID, "scopes": []string{"tools:read"},
		"constraints": map[string]any{"resources": []string{res}, "max_hops": 2}, "ttl_seconds": 300,
	})
	if st != 201 || edge["delegation_edge_id"] == nil {
		t.Fatalf("delegation: %d %v", st, edge)
	}
	e := edge["delegation_edge_id"].(string)
	if st, body, _ := call("GET", z+"/delegations/inbound/"+c+"/"+e, nil); st != 200 || body["status"] != "active" {
		t.Errorf("inbound: %d %v", st, body)
	}
	if st, body, _ := call("POST", z+"/delegations", map[string]any{
		"issuer_application_id": srv.ApplicationID, "source_session_id": p, "target_session_id": c,
		"receiver_application_id": srv.ApplicationID, "scopes": []string{"x"}, "resource_id": res,
	}); st != 400 || body["error"] != "delegation_expiry_required" {
		t.Errorf("no expiry: %d %v", st, body)
	}
	if st, body, _ := call("POST", z+"/delegations", map[string]any{
		"issuer_application_id": srv.ApplicationID, "source_session_id": p, "target_session_id": c,
		"receiver_application_id": srv.ApplicationID, "resource_id": res, "ttl_seconds": 5,
		"constraints": map[string]any{"budgett": 1},
	}); st != 400 || body["error"] != "invalid_delegation_constraint" {
		t.Errorf("unknown constraint: %d %v", st, body)
	}
	if st, body, _ := call("PATCH", z+"/delegations/"+e+"/revoke", nil); st != 200 || body["revoked_edges"] != 1.0 {
		t.Errorf("revoke: %d %v", st, body)
	}
	if st, _, _ := call("GET", z+"/delegations/inbound/"+c+"/"+e, nil); st != 404 {
		t.Errorf("revoked edge still inbound: %d", st)
	}

	// A service session: heartbeat, lease, fenced terminate.
	_, svc, _ := call("POST", z+"/agents", map[string]any{"application_id": srv.ApplicationID, "lifecycle": "service"})
	s := svc["agent_session_id"].(string)
	if svc["lease_generation"] != 1.0 || svc["heartbeat_deadline_at"] == nil {
		t.Errorf("service start: %v", svc)
	}
	beat := map[string]any{"status": "healthy", "lease_generation": 1}
	if st, hb, _ := call("POST", z+"/agents/"+s+"/heartbeat", beat); st != 200 ||
		hb["agent"].(map[string]any)["lease_generation"] != 1.0 {
		t.Errorf("heartbeat: %d %v", st, hb)
	}
	if st, l, _ := call("POST", z+"/agents/"+s+"/lease", nil); st != 200 || l["lease_generation"] != 2.0 {
		t.Errorf("lease: %d %v", st, l)
	}
	if st, body, _ := call("DELETE", z+"/agents/"+s, map[string]any{"lease_generation": 1}); st != 409 ||
		body["error"] != "session_lease_fenced" {
		t.Errorf("fenced terminate: %d %v", st, body)
	}
	if st, _, _ := call("DELETE", z+"/agents/"+s, map[string]any{"lease_generation": 2}); st != 204 {
		t.Errorf("terminate: %d", st)
	}
	if st, body, _ := call("DELETE", z+"/agents/"+s, map[string]any{"lease_generation": 2}); st != 409 ||
		body["error"] != "already_terminated" {
		t.Errorf("terminate twice: %d %v", st, body)
	}
	if st, body, _ := call("POST", "/zones/other/agents", start); st != 403 || body["error"] != "zone_mismatch" {
		t.Errorf("other zone: %d %v", st, body)
	}
}

func TestKeyRotation(t *testing.T) {
	srv, _ := newServer(t)
	sign := func() string {
		tok, err := srv.Sign(mandate.Claims{RegisteredClaims: jwt.RegisteredClaims{Audience: jwt.ClaimStrings{res}}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	old := sign()
	srv.RotateKey()
	current := sign()
	v, err := srv.Verifier(res, mandate.WithRefetchInterval(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{old, current} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("during rotation: %v", err)
		}
	}
	srv.RotateKey()
	if v, err = srv.Verifier(res); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), old); !errors.Is(err, mandate.ErrUnknownKey) {
		t.Errorf("retired key: %v", err)
	}
	if _, err := v.Verify(context.Background(), current); err != nil {
		t.Errorf("previous key in grace: %v", err)
	}
}
