package convertbench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// shareCells copies a worksheet part written by excelize's StreamWriter,
// turning every plain number cell that is not of the date style into a
// shared-string cell (t="s"): the generator writes the shared-string index
// as an integer cell, since the StreamWriter itself only writes inline
// strings. A cell with a t attribute, or with the style dateStyle, is
// copied as it is. It returns how many cells it turned.
//
// The StreamWriter writes a cell's start tag as <c r="B2"[ s="N"][ t="…"]>
// and a number's value as <v>digits</v>, so no '>' occurs inside a cell's
// text and every tag can be read up to its '>'.
func shareCells(dst io.Writer, src io.Reader, dateStyle int) (int64, error) {
	br := bufio.NewReaderSize(src, 256<<10)
	bw := bufio.NewWriterSize(dst, 256<<10)
	dateAttr := []byte(` s="` + strconv.Itoa(dateStyle) + `"`)
	var turned int64
	for {
		chunk, err := br.ReadSlice('>')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Text longer than the buffer (not in a StreamWriter's sheet
			// of numbers, but harmless): copy it through.
			if _, werr := bw.Write(chunk); werr != nil {
				return turned, werr
			}
			continue
		}
		if len(chunk) > 0 {
			if isCellStart(chunk) && !bytes.Contains(chunk, []byte(` t="`)) && !bytes.Contains(chunk, dateAttr) {
				if chunk[len(chunk)-2] == '/' {
					return turned, fmt.Errorf("an empty cell %q: the generator writes a value in every cell", chunk)
				}
				if _, werr := bw.Write(chunk[:len(chunk)-1]); werr != nil {
					return turned, werr
				}
				if _, werr := bw.WriteString(` t="s">`); werr != nil {
					return turned, werr
				}
				turned++
			} else if _, werr := bw.Write(chunk); werr != nil {
				return turned, werr
			}
		}
		if err == io.EOF {
			return turned, bw.Flush()
		}
		if err != nil {
			return turned, err
		}
	}
}

// isCellStart tells whether a chunk read up to a '>' is a <c …> start tag.
func isCellStart(chunk []byte) bool {
	return len(chunk) >= 4 && bytes.HasPrefix(chunk, []byte("<c ")) && chunk[len(chunk)-1] == '>'
}
