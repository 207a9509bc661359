package dataset

import "strings"

// The mapping of report columns onto the fixed columns: the only place
// that knows what AvePoint's columns might be called. Names are the
// normalized header names (lower case, runs of other characters as "_").

// EventTypeColumns name the report column event_type is copied from, in
// order of preference: the first one the report has wins.
//
// AvePoint's older SDK took a report language (en-US, ja-JP, fr-FR), so
// headers may be localized: the French and German names are guesses,
// kept here until a real tenant's report says otherwise.
var EventTypeColumns = []string{
	"event_type", "activity", "operation", "event", "action", "activity_type", "event_name",
	"type_d_événement", "type_d_evenement", "activité", "opération", "événement",
	"ereignistyp", "aktivität", "vorgang",
}

// TimeColumnWords are the words whose presence in a column's name makes it
// a candidate for activity_time (in the languages of EventTypeColumns).
var TimeColumnWords = []string{"time", "date", "heure", "zeit", "datum"}

// IsTimeColumn reports whether a column may hold the activity's time: any
// name containing one of TimeColumnWords ("time", "date", …). The first
// such column whose cells parse as dates is activity_time's source.
func IsTimeColumn(name string) bool {
	for _, w := range TimeColumnWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// eventTypeColumn returns the index in columns of the event type's
// source, or -1.
func eventTypeColumn(columns []string) int {
	for _, alias := range EventTypeColumns {
		for i, c := range columns {
			if c == alias {
				return i
			}
		}
	}
	return -1
}
