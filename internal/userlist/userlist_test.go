package userlist

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

func read(t *testing.T, list string) ([]string, Format, error) {
	t.Helper()
	r := NewReader(strings.NewReader(list))
	users, err := ReadAll(r)
	return users, r.Format(), err
}

func TestReadsEveryFormat(t *testing.T) {
	abc := []string{"alex@contoso.com", "b.o'brien@contoso.com", "x_y.com#ext#@t.onmicrosoft.com"}
	tests := []struct {
		name, list string
		format     Format
		want       []string
	}{
		{"lines", "alex@contoso.com\nb.o'brien@contoso.com\nx_y.com#EXT#@t.onmicrosoft.com\n", Lines, abc},
		{"lines, CRLF, blank lines, spaces, BOM, no final newline",
			"\ufeff\r\n  Alex@Contoso.com \r\n\r\n\tb.o'brien@contoso.com\r\n   \r\nx_y.com#EXT#@t.onmicrosoft.com", Lines, abc},
		{"one line", "alex@contoso.com", Lines, abc[:1]},
		{"json", `["alex@contoso.com","B.O'Brien@contoso.com","x_y.com#EXT#@t.onmicrosoft.com"]`, JSON, abc},
		{"json, BOM and whitespace", "\ufeff \n[ \"alex@contoso.com\",\n  \"b.o'brien@contoso.com\" ,\"x_y.com#EXT#@t.onmicrosoft.com\"\n]\n\n", JSON, abc},
		{"csv upn column among others", "displayName,UPN,department\nAlex Wilber,alex@contoso.com,Sales\n\"Brien, O'\",b.o'brien@contoso.com,\"R&D\"\nGuest,x_y.com#EXT#@t.onmicrosoft.com,\n", CSV, abc},
		{"csv email column, quoted header, CRLF, BOM", "\ufeff\"Name\",\"Email\"\r\n\"Alex\",\"alex@contoso.com\"\r\n\"B\",\"b.o'brien@contoso.com\"\r\n\"G\",\"x_y.com#EXT#@t.onmicrosoft.com\"\r\n", CSV, abc},
		{"csv loginName, semicolons (Excel, many locales)", "loginName;status\nalex@contoso.com;Active\nb.o'brien@contoso.com;Active\nx_y.com#EXT#@t.onmicrosoft.com;Blocked\n", CSV, abc},
		{"csv tabs", "upn\tx\nalex@contoso.com\t1\nb.o'brien@contoso.com\t2\nx_y.com#EXT#@t.onmicrosoft.com\t3\n", CSV, abc},
		{"csv single column", "upn\nalex@contoso.com\nb.o'brien@contoso.com\nx_y.com#EXT#@t.onmicrosoft.com\n", CSV, abc},
		{"csv quoted field over two lines, blank rows Excel leaves", "note,upn\n\"two\nlines\",alex@contoso.com\n,\n  \n,,\nx,b.o'brien@contoso.com\ny,x_y.com#EXT#@t.onmicrosoft.com\n,\n", CSV, abc},
		{"csv upn wins over email", "email,upn\nalias@contoso.com,alex@contoso.com\n", CSV, abc[:1]},
		{"csv userPrincipalName (Entra ID export)", "id,userPrincipalName,mail\n1,alex@contoso.com,alias@contoso.com\n", CSV, abc[:1]},
		{"csv short rows are fine when they have the column", "upn,a,b\nalex@contoso.com\nb.o'brien@contoso.com,1,2,3\n", CSV, abc[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, format, err := read(t, tt.list)
			if err != nil || format != tt.format || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v %s %v, want %v %s", got, format, err, tt.want, tt.format)
			}
		})
	}
}

