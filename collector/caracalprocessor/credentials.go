// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor // import "github.com/otelcaracal/otelcaracal/collector/caracalprocessor"

import (
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// credentialNames are the names that make a key segment name a credential
// when the segment ends with one of them: "http.request.header.authorization",
// "set-cookie", "accessToken", "db.password" and "x-api-key" all do, while
// "gen_ai.usage.input_tokens" and "token_count" do not.
var credentialNames = []string{
	"authorization",
	"cookie",
	"cookies",
	"token",
	"secret",
	"secrets",
	"password",
	"passwords",
	"passwd",
	"passphrase",
	"apikey",
	"apikeys",
	"api_key",
	"api_keys",
	"access_key",
	"accesskey",
	"secret_key",
	"secretkey",
	"private_key",
	"privatekey",
	"credential",
	"credentials",
	"bearer",
	"jwt",
}

// maxNesting is how deep values are searched inside arrays and maps. A
// value nested deeper is treated as a credential, so that nothing unread
// passes.
const maxNesting = 32

// Shortest runs that count as a bearer token after "Bearer" and as the
// header and payload of a JWT. A token that ends the value may be shorter.
const (
	minBearerToken = 8
	minJWTHeader   = 10 // "eyJ" and at least 7 more characters
	minJWTPayload  = 2

	// minJWT is the length of the shortest JWT: header, dot, payload, dot.
	minJWT = minJWTHeader + 1 + minJWTPayload + 1
	// minCredential is the length of the shortest value that can hold a
	// credential: "bearer" and a space and one more character.
	minCredential = len("bearer") + 2
)

// keyMatcher decides whether an attribute key names a credential. It is
// built once, at construction, and only read afterwards.
type keyMatcher struct {
	// tails has a bit for the last two bytes, folded, of every name: a
	// segment whose last two bytes have no bit cannot match.
	tails [1 << 16 / 64]uint64
	// byLast lists the names by their last byte, folded.
	byLast [256][]string
	// short is set when a name has a single byte: tails cannot filter.
	short    bool
	patterns []*regexp.Regexp
	allowed  map[string]struct{}
}

// tail returns the last two bytes of s, folded, as a number.
func tail(s string) uint16 {
	return uint16(fold(s[len(s)-2]))<<8 | uint16(fold(s[len(s)-1]))
}

// newKeyMatcher compiles the key rules of cfg.
func newKeyMatcher(cfg CredentialsConfig) (*keyMatcher, error) {
	m := &keyMatcher{}
	for _, n := range append(append([]string(nil), credentialNames...), cfg.Keys...) {
		n = strings.ToLower(strings.ReplaceAll(n, "-", "_"))
		if n == "" {
			continue
		}
		m.byLast[n[len(n)-1]] = append(m.byLast[n[len(n)-1]], n)
		if len(n) >= 2 {
			t := tail(n)
			m.tails[t/64] |= 1 << (t % 64)
		} else {
			m.short = true
		}
	}
	for _, p := range cfg.KeyPatterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, err
		}
		m.patterns = append(m.patterns, re)
	}
	if len(cfg.AllowedKeys) > 0 {
		m.allowed = make(map[string]struct{}, len(cfg.AllowedKeys))
		for _, k := range cfg.AllowedKeys {
			m.allowed[k] = struct{}{}
		}
	}
	return m, nil
}

// match reports whether key names a credential.
func (m *keyMatcher) match(key string) bool {
	if !m.matchName(key) && !m.matchPattern(key) {
		return false
	}
	_, ok := m.allowed[key]
	return !ok
}

// matchName reports whether a segment of key ends with a name.
func (m *keyMatcher) matchName(key string) bool {
	for {
		i := strings.IndexByte(key, '.')
		if i < 0 {
			return m.matchSegment(key)
		}
		if m.matchSegment(key[:i]) {
			return true
		}
		key = key[i+1:]
	}
}

// matchSegment reports whether seg ends with a name, ignoring ASCII case
// and with '-' equal to '_'.
func (m *keyMatcher) matchSegment(seg string) bool {
	if len(seg) < 2 {
		return m.short && seg != "" && m.matchFold(seg)
	}
	if t := tail(seg); !m.short && m.tails[t/64]&(1<<(t%64)) == 0 {
		return false
	}
	return m.matchFold(seg)
}

