// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator // import "github.com/otelcaracal/otelcaracal/propagator"

import (
	"os"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/propagation"
)

// Name is the name Caracal is registered under with autoprop, for use in
// OTEL_PROPAGATORS.
const Name = "caracal"

// envPropagators is the variable that names the propagators to use.
// https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
const envPropagators = "OTEL_PROPAGATORS"

func init() {
	autoprop.RegisterTextMapPropagator(Name, Caracal{})
}

// FromEnv returns the propagators OTEL_PROPAGATORS names, composed in its
// order, like autoprop.NewTextMapPropagator, with two differences: spaces
// around names are trimmed (autoprop looks up " caracal" and drops it), and
// an unset or blank variable gives New, not tracecontext and baggage. Every
// autoprop name is accepted, "caracal" included, and "none" gives a no-op.
// It fails for an unknown name, returning the known names composed, or
// New when no name is known.
func FromEnv() (propagation.TextMapPropagator, error) {
	var names []string
	for n := range strings.SplitSeq(os.Getenv(envPropagators), ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return New(), nil
	}
	p, err := autoprop.TextMapPropagator(names...)
	if p == nil {
		p = New()
	}
	return p, err
}
