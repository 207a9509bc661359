package avesim

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// excelize's StreamWriter writes every string as an inline string and has no
// option for the shared-string table that Excel (and most .NET writers)
// use, so ShapeSharedStrings rewrites the finished package: each inline
// string cell of every worksheet becomes a t="s" cell indexing
// xl/sharedStrings.xml, which is added with its relationship and content
// type.

const (
	sstPart        = "xl/sharedStrings.xml"
	sstContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
	sstRelType     = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
	mainNS         = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
)

// inlineCellRE matches a cell exactly as excelize's writeCell emits an
// inline string: the text is already XML-escaped, so it holds no '<'.
var (
	inlineCellRE = regexp.MustCompile(`<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?) t="inlineStr"><is><t((?: xml:space="preserve")?)>([^<]*)</t></is></c>`)
	relIDRE      = regexp.MustCompile(`Id="rId([0-9]+)"`)
)

// sharedTable collects the distinct strings in order of first use.
type sharedTable struct {
	index map[string]int // key: space attribute + "\x00" + escaped text
	items []string       // <si> elements
	count int            // string cells
}

func (t *sharedTable) rewrite(sheet []byte) ([]byte, error) {
	out := inlineCellRE.ReplaceAllFunc(sheet, func(m []byte) []byte {
		g := inlineCellRE.FindSubmatch(m)
		key := string(g[3]) + "\x00" + string(g[4])
		i, ok := t.index[key]
		if !ok {
			i = len(t.items)
			t.index[key] = i
			t.items = append(t.items, "<si><t"+string(g[3])+">"+string(g[4])+"</t></si>")
		}
		t.count++
		return []byte(`<c r="` + string(g[1]) + `"` + string(g[2]) + ` t="s"><v>` + strconv.Itoa(i) + `</v></c>`)
	})
	if bytes.Contains(out, []byte(`t="inlineStr"`)) {
		// excelize changed how it writes cells: fail loudly rather than
		// serve a workbook that is half one shape and half the other.
		return nil, errors.New("avesim: an inline string cell is not in the form the shared-string rewrite knows")
	}
	return out, nil
}

func (t *sharedTable) xml() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n")
	fmt.Fprintf(&b, `<sst xmlns="%s" count="%d" uniqueCount="%d">`, mainNS, t.count, len(t.items))
	for _, si := range t.items {
		b.WriteString(si)
	}
	b.WriteString(`</sst>`)
	return []byte(b.String())
}

// toSharedStrings rewrites an excelize workbook to keep its strings in the
// shared-string table. The part order is kept, the table goes last.
func toSharedStrings(xlsx []byte) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(xlsx), int64(len(xlsx)))
	if err != nil {
		return nil, err
	}
	type part struct {
		name string
		data []byte
	}
	parts := make([]part, 0, len(zr.File)+1)
	table := &sharedTable{index: map[string]int{}}
	for _, zf := range zr.File {
		if zf.Name == sstPart {
			return nil, errors.New("avesim: workbook already has a shared-string table")
		}
		data, err := readZipFile(zf)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(zf.Name, "xl/worksheets/") && strings.HasSuffix(zf.Name, ".xml"):
			if data, err = table.rewrite(data); err != nil {
				return nil, err
			}
		case zf.Name == "[Content_Types].xml":
			if data, err = insertBefore(data, "</Types>",
				`<Override PartName="/`+sstPart+`" ContentType="`+sstContentType+`"></Override>`); err != nil {
				return nil, err
			}
		case zf.Name == "xl/_rels/workbook.xml.rels":
			next := 1
			for _, m := range relIDRE.FindAllSubmatch(data, -1) {
				if n, err := strconv.Atoi(string(m[1])); err == nil && n >= next {
					next = n + 1
				}
			}
			if data, err = insertBefore(data, "</Relationships>",
				`<Relationship Id="rId`+strconv.Itoa(next)+`" Target="sharedStrings.xml" Type="`+sstRelType+`"></Relationship>`); err != nil {
				return nil, err
			}
		}
		parts = append(parts, part{zf.Name, data})
	}
	parts = append(parts, part{sstPart, table.xml()})

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range parts {
		// No Modified time, as excelize writes its parts: reproducible bytes.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Deflate})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(p.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func readZipFile(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func insertBefore(data []byte, closing, element string) ([]byte, error) {
	i := bytes.LastIndex(data, []byte(closing))
	if i < 0 {
		return nil, fmt.Errorf("avesim: no %s in a workbook part", closing)
	}
	return slices.Concat(data[:i], []byte(element), data[i:]), nil
}
