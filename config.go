// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/gateway"
)

// The default control-plane URLs outside production (Caracal protocol
// §8.2). With CARACAL_ENV=production there are no defaults.
const (
	DefaultSTSURL         = "http://localhost:8080"
	DefaultCoordinatorURL = "http://localhost:4000"
	DefaultGatewayURL     = "http://localhost:8081"
)

// The environment variables of Caracal protocol §8.2.
const (
	envConfig         = "CARACAL_CONFIG"
	envZone           = "CARACAL_ZONE_ID"
	envApplication    = "CARACAL_APPLICATION_ID"
	envSecret         = "CARACAL_APP_CLIENT_SECRET"
	envSecretFile     = "CARACAL_APP_CLIENT_SECRET_FILE"
	envBootstrap      = "CARACAL_BOOTSTRAP_TOKEN"
	envSTSURL         = "CARACAL_STS_URL"
	envCoordinatorURL = "CARACAL_COORDINATOR_URL"
	envGatewayURL     = "CARACAL_GATEWAY_URL"
	envMode           = "CARACAL_ENV"
	envAllowInsecure  = "CARACAL_ALLOW_INSECURE_CONFIG_URLS"
	envDefaultTTL     = "CARACAL_DEFAULT_TTL_SECONDS"
	envResources      = "CARACAL_RESOURCES"
	envResourcesFile  = "CARACAL_RESOURCES_FILE"
	envAppResources   = "CARACAL_APP_RESOURCES"
)

// Limits on what the loaders read.
const (
	// maxProfileBytes caps a caracal.toml; a profile is a dozen lines.
	maxProfileBytes = 64 << 10
	// maxProfileDepth caps the nesting of tables, arrays and dotted keys
	// in a profile. The schema needs 2 ([[credentials]]); the TOML decoder
	// takes time that grows faster than linearly with depth, so deeper
	// input is refused before it is decoded.
	maxProfileDepth = 8
	// maxSecretBytes caps a secret or resources file.
	maxSecretBytes = 64 << 10
	// maxTTLSeconds is the longest session or delegation TTL the
	// coordinator accepts (Caracal protocol §4.3, §4.8).
	maxTTLSeconds = 86400
)

// sourceEnv names the environment as a ConfigError source.
const sourceEnv = "environment"

// settings is what a profile or the environment configures.
type settings struct {
	source         string
	zone, app      string
	secret         func() string // nil without a client secret
	bootstrap      func() string // nil without a bootstrap token
	stsURL         string
	coordinatorURL string
	gatewayURL     string
	defaultTTL     time.Duration
	bindings       []gateway.Binding
	resources      []string
	production     bool
	allowInsecure  bool
}

// getenv reads a variable; empty counts as unset.
func getenv(name string) string { return strings.TrimSpace(os.Getenv(name)) }

// loadEnv reads the identity and every other setting from the CARACAL_*
// variables (Caracal protocol §8.2).
func loadEnv() (settings, error) {
	s := settings{source: sourceEnv, zone: getenv(envZone), app: getenv(envApplication)}
	var errs []error
	if s.zone == "" {
		errs = append(errs, missing(sourceEnv, "zone_id", envZone))
	}
	if s.app == "" {
		errs = append(errs, missing(sourceEnv, "application_id", envApplication))
	}
	errs = append(errs, s.envCredential())
	errs = append(errs, s.fillEnv())
	return s, errors.Join(errs...)
}

// envCredential reads exactly one of the secret, the secret file and the
// bootstrap token.
func (s *settings) envCredential() error {
	secret, file, boot := os.Getenv(envSecret), getenv(envSecretFile), strings.TrimSpace(os.Getenv(envBootstrap))
	n := 0
	for _, v := range []string{secret, file, boot} {
		if v != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return &ConfigError{Source: sourceEnv, Field: "client secret",
			Variable: envSecret + ", " + envSecretFile + " or " + envBootstrap,
			Err:      errors.New("missing: set exactly one")}
	case n > 1:
		return &ConfigError{Source: sourceEnv, Field: "client secret",
			Variable: envSecret + ", " + envSecretFile + " and " + envBootstrap,
			Err:      errors.New("set exactly one of them")}
	case file != "":
		v, err := readSecretFile(file)
		if err != nil {
			return &ConfigError{Source: sourceEnv, Field: "client secret file", Variable: envSecretFile, Err: err}
		}
		s.secret = func() string { return v }
	case boot != "":
		if err := checkBootstrap(boot, time.Now()); err != nil {
			return &ConfigError{Source: sourceEnv, Field: "bootstrap token", Variable: envBootstrap, Err: err}
		}
		s.bootstrap = func() string { return boot }
	default:
		v := strings.TrimSpace(secret)
		if v == "" {
			return &ConfigError{Source: sourceEnv, Field: "client secret", Variable: envSecret,
				Err: errors.New("blank")}
		}
		s.secret = func() string { return v }
	}
	return nil
}

