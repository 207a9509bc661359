package devstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/testing/templatecheck"
)

// DefaultDatasetPrefix is the stack's DATASET_PREFIX (template.yaml's
// default).
const DefaultDatasetPrefix = "dataset"

// DownloadDataset copies the dataset's activities/ prefix from the
// stack's bucket into dir, keeping the dt=YYYY-MM-DD folders, and returns
// the keys it copied. dir is then what QueryDataset reads.
func (s *Stack) DownloadDataset(ctx context.Context, dir string) ([]string, error) {
	prefix := DefaultDatasetPrefix + "/activities/"
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("devstack: list dataset: %w", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	for _, k := range keys {
		rel := strings.TrimPrefix(k, prefix)
		if rel == "" || strings.Contains(rel, "..") {
			return nil, fmt.Errorf("devstack: unexpected dataset key %q", k)
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		obj, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k)})
		if err != nil {
			return nil, fmt.Errorf("devstack: get %s: %w", k, err)
		}
		f, err := os.Create(dst)
		if err == nil {
			_, err = io.Copy(f, obj.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		obj.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// NamedQuery is one AWS::Athena::NamedQuery of template.yaml.
type NamedQuery struct {
	Resource string // logical id
	Name     string
	SQL      string // Athena SQL as deployed
}

// NamedQueries reads the named queries from template.yaml under root, in
// logical-id order, so the tests run exactly the SQL that is deployed.
func NamedQueries(root string) ([]NamedQuery, error) {
	src, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	tpl, err := templatecheck.Parse(src)
	if err != nil {
		return nil, err
	}
	var out []NamedQuery
	for id, r := range tpl.Resources {
		if r.Type != "AWS::Athena::NamedQuery" {
			continue
		}
		name, _ := r.Properties["Name"].(string)
		sql, _ := r.Properties["QueryString"].(string)
		if sql == "" {
			return nil, fmt.Errorf("devstack: %s has no QueryString", id)
		}
		out = append(out, NamedQuery{Resource: id, Name: name, SQL: sql})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Resource < out[j].Resource })
	return out, nil
}
