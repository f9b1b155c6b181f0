// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor // import "github.com/otelcaracal/otelcaracal/collector/caracalprocessor"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Names of the processor's metrics. Every series also has the attribute
// "processor", the component id.
const (
	// MetricCredentialsRemoved counts attributes dropped or masked as
	// credentials, by "location" (resource, scope, span, event, link).
	MetricCredentialsRemoved = "otelcol_processor_caracal_credentials_removed"
	// MetricAttributionDowngraded counts spans whose caracal.attribution
	// was rewritten to claimed, by "reason" (the value of DowngradedKey).
	MetricAttributionDowngraded = "otelcol_processor_caracal_attribution_downgraded"
	// MetricUntrustedClaims counts claimed spans from untrusted services,
	// by "action" (flag or drop).
	MetricUntrustedClaims = "otelcol_processor_caracal_untrusted_claims"
	// MetricChainsCompleted counts spans given caracal.delegation.path or
	// caracal.delegation.depth.
	MetricChainsCompleted = "otelcol_processor_caracal_chains_completed"
	// MetricChainsPartial counts spans whose chain could not be followed
	// to its root within the batch.
	MetricChainsPartial = "otelcol_processor_caracal_chains_partial"
	// MetricAttributionConflicts counts spans flagged with ConflictKey,
	// once for each "reason" they have.
	MetricAttributionConflicts = "otelcol_processor_caracal_attribution_conflicts"
)

// location is where a credential attribute was found.
type location int

const (
	locResource location = iota
	locScope
	locSpan
	locEvent
	locLink
	numLocations
)

var locationNames = [numLocations]string{"resource", "scope", "span", "event", "link"}

// Reasons a span's attribution is rewritten to claimed, the values of
// DowngradedKey.
const (
	downUntrustedService = iota
	downMissingClaims
	downInconsistent
	downInvalidValue
	numDowngrades
)

var downgradeNames = [numDowngrades]string{
	"untrusted_service",
	"missing_signed_claims",
	"inconsistent_claims",
	"invalid_value",
}

// Reasons of a conflict, bits of spanData.conflicts, in the order they
// are written in ConflictKey.
const (
	conflictCycle = iota
	conflictDepth
	conflictHop
	conflictMalformed
	conflictParent
	conflictPath
	numConflicts
)

var conflictNames = [numConflicts]string{
	"cycle", "depth", "hop", "malformed", "parent", "path",
}

// counts are the events of one batch, recorded once at its end.
type counts struct {
	credentials [numLocations]int64
	downgraded  [numDowngrades]int64
	untrusted   int64
	completed   int64
	partial     int64
	conflicts   [numConflicts]int64
}

// telemetry holds the instruments and the attribute sets of every series,
// built at construction.
type telemetry struct {
	credentials, downgraded, untrusted metric.Int64Counter
	completed, partial, conflicts      metric.Int64Counter

	byLocation  [numLocations]metric.AddOption
	byDowngrade [numDowngrades]metric.AddOption
	byConflict  [numConflicts]metric.AddOption
	byAction    metric.AddOption
	plain       metric.AddOption
}

func newTelemetry(
	set component.TelemetrySettings,
	id component.ID,
	action string,
) (*telemetry, error) {
	m := set.MeterProvider.Meter(ScopeName)
	t := &telemetry{}
	var err error
	counter := func(name, desc, unit string) metric.Int64Counter {
		c, e := m.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		err = errors.Join(err, e)
		return c
	}
	t.credentials = counter(MetricCredentialsRemoved,
		"Attributes dropped or masked because they hold a credential.", "{attribute}")
	t.downgraded = counter(MetricAttributionDowngraded,
		"Spans whose attribution was rewritten to claimed.", "{span}")
	t.untrusted = counter(MetricUntrustedClaims,
		"Claimed spans from services that are not trusted.", "{span}")
	t.completed = counter(MetricChainsCompleted,
		"Spans given a delegation path or depth.", "{span}")
	t.partial = counter(MetricChainsPartial,
		"Spans whose delegation chain is not whole within the batch.", "{span}")
	t.conflicts = counter(MetricAttributionConflicts,
		"Spans whose attribution disagrees with the delegation chain, by reason.", "{span}")

	proc := attribute.String("processor", id.String())
	with := func(k, v string) metric.AddOption {
		return metric.WithAttributeSet(attribute.NewSet(proc, attribute.String(k, v)))
	}
	for i, n := range locationNames {
		t.byLocation[i] = with("location", n)
	}
	for i, n := range downgradeNames {
		t.byDowngrade[i] = with("reason", n)
	}
	for i, n := range conflictNames {
		t.byConflict[i] = with("reason", n)
	}
	t.byAction = with("action", action)
	t.plain = metric.WithAttributeSet(attribute.NewSet(proc))
	return t, err
}

// record adds the counts of one batch.
func (t *telemetry) record(ctx context.Context, c *counts) {
	for i, n := range c.credentials {
		if n > 0 {
			t.credentials.Add(ctx, n, t.byLocation[i])
		}
	}
	for i, n := range c.downgraded {
		if n > 0 {
			t.downgraded.Add(ctx, n, t.byDowngrade[i])
		}
	}
	for i, n := range c.conflicts {
		if n > 0 {
			t.conflicts.Add(ctx, n, t.byConflict[i])
		}
	}
	if c.untrusted > 0 {
		t.untrusted.Add(ctx, c.untrusted, t.byAction)
	}
	if c.completed > 0 {
		t.completed.Add(ctx, c.completed, t.plain)
	}
	if c.partial > 0 {
		t.partial.Add(ctx, c.partial, t.plain)
	}
}
