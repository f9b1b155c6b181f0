// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otelcaracal/otelcaracal"
	"github.com/otelcaracal/otelcaracal/gateway"
)

const fileSecret = "secret-from-file"

// profileDir copies testdata/name into a fresh directory with mode 0600,
// next to an owner-only secret.txt, and returns the copy's path.
func profileDir(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "secret.txt", fileSecret+"\n", 0o600)
	return writeFile(t, dir, name, string(data), 0o600)
}

func TestFromConfig(t *testing.T) {
	tests := []struct {
		name string
		file string
		// want are substrings of the error; none means success.
		want []string
	}{
		{name: "complete profile", file: "profile.toml"},
		{name: "typo key", file: "typo.toml",
			want: []string{`gatway_url`, "unknown key", `did you mean "gateway_url"?`}},
		{name: "unknown key in a table", file: "unknown_nested.toml",
			want: []string{"credentials.upstream_prefx", "unknown key", `"credentials.upstream_prefix"`}},
		{name: "negative TTL", file: "negative_ttl.toml", want: []string{"default_ttl_seconds", "-1"}},
		{name: "missing zone", file: "missing_zone.toml", want: []string{"zone_id", "CARACAL_ZONE_ID"}},
		{name: "two secrets", file: "both_secrets.toml",
			want: []string{"app_client_secret and app_client_secret_file"}},
		{name: "wrong type", file: "wrong_type.toml", want: []string{"default_ttl_seconds"}},
		{name: "syntax error next to a secret", file: "unquoted_secret.toml",
			want: []string{"line 3", "app_client_secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			c, err := otelcaracal.FromConfig(profileDir(t, tt.file))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				checkProfileClient(t, c)
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, otelcaracal.ErrConfig) {
				t.Errorf("%v does not match ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			noSecrets(t, err.Error(), "inline-secret-value", "s3cr3t-unquoted-value", fileSecret)
		})
	}
}

func checkProfileClient(t *testing.T, c *otelcaracal.Client) {
	t.Helper()
	if c.ZoneID() != "zone-1" || c.ApplicationID() != "app-1" {
		t.Errorf("identity %q/%q", c.ZoneID(), c.ApplicationID())
	}
	if c.GatewayURL() != "https://gateway.example.com/base" {
		t.Errorf("gateway %q", c.GatewayURL())
	}
	want := []gateway.Binding{{Resource: "resource://pipernet", UpstreamPrefix: "https://api.pipernet.example/v1"}}
	if got := c.Bindings(); !slices.Equal(got, want) {
		t.Errorf("bindings %v, want %v", got, want)
	}
}

func TestFromConfigFileChecks(t *testing.T) {
	const body = "zone_id = 'z'\napplication_id = 'a'\n"
	tests := []struct {
		name    string
		profile string
		mode    os.FileMode
		secret  os.FileMode
		want    string
	}{
		{name: "inline secret, owner only", profile: body + "app_client_secret = 'inline'\n", mode: 0o600},
		{name: "inline secret, readable by others", profile: body + "app_client_secret = 'inline'\n",
			mode: 0o644, want: "accessible by its owner only"},
		{name: "group-writable profile", profile: body + "app_client_secret_file = 'secret.txt'\n",
			mode: 0o664, want: "writable by group or others"},
		{name: "secret file readable by others", profile: body + "app_client_secret_file = 'secret.txt'\n",
			mode: 0o600, secret: 0o644, want: "owner only"},
		{name: "no secret", profile: body, mode: 0o600, want: "app_client_secret or app_client_secret_file"},
		{name: "credential without resource", profile: body + "app_client_secret = 'x'\n[[credentials]]\n" +
			"upstream_prefix = 'https://a.example'\n", mode: 0o600, want: "credentials[0].resource"},
		{name: "bad upstream prefix", profile: body + "app_client_secret = 'x'\n[[credentials]]\n" +
			"resource = 'r'\nupstream_prefix = 'ftp://a'\n", mode: 0o600, want: "credentials[0].upstream_prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			dir := t.TempDir()
			if tt.secret == 0 {
				tt.secret = 0o600
			}
			writeFile(t, dir, "secret.txt", fileSecret, tt.secret)
			_, err := otelcaracal.FromConfig(writeFile(t, dir, "caracal.toml", tt.profile, tt.mode))
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestFromConfigDeepNesting feeds profiles nested thousands of levels
// deep, which the TOML decoder would take seconds or minutes over.
func TestFromConfigDeepNesting(t *testing.T) {
	const n = 5000
	tests := []struct {
		name, doc string
	}{
		{"table header", "[" + strings.Repeat("a.", n) + "a]\nx = 1\n"},
		{"dotted key", strings.Repeat("a.", n) + "a = 1\n"},
		{"arrays", "x = " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n"},
		{"inline tables", "x = " + strings.Repeat("{a = ", n) + "1" + strings.Repeat("}", n) + "\n"},
		{"tables of arrays", strings.Repeat("[", n) + "a" + strings.Repeat("]", n) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			path := writeFile(t, t.TempDir(), "caracal.toml", tt.doc, 0o600)
			start := time.Now()
			_, err := otelcaracal.FromConfig(path)
			if err == nil || !strings.Contains(err.Error(), "nested deeper") {
				t.Fatalf("error %v, want a nesting error", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("refused after %v", d)
			}
		})
	}
}

func TestFromConfigNestingInStrings(t *testing.T) {
	clearEnv(t)
	// Brackets and dots inside strings and comments are not nesting.
	doc := "zone_id = 'z' # [[[[[[[[[[[[ a.b.c.d.e.f.g.h.i\n" +
		"application_id = \"a.b.c.d.e.f.g.h.i.j[[[[[[[[[[\"\n" +
		"app_client_secret = '''x.y.z[[[[[[[[[[[[['''\n" +
		"[[credentials]]\nresource = \"resource://a.b.c.d.e.f.g.h.i.j\"\n"
	c, err := otelcaracal.FromConfig(writeFile(t, t.TempDir(), "caracal.toml", doc, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if c.ApplicationID() != "a.b.c.d.e.f.g.h.i.j[[[[[[[[[[" {
		t.Errorf("application %q", c.ApplicationID())
	}
}

func TestFromConfigEnvironmentFillsGaps(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	resFile := writeFile(t, dir, "resources.json",
		`{"resource://pipernet":"https://file.example/p","resource://files":"https://file.example/f"}`, 0o600)
	t.Setenv("CARACAL_ZONE_ID", "env-zone") // identity variables are not read in profile mode
	t.Setenv("CARACAL_GATEWAY_URL", "https://env-gateway.example")
	t.Setenv("CARACAL_RESOURCES_FILE", resFile)
	t.Setenv("CARACAL_RESOURCES", "resource://files=https://env.example/f")
	path := writeFile(t, dir, "caracal.toml", "zone_id = 'z'\napplication_id = 'a'\napp_client_secret = 'x'\n"+
		"[[credentials]]\nresource = 'resource://pipernet'\nupstream_prefix = 'https://profile.example/p'\n", 0o600)
	c, err := otelcaracal.FromConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.ZoneID() != "z" || c.GatewayURL() != "https://env-gateway.example" {
		t.Errorf("zone %q, gateway %q", c.ZoneID(), c.GatewayURL())
	}
	// Profile first, then the file, then the variable; later entries for
	// a resource replace earlier ones.
	want := []gateway.Binding{
		{Resource: "resource://pipernet", UpstreamPrefix: "https://file.example/p"},
		{Resource: "resource://files", UpstreamPrefix: "https://env.example/f"},
	}
	if got := c.Bindings(); !slices.Equal(got, want) {
		t.Errorf("bindings %v, want %v", got, want)
	}
}

func TestNew(t *testing.T) {
	t.Run("profile named by CARACAL_CONFIG", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("CARACAL_CONFIG", profileDir(t, "profile.toml"))
		t.Setenv("CARACAL_ZONE_ID", "ignored")
		c, err := otelcaracal.New()
		if err != nil {
			t.Fatal(err)
		}
		checkProfileClient(t, c)
	})
	t.Run("missing profile is an error", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("CARACAL_CONFIG", filepath.Join(t.TempDir(), "absent.toml"))
		t.Setenv("CARACAL_ZONE_ID", "z")
		t.Setenv("CARACAL_APPLICATION_ID", "a")
		t.Setenv("CARACAL_APP_CLIENT_SECRET", "s")
		if _, err := otelcaracal.New(); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, otelcaracal.ErrConfig) {
			t.Fatalf("error %v, want a missing-file config error", err)
		}
	})
	t.Run("variables without CARACAL_CONFIG", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("CARACAL_ZONE_ID", "z")
		t.Setenv("CARACAL_APPLICATION_ID", "a")
		t.Setenv("CARACAL_APP_CLIENT_SECRET", "s")
		c, err := otelcaracal.New()
		if err != nil {
			t.Fatal(err)
		}
		if c.ZoneID() != "z" || c.GatewayURL() != otelcaracal.DefaultGatewayURL {
			t.Errorf("zone %q, gateway %q", c.ZoneID(), c.GatewayURL())
		}
	})
}

// jwt returns an unsigned JWT with the given header and claims JSON.
func jwt(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + ".c2ln"
}

func TestFromEnv(t *testing.T) {
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "secret", fileSecret, 0o600)
	openSecretFile := writeFile(t, dir, "open-secret", fileSecret, 0o644)
	emptySecretFile := writeFile(t, dir, "empty-secret", " \n", 0o600)
	arrayFile := writeFile(t, dir, "array.json",
		`[{"resource_id":"resource://a","upstream_prefix":"https://a.example/x"}]`, 0o600)
	strictArrayFile := writeFile(t, dir, "strict.json",
		`[{"resource_id":"resource://a","upstream_prefix":"https://a.example","extra":1}]`, 0o600)
	identity := map[string]string{
		"CARACAL_ZONE_ID": "z", "CARACAL_APPLICATION_ID": "a", "CARACAL_APP_CLIENT_SECRET": "env-secret",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range identity {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string // error substrings; none means success
		ok   func(*testing.T, *otelcaracal.Client)
	}{
		{name: "client secret", env: identity, ok: func(t *testing.T, c *otelcaracal.Client) {
			if c.ZoneID() != "z" || c.ApplicationID() != "a" || c.GatewayURL() != otelcaracal.DefaultGatewayURL {
				t.Errorf("client %q %q %q", c.ZoneID(), c.ApplicationID(), c.GatewayURL())
			}
		}},
		{name: "missing zone", env: with("CARACAL_ZONE_ID", ""), want: []string{"zone_id", "CARACAL_ZONE_ID"}},
		{name: "missing application", env: with("CARACAL_APPLICATION_ID", ""),
			want: []string{"application_id", "CARACAL_APPLICATION_ID"}},
		{name: "no credential", env: with("CARACAL_APP_CLIENT_SECRET", ""),
			want: []string{"CARACAL_APP_CLIENT_SECRET", "CARACAL_APP_CLIENT_SECRET_FILE", "CARACAL_BOOTSTRAP_TOKEN"}},
		{name: "secret and bootstrap token", env: with("CARACAL_BOOTSTRAP_TOKEN", "opaque"),
			want: []string{"exactly one"}},
		{name: "secret file", env: with("CARACAL_APP_CLIENT_SECRET", "", "CARACAL_APP_CLIENT_SECRET_FILE", secretFile)},
		{name: "secret file open to others", env: with("CARACAL_APP_CLIENT_SECRET", "",
			"CARACAL_APP_CLIENT_SECRET_FILE", openSecretFile), want: []string{"owner only"}},
		{name: "empty secret file", env: with("CARACAL_APP_CLIENT_SECRET", "",
			"CARACAL_APP_CLIENT_SECRET_FILE", emptySecretFile), want: []string{"empty"}},
		{name: "opaque bootstrap token", env: with("CARACAL_APP_CLIENT_SECRET", "",
			"CARACAL_BOOTSTRAP_TOKEN", "opaque-token")},
		{name: "bootstrap token alg none", env: with("CARACAL_APP_CLIENT_SECRET", "",
			"CARACAL_BOOTSTRAP_TOKEN", jwt(`{"alg":"NONE"}`, `{}`)), want: []string{"alg none"}},
		{name: "expired bootstrap token", env: with("CARACAL_APP_CLIENT_SECRET", "",
			"CARACAL_BOOTSTRAP_TOKEN", jwt(`{"alg":"ES256"}`, `{"exp":1000}`)), want: []string{"expired"}},
		{name: "negative TTL", env: with("CARACAL_DEFAULT_TTL_SECONDS", "-5"),
			want: []string{"CARACAL_DEFAULT_TTL_SECONDS", `"-5"`}},
		{name: "TTL not a number", env: with("CARACAL_DEFAULT_TTL_SECONDS", "ten"),
			want: []string{"CARACAL_DEFAULT_TTL_SECONDS"}},
		{name: "bindings, errors joined", env: with("CARACAL_RESOURCES", "r1=https://ok.example, =https://x.example,"+
			"r3=not-a-url,,"), want: []string{"entry 2", "entry 3", "empty resource id", `"not-a-url"`}},
		{name: "bindings file, array", env: with("CARACAL_RESOURCES_FILE", arrayFile),
			ok: func(t *testing.T, c *otelcaracal.Client) {
				if b := c.Bindings(); len(b) != 1 || b[0].Resource != "resource://a" {
					t.Errorf("bindings %v", b)
				}
			}},
		{name: "bindings file, unknown key", env: with("CARACAL_RESOURCES_FILE", strictArrayFile),
			want: []string{"extra"}},
		{name: "production needs the URLs", env: with("CARACAL_ENV", "production"),
			want: []string{"CARACAL_STS_URL", "CARACAL_COORDINATOR_URL", "CARACAL_GATEWAY_URL"}},
		{name: "production refuses plaintext", env: with("CARACAL_ENV", "production",
			"CARACAL_STS_URL", "http://sts.example", "CARACAL_COORDINATOR_URL", "https://c.example",
			"CARACAL_GATEWAY_URL", "http://127.0.0.1:8081"), want: []string{"sts_url", "https"}},
		{name: "production, plaintext allowed", env: with("CARACAL_ENV", "production",
			"CARACAL_ALLOW_INSECURE_CONFIG_URLS", "true", "CARACAL_STS_URL", "http://sts.example",
			"CARACAL_COORDINATOR_URL", "https://c.example", "CARACAL_GATEWAY_URL", "http://localhost:8081")},
		{name: "URL without scheme", env: with("CARACAL_STS_URL", "sts.example"), want: []string{"sts_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := otelcaracal.FromEnv()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if tt.ok != nil {
					tt.ok(t, c)
				}
				return
			}
			if !errors.Is(err, otelcaracal.ErrConfig) {
				t.Fatalf("error %v, want ErrConfig", err)
			}
			var ce *otelcaracal.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("%v has no *ConfigError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			noSecrets(t, err.Error(), "env-secret", fileSecret)
		})
	}
}

func TestFromClientSecret(t *testing.T) {
	clearEnv(t)
	_, err := otelcaracal.FromClientSecret("", "app", " ")
	for _, w := range []string{"zone_id", "client secret"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %s", err, w)
		}
	}
	c, err := otelcaracal.FromClientSecret("z", "app", "s",
		otelcaracal.WithGatewayURL("http://127.0.0.1:9/gw"), otelcaracal.WithDefaultTTL(90*time.Second),
		otelcaracal.WithBindings(gateway.Binding{Resource: "r", UpstreamPrefix: "http://127.0.0.1:9/up"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.GatewayURL() != "http://127.0.0.1:9/gw" || len(c.Bindings()) != 1 {
		t.Errorf("gateway %q, bindings %v", c.GatewayURL(), c.Bindings())
	}
	_, err = otelcaracal.FromClientSecret("z", "app", "s", otelcaracal.WithDefaultTTL(1500*time.Millisecond))
	if err == nil {
		t.Error("a TTL that is not whole seconds was accepted")
	}
}