// matchFold compares seg with the names that end in its last byte.
func (m *keyMatcher) matchFold(seg string) bool {
	for _, n := range m.byLast[fold(seg[len(seg)-1])] {
		if len(n) <= len(seg) && hasFoldSuffix(seg, n) {
			return true
		}
	}
	return false
}

func (m *keyMatcher) matchPattern(key string) bool {
	for _, re := range m.patterns {
		if re.MatchString(key) {
			return true
		}
	}
	return false
}

// fold returns c in lower case, with '-' as '_'.
func fold(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '-':
		return '_'
	}
	return c
}

// hasFoldSuffix reports whether s ends with the folded name n.
func hasFoldSuffix(s, n string) bool {
	off := len(s) - len(n)
	for i := len(n) - 1; i >= 0; i-- {
		if fold(s[off+i]) != n[i] {
			return false
		}
	}
	return true
}

// holdsCredential reports whether v holds a credential: a string with a
// bearer token or a JWT, or an array or map holding one, or a map with a
// key that names a credential. Bytes are not searched.
func (m *keyMatcher) holdsCredential(v pcommon.Value, depth int) bool {
	// Most values are strings: Str answers them without a type switch.
	if s := v.Str(); s != "" {
		return valueIsCredential(s)
	}
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		if depth >= maxNesting {
			return true
		}
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			if m.holdsCredential(s.At(i), depth+1) {
				return true
			}
		}
	case pcommon.ValueTypeMap:
		if depth >= maxNesting {
			return true
		}
		found := false
		v.Map().Range(func(k string, nv pcommon.Value) bool {
			found = m.match(k) || m.holdsCredential(nv, depth+1)
			return !found
		})
		return found
	}
	return false
}

// valueIsCredential reports whether s holds a bearer token or a JWT.
func valueIsCredential(s string) bool {
	if len(s) < minCredential {
		return false
	}
	return hasBearer(s) || (len(s) >= minJWT && hasJWT(s))
}

// hasJWT reports whether s holds something shaped like a JWS or JWE in
// compact form: a base64url header starting "eyJ" (the encoding of `{"`),
// a dot, a base64url payload and another dot.
func hasJWT(s string) bool {
	for {
		i := strings.Index(s, "eyJ")
		if i < 0 {
			return false
		}
		s = s[i:]
		h := base64urlRun(s)
		if h >= minJWTHeader && h < len(s) && s[h] == '.' {
			p := base64urlRun(s[h+1:])
			if p >= minJWTPayload && h+1+p < len(s) && s[h+1+p] == '.' {
				return true
			}
		}
		// Any later "eyJ" inside this run ends where it ends and fails
		// alike: skip the run, so the scan stays linear.
		s = s[max(h, 3):]
	}
}

// base64urlRun returns the length of the run of base64url characters that
// starts s.
func base64urlRun(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			'0' <= c && c <= '9' || c == '-' || c == '_') {
			return i
		}
	}
	return len(s)
}

// hasBearer reports whether s holds the word "bearer", in any case,
// followed by spaces or tabs and a token68 (RFC 9110 §11.2) of at least
// minBearerToken characters, or of any length when it ends s.
func hasBearer(s string) bool {
	// The next space and tab are looked up again only once passed, so the
	// scan stays linear.
	tab, sp := strings.IndexByte(s, '\t'), strings.IndexByte(s, ' ')
	for off := 0; off < len(s); {
		if tab >= 0 && tab < off {
			tab = nextIndex(s, off, '\t')
		}
		if sp >= 0 && sp < off {
			sp = nextIndex(s, off, ' ')
		}
		i := sp
		if i < 0 || (tab >= 0 && tab < i) {
			i = tab
		}
		if i < 0 {
			return false
		}
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		off = j
		if i < 6 || !strings.EqualFold(s[i-6:i], "bearer") {
			continue
		}
		if i > 6 && isWordByte(s[i-7]) {
			continue
		}
		n := token68Run(s[j:])
		if n >= minBearerToken || (n > 0 && j+n == len(s)) {
			return true
		}
	}
	return false
}

// nextIndex returns the index of the first c in s at or after off, or -1.
func nextIndex(s string, off int, c byte) int {
	i := strings.IndexByte(s[off:], c)
	if i < 0 {
		return -1
	}
	return off + i
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// token68Run returns the length of the token68 that starts s: letters,
// digits, "-._~+/" and then any "=" padding.
func token68Run(s string) int {
	i := 0
	for i < len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
		i++
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i
}
