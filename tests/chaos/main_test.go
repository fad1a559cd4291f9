package chaos_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/tests/harness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { harness.RemoveBuilds() }),
		// sarama's go-metrics meter ticker (pipeline/kafka in the harness's topic creation).
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}
