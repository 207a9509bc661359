package devstack

import (
	"slices"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// A batch with allUsers exports exactly the users its filter selects from
// AvePoint's listing, whichever way the listing pages: counted against
// the simulator's own tenant, through the real batch ASL (DiscoverUsers,
// then the list read as usersFrom).
func TestAllUsersExportsWhomTheFilterSelects(t *testing.T) {
	filter := map[string]any{"status": []string{"Active", "Not in Azure AD"}, "guests": false}
	want, err := request.UserFilterRequest{Status: []string{"Active", "Not in Azure AD"}, Guests: new(bool)}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	for _, paging := range []avesim.UsersPaging{avesim.UsersFrom1Rejects0, avesim.UsersNextLinkToken} {
		t.Run(paging.String(), func(t *testing.T) {
			st := startBatchStack(t, avesim.Options{PollsToFinish: -1, Users: avesim.UsersOptions{Count: 140, Paging: paging, Duplicates: 3}},
				map[string]string{"MAX_CONCURRENCY": "10"})
			var selected []string
			for _, u := range st.Sim.Server.TenantUsers() {
				if keep, _ := want.Keep(u.LoginName, u.UserStatus); keep && !slices.Contains(selected, strings.ToLower(u.LoginName)) {
					selected = append(selected, strings.ToLower(u.LoginName))
				}
			}
			if len(selected) < 20 || len(selected) == 140 {
				t.Fatalf("the tenant gives %d selected users of 140: the filter tests nothing", len(selected))
			}
			exec, out := runBatch(t, st, map[string]any{"allUsers": filter, "finishTime": "2026-11-01T00:00:00"})
			if exec.Status != StatusSucceeded {
				t.Fatalf("execution %s: %s %s", exec.Status, exec.Error, exec.Cause)
			}
			var exported []string
			for _, j := range st.Sim.Server.Jobs() {
				exported = append(exported, j.Email)
			}
			slices.Sort(exported)
			slices.Sort(selected)
			if !slices.Equal(exported, selected) {
				t.Fatalf("exported %d users, the filter selects %d:\nexported %v\nselected %v", len(exported), len(selected), exported, selected)
			}
			if out.Counts.Users != len(selected) || out.Counts.Succeeded != len(selected) {
				t.Errorf("counts %+v, want %d users succeeded", out.Counts, len(selected))
			}
			if states := enteredStates(exec.Events); !slices.Contains(states, "DiscoverUsers") {
				t.Errorf("states %v", states)
			}
		})
	}
}

// What can be wrong with a discovery is a named error before any export
// starts: a malformed filter (before any AvePoint call), a listing that
// never ends, a listed user without a loginName.
func TestAllUsersRefusedBeforeAnyExport(t *testing.T) {
	for _, tc := range []struct {
		name      string
		users     avesim.UsersOptions
		env       map[string]string
		allUsers  any
		wantError string
		wantCause string
		noListing bool
	}{
		{name: "malformed filter", allUsers: map[string]any{"status": []string{"Gone"}}, wantError: "ValidationError", wantCause: "allUsers.status[0]", noListing: true},
		{name: "a filter that selects nobody", users: avesim.UsersOptions{Count: 30}, allUsers: map[string]any{"domains": []string{"nowhere.example"}}, wantError: "ValidationError", wantCause: "selects no user"},
		{name: "a listing that never ends", users: avesim.UsersOptions{Count: 30, Endless: true}, env: map[string]string{"USERS_MAX_PAGES": "5"}, allUsers: map[string]any{}, wantError: "ProtocolError", wantCause: "page"},
		{name: "a listed user without a loginName", users: avesim.UsersOptions{Count: 30, DropLoginNameAt: 7}, allUsers: map[string]any{}, wantError: "ProtocolError", wantCause: "loginName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := startBatchStack(t, avesim.Options{Users: tc.users}, tc.env)
			exec, _ := runBatch(t, st, map[string]any{"allUsers": tc.allUsers, "finishTime": "2026-11-01T00:00:00"})
			if exec.Status != StatusFailed || exec.Error != tc.wantError || !strings.Contains(exec.Cause, tc.wantCause) {
				t.Fatalf("got %s %s %s; want %s mentioning %q", exec.Status, exec.Error, exec.Cause, tc.wantError, tc.wantCause)
			}
			if n := len(st.Sim.Server.Jobs()); n != 0 {
				t.Errorf("%d exports started", n)
			}
			if tc.noListing && st.Sim.Server.UsersCalls() != 0 {
				t.Errorf("%d listing calls for an input refused as given", st.Sim.Server.UsersCalls())
			}
			for _, u := range st.Sim.Server.TenantUsers() {
				if u.LoginName != "" && strings.Contains(exec.Cause, strings.ToLower(u.LoginName)) {
					t.Fatalf("the cause names a user: %s", exec.Cause)
				}
			}
		})
	}
}
