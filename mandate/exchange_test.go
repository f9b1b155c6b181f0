// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otelcaracal/otelcaracal/mandate"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDeadline bounds every test that waits on the network.
const testDeadline = 5 * time.Second

// fakeClock is a settable clock for WithSTSClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeSTS is an httptest STS that counts the exchanges it receives.
type fakeSTS struct {
	*httptest.Server
	calls atomic.Int64

	mu   sync.Mutex
	last *http.Request
	form url.Values
}

// newFakeSTS starts an STS on 127.0.0.1 whose token endpoint answers with
// h after recording the request. A nil h mints a fresh token per call.
func newFakeSTS(t testing.TB, h http.HandlerFunc) *fakeSTS {
	t.Helper()
	s := &fakeSTS{}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			writeToken(w, fmt.Sprintf("tok-%d", s.calls.Load()), 300)
		}
	}
	s.Server = httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth/2/token" {
				if err := r.ParseForm(); err != nil {
					t.Errorf("ParseForm: %v", err)
				}
				s.mu.Lock()
				s.last, s.form = r, r.PostForm
				s.mu.Unlock()
				s.calls.Add(1)
			}
			h(w, r)
		}))
	t.Cleanup(func() {
		// Cut blocked handlers loose first: Close waits for them.
		s.CloseClientConnections()
		s.Close()
	})
	return s
}

// lastForm returns the form and headers of the latest exchange.
func (s *fakeSTS) lastRequest() (*http.Request, url.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.form
}

func writeToken(w http.ResponseWriter, token string, expiresIn int) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   expiresIn,
	})
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func newClient(
	t testing.TB,
	url string,
	opts ...mandate.STSOption,
) *mandate.STSClient {
	t.Helper()
	c, err := mandate.NewSTSClient(url,
		mandate.StaticCredentials(testZone, testApp, testSecret), opts...)
	if err != nil {
		t.Fatalf("NewSTSClient: %v", err)
	}
	return c
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	t.Cleanup(cancel)
	return ctx
}

func TestExchangeWire(t *testing.T) {
	tests := []struct {
		name string
		req  mandate.ExchangeRequest
		want url.Values
	}{
		{
			// Caracal protocol §10.12 step 1.
			name: "lifecycle",
			req: mandate.ExchangeRequest{
				Resources: []string{testResource},
				Scopes:    []string{"agent:lifecycle"},
			},
			want: url.Values{
				"grant_type":     {testGrant},
				"zone_id":        {"z"},
				"application_id": {"app"},
				"client_secret":  {testSecret},
				"resource":       {"resource://pipernet"},
				"scope":          {"agent:lifecycle"},
			},
		},
		{
			// Caracal protocol §10.12 step 4.
			name: "delegated",
			req: mandate.ExchangeRequest{
				Resources:        []string{testResource},
				Scopes:           []string{"data:read"},
				AgentSessionID:   "agent-2",
				DelegationEdgeID: "edge-1",
				TTL:              300 * time.Second,
			},
			want: url.Values{
				"grant_type":         {testGrant},
				"zone_id":            {"z"},
				"application_id":     {"app"},
				"client_secret":      {testSecret},
				"resource":           {"resource://pipernet"},
				"scope":              {"data:read"},
				"agent_session_id":   {"agent-2"},
				"delegation_edge_id": {"edge-1"},
				"ttl_seconds":        {"300"},
			},
		},
		{
			name: "normalized lists and every optional field",
			req: mandate.ExchangeRequest{
				Resources: []string{" resource://b", "resource://a",
					"resource://b "},
				Scopes:          []string{"write", " read", "write"},
				AgentSessionID:  "agent-1",
				SubjectRecordID: "record-1",
				ApprovalID:      "approval-1",
				ForceRefresh:    true,
			},
			want: url.Values{
				"grant_type":       {testGrant},
				"zone_id":          {"z"},
				"application_id":   {"app"},
				"client_secret":    {testSecret},
				"resource":         {"resource://a", "resource://b"},
				"scope":            {"read write"},
				"agent_session_id": {"agent-1"},
				"session_id":       {"record-1"},
				"approval_id":      {"approval-1"},
			},
		},
	}
	// Headers the Go transport adds on its own; nothing else may appear.
	allowed := map[string]bool{
		"Accept": true, "Accept-Encoding": true, "Content-Length": true,
		"Content-Type": true, "User-Agent": true,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := newFakeSTS(t, nil)
			c := newClient(t, sts.URL)
			if _, err := c.Exchange(testContext(t), tt.req); err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			r, form := sts.lastRequest()
			if r.Method != http.MethodPost {
				t.Errorf("method = %s, want POST", r.Method)
			}
			if r.URL.Path != "/oauth/2/token" || r.URL.RawQuery != "" {
				t.Errorf("URL = %s, want /oauth/2/token without query",
					r.URL)
			}
			ct := r.Header.Get("Content-Type")
			if ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", ct)
			}
			for name := range r.Header {
				if !allowed[name] {
					t.Errorf("unexpected header %s: %q", name,
						r.Header.Get(name))
				}
			}
			if !reflect.DeepEqual(form, tt.want) {
				t.Errorf("form =\n%v\nwant\n%v", form, tt.want)
			}
		})
	}
}

