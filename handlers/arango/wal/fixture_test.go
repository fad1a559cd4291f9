package wal

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/dc2dc/dc2dc/tests/arangosim/fixtures"
)

// fixture is a recorded ArangoDB answer from ../shared/fixtures.
type fixture struct {
	status int
	header http.Header
	body   []byte
}

func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	dir, err := fixtures.Dir()
	if err != nil {
		t.Skipf("fixtures folder ../shared/fixtures/arangodb-3.12 is absent: skipping recorded-answer tests (%v)", err)
	}
	fx, err := fixtures.ParseFile(filepath.Join(dir, name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fx.Responses) == 0 {
		t.Fatalf("%s: no response section", name)
	}
	r := fx.Responses[0]
	return fixture{status: r.Status, header: r.Header, body: r.Body}
}
