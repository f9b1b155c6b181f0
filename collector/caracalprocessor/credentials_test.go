// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcaracal/otelcaracal/collector/caracalprocessor"
)

// A JWT and an opaque token, for tests only: neither may reach the output.
const (
	testJWT   = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLWJ5dGVz"
	testToken = "opaque-3f9a1c77d2e84b6b"
)

func TestCredentialAttributes(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		value any
		want  bool // removed
	}{
		{"authorization header", "http.request.header.authorization", []any{"Basic dXNlcjpwYXNz"}, true},
		{"grpc metadata", "rpc.grpc.request.metadata.authorization", "Bearer " + testToken, true},
		{"cookie", "http.request.header.cookie", "sid=" + testToken, true},
		{"set-cookie", "http.response.header.set-cookie", "sid=1", true},
		{"api key header", "http.request.header.x-api-key", testToken, true},
		{"camel case token", "accessToken", testToken, true},
		{"client secret", "oauth.client_secret", testToken, true},
		{"password", "db.password", "hunter2", true},
		{"mandate jwt by value", "caracal.note", "minted " + testJWT + " for tool", true},
		{"bearer by value", "log.message", "sending Authorization: Bearer " + testToken, true},
		{"lower-case bearer", "http.header", "bearer " + testToken, true},
		{"short bearer ending the value", "h", "Bearer abc", true},
		{"jwt in an array", "http.request.header.x-forwarded", []any{"a", testJWT}, true},
		{"jwt in a map", "payload", map[string]any{"inner": map[string]any{"v": testJWT}}, true},
		{"credential key in a map", "payload", map[string]any{"password": "x"}, true},
		{"camel case private key", "privateKey", "-----BEGIN", true},
		{"secret key", "aws.secretKey", testToken, true},
		{"passphrase", "tls.passphrase", "correct horse", true},
		{"plural cookies", "http.cookies", "sid=1", true},
		{"plural api keys", "api_keys", []any{testToken}, true},
		{"token counts are not tokens", "gen_ai.usage.input_tokens", 42, false},
		{"token_count is not a token", "llm.token_count.prompt", 7, false},
		{"bearer challenge", "http.response.header.www-authenticate", []any{`Bearer realm="api"`}, false},
		{"plain value", "http.request.method", "GET", false},
		{"base64 that is no jwt", "blob", "eyJub3QiOiJqd3QifQ", false},
		{"caracal id", "caracal.delegation.id", "edge-4", false},
		{"bytes are not searched", "raw", []byte(testJWT), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := newTraces()
			s := td.span(td.service("svc"), traceID(1), "op", map[string]any{tt.key: tt.value, "keep": "me"})
			_ = s
			out, tel := run(t, defaultConfig(), td.td)
			got := spansByName(out)["svc/op"]
			_, present := got.Attributes().Get(tt.key)
			if present == tt.want {
				t.Errorf("%s present after processing = %v, want %v", tt.key, present, !tt.want)
			}
			if v, _ := got.Attributes().Get("keep"); v.Str() != "me" {
				t.Error("an ordinary attribute was removed")
			}
			want := int64(0)
			if tt.want {
				want = 1
			}
			if n := counter(t, tel, caracalprocessor.MetricCredentialsRemoved,
				map[string]string{"location": "span"}); n != want {
				t.Errorf("%s = %d, want %d", caracalprocessor.MetricCredentialsRemoved, n, want)
			}
		})
	}
}

// secretTraces returns spans with credentials in every place an attribute
// can be: resource, scope, span, event and link.
func secretTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	rs.Resource().Attributes().PutStr("deployment.api_key", testToken)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().Attributes().PutStr("scope.note", "Bearer "+testToken)
	s := ss.Spans().AppendEmpty()
	s.SetTraceID(traceID(1))
	s.SetSpanID(spanID(1))
	s.SetName("op")
	s.Attributes().PutStr("http.request.header.authorization", "Bearer "+testJWT)
	s.Attributes().PutStr("http.route", "/x")
	ev := s.Events().AppendEmpty()
	ev.SetName("exception")
	ev.Attributes().PutStr("exception.message", "rejected "+testJWT)
	ev.Attributes().PutStr("exception.type", "AuthError")
	l := s.Links().AppendEmpty()
	l.SetTraceID(traceID(2))
	l.Attributes().PutStr("session_token", testToken)
	return td
}

func TestCredentialLocations(t *testing.T) {
	for _, action := range []string{caracalprocessor.ActionDrop, caracalprocessor.ActionMask} {
		t.Run(action, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Credentials.Action = action
			out, tel := run(t, cfg, secretTraces())
			raw := dump(t, out)
			for _, secret := range []string{testJWT, testToken} {
				if strings.Contains(raw, secret) {
					t.Errorf("a credential survived: %s", raw)
				}
			}
			for _, kept := range []string{"/x", "AuthError", "svc"} {
				if !strings.Contains(raw, kept) {
					t.Errorf("%q was removed: %s", kept, raw)
				}
			}
			masked := strings.Count(raw, caracalprocessor.DefaultMask)
			if action == caracalprocessor.ActionMask && masked != 5 {
				t.Errorf("%d masked values, want 5: %s", masked, raw)
			}
			if action == caracalprocessor.ActionDrop && masked != 0 {
				t.Errorf("drop masked %d values", masked)
			}
			for _, loc := range []string{"resource", "scope", "span", "event", "link"} {
				if n := counter(t, tel, caracalprocessor.MetricCredentialsRemoved,
					map[string]string{"location": loc}); n != 1 {
					t.Errorf("credentials removed at %s = %d, want 1", loc, n)
				}
			}
		})
	}
}

