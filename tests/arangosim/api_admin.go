package arangosim

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"
)

const arangoVersion = "3.12.10"

func nowString() string { return time.Now().UTC().Format("2006-01-02T15:04:05Z") }

func handleVersion(w http.ResponseWriter, r *Request) {
	fs := []field{{"server", quoteJSON("arango")}, {"license", quoteJSON("enterprise")}, {"version", quoteJSON(arangoVersion)}}
	if r.QueryBool("details", false) {
		role := "COORDINATOR"
		if r.Server.Role == RoleDBServer {
			role = "PRIMARY"
		}
		var d []field
		for i := 0; i+1 < len(versionDetails); i += 2 {
			d = append(d, field{versionDetails[i], quoteJSON(versionDetails[i+1])})
		}
		d = append(d, field{"mode", quoteJSON("server")}, field{"role", quoteJSON(role)}, field{"host", quoteJSON(r.Server.c.cfg.Host)})
		fs = append(fs, field{"details", fieldsToObject(d)})
	}
	fs = append(fs, field{"apiVersions", []byte(`["v0"]`)}, field{"deprecatedApiVersions", []byte(`[]`)},
		field{"requestedApiVersion", quoteJSON("v0")})
	writeRaw(w, http.StatusOK, fieldsToObject(fs))
}

func handleServerRole(w http.ResponseWriter, r *Request) {
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "role", r.Server.Role.String(), "mode", "default"))
}

func handleServerID(w http.ResponseWriter, r *Request) {
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "id", r.Server.ID))
}

func handleAdminStatus(w http.ResponseWriter, r *Request) {
	s := r.Server
	c := s.c
	info := obj(
		"progress", rawJSON(obj("phase", "in wait", "feature", "", "recoveryTick", 0)),
		"maintenance", false, "role", s.Role.String(), "writeOpsEnabled", !c.readOnly.Load(),
		"readOnly", c.readOnly.Load(), "persistedId", s.ID, "rebootId", s.rebootN.Load(),
		"address", s.tcpEndpoint(), "serverId", s.ID, "state", "SERVING",
	)
	host, _ := os.Hostname()
	fs := []field{
		{"server", quoteJSON("arango")}, {"version", quoteJSON(arangoVersion)}, {"pid", intJSON(os.Getpid())},
		{"license", quoteJSON("enterprise")}, {"mode", quoteJSON("server")}, {"operationMode", quoteJSON("server")},
		{"foxxApi", boolJSON(true)}, {"host", quoteJSON(c.cfg.Host)}, {"hostname", quoteJSON(host)},
		{"serverInfo", info},
	}
	if s.Role == RoleCoordinator {
		fm := c.coordinators[0].ID
		fs = append(fs, field{"coordinator", obj("foxxmaster", fm, "isFoxxmaster", fm == s.ID)})
	}
	fs = append(fs, field{"agency", obj("agencyComm", rawJSON(obj("endpoints", []string{})))})
	writeRaw(w, http.StatusOK, fieldsToObject(fs))
}

func handleGetMode(w http.ResponseWriter, r *Request) {
	mode := "default"
	if r.Server.c.readOnly.Load() {
		mode = "readonly"
	}
	writeRaw(w, http.StatusOK, obj("mode", mode))
}

