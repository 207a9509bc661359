package avepoint_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

var creds = avepoint.Credentials{ClientID: clientID, ClientSecret: secret}

func listAll(t *testing.T, c *avepoint.Client, opts avepoint.ListOptions) ([]avepoint.User, avepoint.ListStats, error) {
	t.Helper()
	var got []avepoint.User
	stats, err := c.ListUsers(t.Context(), opts, func(u avepoint.User) error {
		got = append(got, u)
		return nil
	})
	return got, stats, err
}

// distinct is the simulator's own listing with repeats dropped, as a
// pager must deliver it: first occurrence wins, login names lower-cased.
func distinct(users []avesim.TenantUser) []avesim.TenantUser {
	seen := map[string]bool{}
	var out []avesim.TenantUser
	for _, u := range users {
		low := strings.ToLower(u.LoginName)
		if !seen[low] {
			seen[low] = true
			u.LoginName = low
			out = append(out, u)
		}
	}
	return out
}

func keptCount(t *testing.T, f request.UserFilter, upns, statuses []string) int {
	t.Helper()
	n := 0
	for i := range upns {
		if ok, _ := f.Keep(upns[i], statuses[i]); ok {
			n++
		}
	}
	return n
}

func TestListUsersEveryPagingStyle(t *testing.T) {
	filter, err := request.UserFilterRequest{}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		users avesim.UsersOptions
		want  avepoint.Paging
	}{
		{"from 0", avesim.UsersOptions{Paging: avesim.UsersFrom0}, avepoint.PagingFrom0},
		{"from 0, whole pages", avesim.UsersOptions{Paging: avesim.UsersFrom0, Count: 300}, avepoint.PagingFrom0},
		{"from 1, page 0 refused", avesim.UsersOptions{Paging: avesim.UsersFrom1Rejects0}, avepoint.PagingFrom1},
		{"from 1, page 0 served as 1", avesim.UsersOptions{Paging: avesim.UsersFrom1Serves0}, avepoint.PagingFrom1},
		{"from 1, page 0 served as 1, whole pages", avesim.UsersOptions{Paging: avesim.UsersFrom1Serves0, Count: 300}, avepoint.PagingFrom1},
		{"from 1, page 0 empty", avesim.UsersOptions{Paging: avesim.UsersFrom1Empty0}, avepoint.PagingFrom1},
		{"nextLink URL", avesim.UsersOptions{Paging: avesim.UsersNextLinkURL}, avepoint.PagingNextLinkURL},
		{"nextLink path", avesim.UsersOptions{Paging: avesim.UsersNextLinkURL, RelativeNextLink: true}, avepoint.PagingNextLinkURL},
		{"nextLink token", avesim.UsersOptions{Paging: avesim.UsersNextLinkToken}, avepoint.PagingNextLinkToken},
		{"nextLink token, whole pages", avesim.UsersOptions{Paging: avesim.UsersNextLinkToken, Count: 300}, avepoint.PagingNextLinkToken},
		{"repeats across pages", avesim.UsersOptions{Paging: avesim.UsersFrom0, Count: 250, Duplicates: 7}, avepoint.PagingFrom0},
		{"one short page", avesim.UsersOptions{Paging: avesim.UsersFrom1Serves0, Count: 40}, avepoint.PagingFrom0},
		{"empty tenant", avesim.UsersOptions{Paging: avesim.UsersFrom0, Count: -1}, avepoint.PagingFrom0},
		{"empty tenant, from 1", avesim.UsersOptions{Paging: avesim.UsersFrom1Rejects0, Count: -1}, avepoint.PagingFrom1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.users.Count == 0 {
				c.users.Count = 1234
			}
			sim := startSim(t, avesim.Options{Users: c.users})
			cl := newClient(t, sim, creds)
			got, stats, err := listAll(t, cl, avepoint.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			listing := sim.Server.TenantUsers()
			want := distinct(listing)
			if len(got) != len(want) || stats.Listed != len(want) || stats.Duplicates != len(listing)-len(want) {
				t.Fatalf("got %d users (stats %+v), the simulator lists %d distinct of %d", len(got), stats, len(want), len(listing))
			}
			var upns, statuses []string
			for i, u := range got {
				w := want[i]
				if u.LoginName != w.LoginName || u.UserStatus != w.UserStatus || u.Email != w.Email || u.LastSignIn != w.LastSignIn || u.CreatedOn != w.CreatedOn {
					t.Fatalf("user %d = %+v, want %+v", i, u, w)
				}
				if u.SensitiveItems == nil || *u.SensitiveItems != w.SensitiveItems {
					t.Fatalf("user %d sensitiveItems %v, want %d", i, u.SensitiveItems, w.SensitiveItems)
				}
				upns, statuses = append(upns, u.LoginName), append(statuses, u.UserStatus)
			}
			var simUPNs, simStatuses []string
			for _, u := range listing {
				simUPNs, simStatuses = append(simUPNs, u.LoginName), append(simStatuses, u.UserStatus)
			}
			if c.users.Duplicates == 0 && keptCount(t, filter, upns, statuses) != keptCount(t, filter, simUPNs, simStatuses) {
				t.Fatal("the filter keeps a different number of the pager's users than of the simulator's")
			}
			if stats.Paging != c.want {
				t.Errorf("paging %q, want %q", stats.Paging, c.want)
			}
			// No call beyond the pages counted, but a refused page 0.
			extra := 0
			if c.users.Paging == avesim.UsersFrom1Rejects0 {
				extra = 1
			}
			if n := sim.Server.UsersCalls(); n != stats.Pages+extra {
				t.Errorf("%d users calls for %d pages", n, stats.Pages)
			}
			for _, call := range callsTo(sim, avesim.EndpointUsers) {
				if call.Method != http.MethodGet || call.Auth != avesim.AuthBearerOK || call.Query.Get("pageSize") != "100" {
					t.Errorf("call %s %s?%s auth %s", call.Method, call.Path, call.RawQuery, call.Auth)
				}
				if call.Query.Has("nextLink") && call.Query.Get("startPage") != "0" {
					t.Errorf("a token call asks for startPage=%s, not the listing's first page", call.Query.Get("startPage"))
				}
			}
		})
	}
}

