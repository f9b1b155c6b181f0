// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter // import "github.com/otelcaracal/otelcaracal/exporter"

// Option configures a SpanProcessor.
//
// The package defines no options yet. The parameter keeps NewSpanProcessor
// stable when options are added, and a nil Option is ignored.
type Option interface {
	apply(config) config
}

// config holds the settings of a SpanProcessor.
type config struct{}

// newConfig returns the default settings with opts applied in order.
func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	return c
}
