// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	otelbaggage "go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// FuzzExtract feeds arbitrary baggage, traceparent and Authorization values
// (and a second baggage line) through Extract and Inject.
func FuzzExtract(f *testing.F) {
	for _, v := range parseVectors {
		if len(v.lines) == 1 && len(v.lines[0]) < 200 {
			f.Add(v.lines[0], "", "00-"+tid+"-aabbccddeeff0011-01", "Bearer tok")
		}
	}
	for _, v := range bearerVectors {
		f.Add("caracal.hop=3", "t=1", "", v.value)
	}
	for _, v := range traceparentVectors {
		f.Add("caracal.hop=11,caracal.agent_session=%zz", "caracal.session=", v.value, "")
	}
	f.Fuzz(func(t *testing.T, bag, bag2, traceparent, authorization string) {
		h := http.Header{
			"Baggage":       {bag, bag2},
			"Traceparent":   {traceparent},
			"Authorization": {authorization},
		}
		ctx := propagator.New().Extract(context.Background(), propagation.HeaderCarrier(h))
		env := baggage.FromContext(ctx)
		if env.Hop < 0 || env.Hop > baggage.MaxHop {
			t.Fatalf("hop %d out of range", env.Hop)
		}
		tok, _ := propagator.SubjectTokenFromContext(ctx)
		b := otelbaggage.FromContext(ctx)
		for _, m := range b.Members() {
			if baggage.IsReserved(m.Key()) && m.Value() == "" {
				t.Fatalf("empty reserved member %q", m.Key())
			}
			if !baggage.ValidKey(m.Key()) {
				t.Fatalf("invalid key %q extracted", m.Key())
			}
			if tok != "" && len(tok) > 8 && strings.Contains(m.Value(), tok) && !strings.Contains(bag+bag2, tok) {
				t.Fatal("subject token leaked into baggage")
			}
		}
		// Whatever was extracted is sent on unchanged, reserved members
		// separated from the third-party ones.
		out := http.Header{}
		propagator.New().Inject(ctx, propagation.HeaderCarrier(out))
		if out.Get("Authorization") != "" {
			t.Fatal("Authorization injected")
		}
		back := propagator.Caracal{}.Extract(context.Background(), propagation.HeaderCarrier(out))
		if got := baggage.FromContext(back); got != env {
			t.Fatalf("envelope %+v re-extracted as %+v from %q", env, got, out.Get("baggage"))
		}
		sent := out.Get("baggage")
		members := 0
		if sent != "" {
			members = strings.Count(sent, ",") + 1
		}
		for _, m := range b.Members() {
			if m.Value() == "" || baggage.IsReserved(m.Key()) {
				// Empty values are not sent (§2.4); the envelope was
				// compared whole above, and a bare hop 0 is not sent.
				continue
			}
			got := otelbaggage.FromContext(back).Member(m.Key())
			if got.Key() == "" && (members == propagator.MaxBaggageMembers ||
				len(sent)+len(m.Key())+escapedLen(m.Value())+2 > propagator.MaxBaggageBytes) {
				continue // Dropped to keep the header within the limits.
			}
			if got.Value() != m.Value() {
				t.Fatalf("member %q = %q, re-extracted as %q", m.Key(), m.Value(), got.Value())
			}
		}
	})
}

// escapedLen is the length of v percent-encoded as the propagator writes
// it: every byte but A–Z a–z 0–9 - . _ ~ takes three.
func escapedLen(v string) int {
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			n++
		} else {
			n += 3
		}
	}
	return n
}
