package templatecheck

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Report is what Check found.
type Report struct {
	Findings []string // security problems; empty means the template passes
	// Statements is the number of IAM Allow statements checked (policy
	// templates included): a check that saw none proves nothing.
	Statements int
	// APIs lists the HTTP API resources found (and checked for IAM auth).
	APIs []string
	// Buckets lists the S3 buckets checked.
	Buckets []string
	// Tables lists the DynamoDB tables checked.
	Tables []string
}

// Template is a parsed CloudFormation/SAM template: short-form intrinsic
// functions turned into their long form ({"Ref": x}, {"Fn::Sub": x}, …).
type Template struct {
	Parameters map[string]any
	Mappings   map[string]any
	Resources  map[string]resource
	Globals    map[string]any
}

type resource struct {
	Type       string
	Condition  string // "" = always created
	Properties map[string]any
}

// Parse reads a template.
func Parse(src []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	root, ok := value(&doc).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("template is not a mapping")
	}
	t := &Template{Resources: map[string]resource{}}
	t.Parameters, _ = root["Parameters"].(map[string]any)
	t.Mappings, _ = root["Mappings"].(map[string]any)
	t.Globals, _ = root["Globals"].(map[string]any)
	res, _ := root["Resources"].(map[string]any)
	for name, r := range res {
		m, _ := r.(map[string]any)
		typ, _ := m["Type"].(string)
		props, _ := m["Properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
		}
		cond, _ := m["Condition"].(string)
		t.Resources[name] = resource{Type: typ, Condition: cond, Properties: props}
	}
	return t, nil
}

// value converts a YAML node to maps, slices and strings.
func value(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return value(n.Content[0])
	case yaml.AliasNode:
		return value(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = value(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			s = append(s, value(c))
		}
		v = s
	default:
		v = n.Value
	}
	if tag := n.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		switch name := tag[1:]; name {
		case "Ref", "Condition":
			return map[string]any{name: v}
		case "GetAtt":
			if s, ok := v.(string); ok {
				a, b, _ := strings.Cut(s, ".")
				v = []any{a, b}
			}
			return map[string]any{"Fn::GetAtt": v}
		default:
			return map[string]any{"Fn::" + name: v}
		}
	}
	return v
}

// Check runs every check on a template.
func Check(src []byte) (Report, error) {
	t, err := Parse(src)
	if err != nil {
		return Report{}, err
	}
	c := &checker{t: t}
	c.iam()
	c.buckets()
	c.tables()
	c.apis()
	sort.Strings(c.r.Findings)
	return c.r, nil
}

type checker struct {
	t *Template
	r Report
}

func (c *checker) findf(format string, args ...any) {
	c.r.Findings = append(c.r.Findings, fmt.Sprintf(format, args...))
}