func TestExchangeBasePath(t *testing.T) {
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			path.Store(r.URL.Path)
			writeToken(w, "tok", 300)
		}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/sts/")
	if _, err := c.Exchange(testContext(t),
		mandate.ExchangeRequest{}); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if got := path.Load(); got != "/sts/oauth/2/token" {
		t.Errorf("path = %v, want /sts/oauth/2/token", got)
	}
}

func TestExchangeFixture(t *testing.T) {
	clk := newFakeClock()
	sts := newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, tokenResponseFixture)
	})
	c := newClient(t, sts.URL, mandate.WithSTSClock(clk.Now))
	got, err := c.Exchange(testContext(t), mandate.ExchangeRequest{
		Resources: []string{testResource},
	})
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	want := &mandate.Token{
		AccessToken: "eyJhbGciOiJFUzI1NiIsImtpZCI6ImtpZC0xIn0." +
			"eyJzdWIiOiJ1c2VyLTEifQ.signature",
		TokenType:       "Bearer",
		ExpiresIn:       300 * time.Second,
		Scope:           "read write",
		IssuedTokenType: "urn:ietf:params:oauth:token-type:access_token",
		TargetResources: []string{"resource://pipernet"},
		IssuedAt:        clk.Now(),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("token =\n%#v\nwant\n%#v", got, want)
	}
	if got.AccessToken != want.AccessToken {
		t.Error("access token differs")
	}
}

