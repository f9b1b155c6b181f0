// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracaltest // import "github.com/otelcaracal/otelcaracal/caracaltest"

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/mandate"
)

// Defaults of a Server.
const (
	DefaultZoneID        = "zone-test"
	DefaultApplicationID = "app-test"
	// LifecycleScope is the coordinator scope of lifecycle mandates
	// (Caracal protocol §4.1).
	LifecycleScope = "agent:lifecycle"
)

// Server is an in-process Caracal control plane. Create one with
// NewServer and Close it when done. Its methods are safe for concurrent
// use.
type Server struct {
	// ZoneID is the zone of the Server.
	ZoneID string
	// ApplicationID is the zone's one application.
	ApplicationID string
	// ClientSecret is the application's client secret.
	ClientSecret string

	control *httptest.Server // JWKS, STS and coordinator; its URL is the issuer
	gateway *httptest.Server
	cfg     config

	mu        sync.Mutex
	signers   []*mandate.Signer // current first
	resources map[string]*Resource
	sessions  map[string]*session
	edges     map[string]*edge
	revoked   map[string]bool // revocation anchors
	seenJTI   map[string]time.Time
	idem      map[string]idemRecord
	approvals map[string]*approval
	issued    []string
	epoch     int64
	seq       int
	calls     map[string]int
}

// Resource is a protected upstream routed by the Gateway.
type Resource struct {
	// ID is the resource identifier, such as resource://tools.
	ID string
	// Upstream is the upstream base URL.
	Upstream string
	// Scopes is the resource's scope vocabulary; empty allows any scope.
	Scopes []string
	// RequireApproval makes delegated mints for the resource wait for an
	// approval (Caracal protocol §5.2 approval hold).
	RequireApproval bool
}

// NewServer starts a Server on loopback.
func NewServer(opts ...Option) *Server {
	cfg := newConfig(opts)
	s := &Server{
		ZoneID:        cfg.zone,
		ApplicationID: cfg.application,
		ClientSecret:  randomHex(16),
		cfg:           cfg,
		resources:     map[string]*Resource{},
		sessions:      map[string]*session{},
		edges:         map[string]*edge{},
		revoked:       map[string]bool{},
		seenJTI:       map[string]time.Time{},
		idem:          map[string]idemRecord{},
		approvals:     map[string]*approval{},
		calls:         map[string]int{},
	}
	s.signers = []*mandate.Signer{s.newSigner()}
	s.control = httptest.NewServer(s.controlHandler())
	s.gateway = httptest.NewServer(http.HandlerFunc(s.serveGateway))
	return s
}

// Close shuts the Server down and waits for its requests to finish.
func (s *Server) Close() {
	s.gateway.Close()
	s.control.Close()
}

// Issuer returns the issuer URL of the Server's mandates.
func (s *Server) Issuer() string { return s.control.URL }

// STSURL returns the base URL of the STS.
func (s *Server) STSURL() string { return s.control.URL }

// CoordinatorURL returns the base URL of the coordinator.
func (s *Server) CoordinatorURL() string { return s.control.URL }

// GatewayURL returns the base URL of the Gateway.
func (s *Server) GatewayURL() string { return s.gateway.URL }

// JWKSURL returns the URL of the zone's key set.
func (s *Server) JWKSURL() string {
	return s.control.URL + "/.well-known/jwks.json?zone_id=" + s.ZoneID
}

// Credentials returns the application's client-secret credentials.
func (s *Server) Credentials() mandate.STSCredentials {
	return mandate.STSCredentials{ZoneID: s.ZoneID, ApplicationID: s.ApplicationID, ClientSecret: s.ClientSecret}
}

// Client returns an HTTP client for the Server's endpoints.
func (s *Server) Client() *http.Client { return s.control.Client() }

// AddResource registers a resource the STS can mint for and the Gateway
// routes to upstream. scopes is its vocabulary; none allows any scope.
func (s *Server) AddResource(id, upstream string, scopes ...string) {
	s.SetResource(Resource{ID: id, Upstream: upstream, Scopes: scopes})
}

// SetResource registers or replaces a resource.
func (s *Server) SetResource(r Resource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Scopes = slices.Clone(r.Scopes)
	s.resources[r.ID] = &r
}

// RotateKey starts signing with a new key. The previous key stays in the
// key set, as during a real rotation's grace period; older ones are
// dropped.
func (s *Server) RotateKey() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signers = []*mandate.Signer{s.newSigner(), s.signers[0]}
}

// KeyID returns the id of the current signing key.
func (s *Server) KeyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signers[0].KeyID()
}

// Revoke revokes a revocation anchor: an authority record (sid or
// root_sid), an agent session or a delegation edge id. Mandates naming it
// are refused by the Gateway and by verifiers using RevocationChecker.
func (s *Server) Revoke(anchor string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[anchor] = true
	s.epoch++
}

