// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package baggage // import "github.com/otelcaracal/otelcaracal/baggage"

import (
	"context"
	"fmt"
	"unicode/utf8"

	otelbaggage "go.opentelemetry.io/otel/baggage"
)

// IsReserved reports whether key is one of the five envelope keys. Other
// caracal.-prefixed keys are not reserved.
func IsReserved(key string) bool {
	switch key {
	case KeyAgentSession, KeyDelegationEdge, KeyParentEdge, KeySubjectRecord, KeyHop:
		return true
	}
	return false
}

// ReservedKeys returns the five envelope keys in byte order.
func ReservedKeys() []string {
	keys := reservedKeys
	return keys[:]
}

// ValidKey reports whether key is a W3C baggage key: a non-empty RFC 7230
// token. otel's NewMemberRaw accepts any UTF-8 key and the W3C encoder
// later drops the ones that are not tokens; checking here refuses them when
// the member is built instead.
func ValidKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if !isTokenChar(key[i]) {
			return false
		}
	}
	return true
}

// tokenChars marks the tchar set of RFC 7230 §3.2.6.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTokenChar(c byte) bool { return tokenChars[c] }

// NewMember returns a third-party baggage member. It fails with
// ErrInvalidKey for a key that is not a W3C token, ErrReservedKey for an
// envelope key (set those through an Envelope) and ErrInvalidValue for a
// value that is not valid UTF-8.
func NewMember(key, value string) (otelbaggage.Member, error) {
	switch {
	case !ValidKey(key):
		return otelbaggage.Member{}, fmt.Errorf("%w: %q", ErrInvalidKey, key)
	case IsReserved(key):
		return otelbaggage.Member{}, fmt.Errorf("%w: %q", ErrReservedKey, key)
	case !utf8.ValidString(value):
		return otelbaggage.Member{}, fmt.Errorf("%w: %s", ErrInvalidValue, key)
	}
	return otelbaggage.NewMemberRaw(key, value)
}

// ContextWithMember returns a copy of ctx whose baggage also has the
// third-party member key=value, validated as NewMember does. It fails with
// ErrLimit when the baggage would exceed the W3C limits, returning ctx
// unchanged.
func ContextWithMember(ctx context.Context, key, value string) (context.Context, error) {
	m, err := NewMember(key, value)
	if err != nil {
		return ctx, err
	}
	b, err := otelbaggage.FromContext(ctx).SetMember(m)
	if err == nil {
		// SetMember does not check the limits; New does.
		b, err = otelbaggage.New(b.Members()...)
	}
	if err != nil {
		return ctx, fmt.Errorf("%w: %w", ErrLimit, err)
	}
	return otelbaggage.ContextWithBaggage(ctx, b), nil
}
