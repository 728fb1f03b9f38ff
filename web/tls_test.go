package web

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
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert makes a self-signed certificate for 127.0.0.1 with a serial.
func writeCert(t *testing.T, dir string, serial int64) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "matchmeta test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return
}

func TestTLSAndReload(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool1 := writeCert(t, dir, 1)
	ts := startServer(t, fixtureStore(t), func(c *Config) { c.TLSCert, c.TLSKey = cert, key })
	url := "https://" + ts.Addr().String() + "/sha256/" + knownSHA256
	client := func(pool *x509.CertPool) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	}
	res, err := client(pool1).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || res.TLS.PeerCertificates[0].SerialNumber.Int64() != 1 {
		t.Fatalf("https: %d %v", res.StatusCode, res.TLS)
	}
	// Plain HTTP to a TLS port is refused.
	if res, err := http.Get("http://" + ts.Addr().String() + "/healthz"); err == nil && res.StatusCode == 200 {
		t.Error("plain HTTP answered on the TLS port")
	}
	// A renewed certificate is served after ReloadTLS, without a restart.
	dir2 := t.TempDir()
	cert2, key2, pool2 := writeCert(t, dir2, 2)
	if err := ts.ReloadTLS(cert2, key2); err != nil {
		t.Fatal(err)
	}
	res, err = client(pool2).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.TLS.PeerCertificates[0].SerialNumber.Int64() != 2 {
		t.Fatal("old certificate after reload")
	}
	// A broken file keeps the certificate in use.
	os.WriteFile(cert2, []byte("garbage"), 0o600)
	if err := ts.ReloadTLS(cert2, key2); err == nil || !strings.Contains(err.Error(), "keeping the certificate in use") {
		t.Errorf("bad cert reload: %v", err)
	}
	if _, err := client(pool2).Get(url); err != nil {
		t.Errorf("after a failed reload: %v", err)
	}
	if err := ts.ReloadTLS("", ""); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("turning TLS off at run time: %v", err)
	}
	// A plain server cannot turn TLS on at run time.
	plain := startServer(t, fixtureStore(t), nil)
	if err := plain.ReloadTLS(cert, key); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("turning TLS on at run time: %v", err)
	}
	if err := plain.ReloadTLS("", ""); err != nil {
		t.Errorf("plain server, no TLS: %v", err)
	}
}
