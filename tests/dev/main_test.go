package dev_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/tests/harness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { harness.RemoveBuilds() }))
}