func TestListUsersNeverLoopsForever(t *testing.T) {
	for _, c := range []struct {
		name   string
		users  avesim.UsersOptions
		max    int
		reason string
	}{
		{"endless pages", avesim.UsersOptions{Count: 50, Endless: true}, 30, "did not end within 30 pages"},
		{"endless nextLink tokens", avesim.UsersOptions{Count: 50, Endless: true, Paging: avesim.UsersNextLinkToken}, 30, "did not end within 30 pages"},
		{"endless nextLink URLs", avesim.UsersOptions{Count: 50, Endless: true, Paging: avesim.UsersNextLinkURL}, 30, "did not end within 30 pages"},
		{"nextLink token loops back", avesim.UsersOptions{Count: 450, Paging: avesim.UsersNextLinkToken, LoopBack: true}, 0, "was seen before"},
		{"nextLink URL loops back", avesim.UsersOptions{Count: 450, Paging: avesim.UsersNextLinkURL, LoopBack: true}, 0, "was seen before"},
		{"same page for ever", avesim.UsersOptions{RepeatPage: true}, 0, "repeats the page before it"},
		{"same page and nextLink for ever", avesim.UsersOptions{RepeatPage: true, Paging: avesim.UsersNextLinkToken}, 0, "repeats the page before it"},
		{"page budget", avesim.UsersOptions{Count: 2500}, 10, "did not end within 10 pages"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sim := startSim(t, avesim.Options{Users: c.users})
			_, stats, err := listAll(t, newClient(t, sim, creds), avepoint.ListOptions{MaxPages: c.max})
			var pe *failure.ProtocolError
			if !errors.As(err, &pe) || !strings.Contains(pe.Reason, c.reason) {
				t.Fatalf("got %v, want a ProtocolError saying %q", err, c.reason)
			}
			if c.max > 0 && sim.Server.UsersCalls() != c.max {
				t.Errorf("%d calls with a budget of %d pages", sim.Server.UsersCalls(), c.max)
			}
			if sim.Server.UsersCalls() > 30 || stats.Pages > 30 {
				t.Errorf("%d calls before giving up", sim.Server.UsersCalls())
			}
		})
	}
}

// The default budget covers the 200,000 users the issue names.
func TestDefaultPageBudgetCovers200kUsers(t *testing.T) {
	if avepoint.DefaultMaxUserPages*avepoint.UsersPageSize < 200_000+avepoint.UsersPageSize {
		t.Fatalf("%d pages of %d", avepoint.DefaultMaxUserPages, avepoint.UsersPageSize)
	}
}

