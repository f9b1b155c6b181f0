// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Command otelcol-caracal is an OpenTelemetry Collector with the caracal
// processor: an OTLP receiver; the caracal, groupbytrace, batch and
// memory_limiter processors; and the debug, OTLP (gRPC) and OTLP/HTTP
// exporters.
//
//	go run ./cmd/otelcol-caracal --config cmd/otelcol-caracal/config.yaml
//
// run from the collector folder, starts it with the example configuration:
// OTLP in on 127.0.0.1:4317 and :4318, traces out over OTLP to the
// endpoint in CARACAL_EXPORT_ENDPOINT (default 127.0.0.1:14317).
package main

import (
	"fmt"
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// version is the version the distribution reports.
const version = "0.1.0-dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "otelcol-caracal:", err)
		os.Exit(1)
	}
}

// run runs the Collector command with args.
func run(args []string) error {
	cmd := otelcol.NewCommand(settings())
	cmd.SetArgs(args)
	return cmd.Execute()
}

// settings returns the settings of the distribution.
func settings() otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol-caracal",
			Description: "OpenTelemetry Collector with Caracal delegation processing",
			Version:     version,
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
	}
}