// RevocationChecker returns a mandate.RevocationChecker backed by the
// Server's revocations.
func (s *Server) RevocationChecker() mandate.RevocationChecker {
	return mandate.RevocationFunc(func(_ context.Context, zone string, a mandate.Anchors) (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return zone != s.ZoneID || s.isRevokedLocked(a), nil
	})
}

func (s *Server) isRevokedLocked(a mandate.Anchors) bool {
	for _, id := range []string{a.SID, a.RootSID, a.AgentSessionID, a.DelegationEdgeID} {
		if id != "" && s.revoked[id] {
			return true
		}
	}
	return false
}

// Verifier returns a verifier for the Server's mandates with the given
// audience (a resource id for resource mandates, Issuer for session and
// gateway ones), checking revocations against the Server.
func (s *Server) Verifier(audience string, opts ...mandate.VerifierOption) (*mandate.Verifier, error) {
	base := []mandate.VerifierOption{
		mandate.WithHTTPClient(s.control.Client()),
		mandate.WithRevocationChecker(s.RevocationChecker()),
	}
	return mandate.NewVerifier(s.Issuer(), s.ZoneID, audience, append(base, opts...)...)
}

// Sign signs c with the zone's current key, after filling the claims a
// mandate always has and c leaves empty: iss, iat, exp (5 minutes), jti,
// zone_id, client_id, sub, sid, root_sid, use (resource), sub_type and
// aud (the targets of a resource mandate, else the issuer).
// Tests use it to craft mandates the STS would not issue.
func (s *Server) Sign(c mandate.Claims) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Issuer, s.Issuer())
	def(&c.ID, s.nextIDLocked("jti"))
	def(&c.ZoneID, s.ZoneID)
	def(&c.ClientID, s.ApplicationID)
	def(&c.Subject, c.ClientID)
	def(&c.SID, s.nextIDLocked("record"))
	def(&c.RootSID, c.SID)
	def(&c.Use, mandate.UseResource)
	def(&c.SubjectType, mandate.SubjectTypeApplication)
	if len(c.Audience) == 0 {
		c.Audience = []string{s.Issuer()}
		if c.Use == mandate.UseResource && len(c.Target) > 0 {
			c.Audience = slices.Clone(c.Target)
		}
	}
	if c.IssuedAt == nil {
		c.IssuedAt = jwt.NewNumericDate(now)
	}
	if c.ExpiresAt == nil {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(5 * time.Minute))
	}
	return s.signLocked(&c)
}

func (s *Server) signLocked(c *mandate.Claims) (string, error) {
	tok, err := s.signers[0].Sign(c)
	if err != nil {
		return "", err
	}
	s.issued = append(s.issued, tok)
	return tok, nil
}

// IssuedTokens returns every token the Server signed, so a test can check
// that none of them leaked into spans, logs or errors.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// Calls returns how many requests each endpoint received, by route
// pattern, such as "POST /oauth/2/token".
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

func (s *Server) newSigner() *mandate.Signer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail.
	}
	sg, err := mandate.NewSigner("key-"+randomHex(4), key)
	if err != nil {
		panic(err)
	}
	return sg
}

func (s *Server) nextIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%d", prefix, s.seq)
}

func (s *Server) count(route string) {
	s.mu.Lock()
	s.calls[route]++
	s.mu.Unlock()
}

func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s.count(pattern)
			h(w, r)
		})
	}
	route("GET /.well-known/jwks.json", s.serveJWKS)
	route("/oauth/2/token", s.serveToken)
	route("GET /approvals/{id}", s.serveApproval)
	s.coordinatorRoutes(route)
	return mux
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	switch zone := r.URL.Query().Get("zone_id"); zone {
	case "":
		writeError(w, http.StatusBadRequest, "invalid_request", "zone_id is required", "")
		return
	case s.ZoneID:
	default:
		writeError(w, http.StatusNotFound, "zone_not_found", "unknown zone", "")
		return
	}
	s.mu.Lock()
	var set mandate.JWKS
	for _, sg := range s.signers {
		set.Keys = append(set.Keys, sg.PublicJWK())
	}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "public, max-age=300, must-revalidate")
	writeJSON(w, http.StatusOK, set)
}

// writeError writes an error in the shape of the STS and Gateway
// (Caracal protocol §5.2, §7.5).
func writeError(w http.ResponseWriter, status int, code, description, requestID string) {
	if requestID == "" {
		requestID = randomHex(8)
	}
	w.Header().Set("X-Request-Id", requestID)
	writeJSON(w, status, map[string]string{
		"error": code, "error_description": description, "requestId": requestID,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// STSClient returns an STS client for the Server with the application's
// credentials.
func (s *Server) STSClient(opts ...mandate.STSOption) (*mandate.STSClient, error) {
	base := []mandate.STSOption{mandate.WithSTSHTTPClient(s.control.Client())}
	return mandate.NewSTSClient(s.STSURL(),
		mandate.StaticCredentials(s.ZoneID, s.ApplicationID, s.ClientSecret), append(base, opts...)...)
}