// fillEnv fills the settings the environment may give in every mode:
// URLs and TTL where unset, bindings after the profile's, lifecycle
// resources, and the production flags.
func (s *settings) fillEnv() error {
	var errs []error
	s.production = strings.EqualFold(getenv(envMode), "production")
	s.allowInsecure = strings.EqualFold(getenv(envAllowInsecure), "true")
	for _, u := range []struct {
		dst *string
		env string
	}{{&s.stsURL, envSTSURL}, {&s.coordinatorURL, envCoordinatorURL}, {&s.gatewayURL, envGatewayURL}} {
		if *u.dst == "" {
			*u.dst = getenv(u.env)
		}
	}
	if raw := getenv(envDefaultTTL); s.defaultTTL == 0 && raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 || n > maxTTLSeconds {
			errs = append(errs, &ConfigError{Source: sourceEnv, Field: "default_ttl_seconds", Variable: envDefaultTTL,
				Err: fmt.Errorf("%q is not an integer in 1..%d", raw, maxTTLSeconds)})
		} else {
			s.defaultTTL = time.Duration(n) * time.Second
		}
	}
	if path := getenv(envResourcesFile); path != "" {
		bs, err := readBindingsFile(path)
		if err != nil {
			errs = append(errs, &ConfigError{Source: sourceEnv, Field: "resource bindings", Variable: envResourcesFile,
				Err: err})
		}
		s.bindings = mergeBindings(s.bindings, bs)
	}
	bs, err := parseBindings(getenv(envResources))
	errs = append(errs, err)
	s.bindings = mergeBindings(s.bindings, bs)
	for r := range strings.SplitSeq(getenv(envAppResources), ",") {
		s.resources = appendUnique(s.resources, strings.TrimSpace(r))
	}
	return errors.Join(errs...)
}

// missing reports a required setting that is not set.
func missing(source, field, variable string) error {
	hint := "missing"
	if source != sourceEnv {
		hint = fmt.Sprintf("missing: set %s in the profile (%s applies without %s)", field, variable, envConfig)
	}
	return &ConfigError{Source: source, Field: field, Variable: variable, Err: errors.New(hint)}
}

// finish applies the defaults and checks the URLs (Caracal protocol
// §8.2): absolute http or https URLs with a host; in production, all
// three set, and https unless the host is loopback or
// CARACAL_ALLOW_INSECURE_CONFIG_URLS=true.
func (s *settings) finish() error {
	var errs []error
	for _, u := range []struct {
		dst        *string
		field, env string
		def        string
	}{
		{&s.stsURL, "sts_url", envSTSURL, DefaultSTSURL},
		{&s.coordinatorURL, "coordinator_url", envCoordinatorURL, DefaultCoordinatorURL},
		{&s.gatewayURL, "gateway_url", envGatewayURL, DefaultGatewayURL},
	} {
		if *u.dst == "" {
			if s.production {
				errs = append(errs, &ConfigError{Source: s.source, Field: u.field, Variable: u.env,
					Err: errors.New("required when CARACAL_ENV=production")})
				continue
			}
			*u.dst = u.def
		}
		if err := checkURL(*u.dst, s.production && !s.allowInsecure); err != nil {
			errs = append(errs, &ConfigError{Source: s.source, Field: u.field, Variable: u.env, Err: err})
		}
	}
	for _, b := range s.bindings {
		s.resources = appendUnique(s.resources, b.Resource)
	}
	return errors.Join(errs...)
}