func (c *checker) names() []string {
	out := make([]string, 0, len(c.t.Resources))
	for n := range c.t.Resources {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// branches expands Fn::If into both branches, dropping AWS::NoValue.
func branches(v any) []any {
	if m, ok := v.(map[string]any); ok {
		if args, ok := m["Fn::If"].([]any); ok && len(args) == 3 {
			return append(branches(args[1]), branches(args[2])...)
		}
		if ref, ok := m["Ref"].(string); ok && ref == "AWS::NoValue" {
			return nil
		}
	}
	return []any{v}
}

// ---- IAM -----------------------------------------------------------------

// noResourceLevel are actions AWS documents without resource-level
// permissions: "*" is the only Resource they accept.
var noResourceLevel = []string{
	"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
	"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
	"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
	// A callback task's token is the authorisation: only activities are
	// resources of SendTask*, callback tokens are checked against "*".
	"states:SendTaskSuccess",
}

// statement is one IAM statement and where it came from.
type statement struct {
	where string
	body  map[string]any
}

func (c *checker) iam() {
	for _, name := range c.names() {
		r := c.t.Resources[name]
		switch r.Type {
		case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
			if _, ok := r.Properties["Role"]; ok {
				// A role of its own must be one of the template's roles,
				// which are checked below.
				if !c.refersToType(r.Properties["Role"], "AWS::IAM::Role") {
					c.findf("%s: Role is not a role defined in this template", name)
				}
			}
			for i, p := range asList(r.Properties["Policies"]) {
				for _, b := range branches(p) {
					c.samPolicy(fmt.Sprintf("%s Policies[%d]", name, i), b)
				}
			}
		case "AWS::IAM::Role":
			for i, p := range asList(r.Properties["Policies"]) {
				pm, _ := p.(map[string]any)
				doc, _ := pm["PolicyDocument"].(map[string]any)
				c.document(fmt.Sprintf("%s Policies[%d]", name, i), doc)
			}
			if mp := asList(r.Properties["ManagedPolicyArns"]); len(mp) > 0 {
				c.findf("%s: managed policies %v are not scoped to this stack's resources", name, mp)
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			doc, _ := r.Properties["PolicyDocument"].(map[string]any)
			c.document(name, doc)
		case "AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::AccessKey":
			c.findf("%s: %s has no place in this stack (long-lived credentials)", name, r.Type)
		}
	}
}

// samPolicy checks one entry of a SAM Policies list: an inline document, a
// policy template, or a managed policy (refused: not scoped).
func (c *checker) samPolicy(where string, p any) {
	switch x := p.(type) {
	case string:
		c.findf("%s: managed policy %q is not scoped to this stack's resources", where, x)
	case map[string]any:
		if _, ok := x["Statement"]; ok {
			c.document(where, x)
			return
		}
		for tmpl, params := range x {
			c.policyTemplate(where, tmpl, params)
		}
	default:
		c.findf("%s: unrecognised policy %v", where, p)
	}
}

// policyTemplate allows the SAM policy templates whose parameters scope
// them to one resource of this stack, and nothing else.
func (c *checker) policyTemplate(where, tmpl string, params any) {
	c.r.Statements++
	pm, _ := params.(map[string]any)
	switch tmpl {
	case "AWSSecretsManagerGetSecretValuePolicy":
		if !isRef(pm["SecretArn"], "AvePointSecretArn") {
			c.findf("%s: %s must be scoped to the AvePoint secret (SecretArn: !Ref AvePointSecretArn), got %v", where, tmpl, pm["SecretArn"])
		}
	case "LambdaInvokePolicy":
		if !c.refersToType(pm["FunctionName"], "AWS::Serverless::Function", "AWS::Lambda::Function") {
			c.findf("%s: %s must name a function of this stack, got %v", where, tmpl, pm["FunctionName"])
		}
	case "StepFunctionsExecutionPolicy":
		if !c.refersToType(pm["StateMachineName"], "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine") {
			c.findf("%s: %s must name a state machine of this stack, got %v", where, tmpl, pm["StateMachineName"])
		}
	default:
		// Bucket-wide templates (S3WritePolicy, S3CrudPolicy, …) cannot be
		// narrowed to the report prefix; others are not reviewed.
		c.findf("%s: policy template %s is not on the reviewed list; use an inline statement scoped to this stack's resources", where, tmpl)
	}
}

func (c *checker) document(where string, doc map[string]any) {
	if doc == nil {
		c.findf("%s: no policy document", where)
		return
	}
	for i, s := range asList(doc["Statement"]) {
		for _, b := range branches(s) {
			sm, ok := b.(map[string]any)
			if !ok {
				c.findf("%s Statement[%d]: not a mapping", where, i)
				continue
			}
			c.statement(statement{where: fmt.Sprintf("%s Statement[%d]", where, i), body: sm})
		}
	}
}

func strs(v any) []string {
	var out []string
	for _, x := range asList(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

func (c *checker) statement(s statement) {
	if effect, _ := s.body["Effect"].(string); effect != "Allow" {
		return // a Deny only narrows
	}
	c.r.Statements++
	if _, ok := s.body["NotAction"]; ok {
		c.findf("%s: NotAction allows everything else", s.where)
	}
	if _, ok := s.body["NotResource"]; ok {
		c.findf("%s: NotResource allows everything else", s.where)
	}
	actions := strs(s.body["Action"])
	if len(actions) == 0 {
		c.findf("%s: no Action", s.where)
	}
	for _, a := range actions {
		if strings.Contains(a, "*") {
			c.findf("%s: wildcard action %q", s.where, a)
		}
	}
	resources := asList(s.body["Resource"])
	if len(resources) == 0 {
		c.findf("%s: no Resource", s.where)
	}
	for _, r := range resources {
		for _, b := range branches(r) {
			c.resourceScope(s, actions, b)
		}
	}
}

// resourceScope checks that r, a Resource of a statement allowing actions,
// is the resource those actions are meant for.
func (c *checker) resourceScope(s statement, actions []string, r any) {
	if str, ok := r.(string); ok && (str == "*" || strings.HasSuffix(str, ":*") || strings.Contains(str, ":::*")) {
		for _, a := range actions {
			if !slices.Contains(noResourceLevel, a) {
				c.findf("%s: %q on Resource %q: not scoped to one resource", s.where, a, str)
			}
		}
		return
	}
	services := map[string]bool{}
	for _, a := range actions {
		svc, _, _ := strings.Cut(a, ":")
		services[svc] = true
	}
	for svc := range services {
		switch svc {
		case "secretsmanager":
			if !isRef(r, "AvePointSecretArn") {
				c.findf("%s: secretsmanager actions on %v: only the AvePoint secret (!Ref AvePointSecretArn)", s.where, r)
			}
		case "kms":
			switch {
			case isRef(r, "KmsKeyArn"):
			case isRef(r, "SecretKmsKeyArn"), isRef(r, "UserListKmsKeyArn"):
				// The secret's key and a user list bucket's: decrypt only,
				// and only through Secrets Manager or S3, so the role cannot
				// use the key for anything else.
				cond, _ := s.body["Condition"].(map[string]any)
				eq, _ := cond["StringEquals"].(map[string]any)
				if !slices.Equal(actions, []string{"kms:Decrypt"}) || eq["kms:ViaService"] == nil {
					c.findf("%s: the key %v allows only kms:Decrypt with a kms:ViaService condition", s.where, r)
				}
			default:
				c.findf("%s: kms actions on %v: only the report key (!Ref KmsKeyArn), the secret's (!Ref SecretKmsKeyArn) or the user lists' (!Ref UserListKmsKeyArn)", s.where, r)
			}
		case "s3":
			c.s3Scope(s, r)
		case "states":
			if !c.refersToType(r, "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine") && !c.namesStateMachine(r) {
				c.findf("%s: states actions on %v: only this stack's state machines", s.where, r)
			}
		case "dynamodb":
			c.dynamoScope(s, actions, r)
		case "lambda":
			if !c.refersToType(r, "AWS::Serverless::Function", "AWS::Lambda::Function") {
				c.findf("%s: lambda actions on %v: only this stack's functions", s.where, r)
			}
		case "events":
			// The rule Step Functions manages for .sync integrations: AWS
			// documents this fixed name for the role of the calling machine.
			if sub, _ := subString(r); !strings.HasSuffix(sub, ":rule/StepFunctionsGetEventsForStepFunctionsExecutionRule") && !c.refersToAny(r) {
				c.findf("%s: events actions on %v: only the Step Functions managed rule or this stack's rules", s.where, r)
			}
		default:
			if !c.refersToAny(r) {
				c.findf("%s: %s actions on %v: not a resource or parameter of this stack", s.where, svc, r)
			}
		}
	}
}

// dynamoItemActions are the DynamoDB actions a role of this stack may
// have: single-item reads and writes. No Scan, Query, batch or table
// actions: the job slot ledger is one item.
var dynamoItemActions = []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}

// dynamoScope: item actions on a table of this stack, narrowed by a
// dynamodb:LeadingKeys condition to the items the role needs.
func (c *checker) dynamoScope(s statement, actions []string, r any) {
	m, _ := r.(map[string]any)
	ga, _ := m["Fn::GetAtt"].([]any)
	if len(ga) != 2 || !c.isType(fmt.Sprint(ga[0]), "AWS::DynamoDB::Table") || ga[1] != "Arn" {
		c.findf("%s: dynamodb actions on %v: only a table of this stack (!GetAtt <Table>.Arn)", s.where, r)
	}
	for _, a := range actions {
		if strings.HasPrefix(a, "dynamodb:") && !slices.Contains(dynamoItemActions, a) {
			c.findf("%s: %s: only single-item actions (%s)", s.where, a, strings.Join(dynamoItemActions, ", "))
		}
	}
	cond, _ := s.body["Condition"].(map[string]any)
	eq, _ := cond["ForAllValues:StringEquals"].(map[string]any)
	like, _ := cond["ForAllValues:StringLike"].(map[string]any)
	prefixed := len(strs(like["dynamodb:LeadingKeys"])) > 0
	for _, p := range strs(like["dynamodb:LeadingKeys"]) {
		// A pattern with a literal prefix: a family of items, not all.
		if i := strings.IndexAny(p, "*?"); i <= 0 {
			prefixed = false
		}
	}
	if len(strs(eq["dynamodb:LeadingKeys"])) == 0 && !prefixed {
		c.findf("%s: dynamodb actions without a ForAllValues:StringEquals (or a prefixed StringLike) dynamodb:LeadingKeys condition reach every item of the table", s.where)
	}
}

var subVarRE = regexp.MustCompile(`\$\{([^}]+)\}`)

// s3Scope: the report bucket itself, or objects below a prefix in it —
// never every object of the bucket or any other bucket.
func (c *checker) s3Scope(s statement, r any) {
	var text string
	switch x := r.(type) {
	case map[string]any:
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 && c.isType(fmt.Sprint(ga[0]), "AWS::S3::Bucket") && ga[1] == "Arn" {
			return // the bucket (bucket-level actions)
		}
		if isRef(x, "UserListObjects") && slices.Equal(strs(s.body["Action"]), []string{"s3:GetObject"}) {
			// The objects the operator names, to read a user list: the
			// one resource outside the stack's buckets, read-only.
			return
		}
		sub, ok := x["Fn::Sub"]
		if !ok {
			c.findf("%s: s3 resource %v is neither the report bucket nor a !Sub of it", s.where, r)
			return
		}
		if l, ok := sub.([]any); ok && len(l) > 0 {
			sub = l[0]
		}
		text, _ = sub.(string)
	default:
		c.findf("%s: s3 resource %v is not derived from the report bucket", s.where, r)
		return
	}
	// Which bucket: ${Bucket} or ${Bucket.Arn} of an AWS::S3::Bucket here.
	vars := subVarRE.FindAllStringSubmatch(text, -1)
	bucket := ""
	for _, v := range vars {
		name, _, _ := strings.Cut(v[1], ".")
		if c.isType(name, "AWS::S3::Bucket") {
			bucket = v[0]
			break
		}
	}
	if bucket == "" {
		c.findf("%s: s3 resource %q names no bucket of this stack", s.where, text)
		return
	}
	_, path, hasPath := strings.Cut(text[strings.Index(text, bucket)+len(bucket):], "/")
	if !hasPath {
		return // the bucket ARN
	}
	first, _, _ := strings.Cut(path, "/")
	if first == "" || strings.Contains(first, "*") {
		c.findf("%s: s3 resource %q reaches every object of the bucket; scope it to a prefix", s.where, text)
	}
}

func subString(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	sub, ok := m["Fn::Sub"]
	if l, isList := sub.([]any); isList && len(l) > 0 {
		sub = l[0]
	}
	s, isStr := sub.(string)
	return s, ok && isStr
}

var stateMachineARNRE = regexp.MustCompile(`:states:[^:]*:[^:]*:(?:stateMachine|execution):([^:/]+)`)

// namesStateMachine reports whether r is the ARN (or an execution ARN) of
// a state machine of this stack given by its fixed Name (a machine that
// must name itself cannot use its own generated ARN without a cycle).
func (c *checker) namesStateMachine(r any) bool {
	sub, ok := subString(r)
	if !ok {
		return false
	}
	// ${AWS::Region} and friends hold colons; keep them out of the split.
	norm := func(s string) string { return strings.ReplaceAll(s, "::", "__") }
	m := stateMachineARNRE.FindStringSubmatch(norm(sub))
	if m == nil {
		return false
	}
	for _, name := range c.names() {
		res := c.t.Resources[name]
		if res.Type != "AWS::Serverless::StateMachine" && res.Type != "AWS::StepFunctions::StateMachine" {
			continue
		}
		prop := "Name"
		if res.Type == "AWS::StepFunctions::StateMachine" {
			prop = "StateMachineName"
		}
		own, isSub := subString(res.Properties[prop])
		if !isSub {
			own, _ = res.Properties[prop].(string)
		}
		if own != "" && norm(own) == m[1] {
			return true
		}
	}
	return false
}

func isRef(v any, name string) bool {
	m, ok := v.(map[string]any)
	return ok && m["Ref"] == name
}

func (c *checker) isType(name string, types ...string) bool {
	r, ok := c.t.Resources[name]
	return ok && slices.Contains(types, r.Type)
}

// refersToType reports whether v is a Ref, GetAtt or Sub of a resource of
// one of types.
func (c *checker) refersToType(v any, types ...string) bool {
	for _, name := range referencedNames(v) {
		if c.isType(name, types...) {
			return true
		}
	}
	return false
}

func (c *checker) refersToAny(v any) bool {
	for _, name := range referencedNames(v) {
		if _, ok := c.t.Resources[name]; ok {
			return true
		}
		if _, ok := c.t.Parameters[name]; ok {
			return true
		}
	}
	return false
}

func referencedNames(v any) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if ref, ok := m["Ref"].(string); ok {
		return []string{ref}
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
		return []string{fmt.Sprint(ga[0])}
	}
	if sub, ok := m["Fn::Sub"]; ok {
		if l, ok := sub.([]any); ok && len(l) > 0 {
			sub = l[0]
		}
		s, _ := sub.(string)
		var out []string
		for _, v := range subVarRE.FindAllStringSubmatch(s, -1) {
			name, _, _ := strings.Cut(v[1], ".")
			if !strings.HasPrefix(name, "AWS::") {
				out = append(out, name)
			}
		}
		return out
	}
	return nil
}

// ---- buckets -------------------------------------------------------------

func (c *checker) buckets() {
	for _, name := range c.names() {
		r := c.t.Resources[name]
		if r.Type != "AWS::S3::Bucket" {
			continue
		}
		c.r.Buckets = append(c.r.Buckets, name)
		pab, _ := r.Properties["PublicAccessBlockConfiguration"].(map[string]any)
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if fmt.Sprint(pab[k]) != "true" {
				c.findf("%s: PublicAccessBlockConfiguration.%s must be true", name, k)
			}
		}
		if !c.deniesInsecureTransport(name) {
			c.findf("%s: no bucket policy denies s3:* to everyone when aws:SecureTransport is false (bucket and objects)", name)
		}
	}
}

func (c *checker) deniesInsecureTransport(bucket string) bool {
	for _, name := range c.names() {
		r := c.t.Resources[name]
		if r.Type != "AWS::S3::BucketPolicy" || !isRef(r.Properties["Bucket"], bucket) {
			continue
		}
		doc, _ := r.Properties["PolicyDocument"].(map[string]any)
		for _, s := range asList(doc["Statement"]) {
			sm, _ := s.(map[string]any)
			cond, _ := sm["Condition"].(map[string]any)
			boolCond, _ := cond["Bool"].(map[string]any)
			if sm["Effect"] != "Deny" || fmt.Sprint(sm["Principal"]) != "*" && !isAWSStar(sm["Principal"]) ||
				!slices.Contains(strs(sm["Action"]), "s3:*") || fmt.Sprint(boolCond["aws:SecureTransport"]) != "false" {
				continue
			}
			// Both the bucket and its objects.
			var bucketARN, objects bool
			for _, res := range asList(sm["Resource"]) {
				names := referencedNames(res)
				if !slices.Contains(names, bucket) {
					continue
				}
				if m, ok := res.(map[string]any); ok {
					if _, ok := m["Fn::GetAtt"]; ok {
						bucketARN = true
					}
					if sub, ok := m["Fn::Sub"].(string); ok && strings.HasSuffix(sub, "/*") {
						objects = true
					}
				}
			}
			if bucketARN && objects {
				return true
			}
		}
	}
	return false
}

func isAWSStar(p any) bool {
	m, ok := p.(map[string]any)
	return ok && fmt.Sprint(m["AWS"]) == "*"
}

// ---- DynamoDB tables -----------------------------------------------------

// tables: on demand (no capacity to size or to run out of) and deleted
// with the stack.
func (c *checker) tables() {
	for _, name := range c.names() {
		r := c.t.Resources[name]
		if r.Type != "AWS::DynamoDB::Table" {
			continue
		}
		c.r.Tables = append(c.r.Tables, name)
		if r.Properties["BillingMode"] != "PAY_PER_REQUEST" {
			c.findf("%s: BillingMode must be PAY_PER_REQUEST (on demand)", name)
		}
		if _, ok := r.Properties["TableName"]; ok {
			c.findf("%s: a fixed TableName keeps two stacks in one account apart only by luck; let CloudFormation name it", name)
		}
	}
}

// ---- HTTP APIs -----------------------------------------------------------

func (c *checker) apis() {
	globalAPIAuth := ""
	if api, ok := c.t.Globals["Api"].(map[string]any); ok {
		auth, _ := api["Auth"].(map[string]any)
		globalAPIAuth, _ = auth["DefaultAuthorizer"].(string)
	}
	for _, name := range c.names() {
		r := c.t.Resources[name]
		p := r.Properties
		auth, _ := p["Auth"].(map[string]any)
		switch r.Type {
		case "AWS::Serverless::Api":
			c.r.APIs = append(c.r.APIs, name)
			if auth["DefaultAuthorizer"] != "AWS_IAM" && globalAPIAuth != "AWS_IAM" {
				c.findf("%s: Auth.DefaultAuthorizer must be AWS_IAM", name)
			}
		case "AWS::Serverless::HttpApi":
			c.r.APIs = append(c.r.APIs, name)
			if fmt.Sprint(auth["EnableIamAuthorizer"]) != "true" || auth["DefaultAuthorizer"] != "AWS_IAM" {
				c.findf("%s: Auth.EnableIamAuthorizer must be true and Auth.DefaultAuthorizer AWS_IAM", name)
			}
		case "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api":
			c.r.APIs = append(c.r.APIs, name)
		case "AWS::ApiGateway::Method", "AWS::ApiGatewayV2::Route":
			c.r.APIs = append(c.r.APIs, name)
			if p["AuthorizationType"] != "AWS_IAM" {
				c.findf("%s: AuthorizationType must be AWS_IAM", name)
			}
		case "AWS::Lambda::Url":
			c.r.APIs = append(c.r.APIs, name)
			if p["AuthType"] != "AWS_IAM" {
				c.findf("%s: AuthType must be AWS_IAM", name)
			}
		case "AWS::Serverless::Function":
			if url, ok := p["FunctionUrlConfig"].(map[string]any); ok {
				c.r.APIs = append(c.r.APIs, name+" FunctionUrlConfig")
				if url["AuthType"] != "AWS_IAM" {
					c.findf("%s: FunctionUrlConfig.AuthType must be AWS_IAM", name)
				}
			}
			events, _ := p["Events"].(map[string]any)
			for ev, e := range events {
				em, _ := e.(map[string]any)
				typ, _ := em["Type"].(string)
				if typ != "Api" && typ != "HttpApi" {
					continue
				}
				c.r.APIs = append(c.r.APIs, name+" event "+ev)
				props, _ := em["Properties"].(map[string]any)
				evAuth, _ := props["Auth"].(map[string]any)
				if a, ok := evAuth["Authorizer"]; ok && a != "AWS_IAM" {
					c.findf("%s event %s: Auth.Authorizer %v; must be AWS_IAM", name, ev, a)
				}
				apiRef := props["RestApiId"]
				if typ == "HttpApi" {
					apiRef = props["ApiId"]
				}
				if apiRef == nil && evAuth["Authorizer"] != "AWS_IAM" && (typ == "HttpApi" || globalAPIAuth != "AWS_IAM") {
					c.findf("%s event %s: an implicit API without IAM auth; reference an API with AWS_IAM or set Auth.Authorizer AWS_IAM", name, ev)
				}
			}
		}
	}
}
