package templatecheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTemplateIsLeastPrivilegeAndLockedDown(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Check(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		t.Error(f)
	}
	// A check that saw nothing proves nothing.
	if r.Statements < 5 {
		t.Errorf("only %d IAM statements checked", r.Statements)
	}
	if len(r.Buckets) == 0 {
		t.Error("no S3 bucket found: the report bucket checks did not run")
	}
	if len(r.Tables) == 0 {
		t.Error("no DynamoDB table found: the job slot table checks did not run")
	}
	if len(r.APIs) == 0 {
		t.Error("no HTTP API resource found: the IAM-auth check did not run")
	} else {
		t.Logf("HTTP API resources checked for IAM auth: %s", strings.Join(r.APIs, ", "))
	}
	t.Logf("%d IAM statements, buckets %v", r.Statements, r.Buckets)
}

// base is a minimal template that passes; fixtures add one mistake each.
const base = `
Parameters:
  AvePointSecretArn: {Type: String}
  KmsKeyArn: {Type: String}
  ReportPrefix: {Type: String}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - AWSSecretsManagerGetSecretValuePolicy:
            SecretArn: !Ref AvePointSecretArn
        - Statement:
            - Effect: Allow
              Action: [s3:PutObject, s3:AbortMultipartUpload]
              Resource: !Sub arn:${AWS::Partition}:s3:::${ReportBucket}/${ReportPrefix}/*
            - Effect: Allow
              Action: kms:GenerateDataKey
              Resource: !Ref KmsKeyArn
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Ref Fn
  Slots:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
  ReportBucket:
    Type: AWS::S3::Bucket
    Properties:
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
  ReportBucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref ReportBucket
      PolicyDocument:
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: s3:*
            Resource: [!GetAtt ReportBucket.Arn, !Sub "${ReportBucket.Arn}/*"]
            Condition: {Bool: {aws:SecureTransport: "false"}}
`

// fn adds a statement to Fn's inline policy.
func fn(stmt string) string {
	return strings.Replace(base, "            - Effect: Allow\n              Action: kms:GenerateDataKey",
		stmt+"\n            - Effect: Allow\n              Action: kms:GenerateDataKey", 1)
}