// checkURL checks an absolute http or https URL with a host and no user
// info; strict also requires https unless the host is loopback.
func checkURL(raw string, strict bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("%q is not an absolute http or https URL", raw)
	case u.User != nil:
		return fmt.Errorf("URL of host %q must not carry user info", u.Host)
	case strict && u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("%q must use https in production (or set %s=true)", raw, envAllowInsecure)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseBindings reads CARACAL_RESOURCES: rid=https://prefix entries
// separated by commas. Blank entries are skipped; errors are joined.
func parseBindings(raw string) ([]gateway.Binding, error) {
	var out []gateway.Binding
	var errs []error
	for i, entry := range strings.Split(raw, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, prefix, _ := strings.Cut(entry, "=")
		b := gateway.Binding{Resource: strings.TrimSpace(id), UpstreamPrefix: strings.TrimSpace(prefix)}
		if err := checkBinding(b); err != nil {
			errs = append(errs, &ConfigError{Source: sourceEnv, Field: fmt.Sprintf("entry %d", i+1),
				Variable: envResources, Err: err})
			continue
		}
		out = append(out, b)
	}
	return out, errors.Join(errs...)
}

func checkBinding(b gateway.Binding) error {
	if b.Resource == "" {
		return errors.New("empty resource id")
	}
	if err := checkURL(b.UpstreamPrefix, false); err != nil {
		return fmt.Errorf("upstream prefix of %q: %w", b.Resource, err)
	}
	return nil
}

// readBindingsFile reads CARACAL_RESOURCES_FILE: a JSON object of
// resource id to prefix, or an array of {"resource_id",
// "upstream_prefix"} objects with exactly those keys.
func readBindingsFile(path string) ([]gateway.Binding, error) {
	data, err := readLimited(path, maxSecretBytes)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	var out []gateway.Binding
	if len(data) > 0 && data[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%q: %w", path, err)
		}
		for _, id := range slices.Sorted(maps.Keys(m)) {
			out = append(out, gateway.Binding{Resource: id, UpstreamPrefix: m[id]})
		}
	} else {
		var items []struct {
			ResourceID     *string `json:"resource_id"`
			UpstreamPrefix *string `json:"upstream_prefix"`
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&items); err != nil {
			return nil, fmt.Errorf("%q: %w", path, err)
		}
		for i, it := range items {
			if it.ResourceID == nil || it.UpstreamPrefix == nil {
				return nil, fmt.Errorf("%q: entry %d needs resource_id and upstream_prefix", path, i)
			}
			out = append(out, gateway.Binding{Resource: *it.ResourceID, UpstreamPrefix: *it.UpstreamPrefix})
		}
	}
	var errs []error
	for _, b := range out {
		errs = append(errs, checkBinding(b))
	}
	return out, errors.Join(errs...)
}

// mergeBindings appends more to bs; an entry for a resource already bound
// replaces the earlier one (Caracal protocol §8.2).
func mergeBindings(bs, more []gateway.Binding) []gateway.Binding {
	for _, b := range more {
		if i := slices.IndexFunc(bs, func(o gateway.Binding) bool { return o.Resource == b.Resource }); i >= 0 {
			bs[i] = b
			continue
		}
		bs = append(bs, b)
	}
	return bs
}

func appendUnique(list []string, v string) []string {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// readSecretFile reads a secret from a regular file that only its owner
// may read or write (not checked on Windows). The content, trimmed, must
// not be empty. Errors name the path, never the content.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return "", err
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%q is not a regular file", path)
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("%q has mode %#o: it must be accessible by its owner only", path, fi.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	switch {
	case err != nil:
		return "", err
	case len(data) > maxSecretBytes:
		return "", fmt.Errorf("%q is larger than %d bytes", path, maxSecretBytes)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("%q is empty", path)
	}
	return v, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%q is larger than %d bytes", path, limit)
	}
	return data, err
}

// checkBootstrap refuses a bootstrap token shaped like a JWT whose header
// says alg none or whose exp is past (Caracal protocol §6.5). Opaque
// tokens pass.
func checkBootstrap(tok string, now time.Time) error {
	var c jwt.MapClaims
	// An unknown alg, such as "NONE", is an error that still returns the
	// decoded token; only a token that does not decode is opaque.
	t, _, _ := jwt.NewParser(jwt.WithPaddingAllowed()).ParseUnverified(tok, &c)
	if t == nil {
		return nil // Not a JWT: opaque tokens pass.
	}
	if alg, _ := t.Header["alg"].(string); strings.EqualFold(alg, "none") {
		return errors.New("a JWT with alg none is refused")
	}
	if exp, err := c.GetExpirationTime(); err == nil && exp != nil && exp.Before(now) {
		return errors.New("the token has expired")
	}
	return nil
}

