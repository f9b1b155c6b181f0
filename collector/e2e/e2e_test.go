// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bounds of every wait on Jaeger and the collector.
const (
	pollFor   = 60 * time.Second
	pollEvery = 500 * time.Millisecond
)

// Credentials the canary trace carries; none may reach Jaeger. They are
// made up for this test.
const (
	canaryJWT    = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImUyZSJ9.eyJzdWIiOiJjYW5hcnkifQ.Y2FuYXJ5LXNpZ25hdHVyZQ"
	canaryToken  = "canary-opaque-6d1f0e9b2c"
	canaryCookie = "canary-session-77aa"
)

// credentialPatterns match what must never be stored: a JWT, or a bearer
// credential.
var credentialPatterns = []*regexp.Regexp{
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{7,}\.[A-Za-z0-9_-]{2,}\.`),
	regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/-]{8,}`),
}

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("%s is not set: run make e2e", name)
	}
	return v
}

// get fetches url and returns its body.
func get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b, err
}

// jaegerTrace is a trace of Jaeger's /api/traces/{id} response.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		Tags          []tag  `json:"tags"`
		Logs          []struct {
			Fields []tag `json:"fields"`
		} `json:"logs"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
		Tags        []tag  `json:"tags"`
	} `json:"processes"`
}

type tag struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// span is a span of a jaegerTrace with its tags by key.
type span struct {
	service, name string
	tags          map[string]any
}

func (tr jaegerTrace) spans() []span {
	var out []span
	for _, s := range tr.Spans {
		sp := span{service: tr.Processes[s.ProcessID].ServiceName, name: s.OperationName, tags: map[string]any{}}
		for _, t := range s.Tags {
			sp.tags[t.Key] = t.Value
		}
		out = append(out, sp)
	}
	return out
}

// fetchTrace polls Jaeger until the trace id holds at least minSpans
// spans and the count has stopped growing, and returns it with the raw
// response.
func fetchTrace(t *testing.T, id string, minSpans int) (jaegerTrace, []byte) {
	t.Helper()
	base := env(t, "E2E_JAEGER_URL")
	ctx, cancel := context.WithTimeout(context.Background(), pollFor)
	defer cancel()
	last := -1
	for {
		code, body, err := get(ctx, base+"/api/traces/"+id)
		if err == nil && code == http.StatusOK {
			var resp struct {
				Data []jaegerTrace `json:"data"`
			}
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatalf("decoding Jaeger's response: %v", err)
			}
			if len(resp.Data) == 1 {
				n := len(resp.Data[0].Spans)
				if n >= minSpans && n == last {
					return resp.Data[0], body
				}
				last = n
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("trace %s did not reach Jaeger with %d spans within %v (last: %d spans, %v, HTTP %d)",
				id, minSpans, pollFor, last, err, code)
		case <-time.After(pollEvery):
		}
	}
}

// assertNoCredential fails when body holds a credential.
func assertNoCredential(t *testing.T, body []byte, secrets ...string) {
	t.Helper()
	for _, re := range credentialPatterns {
		if m := re.Find(body); m != nil {
			t.Errorf("Jaeger stored a credential matching %s", re)
		}
	}
	for _, s := range secrets {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("Jaeger stored the canary credential %.12s…", s)
		}
	}
}

// TestQuickstartTrace checks the quickstart's trace in Jaeger: spans from
// every service, each attributed span with its attribution, depth and,
// under a delegation, the path completed by the caracal processor.
func TestQuickstartTrace(t *testing.T) {
	id := env(t, "E2E_TRACE_ID")
	tr, body := fetchTrace(t, id, 9)
	services := map[string]int{}
	verified := map[string]int{}
	attributed := 0
	for _, s := range tr.spans() {
		services[s.service]++
		a, ok := s.tags["caracal.attribution"]
		if !ok {
			continue
		}
		attributed++
		if a == "verified" {
			verified[s.service]++
			for _, k := range []string{"caracal.zone.id", "caracal.application.id"} {
				if s.tags[k] == nil {
					t.Errorf("%s %q is verified without %s", s.service, s.name, k)
				}
			}
		}
		if _, ok := s.tags["caracal.delegation.depth"]; !ok {
			t.Errorf("%s %q has no caracal.delegation.depth", s.service, s.name)
		}
		if d, ok := s.tags["caracal.delegation.id"]; ok {
			path := pathOf(t, s.tags["caracal.delegation.path"])
			if len(path) == 0 || path[len(path)-1] != d {
				t.Errorf("%s %q: path %v does not end in its delegation %v", s.service, s.name, path, d)
			}
			if hop := fmt.Sprint(s.tags["caracal.hop"]); hop != strconv.Itoa(len(path)) {
				t.Errorf("%s %q: hop %s, path %v", s.service, s.name, hop, path)
			}
		}
		for _, k := range []string{"caracal.attribution.conflict", "caracal.attribution.downgraded",
			"caracal.attribution.untrusted"} {
			if v, ok := s.tags[k]; ok {
				t.Errorf("%s %q: %s = %v", s.service, s.name, k, v)
			}
		}
	}
	want := strings.Fields(env(t, "E2E_SERVICES"))
	for _, svc := range want {
		if services[svc] == 0 {
			t.Errorf("no span from %s in the trace: %v", svc, services)
		}
	}
	if len(services) != len(want) {
		t.Errorf("spans from %v, want from %v", services, want)
	}
	// The planner acts on baggage alone; every service it reaches checks
	// a mandate.
	for _, svc := range want {
		if (verified[svc] > 0) != (svc != "planner-agent") {
			t.Errorf("verified spans by service = %v, want every service but planner-agent", verified)
			break
		}
	}
	if attributed < 8 {
		t.Errorf("%d attributed spans, want at least 8", attributed)
	}
	assertNoCredential(t, body)
	t.Logf("trace %s: %d spans from %v, %d attributed, verified %v", id, len(tr.Spans), services, attributed, verified)
}

// pathOf reads a delegation path as Jaeger stores an array: a JSON string.
func pathOf(t *testing.T, v any) []string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Errorf("caracal.delegation.path = %#v, want an array in JSON", v)
		return nil
	}
	var path []string
	if err := json.Unmarshal([]byte(s), &path); err != nil {
		t.Errorf("caracal.delegation.path %q: %v", s, err)
	}
	return path
}

// newTraceID returns a random trace id in hex.
func newTraceID(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// send posts spans as OTLP/HTTP JSON to the collector.
func send(t *testing.T, body string) {
	t.Helper()
	url := "http://" + env(t, "E2E_COLLECTOR_HTTP") + "/v1/traces"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sending to the collector: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("collector answered %s: %s", resp.Status, b)
	}
}

// canary returns an OTLP JSON request with one span of service svc in
// trace id, carrying credentials in its resource, span, event and link,
// and the caracal attributes attrs.
func canary(id, svc, attrs string) string {
	return fmt.Sprintf(`{"resourceSpans": [{
  "resource": {"attributes": [
    {"key": "service.name", "value": {"stringValue": %q}},
    {"key": "deployment.api_key", "value": {"stringValue": %q}}]},
  "scopeSpans": [{"scope": {"name": "e2e"}, "spans": [{
    "traceId": %q, "spanId": "00f067aa0ba902b7", "name": "canary", "kind": 2,
    "startTimeUnixNano": "%d", "endTimeUnixNano": "%d",
    "attributes": [
      {"key": "canary.marker", "value": {"stringValue": "kept"}},
      {"key": "http.request.header.authorization",
       "value": {"arrayValue": {"values": [{"stringValue": "Bearer %s"}]}}},
      {"key": "http.request.header.cookie", "value": {"stringValue": "sid=%s"}},
      {"key": "log.note", "value": {"stringValue": "minted %s for the tool"}}%s],
    "events": [{"name": "exception", "timeUnixNano": "%d", "attributes": [
      {"key": "exception.message", "value": {"stringValue": "rejected Bearer %s"}}]}],
    "links": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
      "attributes": [{"key": "session_token", "value": {"stringValue": %q}}]}]
  }]}]
}]}`, svc, canaryToken, id, time.Now().Add(-time.Second).UnixNano(), time.Now().UnixNano(),
		canaryToken, canaryCookie, canaryJWT, attrs, time.Now().UnixNano(), canaryJWT, canaryToken)
}

// TestCredentialsRemoved sends a span full of credentials through the
// collector and checks that it reaches Jaeger without any of them, and
// that the collector counted them.
func TestCredentialsRemoved(t *testing.T) {
	id := newTraceID(t)
	send(t, canary(id, "canary-service", ""))
	tr, body := fetchTrace(t, id, 1)
	if got := tr.spans()[0].tags["canary.marker"]; got != "kept" {
		t.Errorf("canary.marker = %v, want it kept", got)
	}
	assertNoCredential(t, body, canaryJWT, canaryToken, canaryCookie)

	metrics := env(t, "E2E_COLLECTOR_METRICS")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, m, err := get(ctx, metrics)
	if err != nil {
		t.Fatalf("reading the collector's metrics: %v", err)
	}
	if n := sumMetric(m, "otelcol_processor_caracal_credentials_removed"); n < 5 {
		t.Errorf("otelcol_processor_caracal_credentials_removed = %v, want at least 5", n)
	}
}

// TestUntrustedVerified checks that a service outside trusted_services
// cannot make verified stick, even with the signed-claim attributes.
func TestUntrustedVerified(t *testing.T) {
	id := newTraceID(t)
	send(t, canary(id, "rogue-agent", `,
      {"key": "caracal.agent_session.id", "value": {"stringValue": "session-rogue"}},
      {"key": "caracal.delegation.id", "value": {"stringValue": "edge-rogue"}},
      {"key": "caracal.hop", "value": {"intValue": "1"}},
      {"key": "caracal.attribution", "value": {"stringValue": "verified"}},
      {"key": "caracal.zone.id", "value": {"stringValue": "zone-test"}},
      {"key": "caracal.application.id", "value": {"stringValue": "app-test"}},
      {"key": "caracal.delegation.path", "value": {"arrayValue": {"values": [{"stringValue": "edge-rogue"}]}}}`))
	tr, _ := fetchTrace(t, id, 1)
	tags := tr.spans()[0].tags
	want := map[string]any{
		"caracal.attribution":            "claimed",
		"caracal.attribution.downgraded": "untrusted_service",
		"caracal.attribution.untrusted":  true,
	}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("%s = %#v, want %#v", k, tags[k], v)
		}
	}
}

// sumMetric adds the values of the Prometheus samples whose name starts
// with name.
func sumMetric(text []byte, name string) float64 {
	var sum float64
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}