// Every refusal is a ValidationError on usersFrom that says where (the
// line, or the JSON entry) and what, and never spells a user.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name, list, reason string
	}{
		{"empty", "", "lists no users"},
		{"blank lines only", "\n \r\n\t\n", "lists no users"},
		{"BOM only", "\ufeff", "lists no users"},
		{"empty json array", " [ ] ", "lists no users"},
		{"csv header only", "upn,name\n", "lists no users"},
		{"separators only", ",\n,,\n", "lists no users"},
		{"bad line", "alex@contoso.com\nmegan.bowen@@contoso.com\n", "line 2: must contain exactly one @"},
		{"bad line after blank lines counts them", "\n\nalex@contoso.com\r\n\r\nmegan bowen@contoso.com\n", "line 5: character ' ' is not allowed in a user principal name"},
		{"header not recognized", "User principal name\nalex@contoso.com\n", "line 1: must contain exactly one @; a CSV list needs a header line with a column named upn, email or loginName"},
		{"csv without a user column", "name,mail\nMegan,megan.bowen@contoso.com\n", "line 1 looks like a CSV header (2 columns) but none is named upn, email or loginName"},
		{"csv two upn columns", "upn,UPN\nmegan.bowen@contoso.com,x@contoso.com\n", "line 1: the header has two upn columns"},
		{"csv bad value", "name,upn\nMegan,megan.bowen@contoso\n", "line 2 (column upn): domain must have a dot"},
		{"csv empty value", "name,upn\nMegan,\n", "line 2: the upn column is empty"},
		{"csv row without the column", "name,x,upn\nMegan\n", "line 2 has 1 fields, no upn column"},
		{"csv unclosed quote", "name,upn\n\"Megan,megan.bowen@contoso.com\n", "line 2 has a quote in a field that is not quoted, or a quoted field that is never closed (RFC 4180)"},
		{"csv bare quote", "name,upn\nMeg\"an,megan.bowen@contoso.com\n", "line 2 has a bare quote in a quoted field (write it twice) (RFC 4180)"},
		{"duplicate line", "megan.bowen@contoso.com\nalex@contoso.com\n\nMegan.Bowen@Contoso.com\n", "line 4 repeats line 1 (user principal names are case-insensitive)"},
		{"duplicate csv row", "upn,note\nmegan.bowen@contoso.com,x\nb@c.io,\"x\ny\"\nMEGAN.BOWEN@contoso.com,\n", "line 5 repeats line 2 (user principal names are case-insensitive)"},
		{"duplicate json entry", `["megan.bowen@contoso.com","a@b.co","Megan.Bowen@contoso.com"]`, "entry [2] of the JSON array repeats entry [0] (user principal names are case-insensitive)"},
		{"json entry not a string", `["megan.bowen@contoso.com",{"upn":"x@y.z"}]`, "entry [1] of the JSON array is not a string"},
		{"json bad entry", `["megan.bowen@contoso.com","megan.bowen"]`, "entry [1] of the JSON array: must contain exactly one @"},
		{"json object", `{"users":["megan.bowen@contoso.com"]}`, "is a JSON object; give a JSON array of strings, a CSV or one user a line"},
		{"json cut short", `["megan.bowen@contoso.com",`, "is not a well-formed JSON array after entry [0]"},
		{"json malformed", `["megan.bowen@contoso.com" "x@y.z"]`, "is not a well-formed JSON array after entry [0]"},
		{"json trailing text", `["megan.bowen@contoso.com"] ["x@y.z"]`, "has something after the JSON array"},
		{"json trailing garbage", `["megan.bowen@contoso.com"]x`, "has something after the JSON array"},
		{"utf-16", "\xff\xfeu\x00p\x00n\x00", "is UTF-16; save it as UTF-8 (in Excel: CSV UTF-8)"},
		{"invalid utf-8", "megan.bowen@contoso.com\nme\xffgan@contoso.com\n", "line 2: is not valid UTF-8"},
		{"line too long", "megan.bowen@contoso.com\n" + strings.Repeat("a", MaxLineBytes) + "@x.io\n", fmt.Sprintf("line 2 is longer than %d bytes", MaxLineBytes)},
		{"line far too long", "megan.bowen@contoso.com\n" + strings.Repeat("a", 200<<10) + "\n", fmt.Sprintf("line 2 is longer than %d bytes", MaxLineBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := read(t, tt.list)
			var ve *failure.ValidationError
			if !errors.As(err, &ve) || ve.Field != "usersFrom" || ve.Reason != tt.reason {
				t.Fatalf("got %v, %v\nwant ValidationError usersFrom %q", got, err, tt.reason)
			}
			if leak := badinput.Leaks(err.Error(), "megan.bowen@contoso.com", "megan.bowen", "Megan"); leak != "" {
				t.Errorf("the error spells %q", leak)
			}
		})
	}
}

func TestErrorNamesTheField(t *testing.T) {
	r := NewReader(strings.NewReader("nobody"))
	r.Field = "discovered.usersFrom"
	_, err := ReadAll(r)
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || ve.Field != "discovered.usersFrom" {
		t.Fatalf("got %v", err)
	}
}

