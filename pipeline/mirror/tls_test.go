package mirror

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// testCA makes a CA and a server certificate for 127.0.0.1, and writes the
// CA as PEM to a file.
func testCA(t *testing.T) (server tls.Certificate, caFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dc2dc test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

// TestTLSTarget mirrors into a cluster that speaks TLS only, trusting its
// CA from a PEM file.
func TestTLSTarget(t *testing.T) {
	cert, caFile := testCA(t)
	a := newKfake(t, map[string]int32{dataTopic: 2})
	b, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	produce(t, a.ListenAddrs(), dataTopic, seqRecords(2, 0, 20))

	cfg := testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}})
	cfg.Clusters["B"] = ClusterConfig{Brokers: b.ListenAddrs(), TLS: TLSConfig{Enabled: true, CAFile: caFile}}
	m := startMirror(t, cfg)
	select {
	case <-m.m.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("mirror did not connect over TLS")
	}
	// Read B back over TLS with the same settings.
	cl := cfg.Clusters["B"]
	cl.ClientID, cl.KafkaVersion = "test", "2.8.0"
	sc, err := clientConfig(cl)
	if err != nil {
		t.Fatal(err)
	}
	sc.Consumer.MaxWaitTime = 20 * time.Millisecond
	waitCount(t, b.ListenAddrs(), sc, dataTopic, 2, 40)

	// Without the CA the connection fails verification.
	bad := cl
	bad.TLS.CAFile = ""
	scBad, err := clientConfig(bad)
	if err != nil {
		t.Fatal(err)
	}
	scBad.Metadata.Retry.Max = 0
	if c, err := newClient(b.ListenAddrs(), scBad); err == nil {
		c.Close()
		t.Fatal("connected to the TLS broker without trusting its CA")
	}
}
