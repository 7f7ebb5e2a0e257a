"""The templates as CloudFormation receives them, checked without an AWS account.

`sam deploy` uploads the code and nested templates (`sam package`), then CloudFormation runs the
SAM transform (AWS::Serverless-2016-10-31) and creates what it produced. This suite does the same
offline: the package rewrite (code and nested templates as S3 locations), the transform itself
(aws-sam-translator, the library AWS's transform is built from, with a stub managed-policy
loader), then cfn-lint over the transform's output, for template.yaml and the media-node stack.
A template the transform refuses, or whose output cfn-lint flags, fails here as it would fail at
`sam deploy`. Then, on that output, what a deployment relies on: secrets, the media nodes' access
to their hooks, Fargate sizes, names a second stack would collide on, the account prerequisites.

    python tests/deploy/stack.py <scratch dir>
"""
import copy
import fnmatch
import json
import logging
import os
import re
import subprocess
import sys

from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from lait_e2e import REPO, check, run  # noqa: E402

# The transform warns, on every run, that nobody published its usage metrics (AWS's own service
# does): noise in a test's output.
logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)

CFN_LINT = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
TEMPLATE = os.path.join(REPO, "template.yaml")
MEDIA_NODE = os.path.join(REPO, "infra", "aws", "media-node.yaml")

# Fargate's CPU units → the memory sizes (MiB) it allows with them.
FARGATE = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)),
    16384: set(range(32768, 122881, 8192)),
}

# Every environment variable that carries a secret, and where its value must come from: a secret
# the stack generates (its resource) or one the operator created (the parameter holding its ARN).
SECRET_VARS = {
    "LAIT_JWT_SECRET": "JwtSecret",
    "LAIT_MEDIA_SECRET": "MediaSecret",
    "LAIT_MEDIA_SECRET_PREVIOUS": "MediaSecret",
    "LAIT_KAKAO_CLIENT_SECRET": "KakaoClientSecretArn",
}
SECRET_LIKE = re.compile(r"SECRET|PASSWORD|PRIVATE|CREDENTIAL|_TOKEN$|_KEY$")
# Functions that get no secret at all: store clients on a schedule.
NO_SECRETS = ("ReaperFunction", "SweepFunction")


class StubPolicies:
    """The managed-policy loader the transform asks for AWS managed policy ARNs by name: the
    template names none by short name, so an empty map is exact."""

    def load(self, *_args, **_kwargs):
        return {}


