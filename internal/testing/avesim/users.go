package avesim

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	usersPath = "/insights/users/summary"
	// DefaultTenantUsers is the size of the generated tenant
	// (UsersOptions.Count).
	DefaultTenantUsers = 2500
	// MaxUsersPageSize is the documented ceiling of pageSize.
	MaxUsersPageSize = 100
)

// UsersPaging is how the users endpoint pages. AvePoint documents
// startPage as "starts from 0" but its sample asks for startPage=1, and
// documents nextLink as "the token to be used to get the remaining
// results" without showing one: each reading is a style here.
type UsersPaging int

const (
	// UsersFrom0 numbers pages from 0 and never sends a nextLink.
	UsersFrom0 UsersPaging = iota
	// UsersFrom1Rejects0 numbers pages from 1 and answers startPage=0
	// with 400.
	UsersFrom1Rejects0
	// UsersFrom1Serves0 numbers pages from 1 and serves startPage=0 as
	// page 1 (a server that clamps).
	UsersFrom1Serves0
	// UsersFrom1Empty0 numbers pages from 1 and answers startPage=0 with
	// an empty page.
	UsersFrom1Empty0
	// UsersNextLinkURL pages from 0 and sends, while users remain, the
	// next page's absolute URL as nextLink (its own query: startPage,
	// pageSize and a $skiptoken).
	UsersNextLinkURL
	// UsersNextLinkToken pages from 0 and sends, while users remain, an
	// opaque token as nextLink, which the client sends back as the
	// nextLink query parameter beside startPage and pageSize, as
	// AvePoint's /insights/sites/permission and sharing-link samples do
	// (…&pageSize=100&nextLink=…). The token is shaped like the
	// continuation token of the sharing-link sample: quotes, '+', '/',
	// '#', '=' — a client that does not percent-encode it loses it.
	UsersNextLinkToken
)

var usersPagingNames = []string{"from-0", "from-1-rejects-0", "from-1-serves-0", "from-1-empty-0", "nextlink-url", "nextlink-token"}

func (p UsersPaging) String() string {
	if int(p) >= 0 && int(p) < len(usersPagingNames) {
		return usersPagingNames[p]
	}
	return "users-paging(" + strconv.Itoa(int(p)) + ")"
}

func (p UsersPaging) nextLinks() bool { return p == UsersNextLinkURL || p == UsersNextLinkToken }

// TenantUser is one entry of the user list as the simulator serves it.
type TenantUser struct {
	DisplayName string
	// LoginName is the user principal name; "" serves the entry without
	// the key.
	LoginName      string
	Email          string // may be empty or differ from LoginName
	UserStatus     string // Active, Blocked, Not in Azure AD
	TrustStatus    string
	SensitiveItems int
	LastSignIn     string
	CreatedOn      string
	// SampleKey spells the sign-in key "LastSignIn", as AvePoint's
	// response sample does (its table says lastSignIn).
	SampleKey bool
}

// UsersOptions configure the user list (Options.Users).
type UsersOptions struct {
	// Count is the size of the generated tenant (0 = DefaultTenantUsers;
	// negative = no users). The generated users mix statuses (Active,
	// Blocked, Not in Azure AD), guests (#EXT# and #ext#), mixed-case
	// login names, empty and differing emails, and both spellings of
	// the sign-in key (GenerateTenantUser).
	Count int
	// List, when not nil, is the tenant instead of generated users.
	List []TenantUser
	// Duplicates appends this many entries repeating the first users'
	// login names in upper case: a listing that names a user twice.
	Duplicates int
	Paging     UsersPaging
	// NextLinkBase is the base of the nextLink URLs (UsersNextLinkURL;
	// "" = the host the request came to), e.g. another host's, which a
	// client must refuse to send its token to.
	NextLinkBase string
	// RelativeNextLink sends nextLink URLs as paths (UsersNextLinkURL).
	RelativeNextLink bool

	// Faults.

	// Endless makes the list never end: past the tenant, pages of
	// made-up users (and nextLinks to more) follow forever.
	Endless bool
	// LoopBack makes the nextLink of the tenant's last page the first
	// nextLink handed out (nextLink styles): a pager that follows it
	// goes round for ever.
	LoopBack bool
	// RepeatPage answers every request with the first page (and, in the
	// nextLink styles, the same nextLink).
	RepeatPage bool
	// DropLoginNameAt serves the entry at this 1-based position of the
	// listing without its loginName (0 = none).
	DropLoginNameAt int
	// ErrorStatuses answer the users calls after the first ErrorAfter
	// with these HTTP statuses in turn, once each (429 and 503 with
	// Retry-After), before serving again.
	ErrorStatuses []int
	ErrorAfter    int
	// RetryAfter is the Retry-After of injected 429/503 answers (whole
	// seconds; 0 = 1s, negative = none).
	RetryAfter time.Duration
}

