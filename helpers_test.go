// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/otelcaracal/otelcaracal"
	"github.com/otelcaracal/otelcaracal/caracaltest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The resource of the tests, its scope and the lifecycle scope.
const (
	resTools   = "resource://tools"
	scopeRead  = "tools:read"
	stubToken  = "application-mandate"
	stubSecret = "stub-client-secret"
)

// caracalVars are every variable the client reads.
var caracalVars = []string{
	"CARACAL_CONFIG", "CARACAL_ZONE_ID", "CARACAL_APPLICATION_ID", "CARACAL_APP_CLIENT_SECRET",
	"CARACAL_APP_CLIENT_SECRET_FILE", "CARACAL_BOOTSTRAP_TOKEN", "CARACAL_STS_URL",
	"CARACAL_COORDINATOR_URL", "CARACAL_GATEWAY_URL", "CARACAL_ENV", "CARACAL_ALLOW_INSECURE_CONFIG_URLS",
	"CARACAL_DEFAULT_TTL_SECONDS", "CARACAL_RESOURCES", "CARACAL_RESOURCES_FILE", "CARACAL_APP_RESOURCES",
}

// clearEnv blanks every CARACAL_* variable for the test, so the process
// environment cannot change its outcome. Empty counts as unset.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range caracalVars {
		t.Setenv(v, "")
	}
}

// controlPlane is a caracaltest Server with one resource, resTools,
// whose upstream echoes what it received.
type controlPlane struct {
	*caracaltest.Server
	upstream *httptest.Server
}

func newControlPlane(t *testing.T, opts ...caracaltest.Option) *controlPlane {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"path": r.URL.Path, "query": r.URL.RawQuery, "authorization": r.Header.Get("Authorization") != "",
		})
	}))
	srv := caracaltest.NewServer(opts...)
	srv.AddResource(resTools, up.URL, scopeRead)
	t.Cleanup(func() {
		srv.Close()
		up.Close()
	})
	return &controlPlane{Server: srv, upstream: up}
}

// client returns a client of the control plane's application.
func (cp *controlPlane) client(t *testing.T, opts ...otelcaracal.Option) *otelcaracal.Client {
	t.Helper()
	clearEnv(t)
	base := []otelcaracal.Option{
		otelcaracal.WithSTSURL(cp.STSURL()),
		otelcaracal.WithCoordinatorURL(cp.CoordinatorURL()),
		otelcaracal.WithGatewayURL(cp.GatewayURL()),
		otelcaracal.WithResources(resTools),
	}
	c, err := otelcaracal.FromClientSecret(cp.ZoneID, cp.ApplicationID, cp.ClientSecret, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// recorded is one request a stub or a recorder received.
type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// stub is a coordinator of the test's own, in zone "z" for application
// "app", with an STS that mints stubToken for any exchange. It records
// every coordinator request and passes it to the test's handler.
type stub struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	mints  []recorded
	handle http.HandlerFunc
}

func newStub(t *testing.T, h http.HandlerFunc) *stub {
	t.Helper()
	s := &stub{handle: h}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *stub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	if r.URL.Path == "/oauth/2/token" {
		s.mints = append(s.mints, rec)
	} else {
		s.reqs = append(s.reqs, rec)
	}
	s.mu.Unlock()
	if r.URL.Path == "/oauth/2/token" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":300}`, stubToken)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.handle(w, r)
}

func (s *stub) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func (s *stub) exchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mints)
}

// options point a client at the stub.
func (s *stub) options() []otelcaracal.Option {
	return []otelcaracal.Option{
		otelcaracal.WithSTSURL(s.URL),
		otelcaracal.WithCoordinatorURL(s.URL),
		otelcaracal.WithGatewayURL(s.URL + "/gw"),
		otelcaracal.WithResources("resource://r"),
	}
}

// client returns a client of zone "z", application "app", on the stub,
// with the CARACAL_* variables blanked.
func (s *stub) client(t *testing.T, opts ...otelcaracal.Option) *otelcaracal.Client {
	t.Helper()
	clearEnv(t)
	c, err := otelcaracal.FromClientSecret("z", "app", stubSecret, append(s.options(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeBody decodes a recorded JSON body into a map.
func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return m
}

// writeFile writes content to name in dir with mode and returns its path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSecrets fails the test if s contains any of the secrets.
func noSecrets(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("%q contains a secret", s)
		}
	}
}