// profile is a caracal.toml (Caracal protocol §8.3).
type profile struct {
	ZoneID              string       `toml:"zone_id"`
	ApplicationID       string       `toml:"application_id"`
	AppClientSecret     string       `toml:"app_client_secret"`
	AppClientSecretFile string       `toml:"app_client_secret_file"`
	STSURL              string       `toml:"sts_url"`
	CoordinatorURL      string       `toml:"coordinator_url"`
	GatewayURL          string       `toml:"gateway_url"`
	DefaultTTLSeconds   int64        `toml:"default_ttl_seconds"`
	Credentials         []credential `toml:"credentials"`
	OptionalCredentials []credential `toml:"optional_credentials"`
}

type credential struct {
	Resource       string `toml:"resource"`
	UpstreamPrefix string `toml:"upstream_prefix"`
}

// loadProfile reads the profile at path, then fills the gaps from the
// environment as loadEnv does, except for the identity.
func loadProfile(path string) (settings, error) {
	s := settings{source: path}
	p, mode, err := decodeProfile(path)
	if err != nil {
		return s, err
	}
	s.zone, s.app = strings.TrimSpace(p.ZoneID), strings.TrimSpace(p.ApplicationID)
	s.stsURL, s.coordinatorURL, s.gatewayURL = p.STSURL, p.CoordinatorURL, p.GatewayURL
	var errs []error
	if s.zone == "" {
		errs = append(errs, missing(path, "zone_id", envZone))
	}
	if s.app == "" {
		errs = append(errs, missing(path, "application_id", envApplication))
	}
	errs = append(errs, s.profileSecret(p, mode))
	switch {
	case p.DefaultTTLSeconds < 0 || p.DefaultTTLSeconds > maxTTLSeconds:
		errs = append(errs, &ConfigError{Source: path, Field: "default_ttl_seconds", Variable: envDefaultTTL,
			Err: fmt.Errorf("%d is not in 1..%d (0 leaves it to the variable)", p.DefaultTTLSeconds, maxTTLSeconds)})
	case p.DefaultTTLSeconds > 0:
		s.defaultTTL = time.Duration(p.DefaultTTLSeconds) * time.Second
	}
	for _, group := range []struct {
		name  string
		items []credential
	}{{"credentials", p.Credentials}, {"optional_credentials", p.OptionalCredentials}} {
		for i, c := range group.items {
			field := fmt.Sprintf("%s[%d]", group.name, i)
			res := strings.TrimSpace(c.Resource)
			if res == "" {
				errs = append(errs, &ConfigError{Source: path, Field: field + ".resource", Err: errors.New("missing")})
				continue
			}
			s.resources = appendUnique(s.resources, res)
			if c.UpstreamPrefix == "" {
				continue
			}
			b := gateway.Binding{Resource: res, UpstreamPrefix: strings.TrimSpace(c.UpstreamPrefix)}
			if err := checkBinding(b); err != nil {
				errs = append(errs, &ConfigError{Source: path, Field: field + ".upstream_prefix", Err: err})
				continue
			}
			s.bindings = mergeBindings(s.bindings, []gateway.Binding{b})
		}
	}
	errs = append(errs, s.fillEnv())
	return s, errors.Join(errs...)
}

// profileSecret takes exactly one of the inline secret and the secret
// file. An inline secret needs a profile only its owner can read.
func (s *settings) profileSecret(p profile, mode os.FileMode) error {
	inline, file := strings.TrimSpace(p.AppClientSecret), strings.TrimSpace(p.AppClientSecretFile)
	switch {
	case inline == "" && file == "":
		return &ConfigError{Source: s.source, Field: "app_client_secret or app_client_secret_file",
			Variable: envSecret + " or " + envSecretFile,
			Err:      fmt.Errorf("missing: set exactly one in the profile (the variables apply without %s)", envConfig)}
	case inline != "" && file != "":
		return &ConfigError{Source: s.source, Field: "app_client_secret and app_client_secret_file",
			Err: errors.New("set exactly one")}
	case inline != "":
		if runtime.GOOS != "windows" && mode.Perm()&0o077 != 0 {
			return &ConfigError{Source: s.source, Field: "app_client_secret",
				Err: fmt.Errorf("the profile has mode %#o: with an inline secret it must be accessible "+
					"by its owner only", mode.Perm())}
		}
		s.secret = func() string { return inline }
	default:
		if !filepath.IsAbs(file) {
			file = filepath.Join(filepath.Dir(s.source), file)
		}
		v, err := readSecretFile(file)
		if err != nil {
			return &ConfigError{Source: s.source, Field: "app_client_secret_file", Err: err}
		}
		s.secret = func() string { return v }
	}
	return nil
}

