// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor // import "github.com/otelcaracal/otelcaracal/collector/caracalprocessor"

import (
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/exporter"
)

// Values of spanData.attribution.
const (
	attributionNone = iota
	attributionClaimed
	attributionVerified
	attributionInvalid
)

// Tiers of a claim about an edge's parent: a higher tier wins.
const (
	tierUntrusted = iota + 1
	tierTrusted
	tierVerified
)

// state tells whether an attribute was absent, readable or unreadable.
type state uint8

const (
	absent state = iota
	present
	invalid
)

// spanData is what chain completion reads from one attributed span.
type spanData struct {
	attrs pcommon.Map
	trace pcommon.TraceID

	delegation  string
	parent      string
	zone        string
	application string
	path        pcommon.Slice
	hop         int64
	depth       int64

	delegationState, parentState, hopState state
	pathState, depthState                  state

	attributed  bool
	attribution int
	tier        int
	conflicts   uint8 // bits by conflict reason
}

// read records a caracal.* attribute of the span.
func (d *spanData) read(k string, v pcommon.Value) {
	var ok bool
	switch k {
	case keySession, keyRecord:
		d.attributed = true
		_, ok = idValue(v)
		d.flagUnless(ok)
	case keyDelegation:
		d.attributed = true
		d.delegation, ok = idValue(v)
		d.delegationState = stateOf(ok)
		d.flagUnless(ok)
	case keyParent:
		d.attributed = true
		d.parent, ok = idValue(v)
		d.parentState = stateOf(ok)
		d.flagUnless(ok)
	case keyHop:
		d.attributed = true
		d.hop, ok = hopValue(v)
		d.hopState = stateOf(ok)
		d.flagUnless(ok)
	case keyAttribution:
		d.attributed = true
		d.attribution = attributionInvalid
		if v.Type() == pcommon.ValueTypeStr {
			switch v.Str() {
			case exporter.AttributionClaimed:
				d.attribution = attributionClaimed
			case exporter.AttributionVerified:
				d.attribution = attributionVerified
			}
		}
	case keyZone:
		d.zone = nonEmptyStr(v)
	case keyApplication:
		d.application = nonEmptyStr(v)
	case keyPath:
		d.path, ok = pathValue(v)
		d.pathState = stateOf(ok)
	case DepthKey:
		d.depthState = invalid
		if v.Type() == pcommon.ValueTypeInt {
			d.depth, d.depthState = v.Int(), present
		}
	}
}

func (d *spanData) flagUnless(ok bool) {
	if !ok {
		d.conflicts |= 1 << conflictMalformed
	}
}

func stateOf(ok bool) state {
	if ok {
		return present
	}
	return invalid
}

// idValue reads an id as exporter.BuildChains does: a string as it is, a
// whole number in decimal. It reports false for anything else, the empty
// string included.
func idValue(v pcommon.Value) (string, bool) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str(), v.Str() != ""
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10), true
	case pcommon.ValueTypeDouble:
		if f := v.Double(); f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return strconv.FormatInt(int64(f), 10), true
		}
	}
	return "", false
}

// hopValue reads a hop: a whole number from 0 up, or a string of digits
// as baggage carries it.
func hopValue(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), v.Int() >= 0
	case pcommon.ValueTypeDouble:
		if f := v.Double(); f >= 0 && f == math.Trunc(f) && f < 1<<53 {
			return int64(f), true
		}
	case pcommon.ValueTypeStr:
		s := strings.TrimSpace(v.Str())
		if s == "" || len(s) > 18 || strings.Trim(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func nonEmptyStr(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr && strings.TrimSpace(v.Str()) != "" {
		return v.Str()
	}
	return ""
}

// pathValue reads a delegation path: a non-empty array of non-empty
// strings, root first.
func pathValue(v pcommon.Value) (pcommon.Slice, bool) {
	if v.Type() != pcommon.ValueTypeSlice {
		return pcommon.Slice{}, false
	}
	s := v.Slice()
	if s.Len() == 0 || s.Len() > baggage.MaxHop {
		return s, false
	}
	for i := 0; i < s.Len(); i++ {
		if e := s.At(i); e.Type() != pcommon.ValueTypeStr || e.Str() == "" {
			return s, false
		}
	}
	return s, true
}

// pathMatches reports whether the span's delegation path agrees with its
// delegation and parent: it ends in the delegation, after the parent when
// there is one. A span without a delegation must have no path.
func (d *spanData) pathMatches() bool {
	if d.delegationState != present {
		return d.pathState == absent && d.delegationState == absent
	}
	if d.pathState != present {
		return false
	}
	n := d.path.Len()
	if d.path.At(n-1).Str() != d.delegation {
		return false
	}
	switch d.parentState {
	case absent:
		return n == 1
	case present:
		return n >= 2 && d.path.At(n-2).Str() == d.parent
	}
	return false
}

// edgeKey names a delegation edge within a trace.
type edgeKey struct {
	trace pcommon.TraceID
	id    string
}

// edgeClaim is the best claim seen about an edge's parent.
type edgeClaim struct {
	parent string // empty for a root edge
	tier   int
}

// resolved is the chain from the root to an edge.
type resolved struct {
	path   []string // root first
	status int
}

// Values of resolved.status.
const (
	chainWhole = iota
	chainPartial
	chainCycle
	chainTooDeep
)

// offer records that edge has parent (or is a root when parent is "") by
// a claim of tier. A higher tier wins; between equal tiers a parent wins
// over none, then the smaller parent, so the result does not depend on
// the order of spans.
func (b *batch) offer(k edgeKey, parent string, tier int) {
	c, ok := b.edges[k]
	switch {
	case !ok, tier > c.tier:
	case tier < c.tier:
		return
	case (parent == "") != (c.parent == ""):
		if parent == "" {
			return
		}
	case parent >= c.parent:
		return
	}
	b.edges[k] = edgeClaim{parent: parent, tier: tier}
}

// completeChains links the edges of each trace and completes or flags
// every span kept in b.
func (b *batch) completeChains() {
	for i := range b.spans {
		d := &b.spans[i]
		if d.trace.IsEmpty() {
			continue
		}
		if d.parentState != invalid {
			b.offer(edgeKey{d.trace, d.delegation}, d.parent, d.tier)
		}
		if d.tier == tierVerified && d.pathState == present {
			prev := ""
			for j := 0; j < d.path.Len(); j++ {
				e := d.path.At(j).Str()
				b.offer(edgeKey{d.trace, e}, prev, tierVerified)
				prev = e
			}
		}
	}
	for i := range b.spans {
		b.finish(&b.spans[i])
	}
}

// resolve follows parent claims from k up to the root of its chain.
func (b *batch) resolve(k edgeKey) resolved {
	if r, ok := b.paths[k]; ok {
		return r
	}
	r := resolved{status: chainPartial}
	chain := []string{k.id}
	for cur := k.id; ; {
		c, ok := b.edges[edgeKey{k.trace, cur}]
		if !ok {
			break
		}
		if c.parent == "" {
			r.status = chainWhole
			break
		}
		if containsStr(chain, c.parent) {
			r.status = chainCycle
			break
		}
		if len(chain) == baggage.MaxHop {
			r.status = chainTooDeep
			break
		}
		chain = append(chain, c.parent)
		cur = c.parent
	}
	if r.status == chainWhole {
		for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
			chain[i], chain[j] = chain[j], chain[i]
		}
		r.path = chain
	}
	b.paths[k] = r
	return r
}

