package avepoint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// The users summary (GET /insights/users/summary) lists a tenant's users a
// page at a time. Its documentation contradicts itself, and ListUsers is
// built to be right whichever reading the service follows:
//
//   - startPage "starts from 0", but the sample asks for startPage=1.
//     ListUsers asks for page 0 and watches for a service that counts from
//     1: page 0 refused (a 4xx), page 0 empty while page 1 is not, or page
//     1 the same as page 0 (page 0 served as page 1). It then goes on from
//     the right page, so no user is skipped or listed twice.
//   - nextLink is "the token to be used to get the remaining results",
//     shown only as null. When it is an absolute URL on the API host (or a
//     path, resolved against the API base) it is requested as it is. Any
//     other value is an opaque token, sent back as the nextLink query
//     parameter beside startPage and pageSize: that is how AvePoint's
//     /insights/sites/permission and /insights/sharingLinks/{siteUrl}/summary
//     pages document theirs (…&pageSize=100&nextLink=…), and their samples'
//     tokens are opaque (base64, or a JSON continuation token), never URLs.
//     A URL on any other host, or not https (loopback http for a loopback
//     API), is refused: the bearer token never leaves the API host.
//   - Without a nextLink, a page shorter than pageSize (or empty) is the
//     last.
//
// It never loops for ever: a page the same as the one before, a nextLink
// seen before, or more than MaxPages pages end the listing with a
// failure.ProtocolError that says which.

// UsersPageSize is the page size ListUsers asks for by default: the
// documented maximum.
const UsersPageSize = 100

// DefaultMaxUserPages bounds a listing: 200,000 users at UsersPageSize a
// page, plus the short page that ends it and a numbering probe, with room
// to spare.
const DefaultMaxUserPages = 200_000/UsersPageSize + 10

// maxNextLinkLen bounds a nextLink we send back. The sharing-link
// sample's continuation token is about 150 bytes; a URL with a long skip
// token a few hundred.
const maxNextLinkLen = 4096

const usersSummaryPath = "/insights/users/summary"

// User is one entry of the users summary. LoginName, the user principal
// name, is what the export call takes; Email is informational only (it may
// be empty or another address) and never an identity.
type User struct {
	LoginName      string `json:"loginName"` // lower-cased
	DisplayName    string `json:"displayName,omitempty"`
	Email          string `json:"email,omitempty"`
	UserStatus     string `json:"userStatus"` // Active, Blocked, Not in Azure AD
	TrustStatus    string `json:"trustStatus,omitempty"`
	SensitiveItems *int   `json:"sensitiveItems,omitempty"`
	LastSignIn     string `json:"lastSignIn,omitempty"`
	CreatedOn      string `json:"createdOn,omitempty"`
}

// Paging says how a listing walked the pages.
type Paging string

const (
	PagingFrom0         Paging = "startPage-from-0"
	PagingFrom1         Paging = "startPage-from-1"
	PagingNextLinkURL   Paging = "nextLink-url"
	PagingNextLinkToken Paging = "nextLink-token"
)

// ListOptions tune ListUsers.
type ListOptions struct {
	// PageSize is 1 to 100 (0 = UsersPageSize).
	PageSize int
	// MaxPages bounds the pages read (0 = DefaultMaxUserPages).
	MaxPages int
}

// ListStats is what a listing saw.
type ListStats struct {
	// Pages counts the pages AvePoint answered (a refused page 0 aside).
	Pages int `json:"pages"`
	// Listed counts the distinct users handed to fn.
	Listed int `json:"listed"`
	// Duplicates counts results whose loginName an earlier result had
	// (compared ignoring case); they are not handed to fn.
	Duplicates int    `json:"duplicates"`
	Paging     Paging `json:"paging"`
}