func TestListUsersRefusesResultsWithoutAUsableLoginName(t *testing.T) {
	bad := []avesim.TenantUser{avesim.GenerateTenantUser(0), avesim.GenerateTenantUser(1), {LoginName: "Not An Upn", UserStatus: "Active"}}
	for _, c := range []struct {
		name  string
		users avesim.UsersOptions
		want  string
	}{
		{"missing on page 2", avesim.UsersOptions{Count: 300, DropLoginNameAt: 150}, "users page 2, results[49] has no loginName"},
		{"not a UPN", avesim.UsersOptions{List: bad}, "users page 1, results[2]: loginName is not a user principal name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sim := startSim(t, avesim.Options{Users: c.users})
			var logs bytes.Buffer
			cl := newClient(t, sim, creds, func(cfg *avepoint.Config) {
				cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			_, _, err := listAll(t, cl, avepoint.ListOptions{})
			var pe *failure.ProtocolError
			if !errors.As(err, &pe) || !strings.Contains(pe.Reason, c.want) {
				t.Fatalf("got %v, want a ProtocolError saying %q", err, c.want)
			}
			var upns []string
			for _, u := range sim.Server.TenantUsers() {
				upns = append(upns, u.LoginName, u.Email, u.DisplayName)
			}
			if leak := badinput.Leaks(err.Error()+logs.String(), upns...); leak != "" {
				t.Fatalf("error or log names %q: %v", leak, err)
			}
		})
	}
}

func TestListUsersRecoversFromThrottlingAndServerErrors(t *testing.T) {
	sim := startSim(t, avesim.Options{Users: avesim.UsersOptions{Count: 450, ErrorAfter: 2, ErrorStatuses: []int{429, 503, 500}}})
	got, stats, err := listAll(t, newClient(t, sim, creds), avepoint.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 450 || stats.Pages != 5 {
		t.Fatalf("%d users on %d pages", len(got), stats.Pages)
	}
	if n := sim.Server.UsersCalls(); n != stats.Pages+3 {
		t.Fatalf("%d calls, want %d pages and 3 retries", n, stats.Pages)
	}
}

func TestListUsersRefreshesARevokedToken(t *testing.T) {
	sim := startSim(t, avesim.Options{Users: avesim.UsersOptions{Count: 250}})
	cl := newClient(t, sim, creds)
	n := 0
	_, err := cl.ListUsers(t.Context(), avepoint.ListOptions{}, func(avepoint.User) error {
		if n++; n == 100 {
			sim.Server.RevokeTokens()
		}
		return nil
	})
	if err != nil || n != 250 {
		t.Fatalf("%d users, %v", n, err)
	}
	if sim.Server.TokensIssued() != 2 {
		t.Fatalf("%d tokens issued", sim.Server.TokensIssued())
	}
}

// A nextLink on another host is not followed: the request would carry
// the bearer token (or, without it, fetch a page from who knows where).
func TestListUsersRefusesANextLinkToAnotherHost(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"results":[],"status":200,"message":"","nextLink":null}`))
	}))
	t.Cleanup(other.Close)
	for _, base := range []string{other.URL, strings.Replace(other.URL, "127.0.0.1", "localhost", 1), "https://graph-us.avepointonlineservices.com.evil.example", "ftp://127.0.0.1"} {
		t.Run(base, func(t *testing.T) {
			sim := startSim(t, avesim.Options{Users: avesim.UsersOptions{Count: 250, Paging: avesim.UsersNextLinkURL, NextLinkBase: base}})
			got, _, err := listAll(t, newClient(t, sim, creds), avepoint.ListOptions{})
			var pe *failure.ProtocolError
			if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "not the API host; refused") {
				t.Fatalf("got %v, want a ProtocolError refusing the host", err)
			}
			if len(got) != 100 || sim.Server.UsersCalls() != 1 {
				t.Fatalf("%d users, %d calls", len(got), sim.Server.UsersCalls())
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatalf("the other host saw %d requests", hits.Load())
	}
}

func TestListUsersPassesTheCallbacksErrorAndChecksPageSize(t *testing.T) {
	sim := startSim(t, avesim.Options{Users: avesim.UsersOptions{Count: 250}})
	cl := newClient(t, sim, creds)
	stop := errors.New("stop")
	if _, err := cl.ListUsers(t.Context(), avepoint.ListOptions{}, func(avepoint.User) error { return stop }); err != stop {
		t.Fatalf("got %v", err)
	}
	for _, size := range []int{-1, 101} {
		var ve *failure.ValidationError
		if _, err := cl.ListUsers(t.Context(), avepoint.ListOptions{PageSize: size}, func(avepoint.User) error { return nil }); !errors.As(err, &ve) {
			t.Fatalf("page size %d: %v", size, err)
		}
	}
	if sim.Server.UsersCalls() != 1 {
		t.Fatalf("%d calls", sim.Server.UsersCalls())
	}
	got, stats, err := listAll(t, cl, avepoint.ListOptions{PageSize: 7})
	if err != nil || len(got) != 250 || stats.Pages != 36 {
		t.Fatalf("%d users on %d pages: %v", len(got), stats.Pages, err)
	}
}