func handlePutMode(w http.ResponseWriter, r *Request) {
	if !r.isAdmin() {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return
	}
	body, _ := r.Body()
	var req struct {
		Mode string `json:"mode"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	switch req.Mode {
	case "readonly":
		r.Server.c.readOnly.Store(true)
	case "default":
		r.Server.c.readOnly.Store(false)
	default:
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "mode invalid")
		return
	}
	handleGetMode(w, r)
}

// refuseReadOnly answers a data write in read-only mode (403/1004) and reports true.
// The superuser JWT is exempt (Request.SuperuserJWT).
func refuseReadOnly(w http.ResponseWriter, r *Request) bool {
	if r.Server.c.readOnly.Load() && !r.SuperuserJWT {
		WriteError(w, http.StatusForbidden, errNumReadOnly, "read only")
		return true
	}
	return false
}

// refuseReadOnlyDDL answers a DDL in read-only mode (403/11) and reports true.
// The superuser JWT is exempt (Request.SuperuserJWT).
func refuseReadOnlyDDL(w http.ResponseWriter, r *Request) bool {
	if r.Server.c.readOnly.Load() && !r.SuperuserJWT {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return true
	}
	return false
}

func handleClusterHealth(w http.ResponseWriter, r *Request) {
	c := r.Server.c
	now := time.Now().UTC().Format(time.RFC3339)
	var hs []field
	for _, s := range c.servers {
		status, sync := "GOOD", "SERVING"
		if !s.Up() {
			status, sync = "FAILED", "SHUTDOWN"
		}
		fs := []field{
			{"Endpoint", quoteJSON(s.tcpEndpoint())}, {"Host", quoteJSON(s.ID)}, {"Role", quoteJSON(s.Role.healthRole())},
			{"ShortName", quoteJSON(s.ShortName)}, {"Status", quoteJSON(status)}, {"SyncStatus", quoteJSON(sync)},
			{"CanBeDeleted", boolJSON(!s.Up())}, {"Version", quoteJSON(arangoVersion)}, {"Engine", quoteJSON("rocksdb")},
			{"LastAckedTime", quoteJSON(now)}, {"SyncTime", quoteJSON(now)}, {"Timestamp", quoteJSON(now)},
		}
		if s.Role == RoleCoordinator {
			fs = append(fs, field{"AdvertisedEndpoint", quoteJSON("")})
		}
		hs = append(hs, field{s.ID, fieldsToObject(fs)})
	}
	writeRaw(w, http.StatusOK, obj("Health", rawJSON(fieldsToObject(hs)), "ClusterId", c.id, "error", false, "code", 200))
}

func handleNumberOfServers(w http.ResponseWriter, r *Request) {
	c := r.Server.c
	writeRaw(w, http.StatusOK, obj("numberOfCoordinators", len(c.coordinators), "numberOfDBServers", len(c.dbservers),
		"cleanedServers", []string{}, "error", false, "code", 200))
}

func handleClusterEndpoints(w http.ResponseWriter, r *Request) {
	var eps []map[string]string
	for _, s := range r.Server.c.coordinators {
		if s.Up() {
			eps = append(eps, map[string]string{"endpoint": s.tcpEndpoint()})
		}
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "endpoints", eps))
}

func handleShardDistribution(w http.ResponseWriter, r *Request) {
	c := r.Server.c
	c.mu.RLock()
	var results []field
	cols := make([]*Collection, 0, len(r.DB.colls))
	for _, col := range r.DB.colls {
		cols = append(cols, col)
	}
	slices.SortFunc(cols, func(a, b *Collection) int { return cmpUint(a.ID, b.ID) })
	for _, col := range cols {
		var plan, current []field
		for _, sh := range col.Shards {
			var fol []string
			var curFol []string
			for _, s := range sh.servers[1:] {
				fol = append(fol, s.ShortName)
				if s.Up() {
					curFol = append(curFol, s.ShortName)
				}
			}
			if fol == nil {
				fol = []string{}
			}
			if curFol == nil {
				curFol = []string{}
			}
			plan = append(plan, field{sh.Name, obj("leader", sh.servers[0].ShortName, "followers", fol)})
			current = append(current, field{sh.Name, obj("leader", sh.servers[0].ShortName, "followers", curFol)})
		}
		results = append(results, field{col.Name, obj("Plan", rawJSON(fieldsToObject(plan)), "Current", rawJSON(fieldsToObject(current)))})
	}
	c.mu.RUnlock()
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "results", rawJSON(fieldsToObject(results))))
}

func handleClusterInventory(w http.ResponseWriter, r *Request) {
	c := r.Server.c
	includeSystem := r.QueryBool("includeSystem", true)
	c.mu.RLock()
	cols := make([]*Collection, 0, len(r.DB.colls))
	for _, col := range r.DB.colls {
		if col.IsSystem && !includeSystem {
			continue
		}
		cols = append(cols, col)
	}
	slices.SortFunc(cols, func(a, b *Collection) int { return cmpUint(a.ID, b.ID) })
	var out [][]byte
	for _, col := range cols {
		params := col.props(true)
		params = append(params, field{"planId", quoteJSON(strconv.FormatUint(col.ID, 10))})
		var shards []field
		allInSync := true
		for _, sh := range col.Shards {
			ids := make([]string, 0, len(sh.servers))
			for _, s := range sh.servers {
				ids = append(ids, s.ID)
				if !s.Up() {
					allInSync = false
				}
			}
			shards = append(shards, field{sh.Name, mustJSON(ids)})
		}
		params = append(params, field{"shards", fieldsToObject(shards)})
		var idx [][]byte
		for _, ix := range col.Indexes {
			if ix.Type == "primary" || ix.Type == "edge" {
				continue
			}
			idx = append(idx, indexPlainJSON(ix))
		}
		out = append(out, obj("parameters", rawJSON(fieldsToObject(params)), "indexes", rawJSON(joinArray(idx)),
			"planVersion", 1, "isReady", true, "allInSync", allInSync))
	}
	var views [][]byte
	for _, v := range r.DB.viewsSorted() {
		views = append(views, v.json(r.DB))
	}
	c.mu.RUnlock()
	writeRaw(w, http.StatusOK, obj("collections", rawJSON(joinArray(out)), "views", rawJSON(joinArray(views))))
}

func joinArray(items [][]byte) []byte {
	b := []byte{'['}
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

func handleMoveShard(w http.ResponseWriter, r *Request) {
	if !r.isAdmin() {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return
	}
	body, _ := r.Body()
	var req struct {
		Database   string `json:"database"`
		Collection string `json:"collection"`
		Shard      string `json:"shard"`
		FromServer string `json:"fromServer"`
		ToServer   string `json:"toServer"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	if req.Database == "" {
		req.Database = r.DBName
	}
	c := r.Server.c
	if err := c.MoveShard(req.Database, req.Collection, req.Shard, req.FromServer, req.ToServer); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusAccepted, obj("error", false, "code", 202, "id", strconv.FormatUint(c.nextID(), 10)))
}

