// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcaracal/otelcaracal/collector/caracalprocessor"
)

// createTraces creates a processor with cfg and nop settings.
func createTraces(cfg *caracalprocessor.Config) (processor.Traces, error) {
	return caracalprocessor.NewFactory().CreateTraces(context.Background(),
		processortest.NewNopSettings(caracalprocessor.Type), cfg, consumertest.NewNop())
}

func TestFactory(t *testing.T) {
	f := caracalprocessor.NewFactory()
	if got := f.Type().String(); got != "caracal" {
		t.Errorf("Type = %q, want caracal", got)
	}
	if got := f.TracesStability(); got != caracalprocessor.TracesStability {
		t.Errorf("TracesStability = %v", got)
	}
	if err := componenttest.CheckConfigStruct(f.CreateDefaultConfig()); err != nil {
		t.Errorf("CheckConfigStruct: %v", err)
	}
	if _, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(caracalprocessor.Type),
		f.CreateDefaultConfig(), consumertest.NewNop()); err == nil {
		t.Error("CreateMetrics succeeded: the processor is for traces only")
	}
}

// TestLifecycleLogs checks that start and stop are logged through the
// settings' logger, with the configuration's shape and nothing else.
func TestLifecycleLogs(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	set := processortest.NewNopSettings(caracalprocessor.Type)
	set.Logger = zap.New(core)
	p := newProcessor(t, set, trustingConfig("tool-api"), new(consumertest.TracesSink))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range logs.All() {
		msgs = append(msgs, e.Message)
	}
	want := []string{"Caracal processor started", "Caracal processor stopped"}
	if len(msgs) != len(want) || msgs[0] != want[0] || msgs[1] != want[1] {
		t.Errorf("logged %q, want %q", msgs, want)
	}
	if got := logs.All()[0].ContextMap()["trusted_services"]; got == nil {
		t.Errorf("start log lacks trusted_services: %v", logs.All()[0].ContextMap())
	}
}
