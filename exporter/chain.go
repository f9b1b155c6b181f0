// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter // import "github.com/otelcaracal/otelcaracal/exporter"

import (
	"cmp"
	"encoding/json"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/otelcaracal/otelcaracal/baggage"
)

// SpanRecord is one span as a tracing backend returns it: the input of
// BuildChains.
type SpanRecord struct {
	// TraceID is the trace the span belongs to, usually 32 hex digits.
	TraceID string `json:"trace_id"`
	// SpanName is the name of the span.
	SpanName string `json:"span_name"`
	// Service is the service.name of the span's resource.
	Service string `json:"service"`
	// Attributes are the span's attributes by key. Only the keys of this
	// package are read. An id is a string, or a whole number read as its
	// decimal form. The hop is a whole number, or a string of digits as
	// in baggage, capped at baggage.MaxHop. Any other value reads as an
	// empty id or hop 0.
	Attributes map[string]any `json:"attributes"`
}

// Chain is the delegation tree of one trace.
type Chain struct {
	// TraceID is the trace the chain was assembled from.
	TraceID string `json:"trace_id"`
	// Roots are the nodes without a parent: sessions that acted without
	// a delegation, and nodes marked Partial or Cycle. See BuildChains.
	Roots []*Link `json:"roots"`
}

// Link is one node of a Chain: the spans of a trace that acted under one
// delegation, or, for a node without a delegation, under one session.
//
// Attribution is AttributionVerified when any span of the node says
// verified: a verifier proved the node's delegation somewhere in the trace,
// typically on the receiving service, while the caller's spans under it
// are claimed. It is AttributionClaimed when no span says verified; a span
// that does not say verified counts as claimed. VerifiedSpans tells how
// many spans were verified. When the
// spans of a node disagree on a field, a verified span's value wins over
// a claimed one, a set value over an empty one, and then the smaller
// value, so a Link does not depend on the order spans arrive in.
type Link struct {
	// AgentSessionID is the agent session the spans ran in.
	AgentSessionID string `json:"agent_session_id"`
	// DelegationID is the delegation the spans acted under; empty for a
	// session without one.
	DelegationID string `json:"delegation_id"`
	// ParentID is the delegation held before DelegationID was accepted.
	ParentID string `json:"parent_id"`
	// SubjectRecordID is the subject authority record.
	SubjectRecordID string `json:"subject_record_id"`
	// Hop is the delegation depth.
	Hop int `json:"hop"`
	// Attribution is AttributionClaimed or AttributionVerified.
	Attribution string `json:"attribution"`
	// VerifiedSpans is the number of spans of the node that were verified.
	VerifiedSpans int `json:"verified_spans"`
	// SpanCount is the number of spans of the node.
	SpanCount int `json:"span_count"`
	// Services lists the spans of the node by service, sorted by service.
	Services []ServiceSpans `json:"services"`
	// Partial reports that ParentID names a delegation that has no node in
	// the trace, so the Link is shown as a root.
	Partial bool `json:"partial,omitempty"`
	// Cycle reports that following parent ids from this node leads back to
	// it. The loop is cut above this node, which is shown as a root.
	Cycle bool `json:"cycle,omitempty"`
	// Children are the nodes whose parent is this one, sorted by hop, then
	// delegation id, then agent session id.
	Children []*Link `json:"children,omitempty"`
}

// ServiceSpans are the spans one service recorded for a Link.
type ServiceSpans struct {
	// Service is the service name; empty when the span had none.
	Service string `json:"service"`
	// SpanNames are the names of the spans, sorted.
	SpanNames []string `json:"span_names"`
}

// spanInfo is a span reduced to what chain assembly reads.
type spanInfo struct {
	traceID  string
	name     string
	service  string
	env      baggage.Envelope
	verified bool
}

