package avesim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type simPage struct {
	Results  []map[string]any `json:"results"`
	Status   int              `json:"status"`
	NextLink *string          `json:"nextLink"`
}

func (e *env) usersPage(t *testing.T, token, query string) (int, simPage) {
	t.Helper()
	r := e.get(t, usersPath+"?"+query, token)
	var p simPage
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("page %q: %v", r.body, err)
		}
	}
	return r.status, p
}

// walk pages the way the style wants and returns the login names served.
func (e *env) walk(t *testing.T, token string, style UsersPaging, size int) []string {
	t.Helper()
	var names []string
	q := url.Values{"pageSize": {strconv.Itoa(size)}}
	page := 0
	if style == UsersFrom1Rejects0 || style == UsersFrom1Serves0 || style == UsersFrom1Empty0 {
		page = 1
	}
	for n := 0; n < 10_000; n++ {
		q.Set("startPage", strconv.Itoa(page))
		status, p := e.usersPage(t, token, q.Encode())
		if status != http.StatusOK {
			t.Fatalf("page %d: HTTP %d", n, status)
		}
		for _, r := range p.Results {
			ln, _ := r["loginName"].(string)
			names = append(names, ln)
		}
		switch {
		case p.NextLink != nil && style == UsersNextLinkToken:
			q.Set("nextLink", *p.NextLink)
		case p.NextLink != nil && style == UsersNextLinkURL:
			u, err := url.Parse(*p.NextLink)
			if err != nil {
				t.Fatal(err)
			}
			q = u.Query()
			page, _ = strconv.Atoi(q.Get("startPage"))
		case style.nextLinks() || len(p.Results) < size:
			return names
		default:
			page++
		}
	}
	t.Fatal("the listing did not end")
	return nil
}

func TestUsersEveryStyleServesTheWholeTenantOnce(t *testing.T) {
	for _, style := range []UsersPaging{UsersFrom0, UsersFrom1Rejects0, UsersFrom1Serves0, UsersFrom1Empty0, UsersNextLinkURL, UsersNextLinkToken} {
		t.Run(style.String(), func(t *testing.T) {
			e := newEnv(t, Options{Users: UsersOptions{Count: 250, Paging: style}})
			got := e.walk(t, e.token(t), style, 100)
			want := e.srv.TenantUsers()
			if len(got) != len(want) {
				t.Fatalf("served %d users, tenant has %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i].LoginName {
					t.Fatalf("entry %d: %q, want %q", i, got[i], want[i].LoginName)
				}
			}
		})
	}
}

func TestUsersGeneratedTenantHasTheDocumentedTraps(t *testing.T) {
	e := newEnv(t, Options{})
	users := e.srv.TenantUsers()
	if len(users) != DefaultTenantUsers {
		t.Fatalf("%d users", len(users))
	}
	count := map[string]int{}
	seen := map[string]bool{}
	for _, u := range users {
		low := strings.ToLower(u.LoginName)
		if seen[low] {
			t.Fatalf("login name %q twice", u.LoginName)
		}
		seen[low] = true
		count[u.UserStatus]++
		switch {
		case strings.Contains(u.LoginName, "#EXT#"):
			count["guest upper"]++
		case strings.Contains(u.LoginName, "#ext#"):
			count["guest lower"]++
		case low != u.LoginName:
			count["mixed case"]++
		}
		switch {
		case u.Email == "":
			count["no email"]++
		case !strings.EqualFold(u.Email, u.LoginName):
			count["other email"]++
		}
		if u.SampleKey {
			count["LastSignIn"]++
		}
	}
	for _, k := range []string{"Active", "Blocked", "Not in Azure AD", "guest upper", "guest lower", "mixed case", "no email", "other email", "LastSignIn"} {
		if count[k] == 0 {
			t.Errorf("no user with %s", k)
		}
	}
	// Both spellings of the sign-in key travel.
	_, p := e.usersPage(t, e.token(t), "startPage=0&pageSize=2")
	if _, ok := p.Results[0]["LastSignIn"]; !ok {
		t.Errorf("first result has no LastSignIn key: %v", p.Results[0])
	}
	if _, ok := p.Results[1]["lastSignIn"]; !ok {
		t.Errorf("second result has no lastSignIn key: %v", p.Results[1])
	}
}

