// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracaltest // import "github.com/otelcaracal/otelcaracal/caracaltest"

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/otelcaracal/otelcaracal/mandate"
)

// Coordinator limits (Caracal protocol §4).
const (
	maxDepth      = 10
	maxChildren   = 10
	maxTTLSeconds = 86400
	maxBodyBytes  = 1 << 20
)

// idPattern is the id syntax the coordinator accepts in paths (§4.1).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-:]{1,128}$`)

// Session lifecycles.
const (
	LifecycleTask    = "task"
	LifecycleService = "service"
)

type session struct {
	id, application, parent, lifecycle, status, record string
	labels                                             []string
	depth, children                                    int
	lease                                              int
	deadline, expires                                  time.Time
}

// Constraints are the constraints of a delegation edge (§4.8).
type Constraints struct {
	Resources      []string `json:"resources,omitempty"`
	MaxDepth       int      `json:"max_depth,omitempty"`
	MaxHops        int      `json:"max_hops,omitempty"`
	TTLSeconds     int      `json:"ttl_seconds,omitempty"`
	PolicyApproved bool     `json:"policy_approved,omitempty"`
	ExpiresAt      string   `json:"expires_at,omitempty"`
	BroadReason    string   `json:"broad_reason,omitempty"`
	Budget         int      `json:"budget,omitempty"`
}

type edge struct {
	id, source, target, issuer, receiver, parent, resource string
	scopes                                                 []string
	constraints                                            Constraints
	expires                                                time.Time
	revoked                                                bool
}

func (e *edge) maxHops() int {
	if e.constraints.MaxHops > 0 {
		return e.constraints.MaxHops
	}
	return 1
}

func (e *edge) allowsResource(r string) bool {
	return r == e.resource || slices.Contains(e.constraints.Resources, r)
}

type idemRecord struct {
	request []byte
	status  int
	body    []byte
}

type coordError struct {
	status      int
	code, about string
}

func (e *coordError) Error() string { return e.code }

func fail(status int, code, about string) error { return &coordError{status, code, about} }

func (s *Server) coordinatorRoutes(route func(string, http.HandlerFunc)) {
	route("POST /zones/{zone}/agents", s.coordinator(s.startSession))
	route("DELETE /zones/{zone}/agents/{id}", s.coordinator(s.terminateSession))
	route("POST /zones/{zone}/agents/{id}/heartbeat", s.coordinator(s.heartbeat))
	route("POST /zones/{zone}/agents/{id}/lease", s.coordinator(s.acquireLease))
	route("POST /zones/{zone}/delegations", s.coordinator(s.createDelegation))
	route("PATCH /zones/{zone}/delegations/{id}/revoke", s.coordinator(s.revokeDelegation))
	route("GET /zones/{zone}/delegations/inbound/{session}/{id}", s.coordinator(s.inboundDelegation))
	route("GET /zones/{zone}/delegations/inbound/{session}", s.coordinator(s.inboundDelegations))
}

// coordinatorCall is one authenticated coordinator request.
type coordinatorCall struct {
	r      *http.Request
	body   []byte
	claims *mandate.Claims
}

func (c *coordinatorCall) decode(v any) error {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	if err := dec.Decode(v); err != nil {
		return fail(http.StatusBadRequest, "invalid_body", "malformed JSON body")
	}
	return nil
}

// coordinator authenticates a request as the coordinator does (§4.1),
// applies idempotency to creations (§4.2) and writes the result.
func (s *Server) coordinator(h func(*coordinatorCall) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		call, err := s.authorizeCoordinator(r)
		if err == nil {
			var status int
			var out any
			key := r.Header.Get("Idempotency-Key")
			if s.replay(w, r, key, call.body) {
				return
			}
			status, out, err = h(call)
			if err == nil {
				s.respond(w, r, key, call.body, status, out)
				return
			}
		}
		var ce *coordError
		if !errors.As(err, &ce) {
			ce = &coordError{http.StatusInternalServerError, "internal_error", "internal error"}
		}
		id := randomHex(8)
		w.Header().Set("X-Request-Id", id)
		writeJSON(w, ce.status, map[string]string{
			"error": ce.code, "error_description": ce.about, "request_id": id, "requestId": id,
		})
	}
}