func TestCheckCatchesEachMistake(t *testing.T) {
	if r, err := Check([]byte(base)); err != nil || len(r.Findings) != 0 {
		t.Fatalf("the base fixture must pass: %v %v", r.Findings, err)
	}
	tests := []struct{ name, tmpl, want string }{
		{"wildcard action", fn("            - Effect: Allow\n              Action: s3:*\n              Resource: !Sub ${ReportBucket.Arn}/reports/*"), "wildcard action"},
		{"partial wildcard action", fn("            - Effect: Allow\n              Action: s3:Put*\n              Resource: !Sub ${ReportBucket.Arn}/reports/*"), "wildcard action"},
		{"resource star", fn("            - Effect: Allow\n              Action: s3:PutObject\n              Resource: \"*\""), "not scoped to one resource"},
		{"whole bucket", fn("            - Effect: Allow\n              Action: s3:PutObject\n              Resource: !Sub ${ReportBucket.Arn}/*"), "every object of the bucket"},
		{"another bucket", fn("            - Effect: Allow\n              Action: s3:GetObject\n              Resource: arn:aws:s3:::somebody-else/x/*"), "not derived from the report bucket"},
		{"any secret", fn("            - Effect: Allow\n              Action: secretsmanager:GetSecretValue\n              Resource: !Sub arn:aws:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:x"), "only the AvePoint secret"},
		{"unscoped secret template", strings.Replace(base, "SecretArn: !Ref AvePointSecretArn", "SecretArn: \"*\"", 1), "scoped to the AvePoint secret"},
		{"any key", fn("            - Effect: Allow\n              Action: kms:Decrypt\n              Resource: arn:aws:kms:us-east-1:1:key/x"), "only the report key"},
		{"secret key without ViaService", fn("            - Effect: Allow\n              Action: kms:Decrypt\n              Resource: !Ref SecretKmsKeyArn"), "kms:ViaService"},
		{"secret key for encryption", fn("            - Effect: Allow\n              Action: kms:GenerateDataKey\n              Resource: !Ref SecretKmsKeyArn\n              Condition:\n                StringEquals:\n                  kms:ViaService: secretsmanager.us-east-1.amazonaws.com"), "only kms:Decrypt"},
		{"someone else's rule", fn("            - Effect: Allow\n              Action: events:PutTargets\n              Resource: arn:aws:events:us-east-1:1:rule/other"), "only the Step Functions managed rule"},
		{"state machine by a name not in the stack", fn("            - Effect: Allow\n              Action: states:StartExecution\n              Resource: !Sub arn:aws:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-Other"), "only this stack's state machines"},
		{"any state machine", fn("            - Effect: Allow\n              Action: states:StartExecution\n              Resource: arn:aws:states:us-east-1:1:stateMachine:x"), "only this stack's state machines"},
		{"NotAction", fn("            - Effect: Allow\n              NotAction: iam:*\n              Resource: !Ref KmsKeyArn"), "NotAction"},
		{"managed policy", strings.Replace(base, "        - LambdaInvokePolicy:", "        - AmazonS3FullAccess\n        - LambdaInvokePolicy:", 1), "managed policy"},
		{"bucket-wide policy template", strings.Replace(base, "        - LambdaInvokePolicy:", "        - S3WritePolicy:\n            BucketName: !Ref ReportBucket\n        - LambdaInvokePolicy:", 1), "not on the reviewed list"},
		{"public access not blocked", strings.Replace(base, "RestrictPublicBuckets: true", "RestrictPublicBuckets: false", 1), "RestrictPublicBuckets must be true"},
		{"TLS not enforced", strings.Replace(base, `aws:SecureTransport: "false"`, `aws:SecureTransport: "true"`, 1), "aws:SecureTransport"},
		{"TLS deny misses objects", strings.Replace(base, `[!GetAtt ReportBucket.Arn, !Sub "${ReportBucket.Arn}/*"]`, `!GetAtt ReportBucket.Arn`, 1), "aws:SecureTransport"},
		{"REST API without IAM", base + "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: v1\n", "DefaultAuthorizer must be AWS_IAM"},
		{"HTTP API without IAM", base + "  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      Auth:\n        DefaultAuthorizer: MyJwt\n", "EnableIamAuthorizer"},
		{"implicit API event", strings.Replace(base, "    Properties:\n      Policies:\n        - AWSSecrets", "    Properties:\n      Events:\n        Post:\n          Type: Api\n          Properties: {Path: /exports, Method: post}\n      Policies:\n        - AWSSecrets", 1), "implicit API without IAM auth"},
		{"event opting out of IAM", strings.Replace(base, "    Properties:\n      Policies:\n        - AWSSecrets", "    Properties:\n      Events:\n        Post:\n          Type: Api\n          Properties: {Path: /exports, Method: post, RestApiId: !Ref Api, Auth: {Authorizer: NONE}}\n      Policies:\n        - AWSSecrets", 1), "must be AWS_IAM"},
		{"function URL open", strings.Replace(base, "    Properties:\n      Policies:\n        - AWSSecrets", "    Properties:\n      FunctionUrlConfig: {AuthType: NONE}\n      Policies:\n        - AWSSecrets", 1), "FunctionUrlConfig.AuthType"},
		{"table on any item", fn("            - Effect: Allow\n              Action: dynamodb:UpdateItem\n              Resource: !GetAtt Slots.Arn"), "LeadingKeys"},
		{"table on any item by a bare wildcard", fn("            - Effect: Allow\n              Action: dynamodb:PutItem\n              Resource: !GetAtt Slots.Arn\n              Condition: {ForAllValues:StringLike: {dynamodb:LeadingKeys: [\"*\"]}}"), "LeadingKeys"},
		{"someone else's table", fn("            - Effect: Allow\n              Action: dynamodb:GetItem\n              Resource: arn:aws:dynamodb:us-east-1:1:table/other\n              Condition: {ForAllValues:StringEquals: {dynamodb:LeadingKeys: [k]}}"), "only a table of this stack"},
		{"table scan", fn("            - Effect: Allow\n              Action: dynamodb:Scan\n              Resource: !GetAtt Slots.Arn\n              Condition: {ForAllValues:StringEquals: {dynamodb:LeadingKeys: [k]}}"), "only single-item actions"},
		{"provisioned table", strings.Replace(base, "BillingMode: PAY_PER_REQUEST", "BillingMode: PROVISIONED", 1), "PAY_PER_REQUEST"},
		{"API Gateway method open", base + "  M:\n    Type: AWS::ApiGateway::Method\n    Properties: {AuthorizationType: NONE, HttpMethod: POST}\n", "AuthorizationType must be AWS_IAM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Check([]byte(tt.tmpl))
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range r.Findings {
				found = found || strings.Contains(f, tt.want)
			}
			if !found {
				t.Fatalf("findings %q do not mention %q", r.Findings, tt.want)
			}
		})
	}
	t.Run("item actions on one item of the stack's table pass", func(t *testing.T) {
		tmpl := fn("            - Effect: Allow\n              Action: [dynamodb:GetItem, dynamodb:UpdateItem]\n              Resource: !GetAtt Slots.Arn\n              Condition: {ForAllValues:StringEquals: {dynamodb:LeadingKeys: [k]}}")
		if r, _ := Check([]byte(tmpl)); len(r.Findings) != 0 || len(r.Tables) != 1 {
			t.Fatalf("findings %v, tables %v", r.Findings, r.Tables)
		}
	})
	t.Run("item actions on a prefixed family of items pass", func(t *testing.T) {
		tmpl := fn("            - Effect: Allow\n              Action: [dynamodb:GetItem, dynamodb:PutItem]\n              Resource: !GetAtt Slots.Arn\n              Condition: {ForAllValues:StringLike: {dynamodb:LeadingKeys: [\"c-*\"]}}")
		if r, _ := Check([]byte(tmpl)); len(r.Findings) != 0 {
			t.Fatalf("findings %v", r.Findings)
		}
	})
	t.Run("API with IAM auth passes", func(t *testing.T) {
		tmpl := base + "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: v1\n      Auth: {DefaultAuthorizer: AWS_IAM}\n"
		if r, _ := Check([]byte(tmpl)); len(r.Findings) != 0 || len(r.APIs) != 1 {
			t.Fatalf("findings %v, APIs %v", r.Findings, r.APIs)
		}
	})
}