// ListUsers reads every user AvePoint lists and calls fn once per distinct
// user, in listing order, a page at a time: memory holds one page and the
// set of login names seen. An error from fn ends the listing and is
// returned as it is. A result without a usable loginName is a
// failure.ProtocolError naming the page and the result's index (never a
// value).
func (c *Client) ListUsers(ctx context.Context, opts ListOptions, fn func(User) error) (ListStats, error) {
	size := opts.PageSize
	switch {
	case size == 0:
		size = UsersPageSize
	case size < 1 || size > UsersPageSize:
		return ListStats{}, &failure.ValidationError{Field: "pageSize", Reason: fmt.Sprintf("must be 1 to %d", UsersPageSize)}
	}
	maxPages := opts.MaxPages
	if maxPages <= 0 {
		maxPages = DefaultMaxUserPages
	}
	l := &lister{c: c, size: size, maxPages: maxPages, fn: fn, seen: map[string]struct{}{}, links: map[[32]byte]struct{}{}}
	err := l.run(ctx)
	return l.stats, err
}

// lister is one ListUsers walk.
type lister struct {
	c        *Client
	size     int
	maxPages int
	fn       func(User) error
	stats    ListStats
	seen     map[string]struct{} // login names handed to fn
	links    map[[32]byte]struct{}
	prev     [32]byte // digest of the last non-empty page
	havePrev bool
}

// usersPage is one decoded, checked page.
type usersPage struct {
	users  []User
	next   string // "" = none
	digest [32]byte
}

func (l *lister) run(ctx context.Context) error {
	first := 0
	p, err := l.fetchPage(ctx, first, "")
	var ve *failure.ValidationError
	if errors.As(err, &ve) {
		// A service that counts from 1 may refuse page 0.
		l.c.log.InfoContext(ctx, "users page 0 refused; listing from page 1", "error", err.Error())
		first = 1
		l.stats.Paging = PagingFrom1
		p, err = l.fetchPage(ctx, first, "")
	}
	if err != nil {
		return err
	}
	if p.next == "" && len(p.users) == 0 && first == 0 {
		// Page 0 empty: an empty tenant, or page 1 is where a service
		// counting from 1 starts.
		p1, err := l.fetchPage(ctx, 1, "")
		if err != nil {
			return err
		}
		if len(p1.users) > 0 || p1.next != "" {
			first, p = 1, p1
			l.stats.Paging = PagingFrom1
		}
	}
	if l.stats.Paging == "" {
		l.stats.Paging = PagingFrom0
	}
	if err := l.deliver(p, first); err != nil {
		return err
	}
	page := first
	for {
		if p.next != "" {
			if l.stats.Paging == PagingFrom0 || l.stats.Paging == PagingFrom1 {
				l.stats.Paging = PagingNextLinkToken
				if isLink(p.next) {
					l.stats.Paging = PagingNextLinkURL
				}
			}
			if p, err = l.fetchPage(ctx, first, p.next); err != nil {
				return err
			}
		} else {
			if l.followedLinks() || len(p.users) < l.size {
				return nil
			}
			page++
			if p, err = l.fetchPage(ctx, page, ""); err != nil {
				return err
			}
			if page == 1 && first == 0 && p.next == "" && p.digest == l.prev && len(p.users) > 0 {
				// Page 1 is page 0 again: the service counts from 1 and
				// served page 0 as page 1. Its users were delivered;
				// go on from page 2.
				l.stats.Paging = PagingFrom1
				first = 1
				if len(p.users) < l.size {
					return nil
				}
				continue
			}
		}
		if err := l.deliver(p, page); err != nil {
			return err
		}
	}
}

func (l *lister) followedLinks() bool {
	return l.stats.Paging == PagingNextLinkURL || l.stats.Paging == PagingNextLinkToken
}

// deliver checks a page against the one before and hands its new users
// to fn.
func (l *lister) deliver(p usersPage, page int) error {
	if len(p.users) > 0 {
		if l.havePrev && p.digest == l.prev {
			return &failure.ProtocolError{Reason: fmt.Sprintf("users page %d repeats the page before it (%s): the listing would not end", l.stats.Pages, l.where(page))}
		}
		l.prev, l.havePrev = p.digest, true
	}
	for _, u := range p.users {
		if _, dup := l.seen[u.LoginName]; dup {
			l.stats.Duplicates++
			continue
		}
		l.seen[u.LoginName] = struct{}{}
		l.stats.Listed++
		if err := l.fn(u); err != nil {
			return err
		}
	}
	return nil
}

