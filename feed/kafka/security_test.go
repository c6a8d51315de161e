package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/faasedge/faasedge/internal/testenv"
)

// selfSigned is a certificate for 127.0.0.1 and its PEM.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kder, _ := x509.MarshalECPrivateKey(key)
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	if err != nil {
		t.Fatal(err)
	}
	return cert, string(certPEM)
}

// TestSASLAndTLS runs triggers against a broker that wants TLS and SASL:
// kafkaFeed with SCRAM-SHA-256 over SASL_SSL, messageHubFeed's credentials
// as SASL_SSL with PLAIN, and a wrong password shown in the status.
func TestSASLAndTLS(t *testing.T) {
	cert, caPEM := selfSigned(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "sec"), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "admin", "secret"), kfake.Superuser("SCRAM-SHA-256", "scram", "s3cret"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	kcl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(plain.Auth{User: "admin", Pass: "secret"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	e := &env{kafka: cluster, pouch: testenv.StartPouchDB(t), api: newWhiskAPI(t), kcl: kcl}
	rp := e.start(t, e.options("worker0"))

	scram := rp.createTrigger(t, "scram", "sec", map[string]any{"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256",
		"user": "scram", "password": "s3cret", "ssl_ca": caPEM})
	code, mh := rp.call(t, "POST", "messageHubFeedWeb", map[string]any{"triggerName": "/guest/mh", "topic": "sec", "authKey": testKey,
		"kafka_brokers_sasl": rp.brokers, "user": "admin", "password": "secret", "kafka_admin_url": "https://admin", "ssl_ca": caPEM})
	if code != 200 {
		t.Fatalf("messageHubFeed CREATE: %d %s", code, mh)
	}
	wrong := rp.createTrigger(t, "wrong", "sec", map[string]any{"security_protocol": "SASL_SSL", "user": "admin", "password": "nope", "ssl_ca": caPEM})
	rp.waitState(t, scram, stateRunning)
	rp.waitState(t, mh, stateRunning)
	e.produce(t, rec("sec", "", "over TLS"))
	for _, name := range []string{"scram", "mh"} {
		if got := values(e.api.waitDelivered(t, name, 1)); !reflect.DeepEqual(got, []string{"over TLS"}) {
			t.Errorf("%s: delivered %v", name, got)
		}
	}
	waitFor(t, "the wrong password in the status", func() bool {
		r, _ := rp.readStatus(t, "wrong")["reason"].(map[string]any)
		return r != nil && strings.Contains(fmt.Sprint(r["message"]), "no broker")
	})
	if h, _ := rp.consumerHealth(t, wrong); h.CurrentState != stateInitializing || h.Reason == "" {
		t.Errorf("wrong password: health %+v", h)
	}
	if len(e.api.batches("wrong")) != 0 {
		t.Error("a trigger with a wrong password fired")
	}
}