func handleWalOnCoordinator(w http.ResponseWriter, r *Request) {
	WriteError(w, http.StatusNotImplemented, errNumClusterUnsupported, "'/_api/wal' is not yet supported in a cluster")
}

// versionDetails mirrors the details a 3.12.10 build reports (GET /_api/version?details=true).
var versionDetails = []string{
	"architecture", "64bit", "arm", "false", "asan", "false", "assertions", "false", "avx", "true", "avx2", "false",
	"boost-version", "1.78.0", "build-date", "2026-08-04 14:46:15", "build-id", "arangosim",
	"build-repository", "refs/3.12.10 arangosim", "compiler", "go", "coverage", "false", "cplusplus", "202002",
	"curl-version", "none", "debug", "false", "endianness", "little", "enterprise-build-repository", "refs/3.12.10 arangosim",
	"enterprise-version", "enterprise", "failure-tests", "false", "faiss", "1.14.2", "fd-client-event-handler", "poll",
	"fd-setsize", "1024", "full-version-string", "ArangoDB 3.12.10 enterprise [linux] 64bit (arangosim simulator)",
	"icu-version", "64.2", "ipo", "false", "iresearch-version", "1.3.0.0", "jemalloc", "false", "libunwind", "false",
	"license", "enterprise", "maintainer-mode", "false", "memory-profiler", "false", "ndebug", "true", "openmp", "5.1",
	"openssl-version-compile-time", "none", "openssl-version-run-time", "none", "optimization-flags", "",
	"pic", "2", "pie", "2", "platform", "linux", "reactor-type", "epoll", "replication2-enabled", "false",
	"rocksdb-version", "9.6.0", "server-version", arangoVersion, "sizeof int", "4", "sizeof long", "8",
	"sizeof void*", "8", "sse42", "true", "tsan", "false", "unaligned-access", "false", "v8-version", "12.1.165",
	"vpack-version", "0.2.1", "zlib-version", "1.2.13",
}
