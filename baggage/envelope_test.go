// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package baggage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	otelbaggage "go.opentelemetry.io/otel/baggage"

	"github.com/otelcaracal/otelcaracal/baggage"
)

func members(b otelbaggage.Baggage) map[string]string {
	m := map[string]string{}
	for _, mem := range b.Members() {
		m[mem.Key()] = mem.Value()
	}
	return m
}

func TestAcceptDelegation(t *testing.T) {
	tests := []struct {
		name    string
		in      baggage.Envelope
		id      string
		want    baggage.Envelope
		wantErr error
	}{
		{
			// Caracal protocol §10.10.
			name: "bound context",
			in:   baggage.Envelope{AgentSession: "agent-2", DelegationEdge: "edge-own", Hop: 1},
			id:   "edge-42",
			want: baggage.Envelope{AgentSession: "agent-2", DelegationEdge: "edge-42", ParentEdge: "edge-own", Hop: 2},
		},
		{
			name: "root",
			in:   baggage.Envelope{AgentSession: "s", SubjectRecord: "r"},
			id:   "edge-1",
			want: baggage.Envelope{AgentSession: "s", SubjectRecord: "r", DelegationEdge: "edge-1", Hop: 1},
		},
		{
			name:    "at the limit",
			in:      baggage.Envelope{DelegationEdge: "e", Hop: baggage.MaxHop},
			id:      "edge-11",
			want:    baggage.Envelope{DelegationEdge: "e", Hop: baggage.MaxHop},
			wantErr: baggage.ErrHopLimit,
		},
		{
			name: "same edge again",
			in:   baggage.Envelope{AgentSession: "a", DelegationEdge: "edge-6", ParentEdge: "p", Hop: 1},
			id:   "edge-6",
			want: baggage.Envelope{AgentSession: "a", DelegationEdge: "edge-6", ParentEdge: "p", Hop: 1},
		},
		{
			name:    "empty id",
			in:      baggage.Envelope{Hop: 1},
			want:    baggage.Envelope{Hop: 1},
			wantErr: baggage.ErrEmptyDelegation,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.AcceptDelegation(tt.id)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("Envelope.AcceptDelegation = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
			ctx, err := baggage.ContextWithEnvelope(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			ctx, err = baggage.AcceptDelegation(ctx, tt.id)
			if !errors.Is(err, tt.wantErr) || baggage.FromContext(ctx) != tt.want {
				t.Errorf("AcceptDelegation = %+v, %v", baggage.FromContext(ctx), err)
			}
		})
	}
}

func TestContextWithEnvelope(t *testing.T) {
	ctx, err := baggage.ContextWithMember(context.Background(), "tenant", "hooli")
	if err != nil {
		t.Fatal(err)
	}
	ctx, err = baggage.ContextWithEnvelope(ctx, baggage.Envelope{
		AgentSession: "a", DelegationEdge: "stale", ParentEdge: "p", SubjectRecord: "r", Hop: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	// A later envelope replaces the earlier one whole: no stale member.
	ctx, err = baggage.ContextWithEnvelope(ctx, baggage.Envelope{AgentSession: "b"})
	if err != nil {
		t.Fatal(err)
	}
	got := members(otelbaggage.FromContext(ctx))
	want := map[string]string{"tenant": "hooli", baggage.KeyAgentSession: "b", baggage.KeyHop: "0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("members = %v, want %v", got, want)
	}

	// The root envelope leaves no reserved member.
	ctx, err = baggage.ContextWithEnvelope(ctx, baggage.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if got := members(otelbaggage.FromContext(ctx)); fmt.Sprint(got) != "map[tenant:hooli]" {
		t.Errorf("root members = %v", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		env  baggage.Envelope
		want error
	}{
		{"root", baggage.Envelope{}, nil},
		{"max hop", baggage.Envelope{Hop: baggage.MaxHop}, nil},
		{"hop 11", baggage.Envelope{Hop: 11}, baggage.ErrHopLimit},
		{"negative hop", baggage.Envelope{Hop: -1}, baggage.ErrHopLimit},
		{"invalid utf-8", baggage.Envelope{AgentSession: "\xff"}, baggage.ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.env.Validate(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Validate = %v, want %v", err, tt.want)
			}
			ctx, err := baggage.ContextWithEnvelope(context.Background(), tt.env)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("ContextWithEnvelope = %v, want %v", err, tt.want)
			}
			if err != nil && otelbaggage.FromContext(ctx).Len() != 0 {
				t.Error("invalid envelope written")
			}
		})
	}
}

func TestNewMember(t *testing.T) {
	tests := []struct {
		name, key, value string
		want             error
	}{
		{"valid", "tenant", "a b ✓", nil},
		{"other caracal key", "caracal.region", "eu", nil},
		{"not a token", "ex.com/foo", "1", baggage.ErrInvalidKey},
		{"space in key", "a b", "1", baggage.ErrInvalidKey},
		{"empty key", "", "1", baggage.ErrInvalidKey},
		{"reserved", baggage.KeyHop, "1", baggage.ErrReservedKey},
		{"invalid utf-8", "k", "\xff", baggage.ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := baggage.NewMember(tt.key, tt.value)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("NewMember = %v, want %v", err, tt.want)
			}
			_, err = baggage.ContextWithMember(context.Background(), tt.key, tt.value)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("ContextWithMember = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReservedKeys(t *testing.T) {
	keys := baggage.ReservedKeys()
	want := "[caracal.agent_session caracal.delegation_edge caracal.hop caracal.parent_edge caracal.session]"
	if fmt.Sprint(keys) != want {
		t.Errorf("ReservedKeys = %v", keys)
	}
	keys[0] = "changed"
	if baggage.ReservedKeys()[0] != baggage.KeyAgentSession {
		t.Error("ReservedKeys shares its array")
	}
	for _, k := range keys[1:] {
		if !baggage.IsReserved(k) {
			t.Errorf("IsReserved(%q) = false", k)
		}
	}
	if baggage.IsReserved("caracal.other") {
		t.Error("caracal.other reserved")
	}
}

func TestFromBaggageClampsHop(t *testing.T) {
	for raw, want := range map[string]int{"7": 7, "12": 10, "-1": 0, "x": 0} {
		m, err := otelbaggage.NewMemberRaw(baggage.KeyHop, raw)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := otelbaggage.New(m)
		if got := baggage.FromBaggage(b).Hop; got != want {
			t.Errorf("hop %q = %d, want %d", raw, got, want)
		}
	}
}

func ExampleAcceptDelegation() {
	ctx, err := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
		AgentSession: "session-research",
	})
	if err != nil {
		panic(err)
	}
	ctx, err = baggage.AcceptDelegation(ctx, "edge-1")
	if err != nil {
		panic(err)
	}
	ctx, err = baggage.AcceptDelegation(ctx, "edge-2")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", baggage.FromContext(ctx))
	// Output: {AgentSession:session-research DelegationEdge:edge-2 ParentEdge:edge-1 SubjectRecord: Hop:2}
}

func TestChild(t *testing.T) {
	parent := baggage.Envelope{AgentSession: "parent", DelegationEdge: "edge-parent", SubjectRecord: "r", Hop: 1}
	got, err := parent.Child("child", "edge-child")
	want := baggage.Envelope{
		AgentSession: "child", DelegationEdge: "edge-child", ParentEdge: "edge-parent", SubjectRecord: "r", Hop: 2,
	}
	if err != nil || got != want {
		t.Errorf("Child = %+v, %v; want %+v", got, err, want)
	}
	// A narrow child under a root session (§10.10): parent edge empty.
	got, err = baggage.Envelope{AgentSession: "root"}.Child("child", "edge-1")
	if err != nil || got != (baggage.Envelope{AgentSession: "child", DelegationEdge: "edge-1", Hop: 1}) {
		t.Errorf("root Child = %+v, %v", got, err)
	}
	if _, err := (baggage.Envelope{Hop: baggage.MaxHop}).Child("c", "e"); !errors.Is(err, baggage.ErrHopLimit) {
		t.Errorf("Child at MaxHop: %v", err)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	var err error
	for i := range 60 {
		if ctx, err = baggage.ContextWithMember(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	// The envelope fits even when third-party members fill the baggage:
	// the last ones in key order make room.
	full := baggage.Envelope{AgentSession: "s", DelegationEdge: "d", ParentEdge: "p", SubjectRecord: "r", Hop: 1}
	withEnv, err := baggage.ContextWithEnvelope(ctx, full)
	if err != nil || baggage.FromContext(withEnv) != full {
		t.Fatalf("envelope over 60 members: %+v %v", baggage.FromContext(withEnv), err)
	}
	b := otelbaggage.FromContext(withEnv)
	if b.Len() != 64 || b.Member("k9").Key() != "" || b.Member("k0").Key() == "" {
		t.Errorf("%d members; k9 %q", b.Len(), b.Member("k9").Value())
	}
	big := strings.Repeat("x", 8191) // k= and 8191 bytes: one over
	if _, err := baggage.ContextWithMember(context.Background(), "k", big); !errors.Is(err, baggage.ErrLimit) {
		t.Errorf("8192+ bytes: %v", err)
	}
	for i := 60; i < 64; i++ {
		if ctx, err = baggage.ContextWithMember(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := baggage.ContextWithMember(ctx, "k64", "v"); !errors.Is(err, baggage.ErrLimit) {
		t.Errorf("65th member: %v", err)
	}
}
