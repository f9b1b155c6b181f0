// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter // import "github.com/otelcaracal/otelcaracal/exporter"

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ErrShutdown is returned by ChainExporter.ExportSpans after Shutdown.
var ErrShutdown = errors.New("caracal exporter: chain exporter is shut down")

// serviceNameKey is the resource attribute naming a service.
const serviceNameKey = attribute.Key("service.name")

// ChainExporter is a [sdktrace.SpanExporter] that keeps the spans carrying
// the attributes of SpanProcessor and assembles them into delegation
// chains, as BuildChains does.
//
// It holds every such span in memory for as long as it lives, so it suits
// tests, examples and short-lived programs rather than long-running
// services. Spans without attribution are dropped on export. It is safe for
// concurrent use, and Chains, WriteText and WriteJSON still work after
// Shutdown.
type ChainExporter struct {
	mu      sync.Mutex
	spans   []spanInfo
	stopped bool
}

var _ sdktrace.SpanExporter = (*ChainExporter)(nil)

// NewChainExporter returns an empty ChainExporter.
func NewChainExporter() *ChainExporter {
	return &ChainExporter{}
}

// ExportSpans keeps the spans that carry attribution. It returns the error
// of ctx when ctx is done and ErrShutdown after Shutdown, keeping nothing
// in either case.
func (e *ChainExporter) ExportSpans(
	ctx context.Context,
	spans []sdktrace.ReadOnlySpan,
) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	kept := make([]spanInfo, 0, len(spans))
	for _, s := range spans {
		if info, ok := decodeRecord(recordOf(s)); ok {
			kept = append(kept, info)
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return ErrShutdown
	}
	e.spans = append(e.spans, kept...)
	return nil
}

// Shutdown stops the exporter: later calls to ExportSpans fail with
// ErrShutdown. The spans kept so far stay available. It returns the error
// of ctx, without stopping, when ctx is done; calls after the first that
// succeeded do nothing and return nil.
func (e *ChainExporter) Shutdown(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	return nil
}

// Chains returns the delegation chains of the spans kept so far, as
// BuildChains describes.
func (e *ChainExporter) Chains() []Chain {
	e.mu.Lock()
	spans := slices.Clone(e.spans)
	e.mu.Unlock()
	return buildChains(spans)
}

// WriteText writes the chains of the spans kept so far to w as the
// package function WriteText does.
func (e *ChainExporter) WriteText(w io.Writer) error {
	return WriteText(w, e.Chains())
}

// WriteJSON writes the chains of the spans kept so far to w as the
// package function WriteJSON does.
func (e *ChainExporter) WriteJSON(w io.Writer) error {
	return WriteJSON(w, e.Chains())
}

// recordOf returns s as a SpanRecord holding only its caracal.* attributes.
func recordOf(s sdktrace.ReadOnlySpan) SpanRecord {
	r := SpanRecord{
		TraceID:  s.SpanContext().TraceID().String(),
		SpanName: s.Name(),
	}
	if v, ok := s.Resource().Set().Value(serviceNameKey); ok {
		r.Service = v.Emit()
	}
	for _, kv := range s.Attributes() {
		if !strings.HasPrefix(string(kv.Key), "caracal.") {
			continue
		}
		if r.Attributes == nil {
			r.Attributes = make(map[string]any)
		}
		r.Attributes[string(kv.Key)] = kv.Value.AsInterface()
	}
	return r
}