// usersState is the users endpoint's bookkeeping, guarded by Server.mu.
type usersState struct {
	entries []TenantUser // the finite listing, duplicates included
	served  int          // users calls answered with a page
	errors  int          // injected errors answered
}

func validateUsersOptions(o UsersOptions) error {
	switch {
	case o.Paging < UsersFrom0 || o.Paging > UsersNextLinkToken:
		return fmt.Errorf("avesim: Users.Paging: unknown style %d", o.Paging)
	case o.Duplicates < 0 || o.DropLoginNameAt < 0 || o.ErrorAfter < 0:
		return errors.New("avesim: Users: Duplicates, DropLoginNameAt and ErrorAfter must not be negative")
	case o.LoopBack && !o.Paging.nextLinks():
		return errors.New("avesim: Users.LoopBack needs a nextLink paging style")
	case (o.NextLinkBase != "" || o.RelativeNextLink) && o.Paging != UsersNextLinkURL:
		return errors.New("avesim: Users.NextLinkBase and RelativeNextLink need UsersNextLinkURL")
	case o.Endless && o.LoopBack:
		return errors.New("avesim: Users.Endless and LoopBack exclude each other")
	}
	for _, st := range o.ErrorStatuses {
		if st < 400 || st > 599 {
			return fmt.Errorf("avesim: Users.ErrorStatuses must be 4xx or 5xx, got %d", st)
		}
	}
	if o.NextLinkBase != "" {
		if u, err := url.Parse(o.NextLinkBase); err != nil || !u.IsAbs() || u.Host == "" {
			return fmt.Errorf("avesim: Users.NextLinkBase %q is not an absolute URL", o.NextLinkBase)
		}
	}
	return nil
}

func newUsersState(o UsersOptions) usersState {
	var entries []TenantUser
	switch {
	case o.List != nil:
		entries = append([]TenantUser(nil), o.List...)
	default:
		n := o.Count
		if n == 0 {
			n = DefaultTenantUsers
		}
		entries = make([]TenantUser, 0, max(n, 0)+o.Duplicates)
		for i := range max(n, 0) {
			entries = append(entries, GenerateTenantUser(i))
		}
	}
	for i := range min(o.Duplicates, len(entries)) {
		d := entries[i]
		d.LoginName = strings.ToUpper(d.LoginName)
		entries = append(entries, d)
	}
	return usersState{entries: entries}
}

var (
	signInBuckets = []string{"Less than 90 Days", "More than 90 Days", "More than 180 Days", "None", "N/A"}
	userDomains   = []string{"contoso.com", "fabrikam.com", "contoso.onmicrosoft.com"}
	createdBase   = time.Date(2021, 8, 23, 3, 39, 55, 0, time.UTC)
)

// GenerateTenantUser is the i-th generated user (i from 0): about one in
// nine a guest, one in eleven Blocked, one in thirteen Not in Azure AD,
// one in five with a mixed-case login name, one in four with no email and
// one in four with an email that differs from the login name. Login names
// are unique, also ignoring case.
func GenerateTenantUser(i int) TenantUser {
	n := i + 1
	u := TenantUser{
		DisplayName:    fmt.Sprintf("User %05d", n),
		UserStatus:     "Active",
		TrustStatus:    "Not Trusted",
		SensitiveItems: i * 7 % 100,
		LastSignIn:     signInBuckets[i%len(signInBuckets)],
		CreatedOn:      createdBase.Add(time.Duration(i) * time.Hour).Format("2006-01-02T15:04:05"),
		SampleKey:      i%2 == 0,
	}
	domain := userDomains[i%len(userDomains)]
	switch {
	case i%9 == 4:
		ext := "#EXT#"
		if i%2 == 1 {
			ext = "#ext#"
		}
		u.LoginName = fmt.Sprintf("guest%05d_partner%d.com%s@contoso.onmicrosoft.com", n, i%4, ext)
		u.DisplayName += " (Guest)"
	case i%5 == 1:
		u.LoginName = fmt.Sprintf("User%05d@%s", n, strings.ToUpper(domain[:1])+domain[1:])
	default:
		u.LoginName = fmt.Sprintf("user%05d@%s", n, domain)
	}
	switch {
	case i%11 == 3:
		u.UserStatus = "Blocked"
	case i%13 == 6:
		u.UserStatus = "Not in Azure AD"
	}
	if i%3 == 0 {
		u.TrustStatus = "Trusted"
	}
	switch i % 4 {
	case 0:
		u.Email = ""
	case 1:
		u.Email = fmt.Sprintf("alias.%05d@mail.%s", n, domain)
	default:
		u.Email = strings.ToUpper(u.LoginName[:1]) + u.LoginName[1:]
	}
	return u
}

