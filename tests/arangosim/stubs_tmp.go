package arangosim

import "errors"

type persister struct{}

func openPersister(c *Cluster, dir string) (*persister, bool, error) {
	return nil, false, errors.New("arangosim: DataDir is not supported yet")
}
func (p *persister) attach()             {}
func (p *persister) close()              {}
func (c *Cluster) persistCatalog()       {}
func (c *Cluster) persistCatalogLocked() {}

func (p *persister) truncateReplica(s *Server, sh *Shard) {}
func (p *persister) saveChanges(s *Server, chs []change)  {}
func (p *persister) pruneWAL(s *Server, upTo uint64)      {}