// decodeRecord reads the attribution of r. It reports false when r carries
// none of the attributes SpanProcessor sets.
func decodeRecord(r SpanRecord) (spanInfo, bool) {
	found := false
	get := func(k string) any {
		v, ok := r.Attributes[k]
		found = found || (ok && v != nil)
		return v
	}
	info := spanInfo{
		traceID: r.TraceID,
		name:    r.SpanName,
		service: r.Service,
		env: baggage.Envelope{
			AgentSession:   stringValue(get(string(AgentSessionKey))),
			DelegationEdge: stringValue(get(string(DelegationKey))),
			ParentEdge:     stringValue(get(string(DelegationParentKey))),
			SubjectRecord:  stringValue(get(string(SubjectRecordKey))),
			Hop:            hopValue(get(string(HopKey))),
		},
	}
	a, _ := get(string(AttributionKey)).(string)
	info.verified = a == AttributionVerified
	return info, found
}

// stringValue returns v as an id: a string as it is, an integer or a whole
// float in decimal, anything else as "".
func stringValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return strconv.FormatInt(int64(v), 10)
		}
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return v.String()
		}
	}
	return ""
}

// hopValue returns v as a hop within 0..baggage.MaxHop. Integers are
// clamped; strings are decoded as baggage.ParseHop does; anything else,
// a fraction or a negative number included, is 0.
func hopValue(v any) int {
	clamp := func(f float64) int {
		if !(f >= 0) || f != math.Trunc(f) { // NaN fails f >= 0.
			return 0
		}
		return int(min(f, baggage.MaxHop))
	}
	switch v := v.(type) {
	case int:
		return clamp(float64(v))
	case int64:
		return clamp(float64(v))
	case float64:
		return clamp(v)
	case string:
		return baggage.ParseHop(strings.TrimSpace(v))
	case json.Number:
		return baggage.ParseHop(v.String())
	}
	return 0
}

// BuildChains assembles the delegation chains of records, one Chain per
// trace, sorted by trace id. Records that carry none of the attributes
// SpanProcessor sets are left out.
//
// Within a trace there is a node per delegation id, and a node per agent
// session for spans without a delegation. A node hangs under the node of
// its parent id. A node with a delegation but no parent id hangs under the
// trace's root session, the node with neither a delegation nor a parent
// id, when the trace has exactly one; otherwise it is a root. A node whose parent id has no
// node in the trace is a root marked Partial; a loop of parent ids is cut
// at its first node in child order, which becomes a root marked Cycle.
func BuildChains(records []SpanRecord) []Chain {
	infos := make([]spanInfo, 0, len(records))
	for _, r := range records {
		if info, ok := decodeRecord(r); ok {
			infos = append(infos, info)
		}
	}
	return buildChains(infos)
}

// buildChains groups spans by trace and assembles each trace's tree.
func buildChains(spans []spanInfo) []Chain {
	byTrace := make(map[string][]spanInfo)
	for _, s := range spans {
		byTrace[s.traceID] = append(byTrace[s.traceID], s)
	}
	chains := make([]Chain, 0, len(byTrace))
	for id, ss := range byTrace {
		chains = append(chains, Chain{TraceID: id, Roots: assemble(ss)})
	}
	slices.SortFunc(chains, func(a, b Chain) int {
		return strings.Compare(a.TraceID, b.TraceID)
	})
	return chains
}

// node is a Link being assembled.
type node struct {
	link    *Link
	parent  *node
	spans   map[string][]string // span names by service
	agree   [2]int              // spans that are claimed, verified
	session choice[string]
	parID   choice[string]
	record  choice[string]
	hop     choice[int]
}

// nodeKey identifies a node within a trace: a delegation id, or, for spans
// without a delegation, an agent session id.
type nodeKey struct {
	delegation string
	session    string
}

// assemble builds the tree of the spans of one trace and returns its roots.
func assemble(spans []spanInfo) []*Link {
	nodes := make(map[nodeKey]*node)
	for _, s := range spans {
		k := nodeKey{delegation: s.env.DelegationEdge}
		if k.delegation == "" {
			k.session = s.env.AgentSession
		}
		n := nodes[k]
		if n == nil {
			n = &node{
				link:  &Link{DelegationID: k.delegation},
				spans: make(map[string][]string),
			}
			nodes[k] = n
		}
		n.add(s)
	}

	all := make([]*node, 0, len(nodes))
	for _, n := range nodes {
		n.finish()
		all = append(all, n)
	}
	slices.SortFunc(all, func(a, b *node) int {
		return compareLinks(a.link, b.link)
	})

	linkParents(all)
	breakCycles(all)

	var roots []*Link
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n.link)
		} else {
			n.parent.link.Children = append(n.parent.link.Children, n.link)
		}
	}
	return roots
}