func TestExchangeResponseValidation(t *testing.T) {
	valid := `{"access_token":"a.b.c","token_type":"Bearer","expires_in":60}`
	tests := []struct {
		name        string
		contentType string // "-" leaves the header out
		body        string
		wantErr     bool
	}{
		{"valid", "application/json", valid, false},
		{"charset parameter", "application/json; charset=utf-8", valid, false},
		{"+json type", "application/vnd.caracal+json", valid, false},
		{"no Content-Type", "-", valid, false},
		{"empty token_type", "application/json",
			`{"access_token":"t","expires_in":60}`, false},
		{"empty access_token", "application/json",
			`{"access_token":"","token_type":"Bearer","expires_in":60}`, true},
		{"missing access_token", "application/json",
			`{"token_type":"Bearer","expires_in":60}`, true},
		{"access_token with a space", "application/json",
			`{"access_token":"a b","expires_in":60}`, true},
		{"access_token with CRLF", "application/json",
			`{"access_token":"a\r\nX: y","expires_in":60}`, true},
		{"access_token not a string", "application/json",
			`{"access_token":7,"expires_in":60}`, true},
		{"lowercase bearer", "application/json",
			`{"access_token":"t","token_type":"bearer","expires_in":60}`, true},
		{"other token_type", "application/json",
			`{"access_token":"t","token_type":"MAC","expires_in":60}`, true},
		{"zero expires_in", "application/json",
			`{"access_token":"t","token_type":"Bearer","expires_in":0}`, true},
		{"missing expires_in", "application/json",
			`{"access_token":"t","token_type":"Bearer"}`, true},
		{"negative expires_in", "application/json",
			`{"access_token":"t","expires_in":-5}`, true},
		{"fractional expires_in", "application/json",
			`{"access_token":"t","expires_in":1.5}`, true},
		{"overflowing expires_in", "application/json",
			`{"access_token":"t","expires_in":9223372036854775807}`, true},
		{"text/html", "text/html", valid, true},
		{"application/xml", "application/xml", valid, true},
		{"malformed Content-Type", "application/json; =", valid, true},
		{"garbage", "application/json", "<html>oops</html>", true},
		{"JSON array", "application/json", `[1,2]`, true},
		{"JSON null", "application/json", `null`, true},
		{"trailing data", "application/json", valid + `{}`, true},
		{"empty body", "application/json", "", true},
		{"just over 64 KiB", "application/json",
			`{"access_token":"t","expires_in":60,"scope":"` +
				strings.Repeat("a", 64<<10) + `"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.contentType == "-" {
					w.Header()["Content-Type"] = nil
				} else {
					w.Header().Set("Content-Type", tt.contentType)
				}
				_, _ = io.WriteString(w, tt.body)
			})
			tok, err := newClient(t, sts.URL).Exchange(testContext(t),
				mandate.ExchangeRequest{})
			if !tt.wantErr {
				if err != nil || tok.AccessToken == "" {
					t.Fatalf("Exchange = %v, %v; want a token", tok, err)
				}
				return
			}
			if !errors.Is(err, mandate.ErrSTSInvalidResponse) {
				t.Fatalf("Exchange error = %v, want ErrSTSInvalidResponse", err)
			}
			if tok != nil {
				t.Errorf("Exchange returned a token with an error")
			}
		})
	}
}

func TestSTSErrorParsing(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    http.Header
		body      string
		want      mandate.STSError
		retryable bool
	}{
		{
			name:   "requestId",
			status: http.StatusForbidden,
			body: `{"error":"access_denied","error_description":` +
				`"policy denied (scope)","requestId":"req-1"}`,
			want: mandate.STSError{StatusCode: 403, Code: "access_denied",
				Description: "policy denied (scope)", RequestID: "req-1"},
		},
		{
			name:   "request_id",
			status: http.StatusBadRequest,
			body: `{"error":"invalid_token","error_description":` +
				`"ttl_seconds must be positive","request_id":"req-2"}`,
			want: mandate.STSError{StatusCode: 400, Code: "invalid_token",
				Description: "ttl_seconds must be positive",
				RequestID:   "req-2"},
		},
		{
			name:   "requestId wins over request_id",
			status: http.StatusForbidden,
			body:   `{"error":"zone_invalid","requestId":"a","request_id":"b"}`,
			want: mandate.STSError{StatusCode: 403, Code: "zone_invalid",
				RequestID: "a"},
		},
		{
			name:   "X-Request-Id header",
			status: http.StatusUnauthorized,
			header: http.Header{"X-Request-Id": {"req-3"}},
			body:   `{"error":"access_denied"}`,
			want: mandate.STSError{StatusCode: 401, Code: "access_denied",
				RequestID: "req-3"},
		},
		{
			name:   "sts_unavailable",
			status: http.StatusServiceUnavailable,
			body: `{"error":"sts_unavailable",` +
				`"error_description":"trusted time unavailable"}`,
			want: mandate.STSError{StatusCode: 503, Code: "sts_unavailable",
				Description: "trusted time unavailable"},
			retryable: true,
		},
		{
			name:   "429 with Retry-After seconds",
			status: http.StatusTooManyRequests,
			header: http.Header{"Retry-After": {"3"}},
			body:   `{"error":"provider_rate_limited"}`,
			want: mandate.STSError{StatusCode: 429,
				Code: "provider_rate_limited", RetryAfter: 3 * time.Second},
			retryable: true,
		},
		{
			name:   "503 with Retry-After date",
			status: http.StatusServiceUnavailable,
			header: http.Header{"Retry-After": {
				"Wed, 01 Jul 2026 12:00:10 GMT"}},
			body: `{"error":"policy_eval_failed"}`,
			want: mandate.STSError{StatusCode: 503,
				Code: "policy_eval_failed", RetryAfter: 10 * time.Second},
			retryable: true,
		},
		{
			name:   "Retry-After in the past",
			status: http.StatusTooManyRequests,
			header: http.Header{"Retry-After": {
				"Wed, 01 Jul 2026 11:00:00 GMT"}},
			body: `{"error":"provider_rate_limited"}`,
			want: mandate.STSError{StatusCode: 429,
				Code: "provider_rate_limited"},
			retryable: true,
		},
		{
			name:   "malformed Retry-After",
			status: http.StatusTooManyRequests,
			header: http.Header{"Retry-After": {"soon"}},
			body:   `{"error":"provider_rate_limited"}`,
			want: mandate.STSError{StatusCode: 429,
				Code: "provider_rate_limited"},
			retryable: true,
		},
		{
			name:   "Retry-After ignored on 400",
			status: http.StatusBadRequest,
			header: http.Header{"Retry-After": {"3"}},
			body:   `{"error":"invalid_token"}`,
			want:   mandate.STSError{StatusCode: 400, Code: "invalid_token"},
		},
		{
			name:      "HTML from a proxy",
			status:    http.StatusBadGateway,
			body:      `<html><body>Bad Gateway</body></html>`,
			want:      mandate.STSError{StatusCode: 502},
			retryable: true,
		},
		{name: "408", status: 408, want: mandate.STSError{StatusCode: 408},
			retryable: true},
		{name: "425", status: 425, want: mandate.STSError{StatusCode: 425},
			retryable: true},
		{name: "500", status: 500, body: `{"error":"internal_error"}`,
			want: mandate.STSError{StatusCode: 500,
				Code: "internal_error"},
			retryable: true},
		{name: "409", status: 409, body: `{"error":"approval_consumed"}`,
			want: mandate.STSError{StatusCode: 409, Code: "approval_consumed"}},
		{
			name:   "401 interaction_required without approval id",
			status: http.StatusUnauthorized,
			body:   `{"error":"interaction_required"}`,
			want: mandate.STSError{StatusCode: 401,
				Code: "interaction_required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			sts := newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				writeJSON(w, tt.status, tt.body)
			})
			c := newClient(t, sts.URL, mandate.WithSTSClock(clk.Now))
			_, err := c.Exchange(testContext(t), mandate.ExchangeRequest{})
			var se *mandate.STSError
			if !errors.As(err, &se) {
				t.Fatalf("Exchange error = %v, want *STSError", err)
			}
			if *se != tt.want {
				t.Errorf("STSError = %#v\nwant %#v", *se, tt.want)
			}
			if se.Retryable() != tt.retryable {
				t.Errorf("Retryable = %v, want %v", se.Retryable(),
					tt.retryable)
			}
			if errors.Is(err, mandate.ErrApprovalRequired) {
				t.Error("plain STS error matches ErrApprovalRequired")
			}
		})
	}
}

func TestSTSErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  mandate.STSError
		want string
	}{
		{"status only", mandate.STSError{StatusCode: 502},
			"caracal mandate: STS returned HTTP 502"},
		{"everything", mandate.STSError{StatusCode: 429,
			Code: "provider_rate_limited", Description: "slow down",
			RequestID: "r-1", RetryAfter: 3 * time.Second},
			`caracal mandate: STS returned HTTP 429 provider_rate_limited: ` +
				`"slow down" (request id "r-1") (retry after 3s)`},
		{"odd code is quoted", mandate.STSError{StatusCode: 400,
			Code: "bad\ncode"},
			`caracal mandate: STS returned HTTP 400 "bad\ncode"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q\nwant %q", got, tt.want)
			}
		})
	}
}

