// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator // import "github.com/otelcaracal/otelcaracal/propagator"

import (
	"strconv"
	"strings"
	"unicode/utf8"

	otelbaggage "go.opentelemetry.io/otel/baggage"

	"github.com/otelcaracal/otelcaracal/baggage"
)

// Limits of the W3C baggage header, https://www.w3.org/TR/baggage/#limits,
// which Caracal applies to all baggage lines of a request together
// (Caracal protocol §2.1 and §2.4).
const (
	// MaxBaggageBytes is the largest combined baggage header read, counting
	// one comma between joined lines. A larger one is ignored whole.
	MaxBaggageBytes = 8192
	// MaxBaggageMembers is the most comma-separated pieces read, empty
	// pieces included. A header with more is ignored whole.
	MaxBaggageMembers = 64
)

// parseBaggage parses the baggage lines vals as one header (§2.4). Of
// duplicate keys the last wins, an empty reserved value included, which
// then counts as absent (§2.2 step 4); the hop is normalized, so the
// envelope read back from the result is what the header claimed.
func parseBaggage(vals []string) otelbaggage.Baggage {
	var buf [MaxBaggageMembers]member
	ms := appendMembers(buf[:0], vals, false)
	if len(ms) == 0 {
		return otelbaggage.Baggage{}
	}
	var last [len(reservedOrder)]string
	for _, m := range ms {
		if i := reservedIndex(m.key); i >= 0 {
			last[i] = m.value
		}
	}
	var outBuf [MaxBaggageMembers]otelbaggage.Member
	out := outBuf[:0]
	for _, m := range ms {
		if reservedIndex(m.key) < 0 {
			out = appendMember(out, m.key, m.value)
		}
	}
	for i, k := range reservedOrder {
		v := last[i]
		if v != "" && k == baggage.KeyHop {
			v = strconv.Itoa(baggage.ParseHop(v))
		}
		if v != "" {
			out = appendMember(out, k, v)
		}
	}
	return newBaggage(out)
}

// reservedOrder lists the reserved keys; reservedIndex finds one in it.
var reservedOrder = [...]string{
	baggage.KeyAgentSession, baggage.KeyDelegationEdge, baggage.KeyParentEdge,
	baggage.KeySubjectRecord, baggage.KeyHop,
}

func reservedIndex(key string) int {
	switch key {
	case baggage.KeyAgentSession:
		return 0
	case baggage.KeyDelegationEdge:
		return 1
	case baggage.KeyParentEdge:
		return 2
	case baggage.KeySubjectRecord:
		return 3
	case baggage.KeyHop:
		return 4
	}
	return -1
}

func appendMember(out []otelbaggage.Member, key, value string) []otelbaggage.Member {
	m, err := otelbaggage.NewMemberRaw(key, value)
	if err != nil {
		return out // Unreachable: keys are tokens, values valid UTF-8.
	}
	return append(out, m)
}

// newBaggage builds baggage from members already within the limits of the
// raw header. otel's New measures members re-encoded, in which one raw
// byte may take three, and then drops members in map order; when it
// refuses, the members are set one by one instead, which checks nothing.
func newBaggage(ms []otelbaggage.Member) otelbaggage.Baggage {
	if b, err := otelbaggage.New(ms...); err == nil {
		return b
	}
	var b otelbaggage.Baggage
	for _, m := range ms {
		b, _ = b.SetMember(m)
	}
	return b
}

// appendMembers appends the members of the baggage lines vals, read as one
// header joined with commas, to ms. It appends nothing when the header is
// over the limits; a member without "=", with an empty key or with a key
// that is not a W3C token is skipped alone. With thirdPartyOnly, reserved
// members are skipped too.
func appendMembers(ms []member, vals []string, thirdPartyOnly bool) []member {
	if !withinLimits(vals) {
		return ms
	}
	for _, v := range vals {
		for piece := range strings.SplitSeq(v, ",") {
			m, ok := parseMember(piece)
			if !ok || (thirdPartyOnly && baggage.IsReserved(m.key)) {
				continue
			}
			ms = append(ms, m)
		}
	}
	return ms
}

// withinLimits reports whether the lines vals, joined with commas, are at
// most MaxBaggageBytes long and hold at most MaxBaggageMembers pieces. The
// length is checked first, so an oversized header costs one pass over the
// line lengths, not over its bytes.
func withinLimits(vals []string) bool {
	n := len(vals) - 1
	for _, v := range vals {
		n += len(v)
		if n > MaxBaggageBytes {
			return false
		}
	}
	pieces := len(vals)
	for _, v := range vals {
		pieces += strings.Count(v, ",")
	}
	return pieces <= MaxBaggageMembers
}

// parseMember reads one list member: the key before the first "=",
// trimmed; the value up to the first ";", trimmed and percent-decoded.
// Properties are dropped, as Caracal does.
func parseMember(piece string) (member, bool) {
	k, v, ok := strings.Cut(piece, "=")
	if !ok {
		return member{}, false
	}
	k = strings.Trim(k, " \t")
	if !baggage.ValidKey(k) {
		return member{}, false
	}
	v, _, _ = strings.Cut(v, ";")
	return member{k, decodeValue(strings.Trim(v, " \t"))}, true
}

// decodeValue percent-decodes v as Caracal does: "%" and two hex digits
// become that byte, any other "%" stays literal, "+" stays "+". Invalid
// UTF-8 in the result becomes U+FFFD, byte by byte, as W3C baggage
// requires. net/url cannot be used: it rejects a malformed escape instead
// of keeping it.
func decodeValue(v string) string {
	if strings.IndexByte(v, '%') < 0 {
		if utf8.ValidString(v) {
			return v
		}
		return replaceInvalid(v)
	}
	buf := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			buf = append(buf, unhex(v[i+1])<<4|unhex(v[i+2]))
			i += 2
			continue
		}
		buf = append(buf, c)
	}
	if utf8.Valid(buf) {
		return string(buf)
	}
	return replaceInvalid(string(buf))
}

// replaceInvalid replaces each byte of s that is not part of valid UTF-8
// with U+FFFD.
func replaceInvalid(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// writeEscaped writes v percent-encoded byte by byte: every byte outside
// A–Z a–z 0–9 - . _ ~ becomes %XX with upper-case hex (§2.4). It is
// written here because url.QueryEscape turns a space into "+" and
// url.PathEscape leaves characters such as "=" and "," unescaped, and
// Caracal's receivers compare headers byte for byte with their own.
func writeEscaped(sb *strings.Builder, v string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isUnreserved(c) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hex[c>>4])
		sb.WriteByte(hex[c&0xf])
	}
}

// escapedLen returns the length of v as writeEscaped writes it.
func escapedLen(v string) int {
	n := len(v)
	for i := 0; i < len(v); i++ {
		if !isUnreserved(v[i]) {
			n += 2
		}
	}
	return n
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