// add counts s in n.
func (n *node) add(s spanInfo) {
	n.spans[s.service] = append(n.spans[s.service], s.name)
	if s.verified {
		n.agree[1]++
	} else {
		n.agree[0]++
	}
	n.session.offer(s.env.AgentSession, s.verified)
	n.parID.offer(s.env.ParentEdge, s.verified)
	n.record.offer(s.env.SubjectRecord, s.verified)
	n.hop.offer(s.env.Hop, s.verified)
}

// finish fills n.link from the spans added to n.
func (n *node) finish() {
	l := n.link
	l.AgentSessionID = n.session.value
	l.ParentID = n.parID.value
	l.SubjectRecordID = n.record.value
	l.Hop = n.hop.value
	l.Attribution = AttributionClaimed
	if n.agree[1] > 0 {
		l.Attribution = AttributionVerified
	}
	l.VerifiedSpans = n.agree[1]
	l.SpanCount = n.agree[0] + n.agree[1]
	for svc, names := range n.spans {
		slices.Sort(names)
		l.Services = append(l.Services, ServiceSpans{
			Service:   svc,
			SpanNames: names,
		})
	}
	slices.SortFunc(l.Services, func(a, b ServiceSpans) int {
		return strings.Compare(a.Service, b.Service)
	})
}

// linkParents sets the parent of every node of one trace, in order.
func linkParents(nodes []*node) {
	byDelegation := make(map[string]*node)
	var sessions []*node // nodes without delegation or parent
	for _, n := range nodes {
		switch {
		case n.link.DelegationID != "":
			byDelegation[n.link.DelegationID] = n
		case n.link.ParentID == "":
			sessions = append(sessions, n)
		}
	}
	for _, n := range nodes {
		switch {
		case n.link.ParentID != "":
			n.parent = byDelegation[n.link.ParentID]
			n.link.Partial = n.parent == nil
		case n.link.DelegationID != "" && len(sessions) == 1:
			n.parent = sessions[0]
		}
	}
}

// breakCycles cuts every loop of parents among nodes, which are sorted:
// the first node of a loop becomes a root marked Cycle.
func breakCycles(nodes []*node) {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[*node]int, len(nodes))
	for _, n := range nodes {
		var path []*node
		m := n
		for ; m != nil && state[m] == unseen; m = m.parent {
			state[m] = onPath
			path = append(path, m)
		}
		if m != nil && state[m] == onPath {
			loop := path[slices.Index(path, m):]
			first := slices.MinFunc(loop, func(a, b *node) int {
				return compareLinks(a.link, b.link)
			})
			first.parent = nil
			first.link.Cycle = true
		}
		for _, p := range path {
			state[p] = done
		}
	}
}

// compareLinks orders links by hop, then delegation id, then agent session
// id; no two nodes of one trace compare equal.
func compareLinks(a, b *Link) int {
	return cmp.Or(
		cmp.Compare(a.Hop, b.Hop),
		strings.Compare(a.DelegationID, b.DelegationID),
		strings.Compare(a.AgentSessionID, b.AgentSessionID),
	)
}

// choice picks one value among those the spans of a node give for a field.
type choice[T cmp.Ordered] struct {
	value    T
	verified bool
	set      bool
}

// offer considers v, from a verified span or not. A verified value wins
// over a claimed one, a non-zero value over the zero value, and then the
// smaller value.
func (c *choice[T]) offer(v T, verified bool) {
	var zero T
	switch {
	case !c.set:
	case verified != c.verified:
		if !verified {
			return
		}
	case (v == zero) != (c.value == zero):
		if v == zero {
			return
		}
	case v >= c.value:
		return
	}
	*c = choice[T]{value: v, verified: verified, set: true}
}