func (l *lister) where(page int) string {
	if l.followedLinks() {
		return "following nextLink"
	}
	return "startPage=" + strconv.Itoa(page)
}

// fetchPage reads one page: by startPage, or by the nextLink of the page
// before (startPage is then the listing's first page, as AvePoint's other
// paged calls repeat their request beside the token).
func (l *lister) fetchPage(ctx context.Context, startPage int, next string) (usersPage, error) {
	if l.stats.Pages >= l.maxPages {
		return usersPage{}, &failure.ProtocolError{Reason: fmt.Sprintf("the users listing did not end within %d pages (the page budget)", l.maxPages)}
	}
	u, err := l.pageURL(startPage, next)
	if err != nil {
		return usersPage{}, err
	}
	if next != "" {
		key := sha256.Sum256([]byte(next))
		if _, again := l.links[key]; again {
			return usersPage{}, &failure.ProtocolError{Reason: fmt.Sprintf("users page %d's nextLink was seen before: the listing would not end", l.stats.Pages)}
		}
		l.links[key] = struct{}{}
	}
	var out usersAnswer
	err = l.c.retry(ctx, "users", func(ctx context.Context) error {
		out = usersAnswer{}
		return l.c.getJSON(ctx, u, &out)
	})
	if err != nil {
		return usersPage{}, err
	}
	l.stats.Pages++
	return out.check(l.stats.Pages)
}

// pageURL is the request for one page. A nextLink URL must be the users
// summary on the API host: the request carries the bearer token.
func (l *lister) pageURL(startPage int, next string) (string, error) {
	c := l.c
	q := url.Values{}
	q.Set("startPage", strconv.Itoa(startPage))
	q.Set("pageSize", strconv.Itoa(l.size))
	if next == "" {
		return c.endpoint(usersSummaryPath, q), nil
	}
	if !isLink(next) {
		q.Set("nextLink", next)
		return c.endpoint(usersSummaryPath, q), nil
	}
	ref, err := url.Parse(next)
	if err != nil {
		return "", &failure.ProtocolError{Reason: "users nextLink looks like a URL but does not parse"}
	}
	u := c.api.ResolveReference(ref)
	host := clip(u.Host, 100)
	switch {
	case u.User != nil:
		return "", &failure.ProtocolError{Reason: "users nextLink carries credentials (host " + host + "); refused"}
	case !strings.EqualFold(u.Scheme, c.api.Scheme) || !strings.EqualFold(u.Host, c.api.Host):
		// The host is named to help whoever reads the error; the path and
		// query are not: they may hold a token.
		return "", &failure.ProtocolError{Reason: "users nextLink points to " + clip(u.Scheme, 20) + "://" + host + ", not the API host; refused (the bearer token goes to the API host only)"}
	case u.EscapedPath() != c.api.Path+usersSummaryPath:
		return "", &failure.ProtocolError{Reason: "users nextLink points to another path on the API host; refused"}
	}
	// The bearer transport compares scheme and host exactly.
	u.Scheme, u.Host, u.Fragment, u.RawFragment = c.api.Scheme, c.api.Host, "", ""
	return u.String(), nil
}

// isLink tells a nextLink URL (absolute, or a path: what a service that
// links its pages would send) from an opaque token. A token never starts
// with a scheme and "//", and one starting with '/' (base64 may) is taken
// as a path only when it names the users summary, the only page a link
// can continue.
func isLink(next string) bool {
	if i := strings.Index(next, "://"); i > 0 && !strings.ContainsAny(next[:i], "/?#[{\"") {
		return true
	}
	if strings.HasPrefix(next, "//") {
		return true
	}
	if strings.HasPrefix(next, "/") {
		path, _, _ := strings.Cut(next, "?")
		return strings.HasSuffix(path, usersSummaryPath)
	}
	return false
}

// usersAnswer is a users summary answer as sent. Keys match ignoring case
// (encoding/json does): AvePoint's table says lastSignIn, its sample
// LastSignIn. The list is "results" as documented, or "values" as
// AvePoint's other paged Insights calls name theirs.
type usersAnswer struct {
	envelope
	Results  resultList `json:"results"`
	Values   resultList `json:"values"`
	NextLink looseText  `json:"nextLink"`
}

