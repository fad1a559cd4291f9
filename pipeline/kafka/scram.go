package kafka

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// scramClient is a SCRAM (RFC 5802) client for sarama's SASL/SCRAM
// mechanisms, written here so the transport needs no extra module. It does
// not apply SASLprep: user names and passwords are used as given (ASCII
// credentials are unaffected).
type scramClient struct {
	newHash func() hash.Hash
	user    string
	pass    string
	authzID string
	nonce   string // client nonce

	step           int
	clientFirstBar string
	serverSig      []byte
	done           bool
}

func sha256Hash() hash.Hash { return sha256.New() }
func sha512Hash() hash.Hash { return sha512.New() }

func newSCRAMClient(h func() hash.Hash) *scramClient { return &scramClient{newHash: h} }

var errSCRAM = errors.New("SCRAM exchange failed")

func (c *scramClient) Begin(user, pass, authzID string) error {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	c.user, c.pass, c.authzID = user, pass, authzID
	c.nonce = base64.RawStdEncoding.EncodeToString(b[:])
	c.step, c.done = 0, false
	return nil
}

func (c *scramClient) gs2Header() string {
	if c.authzID == "" {
		return "n,,"
	}
	return "n,a=" + scramEscape(c.authzID) + ","
}

func (c *scramClient) Step(challenge string) (string, error) {
	c.step++
	switch c.step {
	case 1:
		c.clientFirstBar = "n=" + scramEscape(c.user) + ",r=" + c.nonce
		return c.gs2Header() + c.clientFirstBar, nil
	case 2:
		sf, err := parseServerFirst(challenge)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(sf.nonce, c.nonce) || len(sf.nonce) == len(c.nonce) {
			return "", fmt.Errorf("%w: the server nonce does not extend the client nonce", errSCRAM)
		}
		salted, err := pbkdf2.Key(c.newHash, c.pass, sf.salt, sf.iter, c.newHash().Size())
		if err != nil {
			return "", fmt.Errorf("%w: %w", errSCRAM, err)
		}
		withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte(c.gs2Header())) + ",r=" + sf.nonce
		authMsg := c.clientFirstBar + "," + challenge + "," + withoutProof
		clientKey := c.hmac(salted, "Client Key")
		h := c.newHash()
		h.Write(clientKey)
		storedKey := h.Sum(nil)
		sig := c.hmac(storedKey, authMsg)
		proof := make([]byte, len(clientKey))
		for i := range clientKey {
			proof[i] = clientKey[i] ^ sig[i]
		}
		c.serverSig = c.hmac(c.hmac(salted, "Server Key"), authMsg)
		return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
	case 3:
		c.done = true
		v, err := parseServerFinal(challenge)
		if err != nil {
			return "", err
		}
		if !hmac.Equal(v, c.serverSig) {
			return "", fmt.Errorf("%w: the server signature does not verify (is this the real broker?)", errSCRAM)
		}
		return "", nil
	default:
		return "", fmt.Errorf("%w: unexpected step %d", errSCRAM, c.step)
	}
}

func (c *scramClient) Done() bool { return c.done }

func (c *scramClient) hmac(key []byte, msg string) []byte {
	m := hmac.New(c.newHash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func scramEscape(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

type serverFirst struct {
	nonce string
	salt  []byte
	iter  int
}

// parseServerFirst parses "r=<nonce>,s=<base64 salt>,i=<iterations>[,ext]".
func parseServerFirst(s string) (serverFirst, error) {
	var sf serverFirst
	attrs := strings.Split(s, ",")
	if len(attrs) < 3 {
		return sf, fmt.Errorf("%w: malformed server-first-message", errSCRAM)
	}
	for i, want := range []string{"r=", "s=", "i="} {
		if !strings.HasPrefix(attrs[i], want) {
			if strings.HasPrefix(attrs[0], "e=") {
				return sf, fmt.Errorf("%w: server error %q", errSCRAM, strings.TrimPrefix(attrs[0], "e="))
			}
			return sf, fmt.Errorf("%w: server-first-message attribute %d is not %s", errSCRAM, i, want)
		}
	}
	sf.nonce = attrs[0][2:]
	salt, err := base64.StdEncoding.DecodeString(attrs[1][2:])
	if err != nil || len(salt) == 0 {
		return sf, fmt.Errorf("%w: bad salt in server-first-message", errSCRAM)
	}
	sf.salt = salt
	iter, err := strconv.Atoi(attrs[2][2:])
	if err != nil || iter < 1 || iter > 1<<20 {
		return sf, fmt.Errorf("%w: bad iteration count in server-first-message", errSCRAM)
	}
	sf.iter = iter
	if sf.nonce == "" {
		return sf, fmt.Errorf("%w: empty nonce in server-first-message", errSCRAM)
	}
	return sf, nil
}

// parseServerFinal parses "v=<base64 signature>" or "e=<error>".
func parseServerFinal(s string) ([]byte, error) {
	attr, _, _ := strings.Cut(s, ",")
	switch {
	case strings.HasPrefix(attr, "e="):
		return nil, fmt.Errorf("%w: server error %q", errSCRAM, attr[2:])
	case strings.HasPrefix(attr, "v="):
		v, err := base64.StdEncoding.DecodeString(attr[2:])
		if err != nil {
			return nil, fmt.Errorf("%w: bad server signature encoding", errSCRAM)
		}
		return v, nil
	default:
		return nil, fmt.Errorf("%w: malformed server-final-message", errSCRAM)
	}
}
