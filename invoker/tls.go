package invoker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
)

// TLSFromEnv reads Config.TLS from the stock invoker environment: nil
// (plain HTTP) unless CONFIG_whisk_invoker_protocol is https. The stock
// invoker reads a PKCS12 keystore (CONFIG_whisk_invoker_https_keystorePath);
// this reads the PEM certificate and key OpenWhisk's setup.yml generates
// beside it (FAASEDGE_TLS_CERT, FAASEDGE_TLS_KEY). With
// CONFIG_whisk_invoker_https_clientAuth (stock's default: true) a client
// must present that certificate, as the stock invoker trusts its own
// keystore. It is apart from FromEnv because the controller plugin's
// virtual invokers serve no endpoints and need no certificate.
func TLSFromEnv(getenv func(string) string) (*tls.Config, error) {
	switch p := getenv("CONFIG_whisk_invoker_protocol"); p {
	case "", "http":
		return nil, nil
	case "https":
	default:
		return nil, &EnvError{Var: "CONFIG_whisk_invoker_protocol", Err: fmt.Errorf("%q is neither http nor https", p)}
	}
	certFile, keyFile := getenv("FAASEDGE_TLS_CERT"), getenv("FAASEDGE_TLS_KEY")
	if certFile == "" || keyFile == "" {
		return nil, errors.New("CONFIG_whisk_invoker_protocol=https: set FAASEDGE_TLS_CERT and FAASEDGE_TLS_KEY to the PEM certificate and key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("invoker TLS: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	clientAuth := true
	if v := getenv("CONFIG_whisk_invoker_https_clientAuth"); v != "" {
		if clientAuth, err = strconv.ParseBool(v); err != nil {
			return nil, &EnvError{Var: "CONFIG_whisk_invoker_https_clientAuth", Err: fmt.Errorf("%q is not a boolean", v)}
		}
	}
	if clientAuth {
		cfg.ClientCAs = x509.NewCertPool()
		cfg.ClientCAs.AddCert(cert.Leaf)
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
