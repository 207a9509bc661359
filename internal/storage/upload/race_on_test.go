//go:build race

package upload

// raceEnabled: the race detector's runtime makes io.ReadAll allocate about
// two parts more, see TestPutMemoryIsBoundedByParts.
const raceEnabled = true
