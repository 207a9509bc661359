package templatecheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/insights-export/insights-export/internal/dataset"
)

func loadTemplate(t *testing.T) *Template {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// The Glue table is the schema the converter writes, column for column,
// partitioned by dt with projection (no crawler, no MSCK REPAIR), located
// where the converter writes.
func TestActivitiesTableMatchesTheParquetSchema(t *testing.T) {
	tpl := loadTemplate(t)
	r, ok := tpl.Resources["ActivitiesTable"]
	if !ok || r.Type != "AWS::Glue::Table" {
		t.Fatal("no AWS::Glue::Table ActivitiesTable")
	}
	in, _ := r.Properties["TableInput"].(map[string]any)
	params, _ := in["Parameters"].(map[string]any)
	for k, want := range map[string]string{"projection.enabled": "true", "projection.dt.type": "date", "projection.dt.format": "yyyy-MM-dd", "classification": "parquet"} {
		if params[k] != want {
			t.Errorf("table parameter %s = %v, want %s", k, params[k], want)
		}
	}
	if rng, _ := params["projection.dt.range"].(string); !strings.HasPrefix(rng, dataset.NoTimePartition+",") {
		t.Errorf("projection.dt.range %q does not reach %s, where rows without a time go", rng, dataset.NoTimePartition)
	}
	loc := params["storage.location.template"]
	if m, _ := loc.(map[string]any); m == nil || !strings.HasSuffix(m["Fn::Sub"].(string), "/${DatasetPrefix}/activities/dt=${!dt}/") {
		t.Errorf("storage.location.template %v is not <bucket>/${DatasetPrefix}/activities/dt=${dt}/", loc)
	}
	sd, _ := in["StorageDescriptor"].(map[string]any)
	cols, _ := sd["Columns"].([]any)
	glue := map[string]string{}
	var order []string
	for _, c := range cols {
		m := c.(map[string]any)
		glue[m["Name"].(string)] = m["Type"].(string)
		order = append(order, m["Name"].(string))
	}
	glueType := func(f parquet.Field) string {
		logical := ""
		if lt := f.Type().LogicalType(); lt != nil {
			logical = lt.String()
		}
		switch {
		case strings.HasPrefix(logical, "TIMESTAMP"):
			return "timestamp"
		case strings.HasPrefix(logical, "MAP"):
			return "map<string,string>"
		case strings.HasPrefix(logical, "STRING"):
			return "string"
		case f.Type().Kind() == parquet.Int64:
			return "bigint"
		}
		return "unknown " + logical
	}
	schema := parquet.SchemaOf(dataset.Activity{})
	for _, f := range schema.Fields() {
		if got, ok := glue[f.Name()]; !ok {
			t.Errorf("the Parquet column %s is not in the Glue table", f.Name())
		} else if want := glueType(f); got != want {
			t.Errorf("column %s: Glue type %s, the Parquet files hold %s", f.Name(), got, want)
		}
	}
	if len(glue) != len(schema.Fields()) {
		t.Errorf("Glue columns %v, Parquet fields %d", order, len(schema.Fields()))
	}
	keys, _ := in["PartitionKeys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["Name"] != "dt" {
		t.Errorf("partition keys %v, want dt", keys)
	}
}

// Analysts get an enforced workgroup and the named queries in it.
func TestAthenaWorkGroupAndNamedQueries(t *testing.T) {
	tpl := loadTemplate(t)
	wg := tpl.Resources["AnalystsWorkGroup"]
	cfg, _ := wg.Properties["WorkGroupConfiguration"].(map[string]any)
	if wg.Type != "AWS::Athena::WorkGroup" || cfg["EnforceWorkGroupConfiguration"] != "true" {
		t.Errorf("workgroup %+v: want an enforced configuration", wg)
	}
	res, _ := cfg["ResultConfiguration"].(map[string]any)
	if res["EncryptionConfiguration"] == nil || res["OutputLocation"] == nil {
		t.Errorf("workgroup results %v: want a location and encryption", res)
	}
	n := 0
	for id, r := range tpl.Resources {
		if r.Type != "AWS::Athena::NamedQuery" {
			continue
		}
		n++
		if db, _ := r.Properties["Database"].(map[string]any); db == nil || db["Ref"] != "DatasetDatabase" {
			t.Errorf("%s: Database %v, want the stack's", id, r.Properties["Database"])
		}
		if q, _ := r.Properties["QueryString"].(string); !strings.Contains(q, "FROM activities") {
			t.Errorf("%s does not query the activities table", id)
		}
	}
	if n < 5 {
		t.Errorf("%d named queries, want at least 5", n)
	}
}