func (s *Server) authorizeCoordinator(r *http.Request) (*coordinatorCall, error) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return nil, fail(http.StatusUnauthorized, "missing_token", "missing bearer token")
	}
	if len(tok) > mandate.MaxTokenSize {
		return nil, fail(http.StatusUnauthorized, "invalid_token", "token too large")
	}
	v, err := s.Verifier(s.Issuer(), mandate.WithAllowedUses(mandate.UseSession), mandate.WithClock(s.cfg.now))
	if err != nil {
		return nil, err
	}
	c, err := v.Verify(r.Context(), tok)
	switch {
	case errors.Is(err, mandate.ErrSessionRevoked):
		return nil, fail(http.StatusUnauthorized, "identity_revoked", "identity revoked")
	case err != nil:
		return nil, fail(http.StatusUnauthorized, "invalid_token", "invalid bearer token")
	case !c.HasScope(LifecycleScope):
		return nil, fail(http.StatusForbidden, "missing_scope", "coordinator scope required")
	case c.ZoneID != r.PathValue("zone"):
		return nil, fail(http.StatusForbidden, "zone_mismatch", "token is for another zone")
	}
	for _, p := range []string{"id", "session"} {
		if v := r.PathValue(p); v != "" && !idPattern.MatchString(v) {
			return nil, fail(http.StatusBadRequest, "invalid_params", "malformed id")
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return nil, fail(http.StatusBadRequest, "invalid_body", "unreadable body")
	}
	return &coordinatorCall{r: r, body: body, claims: c}, nil
}

// replay answers a repeated creation with its recorded response.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, key string, body []byte) bool {
	if key == "" || r.Method != http.MethodPost {
		return false
	}
	s.mu.Lock()
	rec, ok := s.idem[r.URL.Path+"\n"+key]
	s.mu.Unlock()
	if !ok {
		return false
	}
	if !bytes.Equal(rec.request, body) {
		writeJSON(w, http.StatusConflict, map[string]string{
			"error": "idempotency_key_conflict", "error_description": "key reused with another request",
		})
		return true
	}
	w.Header().Set("Idempotency-Replayed", "true")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body)
	return true
}

