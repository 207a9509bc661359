package avesim

import (
	"context"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The project's client is expected to use x/oauth2; every auth style it
// can pick must work against the fake.
func TestOAuth2ClientCredentialsLibrary(t *testing.T) {
	tests := []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{name: "auto detect", style: oauth2.AuthStyleAutoDetect},
		{name: "in header", style: oauth2.AuthStyleInHeader},
		{name: "in params", style: oauth2.AuthStyleInParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			cfg := clientcredentials.Config{
				ClientID:     testClientID,
				ClientSecret: testSecret,
				TokenURL:     e.base + tokenPath,
				Scopes:       []string{Scope},
				AuthStyle:    tc.style,
			}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.Expiry.IsZero() {
				t.Fatalf("token %+v", tok)
			}
			if got := e.get(t, "/insights/job/1/exportstatus", tok.AccessToken); got.status != 404 {
				t.Fatalf("API with library token: %d %s", got.status, got.body)
			}
		})
	}
}