func TestUsersIsStrictAboutItsQuery(t *testing.T) {
	e := newEnv(t, Options{Users: UsersOptions{Paging: UsersNextLinkToken}})
	tok := e.token(t)
	for _, c := range []struct {
		query  string
		status int
	}{
		{"startPage=0", 400},
		{"pageSize=10", 400},
		{"startPage=0&pageSize=0", 400},
		{"startPage=0&pageSize=101", 400},
		{"startPage=-1&pageSize=10", 400},
		{"startPage=0&pageSize=100", 200},
		{"startPage=0&pageSize=100&nextLink=" + url.QueryEscape(encodeUsersToken(100)), 200},
		// The token sent raw: '+' becomes a space, '#' ends the URL.
		{"startPage=0&pageSize=100&nextLink=" + strings.ReplaceAll(encodeUsersToken(100), "#", "%23"), 400},
		{"startPage=0&pageSize=100&nextLink=made-up", 400},
	} {
		if status, _ := e.usersPage(t, tok, c.query); status != c.status {
			t.Errorf("%s: HTTP %d, want %d", c.query, status, c.status)
		}
	}
	if r := e.get(t, usersPath+"?startPage=0&pageSize=1", ""); r.status != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d", r.status)
	}
	if n := e.srv.UsersCalls(); n != 10 {
		t.Errorf("UsersCalls = %d, want 10", n)
	}
}

func TestUsersFaults(t *testing.T) {
	t.Run("from-1 rejects page 0", func(t *testing.T) {
		e := newEnv(t, Options{Users: UsersOptions{Paging: UsersFrom1Rejects0}})
		if status, _ := e.usersPage(t, e.token(t), "startPage=0&pageSize=10"); status != http.StatusBadRequest {
			t.Fatalf("HTTP %d", status)
		}
	})
	t.Run("errors then pages", func(t *testing.T) {
		e := newEnv(t, Options{Users: UsersOptions{ErrorAfter: 1, ErrorStatuses: []int{429, 503}, RetryAfter: 2 * time.Second}})
		tok := e.token(t)
		var got []int
		for range 4 {
			s, _ := e.usersPage(t, tok, "startPage=0&pageSize=10")
			got = append(got, s)
		}
		if want := []int{200, 429, 503, 200}; !slices.Equal(got, want) {
			t.Fatalf("statuses %v, want %v", got, want)
		}
		for _, c := range e.srv.Calls() {
			if c.Status == 429 && c.RetryAfter != "2" {
				t.Errorf("Retry-After %q", c.RetryAfter)
			}
		}
	})
	t.Run("loop back", func(t *testing.T) {
		e := newEnv(t, Options{Users: UsersOptions{Count: 150, Paging: UsersNextLinkToken, LoopBack: true}})
		tok := e.token(t)
		_, first := e.usersPage(t, tok, "startPage=0&pageSize=100")
		_, last := e.usersPage(t, tok, "startPage=0&pageSize=100&nextLink="+url.QueryEscape(*first.NextLink))
		if last.NextLink == nil || *last.NextLink != *first.NextLink {
			t.Fatalf("last page's nextLink %v, want the first one", last.NextLink)
		}
	})
	t.Run("endless", func(t *testing.T) {
		e := newEnv(t, Options{Users: UsersOptions{Count: 10, Endless: true}})
		if _, p := e.usersPage(t, e.token(t), "startPage=5&pageSize=100"); len(p.Results) != 100 {
			t.Fatalf("%d results past the end", len(p.Results))
		}
	})
	t.Run("repeat page and dropped login name", func(t *testing.T) {
		e := newEnv(t, Options{Users: UsersOptions{RepeatPage: true, DropLoginNameAt: 3}})
		tok := e.token(t)
		_, a := e.usersPage(t, tok, "startPage=0&pageSize=5")
		_, b := e.usersPage(t, tok, "startPage=7&pageSize=5")
		if a.Results[0]["loginName"] != b.Results[0]["loginName"] {
			t.Fatal("pages differ")
		}
		if _, ok := a.Results[2]["loginName"]; ok {
			t.Fatal("entry 3 has a loginName")
		}
	})
	t.Run("duplicates", func(t *testing.T) {
		e := newEnv(t, Options{Users: UsersOptions{Count: 5, Duplicates: 2}})
		u := e.srv.TenantUsers()
		if len(u) != 7 || u[5].LoginName != strings.ToUpper(u[0].LoginName) {
			t.Fatalf("%+v", u)
		}
	})
}

func TestUsersOptionsAreChecked(t *testing.T) {
	for _, o := range []UsersOptions{
		{Paging: UsersPaging(99)},
		{LoopBack: true},
		{NextLinkBase: "http://x.example"},
		{Paging: UsersNextLinkURL, NextLinkBase: "not a url"},
		{Paging: UsersNextLinkToken, LoopBack: true, Endless: true},
		{ErrorStatuses: []int{200}},
		{Duplicates: -1},
	} {
		if _, err := New(Options{ClientID: "c", ClientSecret: "s", Users: o}); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
