"""Print the CloudFormation template SAM deploys for a SAM template, as JSON.

Usage: python sam_transform.py template.yaml

Runs the SAM translator (the aws-sam-translator package that sam-cli uses) offline: the code
location is replaced by a placeholder S3 URI (sam build/package would do that) and no managed
policy lookups are made (the template attaches none to functions).
"""
import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    def load(self):
        return {}


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(sys.argv[1]) as f:
        template = yaml_parse(f.read())
    functions = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in functions:
        functions["CodeUri"] = "s3://placeholder/code.zip"
    for res in template.get("Resources", {}).values():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = "s3://placeholder/code.zip"
    out = transform(template, {}, NoManagedPolicies())
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
