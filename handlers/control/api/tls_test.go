package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
)

type pair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func mkCert(t *testing.T, tmpl *x509.Certificate, parent *pair) *pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &pair{cert: c, key: key, der: der}
}

func writePEM(t *testing.T, dir, name string, p *pair) (certFile, keyFile string) {
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	kb, _ := x509.MarshalECPrivateKey(p.key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSWithClientCertificates(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca := mkCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dc2dc test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil)
	srvPair := mkCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "master"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	cliPair := mkCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "operator"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
	caFile, _ := writePEM(t, dir, "ca", ca)
	certFile, keyFile := writePEM(t, dir, "server", srvPair)

	tc := api.TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}
	if err := tc.Validate(); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := tc.Build()
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := registry.New(registry.Config{})
	lead := &fakeLead{}
	lead.set(election.Status{ID: "m1", Leader: true, Epoch: 2})
	s, err := api.NewServer(api.Config{Role: "master", ID: "m1", Auth: api.AuthConfig{Token: "tok", ClientCerts: true}, Registry: reg, Leadership: lead})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s)
	srv.TLS = tlsCfg
	srv.StartTLS()
	defer srv.Close()

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	withCert, _ := api.NewClient(api.ClientConfig{Endpoints: []string{srv.URL}, TLS: &tls.Config{RootCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cliPair.der}, PrivateKey: cliPair.key}}}})
	defer withCert.Close()
	if _, err := withCert.Workers(ctx); err != nil {
		t.Fatalf("client certificate: %v", err)
	}
	noCert, _ := api.NewClient(api.ClientConfig{Endpoints: []string{srv.URL}, TLS: &tls.Config{RootCAs: pool}})
	defer noCert.Close()
	if _, err := noCert.Workers(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without a client certificate or token: %v", err)
	}
	token, _ := api.NewClient(api.ClientConfig{Endpoints: []string{srv.URL}, TLS: &tls.Config{RootCAs: pool}, Token: "tok"})
	defer token.Close()
	if _, err := token.Workers(ctx); err != nil {
		t.Fatalf("token over TLS: %v", err)
	}

	bad := api.TLSConfig{CertFile: filepath.Join(dir, "missing.crt"), ClientCAFile: caFile}
	err = bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "both the certificate and the key") || !strings.Contains(err.Error(), "missing.crt") {
		t.Fatalf("Validate: %v", err)
	}
}
