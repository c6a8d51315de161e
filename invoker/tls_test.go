package invoker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate and key, like the pair
// OpenWhisk's genssl.sh makes for invokers, and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "openwhisk-invokers"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestInvokerTLS(t *testing.T) {
	cert, key := selfSigned(t)
	tests := []struct {
		name    string
		env     map[string]string
		tls     bool
		client  tls.ClientAuthType
		wantErr string // a substring; EnvError names the variable
	}{
		{"http", map[string]string{"CONFIG_whisk_invoker_protocol": "http"}, false, 0, ""},
		{"unset", map[string]string{}, false, 0, ""},
		{"https with stock clientAuth", map[string]string{"CONFIG_whisk_invoker_protocol": "https", "FAASEDGE_TLS_CERT": cert, "FAASEDGE_TLS_KEY": key}, true, tls.RequireAndVerifyClientCert, ""},
		{"https without clientAuth", map[string]string{"CONFIG_whisk_invoker_protocol": "https", "FAASEDGE_TLS_CERT": cert, "FAASEDGE_TLS_KEY": key, "CONFIG_whisk_invoker_https_clientAuth": "false"}, true, tls.NoClientCert, ""},
		{"https without files", map[string]string{"CONFIG_whisk_invoker_protocol": "https"}, false, 0, "FAASEDGE_TLS_CERT and FAASEDGE_TLS_KEY"},
		{"unreadable key", map[string]string{"CONFIG_whisk_invoker_protocol": "https", "FAASEDGE_TLS_CERT": cert, "FAASEDGE_TLS_KEY": cert}, false, 0, "invoker TLS"},
		{"bad protocol", map[string]string{"CONFIG_whisk_invoker_protocol": "ftp"}, false, 0, "CONFIG_whisk_invoker_protocol"},
		{"bad clientAuth", map[string]string{"CONFIG_whisk_invoker_protocol": "https", "FAASEDGE_TLS_CERT": cert, "FAASEDGE_TLS_KEY": key, "CONFIG_whisk_invoker_https_clientAuth": "maybe"}, false, 0, "CONFIG_whisk_invoker_https_clientAuth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := TLSFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				var envErr *EnvError
				if strings.HasPrefix(tt.wantErr, "CONFIG_") && !errors.As(err, &envErr) {
					t.Errorf("err %v is not an *EnvError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg != nil) != tt.tls {
				t.Fatalf("TLS config %v, want TLS %v", cfg, tt.tls)
			}
			if cfg != nil && cfg.ClientAuth != tt.client {
				t.Errorf("ClientAuth = %v, want %v", cfg.ClientAuth, tt.client)
			}
		})
	}
}

// With stock's clientAuth, only a client presenting the invoker's own
// certificate (as OpenWhisk's ping task does) gets through.
func TestInvokerTLSClientCertificate(t *testing.T) {
	certFile, keyFile := selfSigned(t)
	cfg, err := TLSFromEnv(envMap{"CONFIG_whisk_invoker_protocol": "https", "FAASEDGE_TLS_CERT": certFile, "FAASEDGE_TLS_KEY": keyFile}.get)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_, _ = c.Write([]byte("ok"))
			c.Close()
		}
	}()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(certs []tls.Certificate) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{Certificates: certs, InsecureSkipVerify: true}) // self-signed, as stock's validate_certs: no
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 2)) // TLS 1.3 reports a refused client certificate on the first read
		return err
	}
	if err := dial([]tls.Certificate{pair}); err != nil {
		t.Errorf("with the invoker certificate: %v", err)
	}
	if err := dial(nil); err == nil {
		t.Error("a client without a certificate got through")
	}
}

type envMap map[string]string

func (m envMap) get(k string) string { return m[k] }