// decodeProfile reads and decodes the profile at path strictly: a file
// that group or others may write, a file over maxProfileBytes, nesting
// deeper than maxProfileDepth and keys the schema does not list are
// refused. It returns the file's mode too.
func decodeProfile(path string) (profile, os.FileMode, error) {
	var p profile
	fail := func(err error) (profile, os.FileMode, error) {
		return p, 0, &ConfigError{Source: path, Err: err}
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return fail(err)
	case !fi.Mode().IsRegular():
		return fail(errors.New("not a regular file"))
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0:
		return fail(fmt.Errorf("mode %#o: the profile must not be writable by group or others", fi.Mode().Perm()))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxProfileBytes+1))
	switch {
	case err != nil:
		return fail(err)
	case len(data) > maxProfileBytes:
		return fail(fmt.Errorf("larger than %d bytes", maxProfileBytes))
	}
	if err := checkNesting(data); err != nil {
		return fail(err)
	}
	md, err := toml.Decode(string(data), &p)
	if err != nil {
		return fail(tomlError(err))
	}
	var errs []error
	for _, k := range md.Undecoded() {
		msg := "unknown key (caracal.toml has no such setting)"
		if near := nearestKey(k.String()); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		errs = append(errs, &ConfigError{Source: path, Field: k.String(), Err: errors.New(msg)})
	}
	return p, fi.Mode(), errors.Join(errs...)
}

// profileKeys are the keys of caracal.toml, tables included.
var profileKeys = []string{
	"zone_id", "application_id", "app_client_secret", "app_client_secret_file",
	"sts_url", "coordinator_url", "gateway_url", "default_ttl_seconds",
	"credentials", "credentials.resource", "credentials.upstream_prefix",
	"optional_credentials", "optional_credentials.resource", "optional_credentials.upstream_prefix",
}

// nearestKey returns the profile key within two edits of key, if one.
func nearestKey(key string) string {
	if len(key) > 64 {
		return ""
	}
	best, bestD := "", 3
	for _, k := range profileKeys {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance returns the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// tomlError returns a decoding error without input text: a syntax error
// message may quote the value it stopped at, which may be the secret.
func tomlError(err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	msg := pe.Message
	if strings.ContainsAny(msg, `"'`+"`") && !strings.HasPrefix(msg, "Key ") {
		msg = "syntax error"
	}
	return fmt.Errorf("line %d (last key %q): %s", pe.Position.Line, pe.LastKey, msg)
}

// checkNesting refuses TOML nested deeper than maxProfileDepth, counting
// open brackets and braces outside strings and comments, plus the dots of
// the key being read (a table header or a dotted key). It reads data once.
func checkNesting(data []byte) error {
	var stack []byte // open '[' and '{'
	inKey, dots, line := true, 0, 1
	depth := func() int { return len(stack) + dots }
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case '\n':
			line++
			dots = 0
			inKey = len(stack) == 0
		case '#':
			for i < len(data) && data[i] != '\n' {
				i++
			}
			i--
		case '"', '\'':
			end, ok := skipString(data, i)
			if !ok {
				return fmt.Errorf("line %d: unterminated string", line)
			}
			line += bytes.Count(data[i:end], []byte{'\n'})
			i = end - 1
		case '[':
			stack = append(stack, c) // a table header keeps reading a key
		case '{':
			stack = append(stack, c)
			inKey = true
		case ']', '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			dots = 0
		case '=':
			inKey, dots = false, 0
		case ',':
			dots = 0
			inKey = len(stack) > 0 && stack[len(stack)-1] == '{'
		case '.':
			if inKey {
				dots++
			}
		}
		if depth() > maxProfileDepth {
			return fmt.Errorf("line %d: nested deeper than %d levels", line, maxProfileDepth)
		}
	}
	return nil
}

// skipString returns the index after the string starting at data[i]:
// basic or literal, single-line or multi-line.
func skipString(data []byte, i int) (int, bool) {
	q := data[i]
	if bytes.HasPrefix(data[i:], []byte{q, q, q}) {
		for j := i + 3; j < len(data); j++ {
			if q == '"' && data[j] == '\\' {
				j++
				continue
			}
			if bytes.HasPrefix(data[j:], []byte{q, q, q}) {
				end := j + 3
				// Up to two more quotes still belong to the string.
				for n := 0; n < 2 && end < len(data) && data[end] == q; n++ {
					end++
				}
				return end, true
			}
		}
		return 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			if q == '"' {
				j++
			}
		case q:
			return j + 1, true
		case '\n':
			return 0, false
		}
	}
	return 0, false
}
