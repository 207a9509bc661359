package xlsx

import (
	"slices"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"Date/Time (UTC)": "date_time_utc",
		"IP Address":      "ip_address",
		"  Event  Type  ": "event_type",
		"Object_URL":      "object_url",
		"__x__":           "x",
		"Größe (MB)":      "größe_mb",
		"Adresse e-mail":  "adresse_e_mail",
		"日付":              "日付",
		"दिनांक":          "दिनांक", // vowel signs are marks: the word stays whole
		"Item #2":         "item_2",
		"2026":            "2026",
		"":                "",
		"---":             "",
		"ÉVÉNEMENT":       "événement",
		"Тип события":     "тип_события",
		"a\tb\nc":         "a_b_c",
		"User's Name":     "user_s_name",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNamer(t *testing.T) {
	for _, tc := range []struct {
		reserved []string
		headers  []string
		want     []string
	}{
		{nil, []string{"Item", "Item", "Item"}, []string{"item", "item_2", "item_3"}},
		{nil, []string{"Item", "Item", "Item 2"}, []string{"item", "item_3", "item_2"}},
		{nil, []string{"", "Column 1", ""}, []string{"column_1_2", "column_1", "column_3"}},
		{[]string{"upn", "row_id"}, []string{"UPN", "Row ID", "upn_2"}, []string{"upn_3", "row_id_2", "upn_2"}},
		{[]string{"source_row"}, []string{"Source Row", "Source-Row"}, []string{"source_row_2", "source_row_3"}},
	} {
		positions := make([]int, len(tc.headers))
		for i := range positions {
			positions[i] = i + 1
		}
		n := newNamer(tc.reserved)
		if got := n.header(tc.headers, positions); !slices.Equal(got, tc.want) {
			t.Errorf("header(%q) reserving %q = %q, want %q", tc.headers, tc.reserved, got, tc.want)
		}
		// A ragged column's name avoids all of them.
		if got := n.free("column_1"); slices.Contains(tc.want, got) || slices.Contains(tc.reserved, got) {
			t.Errorf("ragged column name %q is taken", got)
		}
	}
}
