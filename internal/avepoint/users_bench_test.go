package avepoint_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// BenchmarkListUsers100k lists a simulated tenant of 100,000 users (1,001
// pages of 100 over HTTP on 127.0.0.1), de-duplicating as a discovery
// does: the cost of the client per listing, the simulator's included.
func BenchmarkListUsers100k(b *testing.B) {
	const users = 100_000
	sim, err := avesim.Start(b.Context(), avesim.Options{ClientID: clientID, ClientSecret: secret, Users: avesim.UsersOptions{Count: users}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	c, err := avepoint.New(avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: sim.URL, TokenURL: sim.TokenURL},
		Credentials: avepoint.StaticCredentials(creds),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		stats, err := c.ListUsers(b.Context(), avepoint.ListOptions{}, func(avepoint.User) error { n++; return nil })
		if err != nil || n != users {
			b.Fatalf("%d users (%+v): %v", n, stats, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/users, "ns/user")
}

// BenchmarkListUsers100kBaseline is the floor: the same 1,001 pages
// fetched with a bare GET (token fetched once beforehand) and decoded with
// a bare json.Unmarshal into login names, no checks.
func BenchmarkListUsers100kBaseline(b *testing.B) {
	const users = 100_000
	sim, err := avesim.Start(b.Context(), avesim.Options{ClientID: clientID, ClientSecret: secret, Users: avesim.UsersOptions{Count: users}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {avesim.Scope}}
	resp, err := http.PostForm(sim.TokenURL, form)
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for page := 0; ; page++ {
			req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, sim.URL+"/insights/users/summary?pageSize=100&startPage="+strconv.Itoa(page), nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			var p struct {
				Results []struct {
					LoginName string `json:"loginName"`
				} `json:"results"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				b.Fatal(err)
			}
			n += len(p.Results)
			if len(p.Results) < 100 {
				break
			}
		}
		if n != users {
			b.Fatalf("%d users", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/users, "ns/user")
}