// TestCredentialsNeverLogged runs the processor with a debug logger and
// checks that no credential, and no credential's key, is logged.
func TestCredentialsNeverLogged(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	set := processortest.NewNopSettings(caracalprocessor.Type)
	set.Logger = zap.New(core)
	p := newProcessor(t, set, defaultConfig(), new(consumertest.TracesSink))
	if err := p.ConsumeTraces(context.Background(), secretTraces()); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, e := range logs.All() {
		line := e.Message + " " + strings.Join(fieldStrings(e), " ")
		for _, s := range []string{testJWT, testToken, "authorization", "session_token"} {
			if strings.Contains(line, s) {
				t.Errorf("log line %q holds %q", line, s)
			}
		}
	}
}

func fieldStrings(e observer.LoggedEntry) []string {
	var out []string
	for k, v := range e.ContextMap() {
		out = append(out, k, strings.TrimSpace(strings.ReplaceAll(fmtAny(v), "\n", " ")))
	}
	return out
}

// TestCredentialConfig checks the configurable key rules.
func TestCredentialConfig(t *testing.T) {
	cfg := defaultConfig()
	cfg.Credentials.Keys = []string{"x-internal-auth"}
	cfg.Credentials.KeyPatterns = []string{`^app\.signing\.`}
	cfg.Credentials.AllowedKeys = []string{"http.request.header.x-csrf-token"}
	td := newTraces()
	td.span(td.service("svc"), traceID(1), "op", map[string]any{
		"http.request.header.x-internal-auth": "v",
		"app.signing.material":                "v",
		"http.request.header.x-csrf-token":    "not secret here",
		"http.request.header.x-trace-token":   "v",
		"allowed but bearer":                  "Bearer " + testToken,
	})
	out, _ := run(t, cfg, td.td)
	got := spansByName(out)["svc/op"].Attributes().AsRaw()
	want := map[string]any{"http.request.header.x-csrf-token": "not secret here"}
	if len(got) != len(want) || got["http.request.header.x-csrf-token"] != want["http.request.header.x-csrf-token"] {
		t.Errorf("attributes = %v, want %v", got, want)
	}
}

// TestDeepNesting checks that a value nested past the search depth is
// treated as a credential rather than passed unread.
func TestDeepNesting(t *testing.T) {
	td := newTraces()
	s := td.span(td.service("svc"), traceID(1), "op", nil)
	v := s.Attributes().PutEmptySlice("deep")
	for range 40 {
		v = v.AppendEmpty().SetEmptySlice()
	}
	v.AppendEmpty().SetStr("x")
	out, _ := run(t, defaultConfig(), td.td)
	if _, ok := spansByName(out)["svc/op"].Attributes().Get("deep"); ok {
		t.Error("a value nested 40 deep was kept unread")
	}
}

// dump renders every attribute of td, for substring checks.
func dump(t *testing.T, td ptrace.Traces) string {
	t.Helper()
	var b strings.Builder
	add := func(m pcommon.Map) {
		for k, v := range m.All() {
			b.WriteString(k + "=" + v.AsString() + "\n")
		}
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		add(rss.At(i).Resource().Attributes())
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			add(sss.At(j).Scope().Attributes())
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				add(s.Attributes())
				for e := 0; e < s.Events().Len(); e++ {
					add(s.Events().At(e).Attributes())
				}
				for l := 0; l < s.Links().Len(); l++ {
					add(s.Links().At(l).Attributes())
				}
			}
		}
	}
	return b.String()
}

// TestMaskedCaracalValue checks that a caracal.* attribute masked as a
// credential is not then read as an id.
func TestMaskedCaracalValue(t *testing.T) {
	for _, action := range []string{caracalprocessor.ActionDrop, caracalprocessor.ActionMask} {
		t.Run(action, func(t *testing.T) {
			cfg := trustingConfig("svc")
			cfg.Credentials.Action = action
			td := newTraces()
			td.span(td.service("svc"), traceID(1), "op", map[string]any{
				kSession: "s", kDelegation: testJWT, kHop: 0, kAttribution: "claimed",
			})
			out, _ := run(t, cfg, td.td)
			s := spansByName(out)["svc/op"]
			if p := attr(s, kPath); p != nil {
				t.Errorf("path %v written from a masked delegation", p)
			}
			if d := attr(s, caracalprocessor.DepthKey); d != int64(0) {
				t.Errorf("depth = %v, want 0: the span acts without a readable delegation", d)
			}
		})
	}
}
