// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor // import "github.com/otelcaracal/otelcaracal/collector/caracalprocessor"

import (
	"context"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/otelcaracal/otelcaracal/exporter"
)

// Attributes the processor writes, beside caracal.delegation.path
// (exporter.DelegationPathKey).
const (
	// DepthKey is the number of delegation edges from the root of the
	// chain to the span's delegation, an int; 0 for a span acting without
	// a delegation. Written where absent, on attributed spans whose chain
	// is whole within the batch.
	DepthKey = "caracal.delegation.depth"
	// ConflictKey lists, comma-separated, how a span's attribution
	// disagrees with the chain of its trace: "cycle" (parent edges loop),
	// "depth" (the chain is deeper than baggage.MaxHop, or DepthKey
	// differs), "hop" (caracal.hop differs from the depth), "malformed" (a
	// caracal.* attribute cannot be read), "parent" (the parent edge
	// differs from the chain's) and "path" (caracal.delegation.path
	// differs from the chain's).
	ConflictKey = "caracal.attribution.conflict"
	// UntrustedKey is true on a claimed span from a service that is not
	// trusted, when AttributionConfig.UntrustedClaims is "flag".
	UntrustedKey = "caracal.attribution.untrusted"
	// DowngradedKey says why caracal.attribution was rewritten to
	// claimed: "untrusted_service", "missing_signed_claims",
	// "inconsistent_claims" (the delegation path does not end in the
	// span's delegation and parent) or "invalid_value" (it was neither
	// claimed nor verified).
	DowngradedKey = "caracal.attribution.downgraded"
)

// Keys read from spans, as exporter.SpanProcessor writes them.
const (
	keyPrefix      = "caracal."
	keySession     = string(exporter.AgentSessionKey)
	keyDelegation  = string(exporter.DelegationKey)
	keyParent      = string(exporter.DelegationParentKey)
	keyRecord      = string(exporter.SubjectRecordKey)
	keyHop         = string(exporter.HopKey)
	keyAttribution = string(exporter.AttributionKey)
	keyZone        = string(exporter.ZoneKey)
	keyApplication = string(exporter.ApplicationKey)
	keyPath        = string(exporter.DelegationPathKey)
	keyServiceName = "service.name"
)

// caracalProcessor is the compiled configuration and the telemetry of one
// processor. It is safe for concurrent use: batches share nothing but
// read-only state and the pool.
type caracalProcessor struct {
	logger        *zap.Logger
	tel           *telemetry
	keys          *keyMatcher
	cache         *keyCache
	mask          bool
	maskValue     string
	trusted       map[string]struct{}
	dropUntrusted bool
	chains        bool
	summary       []zap.Field
	pool          sync.Pool // of *batch
}

func newCaracalProcessor(set processor.Settings, cfg *Config) (*caracalProcessor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, err := newKeyMatcher(cfg.Credentials)
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(set.TelemetrySettings, set.ID, cfg.Attribution.UntrustedClaims)
	if err != nil {
		return nil, err
	}
	p := &caracalProcessor{
		logger:        set.Logger,
		tel:           tel,
		keys:          keys,
		cache:         newKeyCache(keys),
		mask:          cfg.Credentials.Action == ActionMask,
		maskValue:     cfg.Credentials.Mask,
		trusted:       make(map[string]struct{}, len(cfg.Attribution.TrustedServices)),
		dropUntrusted: cfg.Attribution.UntrustedClaims == ClaimsDrop,
		chains:        cfg.Chains.Enabled,
		summary: []zap.Field{
			zap.String("credentials", cfg.Credentials.Action),
			zap.Strings("trusted_services", cfg.Attribution.TrustedServices),
			zap.String("untrusted_claims", cfg.Attribution.UntrustedClaims),
			zap.Bool("chains", cfg.Chains.Enabled),
		},
	}
	for _, s := range cfg.Attribution.TrustedServices {
		p.trusted[s] = struct{}{}
	}
	return p, nil
}

