package kafka

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestSCRAMRFC7677Vector replays the SCRAM-SHA-256 example exchange of
// RFC 7677 section 3 (user "user", password "pencil").
func TestSCRAMRFC7677Vector(t *testing.T) {
	c := newSCRAMClient(sha256Hash)
	if err := c.Begin("user", "pencil", ""); err != nil {
		t.Fatal(err)
	}
	c.nonce = "rOprNGfwEbeRWgbNEkqO"
	first, err := c.Step("")
	if err != nil || first != "n,,n=user,r=rOprNGfwEbeRWgbNEkqO" {
		t.Fatalf("client-first %q, %v", first, err)
	}
	final, err := c.Step("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	if err != nil || final != want {
		t.Fatalf("client-final %q, %v\nwant %q", final, err, want)
	}
	if _, err := c.Step("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="); err != nil || !c.Done() {
		t.Fatalf("server-final: %v, done %v", err, c.Done())
	}
}

func TestSCRAMRejectsBadServer(t *testing.T) {
	c := newSCRAMClient(sha256Hash)
	_ = c.Begin("u", "p", "")
	c.nonce = "abc"
	_, _ = c.Step("")
	if _, err := c.Step("r=zzz,s=c2FsdA==,i=4096"); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("foreign nonce: %v", err)
	}
	c = newSCRAMClient(sha256Hash)
	_ = c.Begin("u", "p", "")
	c.nonce = "abc"
	_, _ = c.Step("")
	if _, err := c.Step("r=abcdef,s=c2FsdA==,i=4096"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step("v=" + base64.StdEncoding.EncodeToString([]byte("forged"))); err == nil {
		t.Fatal("forged server signature accepted")
	}
}

// FuzzSCRAMServerMessages: the parsers never panic and accept only well
// formed messages.
func FuzzSCRAMServerMessages(f *testing.F) {
	f.Add("r=abcdef,s=c2FsdA==,i=4096")
	f.Add("e=invalid-proof")
	f.Add("v=AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		if sf, err := parseServerFirst(s); err == nil {
			if sf.nonce == "" || len(sf.salt) == 0 || sf.iter < 1 {
				t.Fatalf("accepted %q as %+v", s, sf)
			}
		}
		_, _ = parseServerFinal(s)
		c := newSCRAMClient(sha256Hash)
		_ = c.Begin("u", "p", "")
		_, _ = c.Step("")
		_, _ = c.Step(s)
		_, _ = c.Step(s)
	})
}
