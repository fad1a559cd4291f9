package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Ports are the fixed ports of a stack, remembered in <state>/ports.json so
// a second run finds its persisted clusters and brokers where they were.
type Ports struct {
	A      int `json:"a"`       // first of 4 (1 coordinator, 3 DB-Servers)
	B      int `json:"b"`       // first of 3 (1 coordinator, 2 DB-Servers)
	KafkaA int `json:"kafka_a"` // one broker
	KafkaB int `json:"kafka_b"`
	Mirror int `json:"mirror"` // metrics
}

const (
	serversA = 4
	serversB = 3
)

// Secrets are the credentials of a stack, remembered in
// <state>/secrets.json (mode 0600).
type Secrets struct {
	RootPassword string `json:"root_password"`
	JWTSecretA   string `json:"jwt_secret_a"`
	JWTSecretB   string `json:"jwt_secret_b"`
	// AdminToken is the bearer token of the masters' and workers' API.
	AdminToken string `json:"admin_token"`
}

// PID is one entry of <state>/pids.json.
type PID struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Path string `json:"path"`
	Log  string `json:"log"`
}

// PIDsFile is the content of <state>/pids.json.
type PIDsFile struct {
	Dev      int   `json:"dev"` // the dc2dc dev process
	Children []PID `json:"children"`
}

// lockState takes the exclusive lock of dir; the file stays open (and
// locked) until release.
func lockState(dir string) (release func(), err error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devstack: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		return nil, fmt.Errorf("devstack: state dir %s is in use by another dc2dc dev (pid %s): stop it, or give another --state-dir", dir, strings.TrimSpace(string(holder)))
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { _ = f.Close() }, nil
}

// readJSON decodes path into v; ok is false when the file does not exist.
func readJSON(path string, v any) (ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w (remove it, or start with --fresh)", path, err)
	}
	return true, nil
}

// writeJSON writes v to path atomically (temp file, rename).
func writeJSON(path string, v any, mode os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loadSecrets returns the remembered secrets, or new random ones.
func loadSecrets(dir string) (Secrets, error) {
	path := filepath.Join(dir, "secrets.json")
	var s Secrets
	ok, err := readJSON(path, &s)
	if err != nil {
		return s, err
	}
	if ok && s.RootPassword != "" && s.JWTSecretA != "" && s.JWTSecretB != "" && s.AdminToken != "" {
		return s, nil
	}
	s = Secrets{RootPassword: randomHex(8), JWTSecretA: randomHex(16), JWTSecretB: randomHex(16), AdminToken: randomHex(16)}
	return s, writeJSON(path, s, 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather)
	return hex.EncodeToString(b)
}

// loadPorts returns the remembered ports when they are all free, otherwise
// new free ones (remembered).
func loadPorts(dir string) (Ports, error) {
	path := filepath.Join(dir, "ports.json")
	var p Ports
	ok, err := readJSON(path, &p)
	if err != nil {
		return p, err
	}
	if ok && blockFree(p.A, serversA) && blockFree(p.B, serversB) && blockFree(p.KafkaA, 1) &&
		blockFree(p.KafkaB, 1) && blockFree(p.Mirror, 1) {
		return p, nil
	}
	var taken []int
	pick := func(n int) (int, error) {
		for range 200 {
			r, err := rand.Int(rand.Reader, big.NewInt(30000))
			if err != nil {
				return 0, err
			}
			base := 20000 + int(r.Int64())
			if overlaps(base, n, taken) || !blockFree(base, n) {
				continue
			}
			for i := range n {
				taken = append(taken, base+i)
			}
			return base, nil
		}
		return 0, fmt.Errorf("devstack: found no %d free consecutive ports on 127.0.0.1", n)
	}
	var errs []error
	for _, f := range []struct {
		dst *int
		n   int
	}{{&p.A, serversA}, {&p.B, serversB}, {&p.KafkaA, 1}, {&p.KafkaB, 1}, {&p.Mirror, 1}} {
		v, err := pick(f.n)
		errs = append(errs, err)
		*f.dst = v
	}
	if err := errors.Join(errs...); err != nil {
		return p, err
	}
	return p, writeJSON(path, p, 0o644)
}

func overlaps(base, n int, taken []int) bool {
	for _, t := range taken {
		if t >= base && t < base+n {
			return true
		}
	}
	return false
}

// blockFree reports whether ports base..base+n-1 can be listened on.
func blockFree(base, n int) bool {
	if base <= 0 || base+n > 65536 {
		return false
	}
	for i := range n {
		var lc net.ListenConfig
		l, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	return true
}

// killLeftovers kills the process groups of a previous run's children that
// still run the recorded binary (a dc2dc dev killed with SIGKILL before
// parent-death signals existed, or a child that ignored it).
func killLeftovers(dir string) []string {
	var pf PIDsFile
	if ok, err := readJSON(filepath.Join(dir, "pids.json"), &pf); !ok || err != nil {
		return nil
	}
	var killed []string
	for _, c := range pf.Children {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", c.PID))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != c.Path {
			continue
		}
		_ = syscall.Kill(-c.PID, syscall.SIGKILL)
		_ = syscall.Kill(c.PID, syscall.SIGKILL)
		killed = append(killed, fmt.Sprintf("%s (pid %d)", c.Name, c.PID))
	}
	return killed
}