// approvalSTS holds the first exchange for approval "ap/1", approves it on
// the first wait and mints once the exchange is repeated with the id.
func approvalSTS(t *testing.T, waits *atomic.Value) *fakeSTS {
	return newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/approvals/"):
			waits.Store(r.Method + " " + r.URL.EscapedPath() + "?" +
				r.URL.RawQuery)
			writeJSON(w, 200, `{"id":"ap/1","state":"approved",`+
				`"expires_at":"2026-07-01T12:05:00Z"}`)
		case r.PostForm.Get("approval_id") == "ap/1":
			writeToken(w, "approved-token", 300)
		default:
			w.Header().Set("WWW-Authenticate",
				`Bearer error="interaction_required"`)
			writeJSON(w, http.StatusUnauthorized,
				`{"error":"interaction_required","error_description":`+
					`"approval required","approval_id":"ap/1",`+
					`"approval_type":"human","state":"pending","tier":2,`+
					`"binding":"0a1b2c","approval_expires_at":`+
					`"2026-07-01T12:05:00Z","requestId":"req-9"}`)
		}
	})
}

func TestExchangeApprovalFlow(t *testing.T) {
	var waits atomic.Value
	sts := approvalSTS(t, &waits)
	c := newClient(t, sts.URL)
	ctx := testContext(t)
	req := mandate.ExchangeRequest{
		Resources: []string{testResource},
		Scopes:    []string{"data:write"},
	}

	_, err := c.Exchange(ctx, req)
	if !errors.Is(err, mandate.ErrApprovalRequired) {
		t.Fatalf("Exchange error = %v, want ErrApprovalRequired", err)
	}
	var ae *mandate.ApprovalRequiredError
	if !errors.As(err, &ae) {
		t.Fatalf("Exchange error = %T, want *ApprovalRequiredError", err)
	}
	want := mandate.ApprovalRequiredError{
		ApprovalID:   "ap/1",
		ApprovalType: "human",
		State:        "pending",
		Tier:         "2",
		Binding:      "0a1b2c",
		ExpiresAt:    time.Date(2026, 7, 1, 12, 5, 0, 0, time.UTC),
	}
	got := *ae
	got.Err = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ApprovalRequiredError = %+v\nwant %+v", got, want)
	}
	var se *mandate.STSError
	if !errors.As(err, &se) || se.StatusCode != 401 ||
		se.Code != "interaction_required" || se.RequestID != "req-9" {
		t.Errorf("underlying STSError = %+v", se)
	}
	if se.Retryable() {
		t.Error("an approval hold is retryable")
	}

	state, err := c.WaitApproval(ctx, ae.ApprovalID, 5*time.Second)
	if err != nil || state != mandate.ApprovalApproved {
		t.Fatalf("WaitApproval = %q, %v; want approved", state, err)
	}
	if got := waits.Load(); got != "GET /approvals/ap%2F1?wait=5" {
		t.Errorf("wait request = %v", got)
	}

	req.ApprovalID = ae.ApprovalID
	tok, err := c.Exchange(ctx, req)
	if err != nil || tok.AccessToken != "approved-token" {
		t.Fatalf("Exchange after approval = %v, %v", tok, err)
	}
	if n := sts.calls.Load(); n != 2 {
		t.Errorf("STS exchanges = %d, want 2", n)
	}
}

