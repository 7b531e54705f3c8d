"""Write template.yaml once per samconfig.toml environment, as JSON, with that environment's
parameter overrides as the parameters' defaults.

Usage: python env_templates.py template.yaml samconfig.toml OUTDIR

make lint runs checkov on these copies as well as on template.yaml itself: checkov reads a
CloudFormation template with its parameters' defaults and drops the resources whose Condition is
then false, so the resources only some environments deploy (the prod web ACL) would otherwise
never be scanned. Intrinsics are written in their long form ({"Ref": ...}, {"Fn::Sub": ...}),
which is how CloudFormation reads the short form too.
"""
import json
import os
import sys
import tomllib

import yaml


class Tagged:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def construct(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged(suffix, value)


class Loader(yaml.SafeLoader):
    pass


Loader.add_multi_constructor("!", construct)


def long_form(v):
    if isinstance(v, Tagged):
        inner = long_form(v.value)
        if v.tag == "Ref":
            return {"Ref": inner}
        if v.tag == "Condition":
            return {"Condition": inner}
        if v.tag == "GetAtt" and isinstance(inner, str):
            return {"Fn::GetAtt": inner.split(".", 1)}
        return {"Fn::" + v.tag: inner}
    if isinstance(v, dict):
        return {k: long_form(x) for k, x in v.items()}
    if isinstance(v, list):
        return [long_form(x) for x in v]
    return v


def main():
    template_path, samconfig_path, out_dir = sys.argv[1:4]
    with open(template_path) as f:
        template = long_form(yaml.load(f, Loader=Loader))
    with open(samconfig_path, "rb") as f:
        config = tomllib.load(f)
    os.makedirs(out_dir, exist_ok=True)
    for env, commands in sorted(config.items()):
        if not isinstance(commands, dict):
            continue  # version = 0.1
        deploy = commands.get("deploy", {}).get("parameters", {})
        overrides = deploy.get("parameter_overrides")
        if overrides is None:
            continue
        params = json.loads(json.dumps(template["Parameters"]))
        for kv in overrides.split():
            name, _, value = kv.partition("=")
            if name not in params:
                sys.exit(f"{samconfig_path}: {env}: {name} is not a parameter of {template_path}")
            if params[name].get("Type") == "Number":
                value = float(value) if "." in value else int(value)  # as the template writes numbers
            params[name]["Default"] = value
        out = dict(template, Parameters=params)
        with open(os.path.join(out_dir, f"template-{env}.json"), "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