func (p *caracalProcessor) start(context.Context, component.Host) error {
	p.logger.Info("Caracal processor started", p.summary...)
	return nil
}

func (p *caracalProcessor) shutdown(context.Context) error {
	p.logger.Info("Caracal processor stopped")
	return nil
}

// batch is the scratch state of one call to processTraces.
type batch struct {
	counts
	spans []spanData
	keys  *keySnapshot       // the key cache when the batch started
	fresh map[string]keyInfo // keys new to the cache
	edges map[edgeKey]edgeClaim
	paths map[edgeKey]resolved
}

// maxPooledSpans bounds the scratch state kept for reuse, so that one
// huge batch does not pin its memory.
const maxPooledSpans = 1 << 14

func (p *caracalProcessor) getBatch() *batch {
	if b, ok := p.pool.Get().(*batch); ok {
		return b
	}
	return &batch{
		fresh: make(map[string]keyInfo),
		edges: make(map[edgeKey]edgeClaim),
		paths: make(map[edgeKey]resolved),
	}
}

func (p *caracalProcessor) putBatch(b *batch) {
	if cap(b.spans) > maxPooledSpans {
		return
	}
	clear(b.spans) // drop references to the batch's data
	b.spans = b.spans[:0]
	b.keys = nil
	clear(b.fresh)
	clear(b.edges)
	clear(b.paths)
	b.counts = counts{}
	p.pool.Put(b)
}

// processTraces removes credentials, applies the attribution policy and
// completes chains, in that order, on td in place. It never fails and
// never drops a span.
func (p *caracalProcessor) processTraces(
	ctx context.Context,
	td ptrace.Traces,
) (ptrace.Traces, error) {
	b := p.getBatch()
	defer p.putBatch(b)
	b.keys = p.cache.load()

	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		p.scrub(res, locResource, b)
		trusted := p.isTrusted(res)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			p.scrub(ss.Scope().Attributes(), locScope, b)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				p.processSpan(spans.At(k), trusted, b)
			}
		}
	}
	if p.chains {
		b.completeChains()
	}
	p.cache.merge(b.fresh)
	p.tel.record(ctx, &b.counts)
	return td, nil
}

// isTrusted reports whether the service.name of a resource is trusted.
func (p *caracalProcessor) isTrusted(res pcommon.Map) bool {
	v, ok := res.Get(keyServiceName)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return false
	}
	_, ok = p.trusted[v.Str()]
	return ok
}

// isCredential reports whether an attribute holds a credential.
func (p *caracalProcessor) isCredential(k string, v pcommon.Value) bool {
	return p.keys.match(k) || p.keys.holdsCredential(v, 0)
}

// scrub removes the credentials of m and counts them at loc.
func (p *caracalProcessor) scrub(m pcommon.Map, loc location, b *batch) {
	n := 0
	m.Range(func(k string, v pcommon.Value) bool {
		if p.cache.lookup(b.keys, k, b.fresh)&keyCredential != 0 || p.keys.holdsCredential(v, 0) {
			n++
		}
		return true
	})
	if n > 0 {
		p.remove(m)
		b.credentials[loc] += int64(n)
	}
}

// remove drops or masks every credential of m, as configured.
func (p *caracalProcessor) remove(m pcommon.Map) {
	if !p.mask {
		m.RemoveIf(p.isCredential)
		return
	}
	m.Range(func(k string, v pcommon.Value) bool {
		if p.isCredential(k, v) {
			v.SetStr(p.maskValue)
		}
		return true
	})
}

