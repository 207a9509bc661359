// Command s3sink serves bench/s3sink on 127.0.0.1: an S3 endpoint that
// checks uploads and discards their bytes, for throughput benchmarks.
//
//	s3sink [-addr 127.0.0.1:0] [-cert cert.pem -key key.pem]
//
// It prints its base URL as the first line of stdout once it accepts
// connections, and serves until killed. With -cert and -key it speaks TLS
// (HTTP/1.1 only, like S3), so that clients send what they send to S3:
// aws-sdk-go-v2 switches to aws-chunked bodies with trailing checksums and
// unsigned payloads over TLS only.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/insights-export/insights-export/bench/s3sink"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	cert := flag.String("cert", "", "TLS certificate (PEM); empty = plain HTTP")
	key := flag.String("key", "", "TLS private key (PEM)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(*addr, *cert, *key, log); err != nil {
		log.Error("s3sink failed", "error", err.Error())
		os.Exit(1)
	}
}

func run(addr, certFile, keyFile string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s3sink.New(log),
		ReadHeaderTimeout: 10 * time.Second,
		// A non-nil empty map turns HTTP/2 off: S3 speaks HTTP/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	scheme := "http"
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	fmt.Printf("%s://%s\n", scheme, ln.Addr())
	return srv.Serve(ln)
}
