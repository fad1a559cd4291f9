package conformance

import (
	"os"
	"strings"
	"testing"
)

func endpoints(v string) []string {
	var out []string
	for _, ep := range strings.Split(v, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			out = append(out, ep)
		}
	}
	return out
}

// TestReal runs the suite against the real ArangoDB cluster(s) named by the
// environment (see doc.go). Fault tests are skipped there.
func TestReal(t *testing.T) {
	eps := endpoints(os.Getenv("ARANGODB_ENDPOINTS"))
	secret := os.Getenv("ARANGODB_JWT_SECRET")
	if len(eps) == 0 || secret == "" {
		t.Skip("no real cluster: set ARANGODB_ENDPOINTS (comma-separated Coordinator URLs) and ARANGODB_JWT_SECRET " +
			"(optionally ARANGODB_USERNAME/ARANGODB_PASSWORD, and ARANGODB_B_ENDPOINTS/ARANGODB_B_JWT_SECRET for a target cluster)")
	}
	a := Cluster{Name: "real", Endpoints: eps, JWTSecret: secret,
		Username: os.Getenv("ARANGODB_USERNAME"), Password: os.Getenv("ARANGODB_PASSWORD")}
	if beps := endpoints(os.Getenv("ARANGODB_B_ENDPOINTS")); len(beps) > 0 {
		bsecret := os.Getenv("ARANGODB_B_JWT_SECRET")
		if bsecret == "" {
			t.Fatal("ARANGODB_B_ENDPOINTS is set but ARANGODB_B_JWT_SECRET is not: the target tests need B's JWT secret")
		}
		a.B = &Cluster{Name: "real B", Endpoints: beps, JWTSecret: bsecret}
	}
	Run(t, func(*testing.T) Cluster { return a })
}
