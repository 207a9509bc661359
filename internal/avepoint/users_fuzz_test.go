package avepoint

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// FuzzUsersPage: whatever a users page holds, decoding it either fails
// with a ProtocolError or TransientError whose message is short, valid
// UTF-8 and quotes no loginName or email of the page, or yields users
// whose login names are valid, lower-case user principal names.
func FuzzUsersPage(f *testing.F) {
	for _, s := range []string{
		`{"results":[{"displayName":"Adele Vance","loginName":"adelev00606@m365x63.onmicrosoft.com","email":"AdeleV00606@m365x63.onmicrosoft.com","userStatus":"Active","trustStatus":"Not Trusted","sensitiveItems":87,"LastSignIn":"Less than 90 Days","createdOn":"2021-08-23T03:39:55"}],"status":200,"message":"","nextLink":null}`,
		`{"results":[{"loginName":"tester003_insightstest.onmicrosoft.com#ext#@m365x.onmicrosoft.com","email":""}],"nextLink":"fBMkYtVSN7/fBMGW+IDEbl3n2kYtVSN7KYyGQ=="}`,
		`{"values":[],"nextLink":"https://graph-us.avepointonlineservices.com/insights/users/summary?startPage=2&pageSize=100"}`,
		`{"results":null}`, `{"results":[{"loginName":"bad upn@x.io"}]}`, `{"results":[{}]}`, `{}`, `[]`, `null`,
		`{"results":[{"loginName":"a@b.co","sensitiveItems":"x"}],"nextLink":{"a":1}}`, `{"status":500,"message":"boom","results":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var a usersAnswer
		err := decodeJSON(strings.NewReader(string(body)), &a)
		var p usersPage
		if err == nil {
			p, err = a.check(3)
		}
		if err != nil {
			var pe *failure.ProtocolError
			var te *failure.TransientError
			if !errors.As(err, &pe) && !errors.As(err, &te) {
				t.Fatalf("error %T: %v", err, err)
			}
			msg := err.Error()
			if len(msg) > 300 || !utf8.ValidString(msg) {
				t.Fatalf("message of %d bytes, valid UTF-8 %v: %q", len(msg), utf8.ValidString(msg), msg)
			}
			for _, r := range append(a.Results.items, a.Values.items...) {
				for _, v := range []string{r.LoginName.s, r.Email.s} {
					// An address of six bytes or more; our own texts
					// hold no '@' but in "exactly one @".
					if len(v) >= 6 && strings.Contains(v, "@") && strings.Contains(msg, v) {
						t.Fatalf("message %q quotes %q", msg, v)
					}
				}
			}
			return
		}
		for _, u := range p.users {
			upn, verr := request.ValidateEmail(u.LoginName)
			if verr != nil || upn != u.LoginName {
				t.Fatalf("user %q kept: %v", u.LoginName, verr)
			}
		}
		if len(p.next) > maxNextLinkLen {
			t.Fatalf("nextLink of %d bytes kept", len(p.next))
		}
	})
}
