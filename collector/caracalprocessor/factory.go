// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor // import "github.com/otelcaracal/otelcaracal/collector/caracalprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

// ScopeName is the instrumentation scope of the processor's metrics.
const ScopeName = "github.com/otelcaracal/otelcaracal/collector/caracalprocessor"

// Type is the component type of the processor, "caracal", as it is named
// in a Collector configuration.
var Type = component.MustNewType("caracal")

// TracesStability is the stability level of the traces processor.
const TracesStability = component.StabilityLevelAlpha

// NewFactory returns the factory of the caracal processor, a traces
// processor. It is the only way to construct one.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, TracesStability),
	)
}

// createDefaultConfig returns the defaults: credentials dropped, no
// trusted service, untrusted claims flagged, chains completed.
func createDefaultConfig() component.Config {
	return &Config{
		Credentials: CredentialsConfig{
			Action: ActionDrop,
			Mask:   DefaultMask,
		},
		Attribution: AttributionConfig{
			UntrustedClaims: ClaimsFlag,
		},
		Chains: ChainsConfig{
			Enabled: true,
		},
	}
}

// createTraces compiles cfg into a processor: everything that can fail
// fails here, so that processing a batch never does.
func createTraces(
	ctx context.Context,
	set processor.Settings,
	cfg component.Config,
	next consumer.Traces,
) (processor.Traces, error) {
	p, err := newCaracalProcessor(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(
		ctx,
		set,
		cfg,
		next,
		p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown),
	)
}