// TenantUsers returns the listing as the endpoint serves it, in order,
// duplicates included (not the made-up users of Endless): what a test
// counts a pager's result against.
func (s *Server) TenantUsers() []TenantUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TenantUser(nil), s.users.entries...)
}

// UsersCalls counts the calls answered on the users endpoint, whatever
// their status (refused tokens included).
func (s *Server) UsersCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Endpoint == EndpointUsers {
			n++
		}
	}
	return n
}

// userJSON is one result. Both spellings of the sign-in key exist because
// AvePoint's table says lastSignIn and its sample LastSignIn; one is sent.
type userJSON struct {
	DisplayName      string `json:"displayName"`
	LoginName        string `json:"loginName,omitempty"`
	Email            string `json:"email"`
	UserStatus       string `json:"userStatus"`
	TrustStatus      string `json:"trustStatus"`
	SensitiveItems   int    `json:"sensitiveItems"`
	LastSignIn       string `json:"lastSignIn,omitempty"`
	SampleLastSignIn string `json:"LastSignIn,omitempty"`
	CreatedOn        string `json:"createdOn"`
}

type usersPage struct {
	Results  []userJSON `json:"results"`
	Status   int        `json:"status"`
	Message  string     `json:"message"`
	NextLink *string    `json:"nextLink"`
}

// handleUsers serves one page of the user list. It is strict where the
// documentation is: startPage and pageSize are required, pageSize is 1 to
// 100; a nextLink it did not issue is refused.
func (s *Server) handleUsers(r *http.Request, rec *Call) response {
	o := s.opts.Users
	s.mu.Lock()
	if s.users.served >= o.ErrorAfter && s.users.errors < len(o.ErrorStatuses) {
		status := o.ErrorStatuses[s.users.errors]
		s.users.errors++
		s.mu.Unlock()
		return s.injectedUsersError(rec, status)
	}
	s.mu.Unlock()

	q := rec.Query
	size, err := strconv.Atoi(q.Get("pageSize"))
	if err != nil || size < 1 || size > MaxUsersPageSize {
		return apiError(rec, http.StatusBadRequest, "pageSize is required: 1 to 100")
	}
	page, err := strconv.Atoi(q.Get("startPage"))
	if err != nil || page < 0 {
		return apiError(rec, http.StatusBadRequest, "startPage is required: a page number from 0")
	}
	offset := 0
	switch token, skip := q.Get("nextLink"), q.Get("$skiptoken"); {
	case o.RepeatPage:
	case q.Has("nextLink"):
		if o.Paging != UsersNextLinkToken {
			return apiError(rec, http.StatusBadRequest, "nextLink was not issued by this server")
		}
		if offset, err = decodeUsersToken(token); err != nil {
			return apiError(rec, http.StatusBadRequest, "invalid nextLink")
		}
	case q.Has("$skiptoken"):
		if o.Paging != UsersNextLinkURL {
			return apiError(rec, http.StatusBadRequest, "$skiptoken was not issued by this server")
		}
		if offset, err = decodeSkip(skip); err != nil {
			return apiError(rec, http.StatusBadRequest, "invalid $skiptoken")
		}
	default:
		switch o.Paging {
		case UsersFrom1Rejects0:
			if page == 0 {
				return apiError(rec, http.StatusBadRequest, "startPage must be at least 1")
			}
			offset = (page - 1) * size
		case UsersFrom1Serves0:
			offset = max(page-1, 0) * size
		case UsersFrom1Empty0:
			if page == 0 {
				offset = -1 // an empty page
			} else {
				offset = (page - 1) * size
			}
		default:
			offset = page * size
		}
	}

	s.mu.Lock()
	s.users.served++
	total := len(s.users.entries)
	body := usersPage{Status: http.StatusOK, Results: []userJSON{}}
	if offset >= 0 {
		for i := offset; i < offset+size && (i < total || o.Endless); i++ {
			body.Results = append(body.Results, toUserJSON(s.entryLocked(i), o.DropLoginNameAt == i+1))
		}
	}
	s.mu.Unlock()
	if o.Paging.nextLinks() && offset >= 0 {
		next := offset + size
		switch {
		case o.RepeatPage:
			next = size
		case next >= total && !o.Endless && o.LoopBack:
			next = size // the first nextLink handed out
		case next >= total && !o.Endless:
			next = -1
		}
		if next >= 0 {
			link := s.usersLink(r, next, size)
			body.NextLink = &link
		}
	}
	return jsonResponse(http.StatusOK, body)
}