// A list is bounded in bytes and in users, and says which bound it broke.
func TestLimits(t *testing.T) {
	t.Run("exactly MaxUsers", func(t *testing.T) {
		r := NewReader(genList(MaxUsers))
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != MaxUsers || r.Count() != MaxUsers {
			t.Fatalf("read %d", n)
		}
	})
	t.Run("one more", func(t *testing.T) {
		_, err := ReadAll(NewReader(genList(MaxUsers + 1)))
		var ve *failure.ValidationError
		if !errors.As(err, &ve) || ve.Reason != fmt.Sprintf("has more than %d users (line %d); split it into several runs", MaxUsers, MaxUsers+1) {
			t.Fatalf("got %v", err)
		}
	})
	big := func(n int) io.Reader { // a list of n bytes: one user, then blank lines
		first := "megan.bowen@contoso.com\n"
		return io.MultiReader(strings.NewReader(first), &spaces{left: n - len(first)})
	}
	for _, tt := range []struct {
		name string
		size int
		ok   bool
	}{{"exactly MaxBytes", MaxBytes, true}, {"one byte more", MaxBytes + 1, false}} {
		t.Run(tt.name, func(t *testing.T) {
			users, err := ReadAll(NewReader(big(tt.size)))
			if tt.ok {
				if err != nil || len(users) != 1 {
					t.Fatalf("got %v %v", users, err)
				}
				return
			}
			var ve *failure.ValidationError
			if !errors.As(err, &ve) || ve.Reason != "is larger than 64 MiB" {
				t.Fatalf("got %v", err)
			}
		})
	}
	for _, format := range []string{"json", "csv"} {
		t.Run("too large as "+format, func(t *testing.T) {
			head := map[string]string{"json": `["megan.bowen@contoso.com"`, "csv": "upn\nmegan.bowen@contoso.com\n"}[format]
			_, err := ReadAll(NewReader(io.MultiReader(strings.NewReader(head), &spaces{left: MaxBytes})))
			var ve *failure.ValidationError
			if !errors.As(err, &ve) || ve.Reason != "is larger than 64 MiB" {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// The source's own errors come back as they are (the caller tells an S3
// outage from a bad list), in every format.
func TestSourceErrorsPassThrough(t *testing.T) {
	boom := errors.New("connection reset")
	for _, head := range []string{"megan.bowen@contoso.com\n", `["megan.bowen@contoso.com",`, "upn\nmegan.bowen@contoso.com\n"} {
		_, err := ReadAll(NewReader(io.MultiReader(strings.NewReader(head), iotest.ErrReader(boom))))
		var ve *failure.ValidationError
		if !errors.Is(err, boom) || errors.As(err, &ve) {
			t.Errorf("%q: got %v, want the source's error", head, err)
		}
	}
	_, err := ReadAll(NewReader(iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Errorf("at the start: got %v", err)
	}
}

// Next after an error repeats it; the reader never goes on past a bad line.
func TestErrorsAreSticky(t *testing.T) {
	r := NewReader(strings.NewReader("a@b.co\nbad\nc@d.co\n"))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("%v then %v", err1, err2)
	}
}

func genList(n int) io.Reader {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "user%06d@contoso.com\n", i)
	}
	return strings.NewReader(b.String())
}

// spaces serves left bytes of blank lines.
type spaces struct{ left int }

func (s *spaces) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	n := min(len(p), s.left)
	for i := range n {
		p[i] = ' '
		if i%80 == 79 {
			p[i] = '\n'
		}
	}
	s.left -= n
	return n, nil
}

// address finds what looks like an address in a list: the reasons have
// an @ of their own ("exactly one @"), never one between two names.
var address = regexp.MustCompile(`[A-Za-z0-9._'#^~!-]+@[A-Za-z0-9.-]+`)

// FuzzReader: no input panics or loops; a refusal is a ValidationError
// on usersFrom, valid UTF-8, bounded, and never spells an address of the
// list (the reasons quote at most one character); what is accepted is a
// list of distinct, lower-case user principal names.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"alex@contoso.com\nb@c.io\n", "\ufeffupn,name\r\na@b.co,x\r\n", `["a@b.co","c@d.co"]`, "name;loginName\nx;a@b.co\n",
		"upn\n\"a@b.co\"\n\"x\ny\",\n", "[\"a@b.co\",1]", "a@b.co\na@B.co", "\xff\xfe", "upn,upn\n", "[", "\"", "upn\n\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := NewReader(strings.NewReader(string(raw)))
		var users []string
		var err error
		for range len(raw) + 2 {
			var u User
			if u, err = r.Next(); err != nil {
				break
			}
			users = append(users, u.UPN)
		}
		if err == nil {
			t.Fatalf("no end after %d users of %d bytes", len(users), len(raw))
		}
		if err != io.EOF {
			var ve *failure.ValidationError
			if !errors.As(err, &ve) || ve.Field != "usersFrom" {
				t.Fatalf("refused with %T %v", err, err)
			}
			if msg := err.Error(); !utf8.ValidString(msg) || len(msg) > 300 ||
				strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("error %q", msg)
			}
			for _, a := range address.FindAllString(string(raw), -1) {
				if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(a)) {
					t.Fatalf("error %q spells %q", err, a)
				}
			}
			return
		}
		if len(users) == 0 {
			t.Fatal("an empty list was accepted")
		}
		seen := map[string]bool{}
		for _, u := range users {
			if seen[u] || strings.ToLower(u) != u || !strings.Contains(u, "@") {
				t.Fatalf("user %q (seen %v)", u, seen[u])
			}
			seen[u] = true
		}
	})
}
