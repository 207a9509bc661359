package main

import (
	"strings"
	"testing"
	"time"
)

// Section 8 is a step like the others: its heading, rows and command
// are read back from a report and kept by a run of other sections.
func TestSlotsSection(t *testing.T) {
	if blockTitle(80) != "8. Slot utilisation" || topTitle(80) != "8. Slot utilisation" || stepOfOrder(80) != "slots" {
		t.Fatalf("block 80: title %q, top %q, step %q", blockTitle(80), topTitle(80), stepOfOrder(80))
	}
	slotsRow := row{slotsRows, "slot busy %, defaults", "86.2 %", "ideal 100 %", "0.86", "≥ 95 %", "**no**"}
	if stepOfRow(slotsRow) != "slots" || stepOfCommand(slotsCommand) != "slots" || stepOfFailure("slots: real runs") != "slots" {
		t.Fatal("the section's rows, command or failures belong to no step")
	}

	old := wholeRun()
	old.commands = append(old.commands, slotsCommand)
	old.rows = append(old.rows, slotsRow)
	old.add(80, "OLD SLOTS\n\n#### At the defaults\n\n| a | b |\n|---|---|", 30*time.Second)
	md := old.markdown()
	for _, want := range []string{"\n## 8. Slot utilisation\n\nOLD SLOTS\n", "| 8. slots | slot busy %, defaults | 86.2 % |", "- 8. slots — slot busy %, defaults: Before, four losses"} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	prev, err := parsePrevious(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(prev.blocks[80].text, "OLD SLOTS") {
		t.Fatalf("block 80 read back as %q", prev.blocks[80].text)
	}

	// A polling run keeps section 8 whole.
	r := subsetRun("polling")
	r.commands = append(r.commands, pollingCommand)
	r.add(30, "NEW POLLING", time.Minute)
	r.merge(prev)
	md = r.markdown()
	for _, want := range []string{"OLD SLOTS", "| 8. slots | slot busy %, defaults |", "- `" + slotsCommand + "` (run of " + oldDate + ")", "NEW POLLING"} {
		if !strings.Contains(md, want) {
			t.Errorf("after a polling run the report lacks %q", want)
		}
	}

	// A slots run replaces it.
	r = subsetRun("slots")
	r.rows = append(r.rows, row{slotsRows, "slot busy %, defaults", "87.0 %", "ideal 100 %", "0.87", "≥ 95 %", "**no**"})
	r.add(80, "NEW SLOTS", time.Minute)
	r.merge(prev)
	md = r.markdown()
	if strings.Contains(md, "OLD SLOTS") || !strings.Contains(md, "## 8. Slot utilisation\n\nNEW SLOTS") || strings.Contains(md, "86.2 %") {
		t.Errorf("a slots run did not replace section 8:\n%s", md)
	}
	if !strings.Contains(md, "OLD POLLING") {
		t.Error("a slots run dropped section 3")
	}
}