func TestWaitApprovalRequest(t *testing.T) {
	tests := []struct {
		name      string
		id        string
		wait      time.Duration
		wantQuery string // "" means refused before sending
	}{
		{"zero wait asks 1 s", "ap-1", 0, "wait=1"},
		{"sub-second rounds up", "ap-1", 500 * time.Millisecond, "wait=1"},
		{"fraction rounds up", "ap-1", 1500 * time.Millisecond, "wait=2"},
		{"in range", "ap-1", 20 * time.Second, "wait=20"},
		{"capped at 25 s", "ap-1", time.Minute, "wait=25"},
		{"empty id", "", time.Second, ""},
		{"dot dot", "..", time.Second, ""},
		{"control character", "ap\n1", time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var query atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(
				func(w http.ResponseWriter, r *http.Request) {
					query.Store(r.URL.RawQuery)
					writeJSON(w, 200, `{"id":"ap-1","state":"pending"}`)
				}))
			defer srv.Close()
			c := newClient(t, srv.URL)
			state, err := c.WaitApproval(testContext(t), tt.id, tt.wait)
			if tt.wantQuery == "" {
				if !errors.Is(err, mandate.ErrExchangeInvalidRequest) {
					t.Errorf("WaitApproval error = %v", err)
				}
				if query.Load() != nil {
					t.Error("an invalid id reached the STS")
				}
				return
			}
			if err != nil || state != mandate.ApprovalPending {
				t.Fatalf("WaitApproval = %q, %v", state, err)
			}
			if got := query.Load(); got != tt.wantQuery {
				t.Errorf("query = %v, want %s", got, tt.wantQuery)
			}
		})
	}
}

func TestWaitApprovalResponse(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    string
		wantErr error
	}{
		{"approved", 200, `{"id":"ap-1","state":"approved"}`, "approved", nil},
		{"no id echoed", 200, `{"state":"rejected"}`, "rejected", nil},
		{"other id", 200, `{"id":"ap-2","state":"approved"}`, "",
			mandate.ErrSTSInvalidResponse},
		{"no state", 200, `{"id":"ap-1"}`, "", mandate.ErrSTSInvalidResponse},
		{"garbage", 200, `approved`, "", mandate.ErrSTSInvalidResponse},
		{"not found", 404, `{"error":"not_found"}`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(
				func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, tt.status, tt.body)
				}))
			defer srv.Close()
			state, err := newClient(t, srv.URL).WaitApproval(
				testContext(t), "ap-1", time.Second)
			switch {
			case tt.status != 200:
				var se *mandate.STSError
				if !errors.As(err, &se) || se.StatusCode != tt.status {
					t.Errorf("WaitApproval error = %v, want STSError", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("WaitApproval error = %v, want %v", err,
						tt.wantErr)
				}
			case err != nil || state != tt.want:
				t.Errorf("WaitApproval = %q, %v; want %q", state, err,
					tt.want)
			}
		})
	}
}

