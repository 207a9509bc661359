// Package templatecheck holds the security checks of template.yaml, run as
// tests: IAM least privilege (no wildcard actions, every resource scoped to
// the one secret, the report bucket and prefix, the state machines, the
// key), the report bucket's TLS-only policy and public access block, and
// IAM authorization on any HTTP API. The checks read the template with
// gopkg.in/yaml.v3's Node API, which keeps CloudFormation's short-form
// tags (!Ref, !Sub, !GetAtt, …) that a plain YAML decoder rejects.
package templatecheck