// dropDuplicateClaims keeps only the last of each caracal.* key of m, the
// one the policy reads. OTLP allows duplicate keys and pcommon's Put*
// rewrites the first, so an earlier copy could outlive the policy: a
// forged "verified" before a "claimed", say.
func dropDuplicateClaims(m pcommon.Map) {
	var seen [16]string
	n, dup := 0, false
	m.Range(func(k string, _ pcommon.Value) bool {
		if !strings.HasPrefix(k, keyPrefix) {
			return true
		}
		for _, s := range seen[:n] {
			if s == k {
				dup = true
				return false
			}
		}
		if n == len(seen) {
			dup = true // Too many to tell cheaply: take the slow path.
			return false
		}
		seen[n] = k
		n++
		return true
	})
	if !dup {
		return
	}
	count := map[string]int{}
	m.Range(func(k string, _ pcommon.Value) bool {
		if strings.HasPrefix(k, keyPrefix) {
			count[k]++
		}
		return true
	})
	m.RemoveIf(func(k string, _ pcommon.Value) bool {
		if c := count[k]; c > 1 {
			count[k] = c - 1
			return true
		}
		return false
	})
}

// processSpan scrubs a span, its events and its links, applies the
// attribution policy and keeps what chain completion needs.
func (p *caracalProcessor) processSpan(s ptrace.Span, trusted bool, b *batch) {
	attrs := s.Attributes()
	dropDuplicateClaims(attrs)
	var d spanData
	n := 0
	attrs.Range(func(k string, v pcommon.Value) bool {
		info := p.cache.lookup(b.keys, k, b.fresh)
		switch {
		case info&keyCredential != 0 || p.keys.holdsCredential(v, 0):
			n++
		case info&keyCaracal != 0:
			d.read(k, v)
		}
		return true
	})
	if n > 0 {
		p.remove(attrs)
		b.credentials[locSpan] += int64(n)
		if !p.mask {
			// Dropping moves attributes: read them again. Masking moves
			// none, and what it masked was not read.
			d = spanData{}
			attrs.Range(func(k string, v pcommon.Value) bool {
				if strings.HasPrefix(k, keyPrefix) {
					d.read(k, v)
				}
				return true
			})
		}
	}
	events := s.Events()
	for i := 0; i < events.Len(); i++ {
		p.scrub(events.At(i).Attributes(), locEvent, b)
	}
	links := s.Links()
	for i := 0; i < links.Len(); i++ {
		p.scrub(links.At(i).Attributes(), locLink, b)
	}
	if !d.attributed {
		return
	}

	if !p.applyPolicy(&d, attrs, trusted, b) {
		return
	}
	if !p.chains {
		return
	}
	d.attrs = attrs
	if d.delegationState != present {
		// Without a delegation the span's depth is 0 whatever the rest
		// of the trace holds: finish it while its attributes are at hand.
		b.finish(&d)
		return
	}
	d.trace = s.TraceID()
	b.spans = append(b.spans, d)
}

// applyPolicy downgrades a verified attribution that cannot stand and
// handles claims from untrusted services. It reports false when the span's
// caracal.* attributes were dropped.
func (p *caracalProcessor) applyPolicy(
	d *spanData,
	attrs pcommon.Map,
	trusted bool,
	b *batch,
) bool {
	down := -1
	switch d.attribution {
	case attributionVerified:
		switch {
		case !trusted:
			down = downUntrustedService
		case d.zone == "" || d.application == "":
			down = downMissingClaims
		case !d.pathMatches():
			down = downInconsistent
		}
	case attributionInvalid:
		down = downInvalidValue
	}
	if down >= 0 {
		attrs.PutStr(keyAttribution, exporter.AttributionClaimed)
		attrs.PutStr(DowngradedKey, downgradeNames[down])
		d.attribution = attributionClaimed
		b.downgraded[down]++
	}

	switch {
	case d.attribution == attributionVerified:
		d.tier = tierVerified
	case trusted:
		d.tier = tierTrusted
	case p.dropUntrusted:
		attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
			return strings.HasPrefix(k, keyPrefix)
		})
		b.untrusted++
		return false
	default:
		attrs.PutBool(UntrustedKey, true)
		d.tier = tierUntrusted
		b.untrusted++
	}
	return true
}
