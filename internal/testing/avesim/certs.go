package avesim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"time"
)

// NewTestCertificate generates a self-signed RSA-2048 certificate whose key
// usage allows digital signature (what AvePoint requires for JWT client
// authentication), valid from an hour ago for one year. keyPEM is a PKCS#8
// "PRIVATE KEY" block. Pass cert to Options.Certificate and the PEM to the
// client under test.
func NewTestCertificate() (certPEM, keyPEM []byte, cert *x509.Certificate, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "avesim test client", Organization: []string{"insights-export tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	return certPEM, keyPEM, cert, nil
}

// NewTestCertificateBundle is NewTestCertificate shaped for the secret's
// "certificate" field: the CERTIFICATE block followed by the PRIVATE KEY
// block in one PEM string.
func NewTestCertificateBundle() (bundlePEM string, cert *x509.Certificate, err error) {
	certPEM, keyPEM, cert, err := NewTestCertificate()
	if err != nil {
		return "", nil, err
	}
	return string(certPEM) + string(keyPEM), cert, nil
}

// PKCS1KeyPEM converts a PKCS#8 RSA "PRIVATE KEY" PEM (as returned by
// NewTestCertificate) to a PKCS#1 "RSA PRIVATE KEY" PEM, the other key form
// the secret may hold.
func PKCS1KeyPEM(pkcs8PEM []byte) ([]byte, error) {
	block, _ := pem.Decode(pkcs8PEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("avesim: want a PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("avesim: key is not RSA")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), nil
}
