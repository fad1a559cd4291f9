package arangosim

import "net/http"

// setupRoutes registers the arangod API of the server's role, then every routeSetups hook.
func (s *Server) setupRoutes() {
	// Both roles.
	s.Handle("GET /_api/version", AccessUser, handleVersion)
	s.Handle("GET /_admin/server/role", AccessUser, handleServerRole)
	s.Handle("GET /_admin/server/id", AccessUser, handleServerID)
	s.Handle("GET /_admin/status", AccessUser, handleAdminStatus)
	s.Handle("GET /_admin/server/mode", AccessUser, handleGetMode)
	s.Handle("PUT /_admin/server/mode", AccessUser, handlePutMode)
	s.Handle("POST /_open/auth", AccessOpen, handleOpenAuth)
	s.Handle("GET /_admin/server/availability", AccessUser, func(w http.ResponseWriter, r *Request) {
		mode := "default"
		if r.Server.c.readOnly.Load() {
			mode = "readonly"
		}
		writeRaw(w, http.StatusOK, obj("mode", mode))
	})
	s.Handle("GET /_api/database/current", AccessUser, handleDatabaseCurrent)
	s.Handle("GET /_api/replication/logger-state", AccessUser, handleLoggerState)
	s.Handle("GET /_api/engine", AccessUser, func(w http.ResponseWriter, r *Request) {
		writeRaw(w, http.StatusOK, []byte(`{"name":"rocksdb","supports":{"indexes":["primary","edge","hash","skiplist","ttl","persistent","geo","fulltext","mdi","mdi-prefixed","inverted"],"aliases":{"indexes":{"hash":"persistent","skiplist":"persistent","zkd":"mdi"}}},"endianness":"big"}`))
	})
	if s.Role == RoleDBServer {
		s.Handle("GET /_api/wal/tail", AccessSuperuser, handleWalTail)
		s.Handle("PUT /_api/wal/tail", AccessSuperuser, handleWalTail)
		s.Handle("GET /_api/wal/range", AccessSuperuser, handleWalRange)
		s.Handle("GET /_api/wal/lastTick", AccessSuperuser, handleWalLastTick)
		s.Handle("GET /_api/wal/open-transactions", AccessSuperuser, handleWalOpenTrx)
		s.Handle("/_api/wal/", AccessSuperuser, handleWalBadPath)
		s.Handle("GET /_api/cluster/endpoints", AccessUser, func(w http.ResponseWriter, r *Request) {
			WriteError(w, http.StatusNotImplemented, errNumNotImplemented, "this API is only available on coordinators")
		})
	} else {
		s.setupCoordinatorRoutes()
	}
	for _, f := range routeSetups {
		f(s)
	}
}

func (s *Server) setupCoordinatorRoutes() {
	s.Handle("/_api/wal/", AccessUser, handleWalOnCoordinator)
	s.Handle("GET /_admin/cluster/health", AccessUser, handleClusterHealth)
	s.Handle("GET /_admin/cluster/shardDistribution", AccessUser, handleShardDistribution)
	s.Handle("POST /_admin/cluster/moveShard", AccessUser, handleMoveShard)
	s.Handle("GET /_admin/cluster/numberOfServers", AccessUser, handleNumberOfServers)
	s.Handle("POST /_admin/cluster/resignLeadership", AccessUser, handleServerJob((*Cluster).ResignLeadership))
	s.Handle("POST /_admin/cluster/cleanOutServer", AccessUser, handleServerJob((*Cluster).CleanOutServer))
	s.Handle("GET /_api/cluster/endpoints", AccessUser, handleClusterEndpoints)
	s.Handle("GET /_api/replication/clusterInventory", AccessUser, handleClusterInventory)

	s.Handle("GET /_api/database", AccessUser, handleDatabaseList)
	s.Handle("GET /_api/database/user", AccessUser, handleDatabaseUser)
	s.Handle("POST /_api/database", AccessUser, handleDatabaseCreate)
	s.Handle("DELETE /_api/database/{name}", AccessUser, handleDatabaseDrop)

	s.Handle("GET /_api/collection", AccessUser, handleCollectionList)
	s.Handle("POST /_api/collection", AccessUser, handleCollectionCreate)
	s.Handle("GET /_api/collection/{name}", AccessUser, handleCollectionGet)
	s.Handle("GET /_api/collection/{name}/{what}", AccessUser, handleCollectionGetSub)
	s.Handle("PUT /_api/collection/{name}/{what}", AccessUser, handleCollectionPutSub)
	s.Handle("DELETE /_api/collection/{name}", AccessUser, handleCollectionDrop)

	s.Handle("GET /_api/document/{coll}/{key}", AccessUser, handleDocumentRead)
	s.Handle("HEAD /_api/document/{coll}/{key}", AccessUser, handleDocumentRead)
	s.Handle("POST /_api/document/{coll}", AccessUser, handleDocumentInsert)
	s.Handle("PUT /_api/document/{coll}", AccessUser, handleDocumentReplaceMany)
	s.Handle("PATCH /_api/document/{coll}", AccessUser, handleDocumentUpdateMany)
	s.Handle("DELETE /_api/document/{coll}", AccessUser, handleDocumentRemoveMany)
	s.Handle("PUT /_api/document/{coll}/{key}", AccessUser, handleDocumentReplaceOne)
	s.Handle("PATCH /_api/document/{coll}/{key}", AccessUser, handleDocumentUpdateOne)
	s.Handle("DELETE /_api/document/{coll}/{key}", AccessUser, handleDocumentRemoveOne)
	s.Handle("POST /_api/import", AccessUser, handleImport)

	s.Handle("GET /_api/index", AccessUser, handleIndexList)
	s.Handle("POST /_api/index", AccessUser, handleIndexCreate)
	s.Handle("GET /_api/index/{coll}/{id}", AccessUser, handleIndexGet)
	s.Handle("DELETE /_api/index/{coll}/{id}", AccessUser, handleIndexDrop)

	s.setupExtraCoordinatorRoutes()
}