func containsStr(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// finish checks one span against its chain, writes the path and depth it
// lacks, and flags its conflicts.
func (b *batch) finish(d *spanData) {
	switch d.delegationState {
	case absent:
		b.finishSession(d)
	case present:
		b.finishDelegation(d)
	}
	if d.conflicts == 0 {
		return
	}
	var names []string
	for i, n := range conflictNames {
		if d.conflicts&(1<<i) != 0 {
			names = append(names, n)
			b.conflicts[i]++
		}
	}
	d.attrs.PutStr(ConflictKey, strings.Join(names, ","))
}

// finishSession handles a span acting without a delegation: depth 0.
func (b *batch) finishSession(d *spanData) {
	if d.parentState == present {
		d.conflicts |= 1 << conflictParent
	}
	if d.hopState == present && d.hop != 0 {
		d.conflicts |= 1 << conflictHop
	}
	if d.pathState != absent {
		d.conflicts |= 1 << conflictPath
	}
	grow := 0
	if d.depthState == absent {
		grow++
	}
	if d.conflicts != 0 {
		grow++
	}
	d.attrs.EnsureCapacity(d.attrs.Len() + grow)
	if b.writeDepth(d, 0) {
		b.completed++
	}
}

// finishDelegation handles a span acting under a delegation.
func (b *batch) finishDelegation(d *spanData) {
	if d.trace.IsEmpty() {
		b.partial++
		return
	}
	r := b.resolve(edgeKey{d.trace, d.delegation})
	switch r.status {
	case chainPartial:
		b.partial++
		return
	case chainCycle:
		d.conflicts |= 1 << conflictCycle
		return
	case chainTooDeep:
		d.conflicts |= 1 << conflictDepth
		return
	}

	n := len(r.path)
	if d.hopState == present && d.hop != int64(n) {
		d.conflicts |= 1 << conflictHop
	}
	parent := ""
	if n >= 2 {
		parent = r.path[n-2]
	}
	if d.parentState != invalid && d.parent != parent {
		d.conflicts |= 1 << conflictParent
	}
	// Grow the attributes once, to their final size, rather than by
	// doubling on each write.
	grow := 0
	if d.pathState == absent {
		grow++
	}
	if d.depthState == absent {
		grow++
	}
	if d.conflicts != 0 {
		grow++
	}
	d.attrs.EnsureCapacity(d.attrs.Len() + grow)

	wrote := false
	switch d.pathState {
	case absent:
		s := d.attrs.PutEmptySlice(keyPath)
		s.EnsureCapacity(n)
		for _, e := range r.path {
			s.AppendEmpty().SetStr(e)
		}
		wrote = true
	case present:
		if !pathEqual(d.path, r.path) {
			d.conflicts |= 1 << conflictPath
		}
	default:
		d.conflicts |= 1 << conflictPath
	}
	if b.writeDepth(d, int64(n)) {
		wrote = true
	}
	if wrote {
		b.completed++
	}
}

// writeDepth sets DepthKey to depth where it is absent and flags a
// different one. It reports whether it wrote.
func (b *batch) writeDepth(d *spanData, depth int64) bool {
	switch {
	case d.depthState == absent:
		d.attrs.PutInt(DepthKey, depth)
		return true
	case d.depthState == invalid || d.depth != depth:
		d.conflicts |= 1 << conflictDepth
	}
	return false
}

func pathEqual(s pcommon.Slice, p []string) bool {
	if s.Len() != len(p) {
		return false
	}
	for i, e := range p {
		if s.At(i).Str() != e {
			return false
		}
	}
	return true
}
