package avepoint

import (
	"errors"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/failure"
)

func decodePage(t *testing.T, body string) (usersPage, error) {
	t.Helper()
	var a usersAnswer
	if err := decodeJSON(strings.NewReader(body), &a); err != nil {
		return usersPage{}, err
	}
	return a.check(1)
}

func TestUsersPageDecoding(t *testing.T) {
	for _, c := range []struct {
		name, body string
		users      int
		next       string
		signIn     string
		problem    string // "" = decodes
	}{
		{name: "sample spelling", body: `{"results":[{"loginName":"AdeleV@Contoso.com","email":"","userStatus":"Active","LastSignIn":"None","sensitiveItems":87}],"status":200,"message":"","nextLink":null}`, users: 1, signIn: "None"},
		{name: "table spelling", body: `{"results":[{"loginName":"a@contoso.com","lastSignIn":"N/A"}],"status":200}`, users: 1, signIn: "N/A"},
		{name: "keys in any case", body: `{"Results":[{"LOGINNAME":"a@contoso.com","lastsignin":"None"}],"NextLink":"abc"}`, users: 1, next: "abc", signIn: "None"},
		{name: "values", body: `{"values":[{"loginName":"a@contoso.com"}]}`, users: 1},
		{name: "null results", body: `{"results":null,"nextLink":null}`},
		{name: "empty results", body: `{"results":[]}`},
		{name: "odd informational types", body: `{"results":[{"loginName":"a@contoso.com","sensitiveItems":"12","displayName":{"x":1},"createdOn":20210823}]}`, users: 1},
		{name: "number nextLink", body: `{"results":[],"nextLink":2}`, next: "2"},
		{name: "no results", body: `{"status":200,"message":""}`, problem: "has no results"},
		{name: "both lists", body: `{"results":[],"values":[]}`, problem: "both results and values"},
		{name: "object nextLink", body: `{"results":[],"nextLink":{"token":"x"}}`, problem: "neither a string nor null"},
		{name: "long nextLink", body: `{"results":[],"nextLink":"` + strings.Repeat("x", maxNextLinkLen+1) + `"}`, problem: "at most 4096"},
		{name: "no loginName", body: `{"results":[{"loginName":"a@contoso.com"},{"email":"b@contoso.com"}]}`, problem: "results[1] has no loginName"},
		{name: "null loginName", body: `{"results":[{"loginName":null}]}`, problem: "results[0] has no loginName"},
		{name: "object loginName", body: `{"results":[{"loginName":{"upn":"a@contoso.com"}}]}`, problem: "results[0] has no loginName"},
		{name: "loginName not a UPN", body: `{"results":[{"loginName":"secret.person@"}]}`, problem: "results[0]: loginName is not a user principal name"},
		{name: "loginName with a path", body: `{"results":[{"loginName":"../admin@contoso.com"}]}`, problem: "is not a user principal name"},
		{name: "result not an object", body: `{"results":["a@contoso.com"]}`, problem: "not the documented JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := decodePage(t, c.body)
			if c.problem != "" {
				var pe *failure.ProtocolError
				if !errors.As(err, &pe) || !strings.Contains(pe.Reason, c.problem) {
					t.Fatalf("got %v, want a ProtocolError saying %q", err, c.problem)
				}
				for _, s := range []string{"secret.person", "admin@contoso", "b@contoso"} {
					if strings.Contains(err.Error(), s) {
						t.Fatalf("error quotes %q: %v", s, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.users) != c.users || p.next != c.next {
				t.Fatalf("%d users, next %q", len(p.users), p.next)
			}
			if c.users > 0 {
				if u := p.users[0]; u.LoginName != strings.ToLower(u.LoginName) || (c.signIn != "" && u.LastSignIn != c.signIn) {
					t.Fatalf("user %+v", u)
				}
			}
		})
	}
	p, _ := decodePage(t, `{"results":[{"loginName":"a@contoso.com","sensitiveItems":87}]}`)
	if p.users[0].SensitiveItems == nil || *p.users[0].SensitiveItems != 87 {
		t.Fatalf("sensitiveItems %v", p.users[0].SensitiveItems)
	}
}

func TestIsLinkTellsURLsFromTokens(t *testing.T) {
	for next, want := range map[string]bool{
		"https://graph-us.avepointonlineservices.com/insights/users/summary?startPage=2": true,
		"http://127.0.0.1:4000/insights/users/summary":                                   true,
		"//graph-us.avepointonlineservices.com/insights/users/summary":                   true,
		"/insights/users/summary?startPage=2&pageSize=100":                               true,
		"/api/insights/users/summary":                                                    true,
		"fBMkYtVSN7/fBMGW+IDEbl3n2kYtVSN7KYyGQ==":                                        false,
		"/fBMGW+IDEbl3n2kYtVSN7KYyGQ==":                                                  false,
		`[{"token":"+RID:~EqhH==#RT:1#TRC:10","range":{"min":"","max":"FF"}}]`:           false,
		`[{"token":"x://y"}]`:                                                            false,
		"1231":                                                                           false,
		"ftp://example.com/x":                                                            true, // refused later: not the API host
	} {
		if got := isLink(next); got != want {
			t.Errorf("isLink(%q) = %v, want %v", next, got, want)
		}
	}
}

// The page digest is over the lower-cased login names: two pages differ
// when any user does, and not when only the case does.
func TestUsersPageDigest(t *testing.T) {
	a, _ := decodePage(t, `{"results":[{"loginName":"A@contoso.com"},{"loginName":"b@contoso.com"}]}`)
	b, _ := decodePage(t, `{"results":[{"loginName":"a@contoso.com"},{"loginName":"B@contoso.com"}]}`)
	c, _ := decodePage(t, `{"results":[{"loginName":"a@contoso.com"},{"loginName":"c@contoso.com"}]}`)
	if a.digest != b.digest || a.digest == c.digest {
		t.Fatal("pages with the same users must share a digest, pages with others must not")
	}
}