func TestExchangeInvalidRequest(t *testing.T) {
	tests := []struct {
		name string
		req  mandate.ExchangeRequest
	}{
		{"empty resource", mandate.ExchangeRequest{
			Resources: []string{testResource, " "}}},
		{"resource with a space", mandate.ExchangeRequest{
			Resources: []string{"resource://a b"}}},
		{"scope with a newline", mandate.ExchangeRequest{
			Scopes: []string{"data:read\nx"}}},
		{"empty scope", mandate.ExchangeRequest{Scopes: []string{""}}},
		{"invalid UTF-8 resource", mandate.ExchangeRequest{
			Resources: []string{"resource://\xff"}}},
		{"control character in an id", mandate.ExchangeRequest{
			AgentSessionID: "agent\x001"}},
		{"negative TTL", mandate.ExchangeRequest{TTL: -time.Second}},
		{"fractional TTL", mandate.ExchangeRequest{
			TTL: 1500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := newFakeSTS(t, nil)
			_, err := newClient(t, sts.URL).Exchange(testContext(t), tt.req)
			if !errors.Is(err, mandate.ErrExchangeInvalidRequest) {
				t.Errorf("Exchange error = %v, want "+
					"ErrExchangeInvalidRequest", err)
			}
			if _, err := mandate.NewMintRequest(tt.req); !errors.Is(err,
				mandate.ErrExchangeInvalidRequest) {
				t.Errorf("NewMintRequest error = %v", err)
			}
			if n := sts.calls.Load(); n != 0 {
				t.Errorf("STS exchanges = %d, want 0", n)
			}
		})
	}
}

func TestExchangeCredentialSource(t *testing.T) {
	sts := newFakeSTS(t, nil)
	ctx := testContext(t)

	t.Run("asked before every exchange", func(t *testing.T) {
		var asked atomic.Int64
		src := mandate.CredentialSourceFunc(
			func(context.Context) (mandate.STSCredentials, error) {
				n := asked.Add(1)
				return mandate.STSCredentials{ZoneID: "z",
					ApplicationID: "app",
					ClientSecret:  fmt.Sprintf("secret-%d", n)}, nil
			})
		c, err := mandate.NewSTSClient(sts.URL, src)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 2; i++ {
			_, err := c.Exchange(ctx, mandate.ExchangeRequest{})
			if err != nil {
				t.Fatal(err)
			}
			_, form := sts.lastRequest()
			if got, want := form.Get("client_secret"),
				fmt.Sprintf("secret-%d", i); got != want {
				t.Errorf("exchange %d: client_secret = %q, want %q", i,
					got, want)
			}
		}
	})

	failing := []struct {
		name  string
		creds mandate.STSCredentials
		err   error
	}{
		{"resolver error", mandate.STSCredentials{},
			errors.New("vault sealed")},
		{"nothing", mandate.STSCredentials{}, nil},
		{"no secret", mandate.STSCredentials{ZoneID: "z",
			ApplicationID: "app"}, nil},
		{"no zone", mandate.STSCredentials{ApplicationID: "app",
			ClientSecret: "s"}, nil},
		{"no application", mandate.STSCredentials{ZoneID: "z",
			ClientSecret: "s"}, nil},
	}
	for _, tt := range failing {
		t.Run(tt.name, func(t *testing.T) {
			before := sts.calls.Load()
			src := mandate.CredentialSourceFunc(
				func(context.Context) (mandate.STSCredentials, error) {
					return tt.creds, tt.err
				})
			c, err := mandate.NewSTSClient(sts.URL, src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Exchange(ctx, mandate.ExchangeRequest{})
			if !errors.Is(err, mandate.ErrSTSCredentialsUnavailable) {
				t.Errorf("Exchange error = %v, want "+
					"ErrSTSCredentialsUnavailable", err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("Exchange error = %v does not wrap %v", err, tt.err)
			}
			if n := sts.calls.Load(); n != before {
				t.Error("the STS was called without credentials")
			}
			cache := mandate.NewMintCache(c)
			if _, err := cache.Mint(ctx, mandate.ExchangeRequest{}); !errors.Is(
				err, mandate.ErrSTSCredentialsUnavailable) {
				t.Errorf("Mint error = %v", err)
			}
		})
	}
}

func TestNewSTSClient(t *testing.T) {
	good := mandate.StaticCredentials("z", "app", "s")
	tests := []struct {
		name  string
		url   string
		creds mandate.CredentialSource
		ok    bool
	}{
		{"http", "http://127.0.0.1:8080", good, true},
		{"https with path", "https://sts.example/base/", good, true},
		{"empty", "", good, false},
		{"relative", "/oauth", good, false},
		{"other scheme", "ftp://sts.example", good, false},
		{"no host", "http://", good, false},
		{"user info", "https://app:secret@sts.example", good, false},
		{"query", "https://sts.example/?a=b", good, false},
		{"empty query", "https://sts.example/?", good, false},
		{"fragment", "https://sts.example/#x", good, false},
		{"nil credentials", "https://sts.example", nil, false},
		{"incomplete static credentials", "https://sts.example",
			mandate.StaticCredentials("z", "app", ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := mandate.NewSTSClient(tt.url, tt.creds)
			if (err == nil) != tt.ok || (c != nil) != tt.ok {
				t.Errorf("NewSTSClient = %v, %v; want ok %v", c, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "secret") &&
				strings.Contains(tt.url, "secret") {
				t.Errorf("error %q repeats the URL's user info", err)
			}
		})
	}
}

func TestExchangeDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			followed.Store(true)
			writeToken(w, "tok", 300)
		}))
	defer target.Close()
	sts := newFakeSTS(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/oauth/2/token",
			http.StatusTemporaryRedirect)
	})
	_, err := newClient(t, sts.URL).Exchange(testContext(t),
		mandate.ExchangeRequest{})
	var se *mandate.STSError
	if !errors.As(err, &se) || se.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("Exchange error = %v, want STSError 307", err)
	}
	if followed.Load() {
		t.Error("the redirect was followed with the client secret")
	}
}

