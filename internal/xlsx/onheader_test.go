package xlsx

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

// OnHeader sees the header's columns before the first row, and the table
// it is given grows before the row that brings a ragged column reaches fn,
// so a streaming caller can name every value as it arrives.
func TestOnHeaderBeforeRowsAndLiveColumns(t *testing.T) {
	is := func(ref, v string) string { return `<c r="` + ref + `" t="inlineStr"><is><t>` + v + `</t></is></c>` }
	b := book(t, []string{
		`<row r="1">` + is("A1", "Report") + `</row>` +
			`<row r="2">` + is("A2", "Time") + is("B2", "User") + `</row>` +
			`<row r="3">` + is("A3", "t1") + is("B3", "u1") + `</row>` +
			`<row r="4">` + is("A4", "t2") + is("B4", "u2") + is("D4", "extra") + `</row>`,
	})
	w, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var live *Table
	var events []string
	_, err = w.TableWith(context.Background(), w.Sheets()[0], TableOptions{OnHeader: func(tb *Table) error {
		live = tb
		var names []string
		for _, c := range tb.Columns {
			names = append(names, c.Name)
		}
		events = append(events, "header "+tb.Preamble[0]+" "+names[0]+","+names[1])
		return nil
	}}, func(r Row) error {
		if live == nil {
			t.Fatal("a row before the header callback")
		}
		if len(live.Columns) < len(r.Values) {
			t.Fatalf("row %d has %d values, the live table %d columns", r.Number, len(r.Values), len(live.Columns))
		}
		events = append(events, live.Columns[len(r.Values)-1].Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"header Report time,user", "user", "column_4"}; !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
	stop := errors.New("stop")
	if _, err := w.TableWith(context.Background(), w.Sheets()[0], TableOptions{OnHeader: func(*Table) error { return stop }},
		func(Row) error { t.Fatal("a row after OnHeader failed"); return nil }); !errors.Is(err, stop) {
		t.Errorf("OnHeader's error came back as %v", err)
	}
}
