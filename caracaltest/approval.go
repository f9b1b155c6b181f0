// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracaltest // import "github.com/otelcaracal/otelcaracal/caracaltest"

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Approval states (Caracal protocol §5.2).
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	ApprovalConsumed = "consumed"
)

// approval is a hold on a delegated mint.
type approval struct {
	id, state, binding string
	expires            time.Time
	changed            chan struct{} // closed and replaced on each change
}

// approvalHold is the interaction_required refusal.
type approvalHold struct{ a *approval }

func (h *approvalHold) Error() string { return "interaction_required" }

func (h *approvalHold) body() map[string]any {
	return map[string]any{
		"error":               "interaction_required",
		"error_description":   "approval required",
		"approval_id":         h.a.id,
		"approval_type":       "human",
		"state":               h.a.state,
		"binding":             h.a.binding,
		"approval_expires_at": h.a.expires.UTC().Format(time.RFC3339),
		"requestId":           randomHex(8),
	}
}

// holdLocked holds a delegated mint for a resource that requires approval,
// unless the request names an approved approval for the same mint.
func (s *Server) holdLocked(form url.Values, resources []string) error {
	need := false
	for _, r := range resources {
		need = need || s.resources[r].RequireApproval
	}
	if !need {
		return nil
	}
	binding := strings.Join([]string{
		form.Get("agent_session_id"), form.Get("delegation_edge_id"),
		strings.Join(resources, " "), form.Get("scope"),
	}, "\n")
	if id := form.Get("approval_id"); id != "" {
		a := s.approvals[id]
		switch {
		case a == nil || a.binding != binding:
			return deny(http.StatusForbidden, "access_denied", "approval does not match the request")
		case a.state == ApprovalConsumed:
			return deny(http.StatusConflict, "approval_consumed", "approval already used")
		case a.state != ApprovalApproved:
			return deny(http.StatusForbidden, "access_denied", "approval not granted")
		}
		s.setApprovalLocked(a, ApprovalConsumed)
		return nil
	}
	a := &approval{
		id: s.nextIDLocked("approval"), state: ApprovalPending, binding: binding,
		expires: s.cfg.now().Add(10 * time.Minute), changed: make(chan struct{}),
	}
	s.approvals[a.id] = a
	return &approvalHold{a}
}

func (s *Server) setApprovalLocked(a *approval, state string) {
	a.state = state
	close(a.changed)
	a.changed = make(chan struct{})
}

// Approve approves the pending approval id, as its approver would. It
// reports whether there was such a pending approval.
func (s *Server) Approve(id string) bool { return s.decide(id, ApprovalApproved) }

// Reject rejects the pending approval id.
func (s *Server) Reject(id string) bool { return s.decide(id, ApprovalRejected) }

func (s *Server) decide(id, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.approvals[id]
	if a == nil || a.state != ApprovalPending {
		return false
	}
	s.setApprovalLocked(a, state)
	return true
}

// PendingApprovals returns the ids of the approvals waiting for a decision.
func (s *Server) PendingApprovals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, a := range s.approvals {
		if a.state == ApprovalPending {
			ids = append(ids, id)
		}
	}
	return ids
}

// serveApproval is GET /approvals/{id}?wait=N: the state, after waiting up
// to N seconds (1..25) for a decision.
func (s *Server) serveApproval(w http.ResponseWriter, r *http.Request) {
	wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
	wait = min(max(wait, 0), 25)
	s.mu.Lock()
	a := s.approvals[r.PathValue("id")]
	s.mu.Unlock()
	if a == nil {
		writeError(w, http.StatusNotFound, "approval_not_found", "unknown approval", "")
		return
	}
	timer := time.NewTimer(time.Duration(wait) * time.Second)
	defer timer.Stop()
	for {
		s.mu.Lock()
		state, changed := a.state, a.changed
		s.mu.Unlock()
		if state != ApprovalPending {
			writeJSON(w, http.StatusOK, map[string]string{
				"id": a.id, "state": state, "expires_at": a.expires.UTC().Format(time.RFC3339),
			})
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			writeJSON(w, http.StatusOK, map[string]string{
				"id": a.id, "state": state, "expires_at": a.expires.UTC().Format(time.RFC3339),
			})
			return
		case <-r.Context().Done():
			return
		}
	}
}
