package samtpl_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/samtpl"
)

const conditionsTemplate = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  Topic: {Type: String, Default: ""}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  HasTopic: {"Fn::Not": [{"Fn::Equals": [{"Ref": Topic}, ""]}]}
  ProdWithTopic: !And [!Condition IsProd, {Condition: HasTopic}]
  ProdOrTopic: !Or [!Condition IsProd, !Condition HasTopic]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !If [IsProd, live, !Sub "scratch-${Stage}"]
      DeletionProtectionEnabled: !If [IsProd, true, false]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  ProdOnlyTable:
    Type: AWS::DynamoDB::Table
    Condition: IsProd
    Properties:
      TableName: prod-only
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Condition: ProdWithTopic
    Properties:
      AlarmActions: !If [HasTopic, [!Ref Topic], !Ref AWS::NoValue]
Outputs:
  Name:
    Value: {"Fn::If": [NotProd, !Ref Table, !Sub "${Table}-in-prod"]}
  ProdOnly:
    Condition: IsProd
    Value: !Ref ProdOnlyTable
  Either:
    Condition: ProdOrTopic
    Value: yes
`

func TestConditionsDecideWhatExists(t *testing.T) {
	tests := []struct {
		name       string
		params     map[string]string
		tables     []string
		outputs    map[string]string
		notOutputs []string
	}{
		{"false conditions drop resources and outputs, Fn::If takes the false branch",
			nil, []string{"scratch-dev"}, map[string]string{"Name": "scratch-dev"}, []string{"ProdOnly", "Either"}},
		{"true conditions keep them, Fn::If takes the true branch",
			map[string]string{"Stage": "prod"}, []string{"live", "prod-only"}, map[string]string{"Name": "live-in-prod", "ProdOnly": "prod-only", "Either": "yes"}, nil},
		{"Fn::Or is true when one operand is",
			map[string]string{"Topic": "arn:aws:sns:us-east-1:000000000000:t"}, []string{"scratch-dev"}, map[string]string{"Either": "yes"}, []string{"ProdOnly"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := samtpl.Parse([]byte(conditionsTemplate), samtpl.Options{Parameters: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tb := range tpl.Tables {
				names = append(names, tb.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.tables, ",") {
				t.Errorf("tables = %v, want %v", names, tc.tables)
			}
			for k, v := range tc.outputs {
				if tpl.Outputs[k] != v {
					t.Errorf("output %s = %q, want %q", k, tpl.Outputs[k], v)
				}
			}
			for _, k := range tc.notOutputs {
				if _, ok := tpl.Outputs[k]; ok {
					t.Errorf("output %s exists, its condition is false", k)
				}
			}
		})
	}
}

func TestEveryConditionIsReportedWithItsValue(t *testing.T) {
	tpl, err := samtpl.Parse([]byte(conditionsTemplate), samtpl.Options{Parameters: map[string]string{"Stage": "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"IsProd": true, "NotProd": false, "HasTopic": false, "ProdWithTopic": false, "ProdOrTopic": true}
	if len(tpl.Conditions) != len(want) {
		t.Errorf("conditions = %v, want %v", tpl.Conditions, want)
	}
	for name, v := range want {
		if got, ok := tpl.Conditions[name]; !ok || got != v {
			t.Errorf("%s = %v (reported: %v), want %v", name, got, ok, v)
		}
	}
}

func TestConditionErrorsNameTheProblem(t *testing.T) {
	base := "Transform: AWS::Serverless-2016-10-31\nParameters:\n  P: {Type: String, Default: a}\n"
	tests := []struct{ name, tpl, want string }{
		{"an unknown condition on a resource", base + "Resources:\n  S:\n    Type: AWS::Logs::LogGroup\n    Condition: Nope\n", `unknown condition "Nope"`},
		{"a condition cycle", base + "Conditions:\n  A: !Not [!Condition B]\n  B: !Not [!Condition A]\nResources: {}\n", "condition cycle"},
		{"Fn::Equals with one value", base + "Conditions:\n  A: !Equals [a]\nResources: {}\n", "Fn::Equals wants two values"},
		{"a non-condition as a condition", base + "Conditions:\n  A: !Ref P\nResources: {}\n", "want a condition function"},
		{"AWS::NoValue where a value is needed", base + "Conditions:\n  A: !Equals [!Ref P, a]\nResources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: !If [A, !Ref AWS::NoValue, t]\n", "AWS::NoValue where a value is needed"},
		{"Fn::If with two items", base + "Conditions:\n  A: !Equals [!Ref P, a]\nResources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: !If [A, t]\n", "Fn::If wants"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := samtpl.Parse([]byte(tc.tpl), samtpl.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