func (s *Server) respond(w http.ResponseWriter, r *http.Request, key string, req []byte, status int, out any) {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	body, _ := json.Marshal(out)
	if key != "" && r.Method == http.MethodPost {
		s.mu.Lock()
		s.idem[r.URL.Path+"\n"+key] = idemRecord{request: req, status: status, body: body}
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type startRequest struct {
	ApplicationID       string         `json:"application_id"`
	Lifecycle           string         `json:"lifecycle"`
	SubjectSessionID    string         `json:"subject_session_id"`
	ParentID            string         `json:"parent_id"`
	TTLSeconds          int            `json:"ttl_seconds"`
	Metadata            map[string]any `json:"metadata"`
	Labels              []string       `json:"labels"`
	ParentAuthority     string         `json:"parent_authority"`
	InheritParentEdgeID string         `json:"inherit_parent_edge_id"`
	SubjectToken        string         `json:"subject_token"`
}

// startSession is POST /zones/{zone}/agents (§4.3).
func (s *Server) startSession(c *coordinatorCall) (int, any, error) {
	var req startRequest
	if err := c.decode(&req); err != nil {
		return 0, nil, err
	}
	if req.ApplicationID == "" || req.ApplicationID != c.claims.ClientID {
		return 0, nil, fail(http.StatusForbidden, "application_ownership_required", "not the caller's application")
	}
	if req.Lifecycle == "" {
		req.Lifecycle = LifecycleTask
	}
	if err := checkStart(req); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	ses := &session{
		id: s.nextIDLocked("session"), application: req.ApplicationID, lifecycle: req.Lifecycle,
		status: "active", labels: req.Labels, record: c.claims.SID,
	}
	if req.SubjectSessionID != "" {
		ses.record = req.SubjectSessionID
	}
	var parent *session
	if req.ParentID != "" {
		var err error
		if parent, err = s.liveSessionLocked(req.ParentID); err != nil {
			return 0, nil, fail(http.StatusNotFound, "parent_not_found", "no live parent session")
		}
		if parent.depth+1 >= maxDepth {
			return 0, nil, fail(http.StatusTooManyRequests, "session_depth_limit_exceeded", "session tree too deep")
		}
		if parent.children >= maxChildren {
			return 0, nil, fail(http.StatusTooManyRequests, "session_children_limit_exceeded", "too many children")
		}
		ses.parent, ses.depth = parent.id, parent.depth+1
	}
	switch req.Lifecycle {
	case LifecycleTask:
		ttl := req.TTLSeconds
		if ttl == 0 {
			ttl = 3600
		}
		ses.expires = now.Add(time.Duration(ttl) * time.Second)
	case LifecycleService:
		ses.lease, ses.deadline = 1, now.Add(s.cfg.lease)
	}
	var mirrored any
	if parent != nil && req.ParentAuthority == "inherit" {
		e, err := s.inheritLocked(parent, ses)
		if err != nil {
			return 0, nil, err
		}
		if e != nil {
			mirrored = e.id
		}
	}
	if parent != nil {
		parent.children++
	}
	s.sessions[ses.id] = ses
	return http.StatusCreated, s.sessionBody(ses, mirrored, req.TTLSeconds), nil
}

func checkStart(req startRequest) error {
	switch {
	case req.Lifecycle != LifecycleTask && req.Lifecycle != LifecycleService:
		return fail(http.StatusBadRequest, "invalid_body", "unknown lifecycle")
	case req.Lifecycle == LifecycleService && req.TTLSeconds != 0:
		return fail(http.StatusBadRequest, "invalid_body", "service sessions take no ttl_seconds")
	case req.TTLSeconds < 0 || req.TTLSeconds > maxTTLSeconds:
		return fail(http.StatusBadRequest, "invalid_body", "ttl_seconds out of range")
	case len(req.Labels) > 32:
		return fail(http.StatusBadRequest, "invalid_body", "too many labels")
	case req.ParentAuthority != "" && req.ParentAuthority != "inherit" && req.ParentAuthority != "none":
		return fail(http.StatusBadRequest, "invalid_body", "unknown parent_authority")
	}
	for _, l := range req.Labels {
		if l == "" || len(l) > 64 {
			return fail(http.StatusBadRequest, "invalid_body", "label length out of range")
		}
	}
	return nil
}

// inheritLocked mirrors the parent's single live inbound edge onto child.
func (s *Server) inheritLocked(parent, child *session) (*edge, error) {
	if parent.application != child.application {
		return nil, nil // Cross-application children never inherit.
	}
	var live []*edge
	for _, e := range s.edges {
		if e.target == parent.id && !e.revoked && e.expires.After(s.cfg.now()) {
			live = append(live, e)
		}
	}
	switch len(live) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fail(http.StatusConflict, "inherit_parent_edge_ambiguous", "parent holds several edges")
	}
	p := live[0]
	e := &edge{
		id: s.nextIDLocked("edge"), source: p.source, target: child.id, issuer: p.issuer,
		receiver: child.application, parent: p.parent, resource: p.resource,
		scopes: slices.Clone(p.scopes), constraints: p.constraints, expires: p.expires,
	}
	s.edges[e.id] = e
	s.epoch++
	return e, nil
}

func (s *Server) sessionBody(ses *session, edgeID any, ttl int) map[string]any {
	body := map[string]any{
		"agent_session_id":            ses.id,
		"delegation_edge_id":          edgeID,
		"lease_generation":            ses.lease,
		"zone_id":                     s.ZoneID,
		"application_id":              ses.application,
		"parent_id":                   nullable(ses.parent),
		"subject_authority_record_id": ses.record,
		"lifecycle":                   ses.lifecycle,
		"labels":                      ses.labels,
		"status":                      ses.status,
		"depth":                       ses.depth,
		"heartbeat_deadline_at":       nil,
	}
	if ses.lifecycle == LifecycleService {
		body["heartbeat_deadline_at"] = ses.deadline.UTC().Format(time.RFC3339Nano)
	} else if ttl > 0 {
		body["ttl_seconds"] = ttl
	}
	return body
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) liveSessionLocked(id string) (*session, error) {
	ses := s.sessions[id]
	switch {
	case ses == nil:
		return nil, fail(http.StatusNotFound, "session_not_found", "no such session")
	case ses.status != "active":
		return nil, fail(http.StatusConflict, "session_not_live", "session is not live")
	case ses.lifecycle == LifecycleTask && !ses.expires.After(s.cfg.now()):
		return nil, fail(http.StatusConflict, "session_not_live", "session expired")
	case s.revoked[id]:
		return nil, fail(http.StatusConflict, "session_not_live", "session revoked")
	}
	return ses, nil
}

func (s *Server) liveEdgeLocked(id string) (*edge, error) {
	e := s.edges[id]
	switch {
	case e == nil:
		return nil, deny(http.StatusForbidden, "access_denied", "policy denied (delegation_not_found)")
	case e.revoked || s.revoked[id]:
		return nil, deny(http.StatusForbidden, "access_denied", "policy denied (delegation_revoked)")
	case !e.expires.After(s.cfg.now()):
		return nil, deny(http.StatusForbidden, "access_denied", "policy denied (delegation_expired)")
	}
	return e, nil
}

type leaseBody struct {
	LeaseGeneration int    `json:"lease_generation"`
	Status          string `json:"status"`
}

// terminateSession is DELETE /zones/{zone}/agents/{id} (§4.5).
func (s *Server) terminateSession(c *coordinatorCall) (int, any, error) {
	var req leaseBody
	if err := c.decode(&req); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ses := s.sessions[c.r.PathValue("id")]
	switch {
	case ses == nil:
		return 0, nil, fail(http.StatusNotFound, "session_not_found", "no such session")
	case ses.application != c.claims.ClientID:
		return 0, nil, fail(http.StatusForbidden, "application_ownership_required", "not the caller's session")
	case ses.status == "terminated":
		return 0, nil, fail(http.StatusConflict, "already_terminated", "session already terminated")
	case ses.lifecycle == LifecycleService && req.LeaseGeneration == 0:
		return 0, nil, fail(http.StatusBadRequest, "lease_generation_required", "lease_generation required")
	case ses.lifecycle == LifecycleService && req.LeaseGeneration != ses.lease:
		return 0, nil, fail(http.StatusConflict, "session_lease_fenced", "a newer lease holder exists")
	}
	s.terminateLocked(ses)
	return http.StatusNoContent, nil, nil
}

// terminateLocked ends ses and its subtree.
func (s *Server) terminateLocked(ses *session) {
	ses.status = "terminated"
	for _, child := range s.sessions {
		if child.parent == ses.id && child.status == "active" {
			s.terminateLocked(child)
		}
	}
}

func (s *Server) ownedLiveSessionLocked(c *coordinatorCall) (*session, error) {
	ses := s.sessions[c.r.PathValue("id")]
	switch {
	case ses == nil:
		return nil, fail(http.StatusNotFound, "session_not_found", "no such session")
	case ses.application != c.claims.ClientID:
		return nil, fail(http.StatusForbidden, "application_ownership_required", "not the caller's session")
	case ses.status != "active":
		return nil, fail(http.StatusConflict, "session_not_live", "session is not live")
	case ses.lifecycle != LifecycleService:
		return nil, fail(http.StatusConflict, "session_not_service", "not a service session")
	}
	return ses, nil
}

// heartbeat is POST /zones/{zone}/agents/{id}/heartbeat (§4.6).
func (s *Server) heartbeat(c *coordinatorCall) (int, any, error) {
	var req leaseBody
	if err := c.decode(&req); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ses, err := s.ownedLiveSessionLocked(c)
	if err != nil {
		return 0, nil, err
	}
	now := s.cfg.now()
	switch {
	case req.LeaseGeneration != ses.lease:
		return 0, nil, fail(http.StatusConflict, "session_lease_fenced", "a newer lease holder exists")
	case now.After(ses.deadline):
		ses.status = "suspended"
		return 0, nil, fail(http.StatusConflict, "session_lease_expired", "lease expired")
	}
	ses.deadline = now.Add(s.cfg.lease)
	stamp := now.UTC().Format(time.RFC3339Nano)
	return http.StatusOK, map[string]any{
		"agent": map[string]any{
			"id": ses.id, "zone_id": s.ZoneID, "application_id": ses.application, "status": ses.status,
			"last_active_at": stamp, "last_heartbeat_at": stamp,
			"heartbeat_deadline_at": ses.deadline.UTC().Format(time.RFC3339Nano),
			"lease_generation":      ses.lease,
		},
		"service":            nil,
		"active_invocations": 0,
	}, nil
}

// acquireLease is POST /zones/{zone}/agents/{id}/lease (§4.7).
func (s *Server) acquireLease(c *coordinatorCall) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ses, err := s.ownedLiveSessionLocked(c)
	if err != nil {
		return 0, nil, err
	}
	ses.lease++
	ses.deadline = s.cfg.now().Add(s.cfg.lease)
	return http.StatusOK, map[string]any{
		"status": ses.status, "lease_generation": ses.lease,
		"heartbeat_deadline_at": ses.deadline.UTC().Format(time.RFC3339Nano),
	}, nil
}
