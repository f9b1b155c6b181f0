// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcaracal/otelcaracal/collector/caracalprocessor"
)

// loadConfig reads the configuration id of testdata/config.yaml over the
// defaults.
func loadConfig(t *testing.T, id component.ID) *caracalprocessor.Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub(id.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	return cfg
}

func TestLoadConfig(t *testing.T) {
	all := defaultConfig()
	all.Credentials.Action = caracalprocessor.ActionMask
	all.Credentials.Mask = "***"
	all.Credentials.Keys = []string{"session_secret", "x-internal-auth"}
	all.Credentials.KeyPatterns = []string{`^app\.internal\..*\.key$`}
	all.Credentials.AllowedKeys = []string{"gen_ai.usage.token"}
	all.Attribution.TrustedServices = []string{"research-agent", "tool-api"}
	all.Attribution.UntrustedClaims = caracalprocessor.ClaimsDrop
	all.Chains.Enabled = false

	tests := []struct {
		name string
		id   component.ID
		want *caracalprocessor.Config
	}{
		{name: "defaults", id: component.NewID(caracalprocessor.Type), want: defaultConfig()},
		{name: "all fields", id: component.NewIDWithName(caracalprocessor.Type, "all"), want: all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadConfig(t, tt.id)
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := defaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	want := struct {
		action, mask, untrusted string
		chains                  bool
	}{caracalprocessor.ActionDrop, caracalprocessor.DefaultMask, caracalprocessor.ClaimsFlag, true}
	if cfg.Credentials.Action != want.action || cfg.Credentials.Mask != want.mask ||
		cfg.Attribution.UntrustedClaims != want.untrusted || cfg.Chains.Enabled != want.chains ||
		len(cfg.Attribution.TrustedServices) != 0 {
		t.Errorf("defaults = %+v", cfg)
	}
}

// TestConfigErrors checks that each invalid field is reported, named by
// its path, both by Validate and when the processor is created.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		id     string
		fields []string
	}{
		{
			name: "invalid",
			id:   "invalid",
			fields: []string{
				"credentials::action:",
				"credentials::keys::0:",
				"credentials::keys::1:",
				"credentials::key_patterns::0:",
				"credentials::allowed_keys::0:",
				"attribution::trusted_services::0:",
				"attribution::untrusted_claims:",
			},
		},
		{name: "mask looks like a credential", id: "mask_is_credential", fields: []string{"credentials::mask:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, component.NewIDWithName(caracalprocessor.Type, tt.id))
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate accepted an invalid configuration")
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("Validate error %q does not name %q", err, f)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.fields) {
				t.Errorf("Validate reported %d errors, want %d: %v", n, len(tt.fields), err)
			}
			if got := confmap.Validate(cfg); got == nil {
				t.Error("confmap.Validate, as the Collector runs it at start, accepted it")
			}
			if _, err := createTraces(cfg); err == nil {
				t.Error("CreateTraces accepted an invalid configuration")
			}
		})
	}
}

// TestConfigNoSecretInErrors checks that a rejected mask is not quoted.
func TestConfigNoSecretInErrors(t *testing.T) {
	cfg := defaultConfig()
	cfg.Credentials.Action = caracalprocessor.ActionMask
	cfg.Credentials.Mask = "Bearer abcdefghijklmnop"
	err := cfg.Validate()
	if err == nil || strings.Contains(err.Error(), "abcdefghijklmnop") {
		t.Errorf("Validate = %v, want an error that does not quote the mask", err)
	}
}