// resultList remembers whether the key was there at all: null is an empty
// page (a service may say so past the last page), a missing list is not
// the documented answer.
type resultList struct {
	present bool
	items   []userResult
}

func (r *resultList) UnmarshalJSON(b []byte) error {
	r.present = true
	if string(bytes.TrimSpace(b)) == "null" {
		r.items = nil
		return nil
	}
	return json.Unmarshal(b, &r.items)
}

type userResult struct {
	LoginName      looseText `json:"loginName"`
	DisplayName    looseText `json:"displayName"`
	Email          looseText `json:"email"`
	UserStatus     looseText `json:"userStatus"`
	TrustStatus    looseText `json:"trustStatus"`
	SensitiveItems looseText `json:"sensitiveItems"`
	LastSignIn     looseText `json:"lastSignIn"`
	CreatedOn      looseText `json:"createdOn"`
}

// looseText takes a string, number or boolean as its text and null as
// nothing, so an informational field of an unexpected type does not lose
// a page; an object or array is kept as nothing, marked odd.
type looseText struct {
	s   string
	odd bool
}

func (t *looseText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = looseText{}
	case b[0] == '"':
		// The decoder has checked the syntax already; a plain string (no
		// escape, valid UTF-8: nearly all of them) is taken as it is,
		// which spares a second scan and an allocation per field.
		if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			*t = looseText{s: string(inner)}
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = looseText{s: s}
	case b[0] == '{' || b[0] == '[':
		*t = looseText{odd: true}
	default: // number, true, false
		*t = looseText{s: string(b)}
	}
	return nil
}

// check turns an answer into a page: every result needs a loginName that
// is a user principal name (request.ValidateEmail), lower-cased here. page
// is the page's number in the listing (from 1), for the error.
func (a *usersAnswer) check(page int) (usersPage, error) {
	var results []userResult
	switch {
	case a.Results.present && a.Values.present:
		return usersPage{}, &failure.ProtocolError{Reason: fmt.Sprintf("users page %d has both results and values", page)}
	case a.Results.present:
		results = a.Results.items
	case a.Values.present:
		results = a.Values.items
	default:
		return usersPage{}, &failure.ProtocolError{Reason: fmt.Sprintf("users page %d has no results", page)}
	}
	if a.NextLink.odd {
		return usersPage{}, &failure.ProtocolError{Reason: fmt.Sprintf("users page %d's nextLink is neither a string nor null", page)}
	}
	next := strings.TrimSpace(a.NextLink.s)
	if len(next) > maxNextLinkLen {
		return usersPage{}, &failure.ProtocolError{Reason: fmt.Sprintf("users page %d's nextLink is %d bytes; at most %d are followed", page, len(next), maxNextLinkLen)}
	}
	p := usersPage{users: make([]User, 0, len(results)), next: next}
	h := sha256.New()
	for i, r := range results {
		if r.LoginName.s == "" {
			return usersPage{}, &failure.ProtocolError{Reason: fmt.Sprintf("users page %d, results[%d] has no loginName", page, i)}
		}
		upn, err := request.ValidateEmail(r.LoginName.s)
		if err != nil {
			reason := "is not a user principal name"
			var ve *failure.ValidationError
			if errors.As(err, &ve) {
				reason += " (" + ve.Reason + ")"
			}
			return usersPage{}, &failure.ProtocolError{Reason: fmt.Sprintf("users page %d, results[%d]: loginName %s", page, i, reason)}
		}
		u := User{
			LoginName:   upn,
			DisplayName: r.DisplayName.s,
			Email:       r.Email.s,
			UserStatus:  strings.TrimSpace(r.UserStatus.s),
			TrustStatus: r.TrustStatus.s,
			LastSignIn:  r.LastSignIn.s,
			CreatedOn:   r.CreatedOn.s,
		}
		if n, err := strconv.Atoi(r.SensitiveItems.s); err == nil {
			u.SensitiveItems = &n
		}
		p.users = append(p.users, u)
		h.Write([]byte(upn))
		h.Write([]byte{0})
	}
	h.Sum(p.digest[:0])
	return p, nil
}
