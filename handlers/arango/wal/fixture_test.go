package wal

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fixture is a recorded ArangoDB answer from ../shared/fixtures.
type fixture struct {
	status int
	header http.Header
	body   []byte
}

func fixtureDir(t testing.TB) string {
	t.Helper()
	for _, d := range []string{"../../../../shared/fixtures/arangodb-3.12", "/work/shared/fixtures/arangodb-3.12"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skip("fixtures folder ../shared/fixtures/arangodb-3.12 is absent: skipping recorded-answer tests")
	return ""
}

func loadFixture(t testing.TB, name string) fixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir(t), name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, resp, ok := bytes.Cut(raw, []byte("## response\n"))
	if !ok {
		t.Fatalf("%s: no response section", name)
	}
	head, body, _ := bytes.Cut(resp, []byte("\n\n"))
	sc := bufio.NewScanner(bytes.NewReader(head))
	f := fixture{header: http.Header{}, body: body}
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			parts := strings.Fields(line)
			f.status, _ = strconv.Atoi(parts[1])
			first = false
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		f.header.Add(k, strings.TrimSpace(v))
	}
	return f
}