func TestExchangeFailsInBoundedTime(t *testing.T) {
	// A port that was just closed refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	_ = ln.Close()

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
	defer slow.Close()
	defer close(release)

	// endless streams a JSON string until the client hangs up.
	endless := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"`)
			chunk := bytes.Repeat([]byte("a"), 4096)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
	defer endless.Close()

	tests := []struct {
		name     string
		url      string
		opts     []mandate.STSOption
		wantErr  error
		deadline bool
	}{
		{"STS down", closedURL, nil, mandate.ErrSTSUnreachable, false},
		{"STS body without end", endless.URL, nil,
			mandate.ErrSTSInvalidResponse, false},
		{"STS slow, client timeout", slow.URL,
			[]mandate.STSOption{mandate.WithSTSTimeout(100 * time.Millisecond)},
			mandate.ErrSTSUnreachable, true},
		{"STS slow, http.Client timeout", slow.URL,
			[]mandate.STSOption{mandate.WithSTSHTTPClient(
				&http.Client{Timeout: 100 * time.Millisecond})},
			mandate.ErrSTSUnreachable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.url, tt.opts...)
			start := time.Now()
			_, err := c.Exchange(testContext(t), mandate.ExchangeRequest{})
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Exchange took %v", elapsed)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Exchange error = %v, want %v", err, tt.wantErr)
			}
			if tt.deadline && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Exchange error = %v, want a deadline", err)
			}
		})
	}

	t.Run("caller context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(),
			100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := newClient(t, slow.URL).Exchange(ctx,
			mandate.ExchangeRequest{})
		if !errors.Is(err, context.DeadlineExceeded) ||
			time.Since(start) > 2*time.Second {
			t.Errorf("Exchange error = %v after %v", err, time.Since(start))
		}
	})
}