// entryLocked is the listing's i-th entry; past the tenant (Endless), a
// made-up user no listing has named yet.
func (s *Server) entryLocked(i int) TenantUser {
	if i < len(s.users.entries) {
		return s.users.entries[i]
	}
	return GenerateTenantUser(i + 1_000_000)
}

func toUserJSON(u TenantUser, dropLogin bool) userJSON {
	j := userJSON{DisplayName: u.DisplayName, LoginName: u.LoginName, Email: u.Email, UserStatus: u.UserStatus,
		TrustStatus: u.TrustStatus, SensitiveItems: u.SensitiveItems, CreatedOn: u.CreatedOn}
	if dropLogin {
		j.LoginName = ""
	}
	if u.SampleKey {
		j.SampleLastSignIn = u.LastSignIn
	} else {
		j.LastSignIn = u.LastSignIn
	}
	return j
}

// usersLink is the nextLink that continues at offset.
func (s *Server) usersLink(r *http.Request, offset, size int) string {
	o := s.opts.Users
	if o.Paging == UsersNextLinkToken {
		return encodeUsersToken(offset)
	}
	q := url.Values{}
	q.Set("startPage", strconv.Itoa(offset/size))
	q.Set("pageSize", strconv.Itoa(size))
	q.Set("$skiptoken", encodeSkip(offset))
	base := o.NextLinkBase
	switch {
	case o.RelativeNextLink:
		base = ""
	case base == "":
		base = requestBase(r)
	}
	return strings.TrimRight(base, "/") + usersPath + "?" + q.Encode()
}

// The token looks like the continuation token of AvePoint's sharing-link
// sample, with the offset inside.
const (
	tokenHead = `[{"token":"+RID:~`
	tokenTail = `#RT:1/TRC:10","range":{"min":"","max":"FF"}}]`
)

func encodeUsersToken(offset int) string {
	return tokenHead + base64.StdEncoding.EncodeToString([]byte("o="+strconv.Itoa(offset))) + tokenTail
}

func decodeUsersToken(tok string) (int, error) {
	mid, headOK := strings.CutPrefix(tok, tokenHead)
	mid, tailOK := strings.CutSuffix(mid, tokenTail)
	if !headOK || !tailOK {
		return 0, errors.New("not a token of this server")
	}
	return decodeOffset(base64.StdEncoding, mid)
}

func encodeSkip(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o=" + strconv.Itoa(offset)))
}

func decodeSkip(s string) (int, error) { return decodeOffset(base64.RawURLEncoding, s) }

func decodeOffset(enc *base64.Encoding, s string) (int, error) {
	raw, err := enc.DecodeString(s)
	if err != nil {
		return 0, err
	}
	v, ok := strings.CutPrefix(string(raw), "o=")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 0 {
		return 0, errors.New("bad offset")
	}
	return n, nil
}

func (s *Server) injectedUsersError(rec *Call, status int) response {
	resp := apiError(rec, status, fmt.Sprintf("injected error %d", status))
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		ra := s.opts.Users.RetryAfter
		if ra == 0 {
			ra = defaultRetryAfter
		}
		if ra > 0 {
			v := strconv.Itoa(int((ra + time.Second - 1) / time.Second))
			resp.header.Set("Retry-After", v)
			rec.RetryAfter = v
		}
	}
	return resp
}