def packaged(template):
    """What `sam package` hands CloudFormation: code and nested templates as S3 locations."""
    t = copy.deepcopy(template)
    for name, r in t.get("Resources", {}).items():
        props = r.setdefault("Properties", {})
        if r["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = f"s3://lait-artifacts/{name}.zip"
        elif r["Type"] == "AWS::CloudFormation::Stack" and not str(props.get("TemplateURL", "")).startswith("https://"):
            props["TemplateURL"] = f"https://lait-artifacts.s3.amazonaws.com/{name}.template"
        elif r["Type"] == "AWS::Serverless::Application" and isinstance(props.get("Location"), str):
            props["Location"] = f"https://lait-artifacts.s3.amazonaws.com/{name}.template"
    return t


def translate(template):
    """(the transform's output, None) or (None, its error messages)."""
    try:
        return transform(packaged(template), {}, StubPolicies()), None
    except InvalidDocumentException as e:
        return None, [c.message for c in e.causes]


def lint(path):
    """cfn-lint's findings (errors and warnings) on a template file."""
    p = subprocess.run([CFN_LINT, "--format", "parseable", path], capture_output=True, text=True)
    return [line for line in (p.stdout + p.stderr).splitlines() if line.strip()], p.returncode


def load(path):
    with open(path) as f:
        return yaml_parse(f.read())


def strings(value):
    """Every string leaf of an intrinsic-function tree (Fn::If branches, Fn::Sub templates)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, dict):
        if value == {"Ref": "AWS::NoValue"}:
            return
        if "Fn::If" in value:  # [condition, then, else]
            yield from strings(value["Fn::If"][1:])
            return
        for v in value.values():
            yield from strings(v)


def refs(value):
    """The names a value refers to (Ref, GetAtt, and ${…} in Fn::Sub)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                yield v
            elif k == "Fn::GetAtt":
                yield (v[0] if isinstance(v, list) else v.split(".")[0])
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) else v
                yield from (m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                if isinstance(v, list):
                    yield from refs(v[1])
            else:
                yield from refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from refs(v)


def main():
    scratch = sys.argv[1]
    os.makedirs(scratch, exist_ok=True)
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "ap-northeast-2"))

    # ---- the transform and cfn-lint, as `sam deploy` meets them
    outputs = {}
    for name, path in (("template", TEMPLATE), ("media-node", MEDIA_NODE)):
        out, errors = translate(load(path))
        check(f"{name}: the SAM transform accepts it", out is not None, errors)
        if out is None:
            continue
        outputs[name] = out
        translated = os.path.join(scratch, f"{name}.json")
        with open(translated, "w") as f:
            json.dump(out, f, indent=1)
        findings, rc = lint(translated)
        check(f"{name}: cfn-lint finds nothing in the transform's output", rc == 0 and not findings, "\n".join(findings[:20]))

    # The transform really is the gate: the IAM authorizer the media hooks need, taken away,
    # is refused as CloudFormation refused it.
    broken = load(TEMPLATE)
    broken["Resources"]["HttpApi"]["Properties"].pop("Auth", None)
    out, errors = translate(broken)
    check(
        "without EnableIamAuthorizer the transform refuses the template",
        out is None and any("does not define any Authorizers" in e for e in errors),
        errors,
    )
    if "template" not in outputs or "media-node" not in outputs:
        return
    t, m = outputs["template"], outputs["media-node"]
    res, mres = t["Resources"], m["Resources"]

    # ---- secrets: generated or the operator's own, by dynamic reference, never a value
    functions = {n: r for n, r in res.items() if r["Type"] == "AWS::Lambda::Function"}
    check("the transform made the six functions", len(functions) == 6, sorted(functions))
    seen = set()
    for fname, f in sorted(functions.items()):
        env = f["Properties"].get("Environment", {}).get("Variables", {})
        for var, value in env.items():
            if var not in SECRET_VARS:
                check(f"{fname}: {var} is no secret", not SECRET_LIKE.search(var), var)
                continue
            leaves = list(strings(value))
            if not leaves:
                continue  # AWS::NoValue on every branch
            seen.add(var)
            source = SECRET_VARS[var]
            by_reference = all(s.startswith("{{resolve:secretsmanager:${" + source) and s.endswith("}}") for s in leaves)
            check(f"{fname}: {var} is a dynamic reference to {source}", by_reference, value)
        if fname in NO_SECRETS:
            check(f"{fname} gets no secret", not any(list(strings(env.get(v))) for v in SECRET_VARS), sorted(env))
    check("every secret variable reaches a function", seen == set(SECRET_VARS), sorted(set(SECRET_VARS) - seen))
    for source in set(SECRET_VARS.values()):
        if source in t["Parameters"]:
            p = t["Parameters"][source]
            check(f"{source} is a secret's ARN, not its value", source.endswith("Arn") and p.get("Default", "") == "", p)
        else:
            r = res.get(source, {})
            check(
                f"{source} is generated by Secrets Manager",
                r.get("Type") == "AWS::SecretsManager::Secret"
                and "GenerateSecretString" in r.get("Properties", {})
                and "SecretString" not in r.get("Properties", {}),
                r,
            )
    for pname in t["Parameters"]:
        check(f"parameter {pname} holds no secret value", not SECRET_LIKE.search(pname.upper()) or pname.endswith(("Arn", "VersionId")), pname)
    check("no output reads a secret's value", "{{resolve" not in json.dumps(t.get("Outputs", {})))

    container = mres["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    env_names = {e["Name"] for e in container.get("Environment", [])}
    check("media node: no secret in its plain environment", not any(SECRET_LIKE.search(n) for n in env_names), sorted(env_names))
    node_secrets = {s["Name"]: s["ValueFrom"] for s in container.get("Secrets", [])}
    check(
        "media node: LAIT_MEDIA_SECRET comes from the secret's ARN (ECS secrets)",
        set(node_secrets) == {"LAIT_MEDIA_SECRET"} and set(refs(node_secrets["LAIT_MEDIA_SECRET"])) <= {"MediaSecretArn", "MediaSecretVersionId"},
        node_secrets,
    )
    nested = res["MediaNodes"]["Properties"]["Parameters"]
    check("the media nodes get the stack's MediaSecret", nested.get("MediaSecretArn") == {"Ref": "MediaSecret"}, nested.get("MediaSecretArn"))
    check(
        "a rotation reaches channels (which accepts both versions) before the nodes",
        "ChannelsFunction" in ([res["MediaNodes"].get("DependsOn")] if isinstance(res["MediaNodes"].get("DependsOn"), str) else res["MediaNodes"].get("DependsOn", [])),
        res["MediaNodes"].get("DependsOn"),
    )

    # ---- the media nodes may call their hooks and nothing else
    body = res["HttpApi"]["Properties"]["Body"]
    routes = {(method.upper(), path): op for path, ops in body["paths"].items() for method, op in ops.items() if isinstance(op, dict)}
    iam = {r for r, op in routes.items() if {"AWS_IAM": []} in op.get("security", [])}
    check("the hook routes are IAM-authorized in the deployed API", {p for _, p in iam} == {"/internal/media/publish", "/internal/media/heartbeat", "/internal/media/unpublish"}, sorted(iam))
    called = set()
    for root, _, files in os.walk(os.path.join(REPO, "media-node", "src")):
        for fn in files:
            with open(os.path.join(root, fn)) as f:
                called |= set(re.findall(r'"(/internal/media/[a-z-]+)"', f.read()))
    check("the routes the agent calls are exactly the IAM-authorized hooks", called == {p for _, p in iam}, sorted(called))
    invoke = [
        s for pol in mres["TaskRole"]["Properties"]["Policies"] for s in pol["PolicyDocument"]["Statement"]
        if "execute-api:Invoke" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    patterns = [next(strings(s["Resource"])).split("${ApiId}/", 1)[-1] for s in invoke]
    allowed = {r for r in routes if any(fnmatch.fnmatchcase(f"live/{r[0]}{r[1]}", p) for p in patterns)}
    check("the task role may invoke every hook route", iam <= allowed, sorted(iam - allowed))
    check("the task role may invoke no public route", allowed <= iam, sorted(allowed - iam))
    check("the nodes' ApiId is this stack's HTTP API", nested.get("ApiId") == {"Ref": "HttpApi"}, nested.get("ApiId"))
    check(
        "the agent signs its hook calls (SigV4)",
        {"Name": "LAIT_CHANNELS_SIGV4", "Value": "true"} in container.get("Environment", []),
        container.get("Environment"),
    )

    # ---- Fargate sizes: every size a node can be given is one Fargate runs
    sizes = m["Mappings"]["Sizes"]
    for size, v in sizes.items():
        cpu, mem = int(v["Cpu"]), int(v["Memory"])
        check(f"media node size {size} ({cpu} CPU units, {mem} MiB) is a Fargate size", mem in FARGATE.get(cpu, ()), v)
    check("the node stack offers exactly its mapped sizes", set(m["Parameters"]["Size"]["AllowedValues"]) == set(sizes))
    outer = t["Parameters"]["MediaNodeSize"]
    check(
        "template.yaml passes the node size through, only sizes the node stack has",
        set(outer["AllowedValues"]) <= set(sizes) and outer["Default"] in sizes and nested.get("Size") == {"Ref": "MediaNodeSize"},
        (outer, nested.get("Size")),
    )
    task = mres["TaskDefinition"]["Properties"]
    check("the task's CPU and memory come from the size", task["Cpu"] == {"Fn::FindInMap": ["Sizes", {"Ref": "Size"}, "Cpu"]} and task["Memory"] == {"Fn::FindInMap": ["Sizes", {"Ref": "Size"}, "Memory"]}, task.get("Cpu"))
    check("every node parameter template.yaml sets exists there", set(nested) <= set(m["Parameters"]), sorted(set(nested) - set(m["Parameters"])))

    # ---- placement and protection: a full or stopping node takes no publisher, a node with
    # lives is not stopped
    env = {e["Name"]: e["Value"] for e in container.get("Environment", [])}
    check("the node admits its size's streams (LAIT_MAX_LIVES from the size)", env.get("LAIT_MAX_LIVES") == {"Fn::FindInMap": ["Sizes", {"Ref": "Size"}, "Streams"]} and all(int(v["Streams"]) >= 1 for v in sizes.values()), env.get("LAIT_MAX_LIVES"))
    ready_port = str(env.get("LAIT_READY_BIND", ":")).rsplit(":", 1)[1]
    tg = mres["TargetGroup"]["Properties"]
    attributes = {a["Key"]: a["Value"] for a in tg.get("TargetGroupAttributes", [])}
    check(
        "the load balancer asks the agent's /ready, and keeps a full node's publishers connected",
        tg.get("HealthCheckProtocol") == "HTTP" and tg.get("HealthCheckPath") == "/ready" and str(tg.get("HealthCheckPort")) == ready_port
        and attributes.get("target_health_state.unhealthy.connection_termination.enabled") == "false",
        (tg, ready_port),
    )
    ports = {p["ContainerPort"] for p in container.get("PortMappings", [])}
    ingress = mres["TaskSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    check("the health check's port is mapped and open to the VPC only", int(ready_port or 0) in ports and any(r["FromPort"] == int(ready_port or 0) and r.get("CidrIp") == {"Ref": "VpcCidr"} for r in ingress), (ports, ingress))
    protection = [
        s for pol in mres["TaskRole"]["Properties"]["Policies"] for s in pol["PolicyDocument"]["Statement"]
        if "ecs:UpdateTaskProtection" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    check("the task may protect itself from scale-in while it carries lives", len(protection) == 1, protection)
    check("a stopping node has time to drain and close its recordings", container.get("StopTimeout") == 120 and int(env.get("LAIT_DRAIN_SECS", "999")) <= 60, (container.get("StopTimeout"), env.get("LAIT_DRAIN_SECS")))

    # ---- names that are unique per account or region carry the stack's name
    named = {
        "AWS::Scheduler::Schedule": "Name",
        "AWS::CloudFront::Function": "Name",
        "AWS::ElastiCache::ServerlessCache": "ServerlessCacheName",
    }
    for rname, r in sorted(res.items()):
        key = named.get(r["Type"])
        if key:
            check(f"{rname}'s name carries the stack's name", "AWS::StackName" in json.dumps(r["Properties"].get(key)), r["Properties"].get(key))
        for config in ("CachePolicyConfig", "ResponseHeadersPolicyConfig", "OriginAccessControlConfig"):
            if config in r.get("Properties", {}):
                check(f"{rname}'s name carries the stack's name", "AWS::StackName" in json.dumps(r["Properties"][config].get("Name")))
    check("the two schedules were made", sum(r["Type"] == "AWS::Scheduler::Schedule" for r in res.values()) == 2)

    # ---- the CDN in front of /api shares only what the functions mark public
    behaviours = res["Distribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
    api = next((b for b in behaviours if b["PathPattern"] == "/api/*"), {})
    policy_name = api.get("CachePolicyId", {}).get("Ref") if isinstance(api.get("CachePolicyId"), dict) else None
    policy = res.get(policy_name, {}).get("Properties", {}).get("CachePolicyConfig", {})
    key = policy.get("ParametersInCacheKeyAndForwardedToOrigin", {})
    check(
        "/api/* is cached only as the functions say (TTL 0 unless s-maxage), keyed by token, cookies and query",
        policy.get("MinTTL") == 0 and policy.get("DefaultTTL") == 0 and 0 < policy.get("MaxTTL", 0) <= 60
        and key.get("HeadersConfig") == {"HeaderBehavior": "whitelist", "Headers": ["Authorization"]}
        and key.get("CookiesConfig") == {"CookieBehavior": "all"}
        and key.get("QueryStringsConfig") == {"QueryStringBehavior": "all"},
        policy,
    )

    # ---- account prerequisites and the network
    stage = res["WebSocketStage"]
    check("the WebSocket stage logs access", "AccessLogSettings" in stage["Properties"])
    ready = res.get(stage.get("DependsOn"), {})
    check(
        "the stage waits for API Gateway's CloudWatch role when the stack creates it",
        "ApiGatewayAccount" in set(refs(ready.get("Metadata", {})))
        and res["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayLogsRoleResource", "Arn"]}
        and t["Parameters"]["ApiGatewayLogsRole"]["Default"] == "create",
        stage.get("DependsOn"),
    )
    zone = {n: json.dumps(r["Properties"]["AvailabilityZone"]) for n, r in res.items() if r["Type"] == "AWS::EC2::Subnet"}
    nat_subnet = {n: r["Properties"]["SubnetId"]["Ref"] for n, r in res.items() if r["Type"] == "AWS::EC2::NatGateway"}
    table_nat = {
        r["Properties"]["RouteTableId"]["Ref"]: r["Properties"]["NatGatewayId"]["Ref"]
        for r in res.values() if r["Type"] == "AWS::EC2::Route" and "NatGatewayId" in r["Properties"]
    }
    private = {
        r["Properties"]["SubnetId"]["Ref"]: r["Properties"]["RouteTableId"]["Ref"]
        for r in res.values() if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation" and r["Properties"]["RouteTableId"]["Ref"] in table_nat
    }
    function_subnets = {s["Ref"] for s in functions["ChannelsFunction"]["Properties"]["VpcConfig"]["SubnetIds"]}
    check("the functions run in two private subnets", len(function_subnets) == 2 and function_subnets <= set(private), sorted(function_subnets))
    check(
        "each private subnet leaves through a NAT in its own zone",
        all(zone[nat_subnet[table_nat[private[s]]]] == zone[s] for s in function_subnets) and len({table_nat[private[s]] for s in function_subnets}) == 2,
        {s: table_nat.get(private.get(s)) for s in function_subnets},
    )


run(main)
