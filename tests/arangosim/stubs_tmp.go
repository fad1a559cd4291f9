package arangosim

import (
	"context"
	"errors"
	"net/http"
	"sync"
)

type trxManager struct{ c *Cluster }

func newTrxManager(c *Cluster) *trxManager   { return &trxManager{c: c} }
func (t *trxManager) dropDatabase(db string) {}

type persister struct{}

func openPersister(c *Cluster, dir string) (*persister, bool, error) {
	return nil, false, errors.New("arangosim: DataDir is not supported yet")
}
func (p *persister) attach()             {}
func (p *persister) close()              {}
func (c *Cluster) persistCatalog()       {}
func (c *Cluster) persistCatalogLocked() {}
func (c *Cluster) ensureRootUser() error { return nil }

type faultSet struct{ mu sync.Mutex }

func (f *faultSet) apply(ctx context.Context, w http.ResponseWriter, path string) bool { return false }
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request)                  {}

type tailerRegistry struct{ mu sync.Mutex }

func (s *Server) setupRoutes() {
	for _, f := range routeSetups {
		f(s)
	}
}
