//go:build race

package storage

// raceEnabled: the race detector's runtime makes io.ReadAll allocate about
// two parts more, see TestPutMemoryIsBoundedByParts.
const raceEnabled = true
