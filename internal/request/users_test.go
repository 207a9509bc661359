package request

import (
	"encoding/json"
	"testing"
)

func TestParseBatchUserSources(t *testing.T) {
	tests := []struct {
		name, in string
		want     Batch
	}{
		{"usersFrom in another bucket", `{"usersFrom":"s3://lists-bucket/compliance/users.csv","finishTime":"2026-11-24T00:00:00"}`,
			Batch{UsersFrom: "s3://lists-bucket/compliance/users.csv", FinishTime: "2026-11-24T00:00:00"}},
		{"usersFrom in the report bucket", `{"usersFrom":"lists/users.txt","finishTime":"2026-11-24T00:00:00"}`,
			Batch{UsersFrom: "lists/users.txt", FinishTime: "2026-11-24T00:00:00"}},
		{"allUsers defaults", `{"allUsers":{},"finishTime":"2026-11-24T00:00:00"}`,
			Batch{AllUsers: &UserFilter{Status: []string{"Active"}, Guests: true}, FinishTime: "2026-11-24T00:00:00"}},
		{"allUsers normalized", `{"allUsers":{"status":["blocked"," active "],"guests":false,"domains":["@Contoso.COM"],"exclude":["Svc-*@Contoso.com","Ceo@contoso.com"]},"finishTime":"2026-11-24T00:00:00"}`,
			Batch{AllUsers: &UserFilter{Status: []string{"Blocked", "Active"}, Domains: []string{"contoso.com"}, Exclude: []string{"svc-*@contoso.com", "ceo@contoso.com"}}, FinishTime: "2026-11-24T00:00:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBatch([]byte(tt.in), testNow)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tt.want)
			if string(g) != string(w) {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
			if len(got.Users()) != 0 {
				t.Fatalf("users %v: a list's users are read when the run is prepared", got.Users())
			}
			// Normalized, it is a valid input again that means the same.
			again, err := ParseBatch(g, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if a, _ := json.Marshal(again); string(a) != string(g) {
				t.Fatalf("reparsed %s, first %s", a, g)
			}
		})
	}
}

func TestUserFilterKeep(t *testing.T) {
	f, err := UserFilterRequest{Status: []string{"Active", "Not in Azure AD"}, Guests: new(bool), Domains: []string{"contoso.com"},
		Exclude: []string{"svc-*@contoso.com", "ceo@contoso.com", "*.test@*"}}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		upn, status string
		keep        bool
		dropped     string
	}{
		{"alex@contoso.com", "Active", true, ""},
		{"Alex@Contoso.com", "active", true, ""},
		{"gone@contoso.com", "Not in Azure AD", true, ""},
		{"blocked@contoso.com", "Blocked", false, DroppedStatus},
		{"megan_fabrikam.com#EXT#@contoso.onmicrosoft.com", "Active", false, DroppedGuest},
		{"alex@fabrikam.com", "Active", false, DroppedDomain},
		{"alex@sub.contoso.com", "Active", false, DroppedDomain},
		{"svc-backup@contoso.com", "Active", false, DroppedExcluded},
		{"svc-@contoso.com", "Active", false, DroppedExcluded},
		{"ceo@contoso.com", "Active", false, DroppedExcluded},
		{"ceo2@contoso.com", "Active", true, ""},
		{"load.test@contoso.com", "Active", false, DroppedExcluded},
		{"", "Active", false, DroppedDomain},
	}
	for _, tt := range tests {
		keep, dropped := f.Keep(tt.upn, tt.status)
		if keep != tt.keep || dropped != tt.dropped {
			t.Errorf("Keep(%q, %q) = %v, %q; want %v, %q", tt.upn, tt.status, keep, dropped, tt.keep, tt.dropped)
		}
	}
	every, _ := UserFilterRequest{}.Validate()
	if keep, _ := every.Keep("megan_fabrikam.com#EXT#@contoso.onmicrosoft.com", "Active"); !keep {
		t.Error("the default filter drops guests")
	}
	if keep, d := every.Keep("a@x.io", "Blocked"); keep || d != DroppedStatus {
		t.Error("the default filter keeps blocked users")
	}
}

func TestWildcard(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"a*", "abc", true}, {"*c", "abc", true}, {"a*c", "ac", true}, {"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false}, {"*", "", true}, {"abc", "abc", true}, {"abc", "abcd", false},
		{"a*a", "a", false}, {"*@x.io", "u@x.io", true}, {"*@x.io", "u@x.io.evil", false},
	} {
		if got := wildcard(tt.p, tt.s); got != tt.want {
			t.Errorf("wildcard(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}

func TestUsersFromObject(t *testing.T) {
	if b, k := UsersFromObject("s3://lists/a/b.csv", "reports"); b != "lists" || k != "a/b.csv" {
		t.Errorf("got %s %s", b, k)
	}
	if b, k := UsersFromObject("a/b.csv", "reports"); b != "reports" || k != "a/b.csv" {
		t.Errorf("got %s %s", b, k)
	}
}
