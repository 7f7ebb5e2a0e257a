"""template.yaml against the code: the HTTP API routes of each function and the WebSocket API's
route keys must be exactly what the functions serve (`lait-openapi --routes`, from the Routers'
OpenAPI and chat-ws's actions): nothing forgotten, nothing stale. Then what the deployment
depends on: every action route integrated with chat-ws, the media hooks IAM-authorized, every
function built by `sam build` for the architecture it was given. (Secrets and the rest of what a
deployment relies on: tests/deploy/stack.py, on the SAM transform's output.)

    python tests/deploy/template.py <lait-openapi binary> [<sam build dir> <Architecture it built>]
"""
import os
import subprocess
import sys

from cfnlint.decode import decode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from lait_e2e import REPO, check, run  # noqa: E402

def main():
    openapi_bin = sys.argv[1]
    build_dir = sys.argv[2] if len(sys.argv) > 2 else None
    built_arch = sys.argv[3] if len(sys.argv) > 3 else None

    template, errors = decode(os.path.join(REPO, "template.yaml"))
    check("template.yaml parses", not errors, errors)
    resources = template["Resources"]

    served = {}
    for line in subprocess.run([openapi_bin, "--routes"], check=True, capture_output=True, text=True).stdout.splitlines():
        binary, route = line.split(" ", 1)
        served.setdefault(binary, set()).add(route)
    check("the functions serve routes (lait-openapi --routes)", {"auth", "channels", "chat-api", "chat-ws"} <= served.keys(), served.keys())

    functions = {
        name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"
    }
    binary_of = {name: r["Metadata"]["BuildProperties"]["Binary"] for name, r in functions.items()}
    by_binary = {b: n for n, b in binary_of.items()}
    check(
        "every Lambda binary of the workspace is a function of the template",
        set(binary_of.values()) == {"auth", "channels", "channels-reaper", "chat-api", "chat-ws", "chat-sweep"},
        sorted(binary_of.values()),
    )

    # HTTP: each function's HttpApi events, as "METHOD /path".
    declared = {}
    internal_auth = {}
    for name, r in functions.items():
        for event in r["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            p = event["Properties"]
            route = f"{p['Method'].upper()} {p['Path']}"
            declared.setdefault(binary_of[name], set()).add(route)
            internal_auth[route] = p.get("Auth", {}).get("Authorizer")
    for binary in ("auth", "channels", "chat-api"):
        want, have = served.get(binary, set()), declared.get(binary, set())
        check(f"{binary}: every route it serves is in the template", not (want - have), sorted(want - have))
        check(f"{binary}: the template routes nothing it does not serve", not (have - want), sorted(have - want))
    every_http = [r for routes in declared.values() for r in routes]
    check("no HTTP route is given to two functions", len(every_http) == len(set(every_http)))
    internal = [r for r in every_http if " /internal/" in r]
    check(
        "the media hooks are IAM-authorized, the public routes are not",
        internal and all(internal_auth[r] == "AWS_IAM" for r in internal)
        and not any(internal_auth[r] for r in every_http if r not in internal),
        {r: internal_auth[r] for r in every_http if internal_auth[r] or r in internal},
    )

    # WebSocket: the routes of the WEBSOCKET API and where they go.
    ws_apis = [n for n, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api" and r["Properties"].get("ProtocolType") == "WEBSOCKET"]
    check("one WebSocket API, routed by the frame's action", len(ws_apis) == 1 and resources[ws_apis[0]]["Properties"].get("RouteSelectionExpression") == "$request.body.action", ws_apis)
    ws_routes = {
        r["Properties"]["RouteKey"]: r["Properties"].get("Target")
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["ApiId"] == {"Ref": ws_apis[0]}
    }
    want = served.get("chat-ws", set())
    check("every chat-ws route key is a route of the WebSocket API", not (want - ws_routes.keys()), sorted(want - ws_routes.keys()))
    check("the WebSocket API routes nothing chat-ws does not handle", not (ws_routes.keys() - want), sorted(ws_routes.keys() - want))
    targets = {str(t) for t in ws_routes.values()}
    integration = targets.pop() if len(targets) == 1 else None
    target_ok = False
    if integration and "integrations/${" in integration:
        name = integration.split("${", 1)[1].split("}", 1)[0]
        uri = str(resources.get(name, {}).get("Properties", {}).get("IntegrationUri", ""))
        target_ok = f"${{{by_binary['chat-ws']}.Arn}}" in uri
    check("every WebSocket route goes to the chat-ws function", target_ok, targets)

    # Lambda runs a function on the Architecture parameter's CPU: a bootstrap for another one
    # deploys fine and fails at its first invocation (Runtime.InvalidEntrypoint).
    arch = template["Globals"]["Function"].get("Architectures")
    check("every function runs on the Architecture parameter", arch == [{"Ref": "Architecture"}] and not any("Architectures" in f["Properties"] for f in functions.values()), arch)
    if build_dir:
        machine_of = {"x86_64": 62, "arm64": 183}  # ELF e_machine: EM_X86_64, EM_AARCH64
        check(f"the build was given a valid Architecture ({built_arch})", built_arch in template["Parameters"]["Architecture"]["AllowedValues"], built_arch)
        for name, binary in sorted(binary_of.items()):
            path = os.path.join(build_dir, name, "bootstrap")
            ok = os.path.isfile(path) and os.access(path, os.X_OK)
            machine = None
            if ok:
                with open(path, "rb") as f:
                    head = f.read(20)
                ok = head[:4] == b"\x7fELF"
                machine = int.from_bytes(head[18:20], "little")
            check(f"sam build produced {name}'s executable bootstrap ({binary})", ok, path)
            check(f"{name}'s bootstrap is built for {built_arch} (ELF machine {machine})", machine == machine_of.get(built_arch), machine)
        check("sam build wrote its template", os.path.isfile(os.path.join(build_dir, "template.yaml")))


run(main)
