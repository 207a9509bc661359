package avepoint

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
)

func TestResolveEndpoints(t *testing.T) {
	tests := []struct {
		name, region, api, token string
		want                     Endpoints
		wantErr                  bool
	}{
		{name: "us", region: "us", want: Endpoints{"https://graph-us.avepointonlineservices.com", tokenCommercial}},
		{name: "north europe", region: "ne", want: Endpoints{"https://graph-ne.avepointonlineservices.com", tokenCommercial}},
		{name: "gcp us", region: "gcp-us", want: Endpoints{"https://graph-gcp-us.avepointonlineservices.com", tokenCommercial}},
		{name: "gov uses the gov identity host", region: "gov", want: Endpoints{"https://graph-gov.avepointonlineservices.com", tokenGov}},
		{name: "aos2 uses its identity host", region: "AOS2", want: Endpoints{"https://graph-aos2.avepointonlineservices.com", tokenAOS2}},
		{name: "FedRAMP by explicit URLs", api: "https://graphusgovapi.online15.net/", token: "https://identity.online15.net/connect/token",
			want: Endpoints{"https://graphusgovapi.online15.net", "https://identity.online15.net/connect/token"}},
		{name: "explicit API URL overrides the region's", region: "us", api: "http://127.0.0.1:8080",
			want: Endpoints{"http://127.0.0.1:8080", tokenCommercial}},
		{name: "no US West host", region: "usw", wantErr: true},
		{name: "nothing given", wantErr: true},
		{name: "only an API URL", api: "https://x.example.com", wantErr: true},
		{name: "plain http off loopback", api: "http://graph.example.com", token: "https://id.example.com/t", wantErr: true},
		{name: "plain http token URL off loopback", region: "us", token: "http://identity.example.com/connect/token", wantErr: true},
		{name: "credentials in URL", api: "https://user:pw@x.example.com", token: "https://id.example.com/t", wantErr: true},
		{name: "ftp", api: "ftp://x.example.com", token: "https://id.example.com/t", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveEndpoints(tt.region, tt.api, tt.token)
			if tt.wantErr {
				if _, ok := err.(*failure.ValidationError); !ok {
					t.Fatalf("err = %v, want *failure.ValidationError", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if n := len(RegionCodes()); n != 22 {
		t.Fatalf("%d region codes, the contract lists 22", n)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"99999999999999999999", 0},
		{"9999999999", 24 * time.Hour},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(640641 * time.Hour).Format(http.TimeFormat), 24 * time.Hour}, // capped as seconds are
		{"Fri, 31 Dec 9999 23:59:59 GMT", 24 * time.Hour},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := retryAfter(tt.in, now); got != tt.want {
				t.Fatalf("retryAfter(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{}.withDefaults()
	for n := 1; n <= 30; n++ {
		d := b.delay(n, 0)
		if d <= 0 || d > b.MaxDelay {
			t.Fatalf("delay(%d) = %s outside (0, %s]", n, d, b.MaxDelay)
		}
	}
	if d := b.delay(1, time.Hour); d != b.MaxDelay {
		t.Fatalf("a Retry-After hint is capped: got %s", d)
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := Credentials{ClientID: "id", ClientSecret: "hunter2", Certificate: ""}
	for _, s := range []string{c.String(), c.GoString(), c.LogValue().String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("%q leaks the secret", s)
		}
	}
}
