package arangosim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// unauthorizedMsg is the exact 401 message arangod sends.
const unauthorizedMsg = "not authorized to execute this request"

var errUnauthorized = newErr(http.StatusUnauthorized, errNumForbidden, unauthorizedMsg)

// userRecord is the in-memory form of a _system/_users document.
type userRecord struct {
	Key    string
	Name   string
	Active bool
	Salt   string
	Hash   string // hex sha256(salt + password)
	Extra  []byte // raw JSON object
	// DBs maps a database (or "*") to "rw", "ro" or "none".
	DBs map[string]string
	// Colls maps database → collection (or "*") → level.
	Colls map[string]map[string]string
}

func (u *userRecord) checkPassword(pw string) bool {
	sum := sha256.Sum256([]byte(u.Salt + pw))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(u.Hash)) == 1
}

// dbLevel is the user's access level to a database.
func (u *userRecord) dbLevel(db string) string {
	if l, ok := u.DBs[db]; ok && l != "" {
		return l
	}
	if l, ok := u.DBs["*"]; ok && l != "" {
		return l
	}
	return "none"
}

// collLevel is the user's access level to a collection.
func (u *userRecord) collLevel(db, coll string) string {
	if m, ok := u.Colls[db]; ok {
		if l, ok := m[coll]; ok && l != "" {
			return l
		}
		if l, ok := m["*"]; ok && l != "" {
			return l
		}
	}
	if m, ok := u.Colls["*"]; ok {
		if l, ok := m["*"]; ok && l != "" {
			return l
		}
	}
	return u.dbLevel(db)
}

// userCache mirrors _system/_users for authentication.
type userCache struct {
	mu     sync.RWMutex
	users  map[string]*userRecord
	secret []byte // signs user JWTs when no cluster secret is configured
}

func newUserCache() *userCache {
	var b [32]byte
	copy(b[:], newUUID()+newUUID())
	return &userCache{users: make(map[string]*userRecord), secret: b[:]}
}

func (uc *userCache) get(name string) (*userRecord, bool) {
	uc.mu.RLock()
	defer uc.mu.RUnlock()
	u, ok := uc.users[name]
	return u, ok
}

func (uc *userCache) put(u *userRecord) {
	uc.mu.Lock()
	uc.users[u.Name] = u
	uc.mu.Unlock()
}

func (uc *userCache) remove(name string) {
	uc.mu.Lock()
	delete(uc.users, name)
	uc.mu.Unlock()
}

func (c *Cluster) jwtSecret() []byte {
	if c.cfg.JWTSecret != "" {
		return []byte(c.cfg.JWTSecret)
	}
	return c.users.secret
}

// SuperuserToken returns a superuser JWT (iss=arangodb, server_id) signed with the
// cluster secret, as `jwt.CreateArangodJwtAuthorizationHeader` builds it (without "bearer ").
func (c *Cluster) SuperuserToken() (string, error) {
	if c.cfg.JWTSecret == "" {
		return "", errors.New("arangosim: no JWT secret configured: set Config.JWTSecret")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "arangodb", "server_id": "arangosim"})
	return t.SignedString([]byte(c.cfg.JWTSecret))
}

// userToken issues the JWT POST /_open/auth returns.
func (c *Cluster) userToken(user string, ttl time.Duration) (string, time.Time, error) {
	exp := time.Now().Add(ttl)
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "arangodb", "preferred_username": user, "iat": time.Now().Unix(), "exp": exp.Unix(),
	})
	s, err := t.SignedString(c.jwtSecret())
	return s, exp, err
}

// tokenCache remembers the JWTs that verified and carry no time limit (exp, nbf), such
// as the superuser tokens every dc2dc request carries: a token's signature is checked
// once, not per request. It maps the token to its preferred_username ("" = none).
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]string
}

// maxCachedTokens bounds the cache; it starts over when full.
const maxCachedTokens = 1024

func (tc *tokenCache) get(tok string) (string, bool) {
	tc.mu.RLock()
	name, ok := tc.m[tok]
	tc.mu.RUnlock()
	return name, ok
}

func (tc *tokenCache) put(tok, name string) {
	tc.mu.Lock()
	if tc.m == nil || len(tc.m) >= maxCachedTokens {
		tc.m = make(map[string]string)
	}
	tc.m[tok] = name
	tc.mu.Unlock()
}

// authenticate identifies the caller from the Authorization header. With auth off every
// caller is a superuser. A bad credential is an error; a missing one is not (the route decides).
func (s *Server) authenticate(r *Request, hr *http.Request) error {
	c := s.c
	if !c.cfg.authEnabled() {
		r.Superuser = true
		r.User = "root"
		return nil
	}
	h := hr.Header.Get("Authorization")
	if h == "" {
		return nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "bearer":
		name, ok := c.tokens.get(cred)
		if !ok {
			tok, err := jwt.Parse(cred, func(t *jwt.Token) (any, error) {
				if typ, _ := t.Header["typ"].(string); typ != "" && typ != "JWT" {
					return nil, errors.New("typ")
				}
				return c.jwtSecret(), nil
			}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("arangodb"))
			if err != nil || !tok.Valid {
				return errUnauthorized
			}
			claims, _ := tok.Claims.(jwt.MapClaims)
			name, _ = claims["preferred_username"].(string)
			_, exp := claims["exp"]
			_, nbf := claims["nbf"]
			if !exp && !nbf {
				c.tokens.put(cred, name) // valid whenever it comes again
			}
		}
		if name != "" {
			u, ok := c.users.get(name)
			if !ok || !u.Active {
				return errUnauthorized
			}
			r.User = name
			return nil
		}
		if c.cfg.JWTSecret == "" {
			return errUnauthorized
		}
		r.Superuser, r.SuperuserJWT = true, true
		return nil
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return errUnauthorized
		}
		name, pw, _ := strings.Cut(string(raw), ":")
		u, ok := c.users.get(name)
		if !ok || !u.Active || !u.checkPassword(pw) {
			return errUnauthorized
		}
		r.User = name
		return nil
	}
	return errUnauthorized
}

// authorize enforces a route's Access. It writes the error and returns false on refusal.
func (s *Server) authorize(w http.ResponseWriter, r *Request, access Access) bool {
	if access == AccessOpen || r.Superuser {
		return true
	}
	if r.User == "" {
		WriteError(w, http.StatusUnauthorized, errNumForbidden, unauthorizedMsg)
		return false
	}
	if access == AccessSuperuser {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return false
	}
	if r.dbLevel() == "none" {
		WriteError(w, http.StatusUnauthorized, errNumForbidden, unauthorizedMsg)
		return false
	}
	return true
}

// dbLevel is the caller's access level to the request's database.
func (r *Request) dbLevel() string {
	if r.Superuser {
		return "rw"
	}
	u, ok := r.Server.c.users.get(r.User)
	if !ok {
		return "none"
	}
	return u.dbLevel(r.DBName)
}

// collLevel is the caller's access level to a collection of the request's database.
func (r *Request) collLevel(coll string) string {
	if r.Superuser {
		return "rw"
	}
	u, ok := r.Server.c.users.get(r.User)
	if !ok {
		return "none"
	}
	return u.collLevel(r.DBName, coll)
}

// isAdmin reports whether the caller may run administrative operations (rw on _system).
func (r *Request) isAdmin() bool {
	if r.Superuser {
		return true
	}
	u, ok := r.Server.c.users.get(r.User)
	return ok && u.dbLevel("_system") == "rw"
}