// Describe returns the one-line form of env from Caracal protocol §10.10:
// "subject:<record> > session:<agent session> > parent-delegation:<parent
// edge> > delegation:<edge>", leaving out empty parts. The hop is not part
// of it. A root envelope gives "".
func Describe(env baggage.Envelope) string {
	var b strings.Builder
	for _, p := range [...]struct{ label, value string }{
		{"subject", env.SubjectRecord},
		{"session", env.AgentSession},
		{"parent-delegation", env.ParentEdge},
		{"delegation", env.DelegationEdge},
	} {
		if p.value == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(" > ")
		}
		b.WriteString(p.label + ":" + p.value)
	}
	return b.String()
}

// WriteJSON writes chains to w as an indented JSON array; nil chains are
// written as [].
func WriteJSON(w io.Writer, chains []Chain) error {
	if chains == nil {
		chains = []Chain{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(chains)
}

// WriteText writes chains to w as indented trees, one per trace, separated
// by a blank line:
//
//	trace 4bf92f3577b34da6a3ce929d0e0e4736
//	└─ session planner  hop 0  claimed  [planner: 2 spans]
//	   └─ delegation edge-1 → session research  hop 1  claimed  [api: 1 span]
//
// Values that are empty, contain spaces or characters that are not
// printable, or are not valid UTF-8 are quoted as Go strings, so a value
// cannot forge lines of the tree.
func WriteText(w io.Writer, chains []Chain) error {
	var b strings.Builder
	for i, c := range chains {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("trace " + textValue(c.TraceID) + "\n")
		writeLinks(&b, c.Roots, "")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeLinks writes links and their children, each line after indent.
func writeLinks(b *strings.Builder, links []*Link, indent string) {
	for i, l := range links {
		branch, next := "├─ ", "│  "
		if i == len(links)-1 {
			branch, next = "└─ ", "   "
		}
		b.WriteString(indent + branch + linkLine(l) + "\n")
		writeLinks(b, l.Children, indent+next)
	}
}

// linkLine returns the text of one node, without indent.
func linkLine(l *Link) string {
	var b strings.Builder
	if l.DelegationID != "" {
		b.WriteString("delegation " + textValue(l.DelegationID))
		if l.ParentID != "" {
			b.WriteString(" (parent " + textValue(l.ParentID) + ")")
		}
		if l.AgentSessionID != "" {
			b.WriteString(" → session " + textValue(l.AgentSessionID))
		}
	} else {
		b.WriteString("session " + textValue(l.AgentSessionID))
		if l.ParentID != "" {
			b.WriteString(" (parent " + textValue(l.ParentID) + ")")
		}
	}
	if l.SubjectRecordID != "" {
		b.WriteString("  subject " + textValue(l.SubjectRecordID))
	}
	b.WriteString("  hop " + strconv.Itoa(l.Hop))
	b.WriteString("  " + textValue(l.Attribution))
	if l.VerifiedSpans > 0 && l.VerifiedSpans < l.SpanCount {
		b.WriteString(" (" + strconv.Itoa(l.VerifiedSpans) + " of " + strconv.Itoa(l.SpanCount) + " spans)")
	}
	if l.Partial {
		b.WriteString("  partial")
	}
	if l.Cycle {
		b.WriteString("  cycle")
	}
	b.WriteString("  [")
	for i, s := range l.Services {
		if i > 0 {
			b.WriteString(", ")
		}
		svc := "unknown_service"
		if s.Service != "" {
			svc = textValue(s.Service)
		}
		b.WriteString(svc + ": " + strconv.Itoa(len(s.SpanNames)) + " span")
		if len(s.SpanNames) != 1 {
			b.WriteByte('s')
		}
	}
	b.WriteString("]")
	return b.String()
}

// textValue returns s as it is when it is valid UTF-8 and every rune is
// printable and not a space, and quoted otherwise. An empty s is quoted.
func textValue(s string) string {
	if s == "" || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
