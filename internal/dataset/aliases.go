package dataset

import "strings"

// The mapping of report columns onto the fixed columns: the only place
// that knows what AvePoint's columns might be called. Names are the
// normalized header names (lower case, runs of other characters as "_").

// EventTypeColumns name the report column event_type is copied from, in
// order of preference: the first one the report has wins.
var EventTypeColumns = []string{"event_type", "activity", "operation", "event", "action", "activity_type", "event_name"}

// isTimeColumn reports whether a column may hold the activity's time: the
// issue's rule, any name containing "time" or "date". The first such
// column whose cells parse as dates is activity_time's source.
func isTimeColumn(name string) bool {
	return strings.Contains(name, "time") || strings.Contains(name, "date")
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
