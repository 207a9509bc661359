package request

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/failure"
)

// maxInputDepth bounds how deeply an input may nest objects and arrays.
// Valid inputs nest two levels (a batch's window); the bound keeps the
// duplicate-key pass's stack small whatever arrives.
const maxInputDepth = 32

// checkDuplicateKeys refuses an input whose objects name a field twice.
// encoding/json keeps the last value and drops the first without a word,
// so {"email":"a@x","email":"b@x"} would export b while a log or an
// auditor reading the input sees a. Names are compared as encoding/json
// matches them to fields: case-insensitively ("Email" repeats "email").
//
// It reads the first JSON value of raw token by token; input that is not
// JSON is left to the struct decoder, which says what is wrong with it.
func checkDuplicateKeys(raw []byte) error {
	type frame struct {
		object  bool
		path    string
		keys    map[string]bool
		wantKey bool   // object: the next token is a key or '}'
		key     string // object: the key whose value comes next
		index   int    // array: the next element's index
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(raw))
	// valueDone records that the value of the innermost container's
	// current key (or element) is complete; it reports whether that was
	// the whole input's first value.
	valueDone := func() bool {
		if len(stack) == 0 {
			return true
		}
		top := stack[len(stack)-1]
		if top.object {
			top.wantKey = true
		} else {
			top.index++
		}
		return false
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				if valueDone() {
					return nil
				}
				continue
			}
			key, _ := tok.(string) // the decoder allows only strings here
			folded := foldKey(key)
			if top.keys[folded] {
				return &failure.ValidationError{Field: boundField(joinField(top.path, key)), Reason: "appears more than once; give each field once"}
			}
			top.keys[folded] = true
			top.key, top.wantKey = key, false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxInputDepth {
				return &failure.ValidationError{Reason: fmt.Sprintf("input nests more than %d levels deep", maxInputDepth)}
			}
			path := ""
			switch {
			case top == nil:
			case top.object:
				path = joinField(top.path, top.key)
			default:
				path = fmt.Sprintf("%s[%d]", top.path, top.index)
			}
			f := &frame{object: tok == json.Delim('{'), path: path}
			if f.object {
				f.keys, f.wantKey = map[string]bool{}, true
			}
			stack = append(stack, f)
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if valueDone() {
			return nil
		}
	}
}

func joinField(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// foldKey folds a name as encoding/json does to match it to a field:
// two names fold alike exactly when bytes.EqualFold says they are equal.
func foldKey(name string) string {
	b := make([]byte, 0, len(name))
	for _, r := range name {
		if r < utf8.RuneSelf {
			b = append(b, byte(unicode.ToUpper(r)))
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}