func TestSecretsNeverPrinted(t *testing.T) {
	token := testJWT
	// Each response tries to make an error message carry a credential.
	responses := []struct {
		name   string
		status int
		header http.Header
		body   string
	}{
		{"description echoes the secret", 401, nil,
			`{"error":"access_denied","error_description":"bad secret ` +
				testSecret + `"}`},
		{"description echoes the form", 400, nil,
			`{"error":"invalid_token","error_description":"client_secret=` +
				url.QueryEscape(testSecret) + `"}`},
		{"description echoes a JWT", 401, nil,
			`{"error":"invalid_token","error_description":"invalid ` +
				`subject_token ` + token + `"}`},
		{"code is a JWT", 401, nil, `{"error":"` + token + `"}`},
		{"request id is the secret", 403, nil,
			`{"error":"zone_invalid","requestId":"` + testSecret + `"}`},
		{"header request id is a JWT", 403,
			http.Header{"X-Request-Id": {token}}, `{"error":"zone_invalid"}`},
		{"approval fields echo", 401, nil,
			`{"error":"interaction_required","approval_id":"ap-1",` +
				`"approval_type":"` + testSecret + `","state":"` + token +
				`","error_description":"` + token + `"}`},
		{"token_type is the token", 200, nil,
			`{"access_token":"` + token + `","token_type":"` + token +
				`","expires_in":60}`},
		{"token_type is the secret", 200, nil,
			`{"access_token":"` + token + `","token_type":"` + testSecret +
				`","expires_in":60}`},
		{"Content-Type echoes", 200,
			http.Header{"Content-Type": {"text/" + token}},
			`{"access_token":"` + token + `","expires_in":60}`},
		{"expires_in invalid", 200, nil,
			`{"access_token":"` + token + `","expires_in":0}`},
		{"access_token malformed", 200, nil,
			`{"access_token":"` + testSecret + ` ` + token +
				`","expires_in":60}`},
	}
	var errs []error
	for _, r := range responses {
		sts := newFakeSTS(t, func(w http.ResponseWriter, _ *http.Request) {
			for k, v := range r.header {
				w.Header()[k] = v
			}
			if w.Header().Get("Content-Type") == "" {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(r.status)
			_, _ = io.WriteString(w, r.body)
		})
		_, err := newClient(t, sts.URL).Exchange(testContext(t),
			mandate.ExchangeRequest{})
		if err == nil {
			t.Fatalf("%s: Exchange succeeded", r.name)
		}
		errs = append(errs, err)
	}

	// A successful exchange, its token, the client and a cache.
	sts := newFakeSTS(t, func(w http.ResponseWriter, _ *http.Request) {
		writeToken(w, token, 300)
	})
	c := newClient(t, sts.URL)
	cache := mandate.NewMintCache(c)
	tok, err := cache.Mint(testContext(t), mandate.ExchangeRequest{
		Resources: []string{testResource}})
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := mandate.StaticCredentials("z", "app", testSecret).
		Credentials(context.Background())

	var printed []string
	for _, e := range errs {
		printed = append(printed, e.Error(),
			fmt.Sprintf("%v|%+v|%#v|%s|%q", e, e, e, e, e))
	}
	for _, v := range []any{tok, *tok, creds, &creds, c, cache,
		struct{ T *mandate.Token }{tok}, []*mandate.Token{tok},
		struct {
			c *mandate.STSClient
			m *mandate.MintCache
		}{c, cache},
		map[string]mandate.Token{"k": *tok}} {
		printed = append(printed, fmt.Sprintf(
			"%v|%+v|%#v|%s|%q|%x|%X|%d|%10.3s|%-v", v, v, v, v, v, v, v, v,
			v, v))
		for _, h := range []func(io.Writer) slog.Handler{
			func(w io.Writer) slog.Handler {
				return slog.NewJSONHandler(w, nil)
			},
			func(w io.Writer) slog.Handler {
				return slog.NewTextHandler(w, nil)
			},
		} {
			var buf bytes.Buffer
			slog.New(h(&buf)).Info("minted", "value", v)
			printed = append(printed, buf.String())
		}
	}
	// fmt cannot call methods on unexported fields: a *Token there is
	// safe with %v only (a pointer below the top prints as an address).
	hidden := struct{ t *mandate.Token }{tok}
	printed = append(printed, fmt.Sprintf("%v|%+v", hidden, hidden))
	for _, p := range printed {
		for _, secret := range []string{token, testSecret,
			url.QueryEscape(testSecret), "c2lnbmF0dXJlLWJ5dGVzLWhlcmU"} {
			if strings.Contains(p, secret) {
				t.Errorf("printed a credential: %s", p)
			}
		}
	}
	if s := fmt.Sprint(tok); !strings.Contains(s, "[REDACTED]") ||
		!strings.Contains(s, "ExpiresIn:5m0s") {
		t.Errorf("Token prints as %s", s)
	}
}

// roundTripFunc answers requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) {
	return f(r)
}

func FuzzExchangeResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(tokenResponseFixture))
	f.Add(200, "", []byte(`{"access_token":"a","expires_in":1}`))
	f.Add(401, "application/json", []byte(`{"error":"interaction_required",`+
		`"approval_id":"ap","approval_expires_at":"2026-07-01T12:00:00Z"}`))
	f.Add(429, "application/json", []byte(`{"error":"x","requestId":7}`))
	f.Add(503, "text/html", []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		hc := &http.Client{Transport: roundTripFunc(
			func(r *http.Request) (*http.Response, error) {
				h := http.Header{}
				if ct != "" {
					h.Set("Content-Type", ct)
				}
				h.Set("Retry-After", "3")
				return &http.Response{StatusCode: status, Header: h,
					Body:    io.NopCloser(bytes.NewReader(body)),
					Request: r}, nil
			})}
		c := newClient(t, "http://127.0.0.1:1",
			mandate.WithSTSHTTPClient(hc))
		tok, err := c.Exchange(context.Background(), mandate.ExchangeRequest{})
		if err != nil {
			if strings.Contains(fmt.Sprintf("%v %+v", err, err), testSecret) {
				t.Fatalf("error prints the secret: %v", err)
			}
			return
		}
		if status != 200 || tok.AccessToken == "" || tok.ExpiresIn <= 0 ||
			tok.TokenType != "" && tok.TokenType != "Bearer" {
			t.Fatalf("accepted status %d, token %v", status, tok)
		}
	})
}
