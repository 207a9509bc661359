package avepoint

import (
	"testing"

	"github.com/insights-export/insights-export/internal/failure"
)

// Plain http is allowed only where nothing crosses a network: loopback.
// Everything that merely looks local (names that start with localhost or
// 127.0.0.1, private and link-local addresses, the unspecified address,
// IPv4-mapped outside addresses) is refused, for both URLs and for the
// client as well as the endpoint resolution.
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	const tls = "https://identity.avepointonlineservices.com/connect/token"
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.0.0.2:8080", true}, // all of 127/8 is loopback
		{"http://localhost:9000", true},
		{"http://[::1]:9000", true},
		{"https://graph-us.avepointonlineservices.com", true},
		{"http://graph-us.avepointonlineservices.com", false},
		{"http://localhost.evil.example", false},
		{"http://127.0.0.1.nip.io", false},
		{"http://10.0.0.1", false},
		{"http://192.168.1.10:8080", false},
		{"http://169.254.169.254", false}, // instance metadata
		{"http://0.0.0.0:8080", false},
		{"http://[::]:8080", false},
		{"http://[::ffff:8.8.8.8]", false},
		{"http://user:pw@127.0.0.1", false}, // credentials in the URL
		{"ws://127.0.0.1", false},
		{"//127.0.0.1", false},
		{"127.0.0.1:8080", false},
	} {
		t.Run(tt.url, func(t *testing.T) {
			for _, field := range []string{"api", "token"} {
				api, token := tt.url, tls
				if field == "token" {
					api, token = "https://graph-us.avepointonlineservices.com", tt.url
				}
				_, err := ResolveEndpoints("", api, token)
				_, nerr := New(Config{Endpoints: Endpoints{APIURL: api, TokenURL: token}, Credentials: StaticCredentials{ClientID: "c", ClientSecret: "s"}})
				if tt.ok != (err == nil) || tt.ok != (nerr == nil) {
					t.Fatalf("%s URL %q: ResolveEndpoints err %v, New err %v; want ok=%v", field, tt.url, err, nerr, tt.ok)
				}
				if err != nil {
					if _, typed := err.(*failure.ValidationError); !typed {
						t.Fatalf("error %T, want *failure.ValidationError", err)
					}
				}
			}
		})
	}
}
