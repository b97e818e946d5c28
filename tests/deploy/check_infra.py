#!/usr/bin/env python3
"""Offline checks of topten's Azure deployment: what can be verified without Azure.

    python tests/deploy/check_infra.py --binary target/release/handler [--repo DIR] [--workdir DIR]

Run through tests/deploy/run.sh, which creates the pinned venv (tree-sitter, tree-sitter-bicep,
pathspec, PyYAML). Each check prints `ok` or `FAIL` with the reason; the last line is
`N passed, M failed`, and the exit status is 1 when anything failed.

What is checked (no Bicep compiler exists offline, so the template checks are structural):
  bicep      every .bicep parses with tree-sitter-bicep without ERROR or MISSING nodes
  modules    every local `module` passes only parameters the target declares and every parameter
             the target requires; every `X.outputs.Y` names an output the module declares; the
             outputs of a conditional module are read only where its condition holds; no
             parameter or variable is declared and never used
  params     bicep/main.parameters.json names only parameters of bicep/main.bicep, supplies every
             required one, and its ${VAR=default} defaults satisfy @allowed
  security   Cosmos DB local auth off, storage shared keys off, TLS 1.2 minimum everywhere, HTTPS
             only, FTP and basic publishing auth off, App Insights local auth off; Azure Cache for
             Redis and Azure Managed Redis: access keys off, TLS only, Entra ID on, no eviction,
             a data access policy for the app's identity; no list*() secret functions, no
             secret-looking outputs or app settings, function-level auth on recommendations
  settings   every topten app setting set in Bicep is one the handler reads; the settings the
             handler needs in Azure are all set; none that Flex Consumption rejects; TOPTEN_STORE
             is the Redis module's rediss:// URI when a Redis store is chosen
  azd        azure.yaml: a custom-language function service whose dist is what the prepackage
             hook assembles, tagged like the function app in Bicep
  package    infra/package.sh builds the layout the Functions host expects: host.json's custom
             handler executable exists, is an executable x86-64 ELF file, stripped and at most
             40 MiB (infra/package.sh builds with the dist profile), every function folder
             has a valid function.json (generated from the route table), nothing else is in
             it, everything in it is admitted by its .funcignore, and the zip keeps the
             executable bit
  ncrontab   the retrain timer's schedule (%RETRAIN_SCHEDULE%) is valid 6-field NCRONTAB in every
             place that sets it (Bicep defaults, main.parameters.json, local.settings.json.example)
  scripts    shell syntax and --help of infra/*.sh; deploy.sh exits 2 with a clear message when
             `az` is missing or not signed in, and --package-only works without `az`
  deploy     deploy.sh end to end against stand-ins for `az` and `curl`: group, template and
             parameters, zip deploy of the package, smoke calls, the function key never printed;
             and azure.yaml's postdeploy hook run as azd runs it
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pathspec
import tree_sitter_bicep
import yaml
from tree_sitter import Language, Parser

BICEP = Language(tree_sitter_bicep.language())


class Report:
    """Counts and prints check results."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "", info: str = "") -> bool:
        """Record one check; `detail` explains a failure, `info` is shown on success."""
        if ok:
            self.passed += 1
            print(f"ok    {name}" + (f": {info}" if info else ""))
        else:
            self.failed += 1
            print(f"FAIL  {name}: {detail}")
        return ok


# ---------------------------------------------------------------------------------------------
# Bicep structure (tree-sitter-bicep)
# ---------------------------------------------------------------------------------------------


class BicepFile:
    """A parsed .bicep file with its params, outputs, modules and object properties."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.src = path.read_bytes()
        self.tree = Parser(BICEP).parse(self.src)

    def text(self, node) -> str:
        return self.src[node.start_byte : node.end_byte].decode()

    def problems(self) -> list[str]:
        """ERROR and MISSING nodes, as 'line:col kind' strings."""
        found = []

        def walk(node):
            if node.type == "ERROR" or node.is_missing:
                kind = f"missing {node.type}" if node.is_missing else "syntax error"
                found.append(f"{node.start_point[0] + 1}:{node.start_point[1] + 1} {kind}: {self.text(node)[:40]!r}")
            for child in node.children:
                walk(child)

        walk(self.tree.root_node)
        return found

    def _top(self, kind: str):
        return [n for n in self.tree.root_node.children if n.type == kind]

    def params(self) -> dict[str, dict]:
        """name -> {required, default (literal text or None), allowed (list or None)}."""
        result = {}
        children = self.tree.root_node.children
        for i, node in enumerate(children):
            if node.type != "parameter_declaration":
                continue
            name = next(c for c in node.children if c.type == "identifier")
            type_node = next((c for c in node.children if c.type == "type"), None)
            nullable = type_node is not None and self.text(type_node).endswith("?")
            eq = [j for j, c in enumerate(node.children) if c.type == "="]
            default = node.children[eq[0] + 1] if eq else None
            allowed = None
            if i > 0 and children[i - 1].type == "decorators":
                for deco in children[i - 1].children:
                    call = next((c for c in deco.children if c.type == "call_expression"), None)
                    if call is None:
                        continue
                    ident = next(c for c in call.children if c.type == "identifier")
                    if self.text(ident) == "allowed":
                        args = next(c for c in call.children if c.type == "arguments")
                        array = next(c for c in args.children if c.type == "array")
                        allowed = [literal(self, v) for v in array.children if v.type not in ("[", "]")]
            result[self.text(name)] = {
                "required": default is None and not nullable,
                "default": literal(self, default) if default is not None else None,
                "allowed": allowed,
            }
        return result

    def outputs(self) -> set[str]:
        return {
            self.text(next(c for c in n.children if c.type == "identifier"))
            for n in self._top("output_declaration")
        }

    def modules(self) -> list[tuple[str, str, list[str]]]:
        """(symbol, path, passed parameter names) of every module declaration."""
        result = []
        for node in self._top("module_declaration"):
            symbol = self.text(next(c for c in node.children if c.type == "identifier"))
            path = literal(self, next(c for c in node.children if c.type == "string"))
            body = next(c for c in node.children if c.type in ("object", "if_statement", "for_statement"))
            obj = body if body.type == "object" else first_descendant(body, "object")
            passed = []
            for prop in obj.children:
                if prop.type == "object_property" and self.text(prop.children[0]) == "params":
                    value = prop.children[-1]
                    passed = [
                        self.text(p.children[0]).strip("'")
                        for p in value.children
                        if p.type == "object_property"
                    ]
            result.append((symbol, path, passed))
        return result

    def module_params(self, symbol: str) -> dict[str, str]:
        """Parameter name -> value text of the module declaration `symbol`."""
        for node in self._top("module_declaration"):
            if self.text(next(c for c in node.children if c.type == "identifier")) != symbol:
                continue
            body = next(c for c in node.children if c.type in ("object", "if_statement", "for_statement"))
            obj = body if body.type == "object" else first_descendant(body, "object")
            for prop in obj.children:
                if prop.type == "object_property" and self.text(prop.children[0]) == "params":
                    return {self.text(p.children[0]).strip("'"): self.text(p.children[-1])
                            for p in prop.children[-1].children if p.type == "object_property"}
        return {}

    def condition(self, node) -> str | None:
        """The `if (...)` condition text of a resource or module declaration, without the
        parentheses and with whitespace collapsed; None when it is unconditional."""
        body = node.children[-1]
        if body.type != "if_statement":
            return None
        cond = next(c for c in body.children if c.type == "parenthesized_expression")
        return " ".join(self.text(cond)[1:-1].split())

    def resources(self) -> list[dict]:
        """symbol, type (without @version), condition and properties (key -> value text, the
        keys dotted paths into the body, e.g. properties.user.objectId) of every resource."""
        result = []
        for node in self._top("resource_declaration"):
            symbol = self.text(next(c for c in node.children if c.type == "identifier"))
            rtype = literal(self, next(c for c in node.children if c.type == "string"))
            body = node.children[-1]
            obj = body if body.type == "object" else first_descendant(body, "object")
            flat: dict[str, str] = {}

            def walk(o, prefix):
                for prop in o.children:
                    if prop.type != "object_property":
                        continue
                    key = prefix + self.text(prop.children[0]).strip("'")
                    value = prop.children[-1]
                    flat[key] = self.text(value)
                    if value.type == "object":
                        walk(value, key + ".")

            if obj is not None:
                walk(obj, "")
            result.append({"symbol": symbol, "type": str(rtype).split("@")[0], "condition": self.condition(node),
                           "properties": flat})
        return result

    def variables(self) -> dict[str, str]:
        """Variable name -> value text."""
        return {
            self.text(next(c for c in n.children if c.type == "identifier")): self.text(n.children[-1])
            for n in self._top("variable_declaration")
        }

    def output_values(self) -> dict[str, str]:
        """Output name -> value text."""
        return {
            self.text(next(c for c in n.children if c.type == "identifier")): self.text(n.children[-1])
            for n in self._top("output_declaration")
        }

    def properties(self, key: str) -> list[str]:
        """Value texts of every object property named `key`, anywhere in the file."""
        values = []

        def walk(node):
            if node.type == "object_property" and self.text(node.children[0]).strip("'") == key:
                values.append(self.text(node.children[-1]))
            for child in node.children:
                walk(child)

        walk(self.tree.root_node)
        return values

    def code_without_comments(self) -> str:
        pieces, last = [], 0

        def walk(node):
            nonlocal last
            if node.type == "comment":
                pieces.append(self.src[last : node.start_byte].decode())
                last = node.end_byte
                return
            for child in node.children:
                walk(child)

        walk(self.tree.root_node)
        pieces.append(self.src[last:].decode())
        return "".join(pieces)


def first_descendant(node, kind):
    for child in node.children:
        if child.type == kind:
            return child
        found = first_descendant(child, kind)
        if found is not None:
            return found
    return None


def literal(bicep: BicepFile, node):
    """The Python value of a literal node (string without interpolation, number, bool, null),
    else its source text."""
    text = bicep.text(node)
    if node.type == "string" and "${" not in text and not text.startswith("'''"):
        return text[1:-1].replace("\\'", "'")
    if node.type == "number":
        return int(text)
    if node.type == "boolean":
        return text == "true"
    if node.type == "null":
        return None
    return text


# ---------------------------------------------------------------------------------------------
# NCRONTAB
# ---------------------------------------------------------------------------------------------

NCRONTAB_FIELDS = [  # (name, min, max, names)
    ("second", 0, 59, None),
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day", 1, 31, None),
    ("month", 1, 12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
    ("day-of-week", 0, 6, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
]


def ncrontab_error(expr: str) -> str | None:
    """None when `expr` is a valid 6-field NCRONTAB expression (Azure Functions timer trigger
    syntax: `{second} {minute} {hour} {day} {month} {day-of-week}` with `*`, ranges `a-b`,
    lists `a,b`, steps `*/n` or `a-b/n`, month and weekday names), else what is wrong."""
    fields = expr.split()
    if len(fields) != 6:
        return f"{len(fields)} fields, NCRONTAB needs 6 (second minute hour day month day-of-week)"
    for text, (name, lo, hi, names) in zip(fields, NCRONTAB_FIELDS):

        def value(v: str) -> int:
            if names and v.lower() in names:
                return names.index(v.lower()) + lo
            if not v.isdigit():
                raise ValueError(f"{name}: '{v}' is not a number")
            n = int(v)
            if not lo <= n <= hi:
                raise ValueError(f"{name}: {n} is outside {lo}-{hi}")
            return n

        try:
            for part in text.split(","):
                base, _, step = part.partition("/")
                if step and (not step.isdigit() or int(step) == 0):
                    raise ValueError(f"{name}: bad step '/{step}'")
                if base == "*":
                    continue
                start, dash, end = base.partition("-")
                a = value(start)
                if dash and value(end) < a:
                    raise ValueError(f"{name}: range {base} runs backwards")
                if step and not dash:
                    raise ValueError(f"{name}: a step needs '*' or a range, got '{part}'")
        except ValueError as e:
            return str(e)
    return None


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

SKIP_DIRS = {"target", "dist", ".git", "node_modules"}


def bicep_files(repo: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".venv")]
        files += [Path(root) / n for n in names if n.endswith(".bicep")]
    return sorted(files)


def check_bicep(report: Report, repo: Path) -> dict[Path, BicepFile]:
    parsed = {}
    files = bicep_files(repo)
    report.check("bicep: files found", len(files) > 0, "no .bicep file", f"{len(files)} files")
    for path in files:
        bicep = BicepFile(path)
        problems = bicep.problems()
        report.check(f"bicep parses: {path.relative_to(repo)}", not problems, "; ".join(problems[:5]))
        parsed[path.resolve()] = bicep
    return parsed


def check_modules(report: Report, repo: Path, parsed: dict[Path, BicepFile]) -> None:
    for path, bicep in parsed.items():
        code = bicep.code_without_comments()
        for symbol, module_path, passed in bicep.modules():
            where = f"{path.relative_to(repo)}: module {symbol}"
            if not isinstance(module_path, str) or ":" in module_path:
                continue  # registry modules (br:, ts:) cannot be resolved offline
            target = (path.parent / module_path).resolve()
            if not report.check(f"module exists: {where}", target.is_file(), f"{module_path} not found"):
                continue
            target_bicep = parsed.get(target) or BicepFile(target)
            declared = target_bicep.params()
            unknown = [p for p in passed if p not in declared]
            missing = [p for p, d in declared.items() if d["required"] and p not in passed]
            report.check(
                f"module params: {where}",
                not unknown and not missing,
                (f"unknown {unknown} " if unknown else "") + (f"required but not passed {missing}" if missing else ""),
            )
            outputs = target_bicep.outputs()
            # X.outputs.Y, X!.outputs.Y (non-null assertion) and X.?outputs.Y (safe dereference)
            used = set(re.findall(rf"\b{re.escape(symbol)}!?\.\??outputs\.\??(\w+)", code))
            undeclared = sorted(used - outputs)
            report.check(f"module outputs: {where}", not undeclared, f"not outputs of {module_path}: {undeclared}")
        check_conditional_outputs(report, repo, path, bicep)


def check_conditional_outputs(report: Report, repo: Path, path: Path, bicep: BicepFile) -> None:
    """The outputs of a module deployed `if (C)` exist only when C holds: every read of them must
    sit in the `?` branch of a conditional expression whose condition is C (ARM evaluates only the
    branch taken), else a deployment without that module fails on the read."""
    conditions = {}
    for node in bicep.tree.root_node.children:
        if node.type == "module_declaration":
            cond = bicep.condition(node)
            if cond is not None:
                conditions[bicep.text(next(c for c in node.children if c.type == "identifier"))] = cond
    unguarded: dict[str, list[str]] = {symbol: [] for symbol in conditions}

    def guarded(node, cond: str) -> bool:
        child, parent = node, node.parent
        while parent is not None:
            if parent.type == "ternary_expression" and parent.child_by_field_name("consequence") == child:
                test = parent.child_by_field_name("condition")
                if " ".join(bicep.text(test).strip("()").split()) == cond:
                    return True
            child, parent = parent, parent.parent
        return False

    def walk(node):
        if node.type == "identifier" and bicep.text(node) in conditions:
            after = bicep.src[node.end_byte : node.end_byte + 12].decode(errors="replace")
            if re.match(r"!?\.\??outputs\b", after) and not guarded(node, conditions[bicep.text(node)]):
                unguarded[bicep.text(node)].append(f"line {node.start_point[0] + 1}")
        for child in node.children:
            walk(child)

    walk(bicep.tree.root_node)
    for symbol, cond in conditions.items():
        report.check(
            f"module outputs: {path.relative_to(repo)}: module {symbol} (if {cond}) is read only where {cond}",
            not unguarded[symbol],
            f"outputs read outside `{cond} ? ... : ...` at {', '.join(unguarded[symbol])}",
        )


def check_unused(report: Report, repo: Path, parsed: dict[Path, BicepFile]) -> None:
    """Parameters and variables declared but never used (the Bicep linter's no-unused-params and
    no-unused-vars, which would otherwise only show up in Azure tooling). Uses are identifier
    nodes of the syntax tree, so a name mentioned in a description string does not count."""
    declarations = ("parameter_declaration", "variable_declaration", "output_declaration",
                    "resource_declaration", "module_declaration")
    for path, bicep in parsed.items():
        used: set[str] = set()

        def walk(node):
            if node.type == "identifier":
                parent = node.parent
                is_name = parent.type in declarations and next(c for c in parent.children if c.type == "identifier") == node
                is_key = parent.type == "object_property" and parent.children[0] == node
                is_call = parent.type == "call_expression" and parent.children[0] == node
                if not (is_name or is_key or is_call):
                    used.add(bicep.text(node))
            for child in node.children:
                walk(child)

        walk(bicep.tree.root_node)
        declared = [("param", n) for n in bicep.params()]
        for node in bicep.tree.root_node.children:
            if node.type == "variable_declaration":
                declared.append(("var", bicep.text(next(c for c in node.children if c.type == "identifier"))))
        unused = [f"{kind} {name}" for kind, name in declared if name not in used]
        report.check(f"bicep: no unused params or variables in {path.relative_to(repo)}", not unused, ", ".join(unused))


def check_parameters_file(report: Report, repo: Path, parsed: dict[Path, BicepFile]) -> None:
    main = parsed.get((repo / "bicep/main.bicep").resolve())
    params_path = repo / "bicep/main.parameters.json"
    if not report.check("bicep/main.bicep and main.parameters.json exist", main is not None and params_path.is_file()):
        return
    try:
        values = json.loads(params_path.read_text())["parameters"]
    except (ValueError, KeyError) as e:
        report.check("main.parameters.json is valid", False, str(e))
        return
    declared = main.params()
    unknown = sorted(set(values) - set(declared))
    report.check("main.parameters.json: every parameter is a param of main.bicep", not unknown, f"not in main.bicep: {unknown}")
    missing = sorted(p for p, d in declared.items() if d["required"] and p not in values)
    report.check("main.parameters.json: every required param of main.bicep is given", not missing, f"missing: {missing}")
    bad = []
    for name, entry in values.items():
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, str):
            continue
        m = re.fullmatch(r"\$\{(\w+)(?:=(.*))?\}", value)
        default = m.group(2) if m else value
        allowed = declared.get(name, {}).get("allowed")
        if default and allowed is not None and default not in [str(a) for a in allowed]:
            bad.append(f"{name}={default!r} not in {allowed}")
    report.check("main.parameters.json: defaults satisfy @allowed", not bad, "; ".join(bad))


def check_security(report: Report, repo: Path, parsed: dict[Path, BicepFile], functions: Path) -> None:
    def props(rel: str, key: str) -> list[str]:
        bicep = parsed.get((repo / rel).resolve())
        return bicep.properties(key) if bicep else []

    def expect(rel: str, key: str, value: str, why: str) -> None:
        found = props(rel, key)
        report.check(f"security: {why} ({rel} {key}: {value})", found != [] and all(v == value for v in found), f"found {found}")

    expect("bicep/cosmos.bicep", "disableLocalAuth", "true", "Cosmos DB key auth off")
    expect("bicep/cosmos.bicep", "minimalTlsVersion", "'Tls12'", "Cosmos DB TLS 1.2 minimum")
    expect("bicep/storage.bicep", "allowSharedKeyAccess", "false", "storage shared keys off")
    expect("bicep/storage.bicep", "minimumTlsVersion", "'TLS1_2'", "storage TLS 1.2 minimum")
    expect("bicep/storage.bicep", "supportsHttpsTrafficOnly", "true", "storage HTTPS only")
    expect("bicep/storage.bicep", "allowBlobPublicAccess", "false", "no anonymous blob access")
    expect("bicep/functionapp.bicep", "httpsOnly", "true", "function app HTTPS only")
    expect("bicep/functionapp.bicep", "minTlsVersion", "'1.2'", "function app TLS 1.2 minimum")
    expect("bicep/functionapp.bicep", "ftpsState", "'Disabled'", "FTP off")
    expect("bicep/functionapp.bicep", "allow", "false", "basic publishing credentials (ftp, scm) off")
    expect("bicep/monitoring.bicep", "DisableLocalAuth", "true", "Application Insights key ingestion off")

    # Azure Cache for Redis (bicep/redis.bicep) and Azure Managed Redis (bicep/managedredis.bicep).
    expect("bicep/redis.bicep", "disableAccessKeyAuthentication", "true", "Azure Cache for Redis access keys off")
    expect("bicep/redis.bicep", "aad-enabled", "'true'", "Azure Cache for Redis Entra ID auth on")
    expect("bicep/redis.bicep", "enableNonSslPort", "false", "Azure Cache for Redis non-TLS port off")
    expect("bicep/redis.bicep", "minimumTlsVersion", "'1.2'", "Azure Cache for Redis TLS 1.2 minimum")
    expect("bicep/redis.bicep", "maxmemory-policy", "'noeviction'", "Azure Cache for Redis never evicts (topten refuses an evicting cache)")
    expect("bicep/managedredis.bicep", "accessKeysAuthentication", "'Disabled'", "Azure Managed Redis access keys off (Entra ID only)")
    expect("bicep/managedredis.bicep", "clientProtocol", "'Encrypted'", "Azure Managed Redis TLS only")
    expect("bicep/managedredis.bicep", "minimumTlsVersion", "'1.2'", "Azure Managed Redis TLS 1.2 minimum")
    expect("bicep/managedredis.bicep", "evictionPolicy", "'NoEviction'", "Azure Managed Redis never evicts (topten refuses an evicting cache)")
    expect("bicep/managedredis.bicep", "clusteringPolicy", "'EnterpriseCluster'", "Azure Managed Redis one endpoint (topten's Redis client is not cluster-aware)")
    check_redis_access(report, repo, parsed, "bicep/redis.bicep", "Microsoft.Cache/redis/accessPolicyAssignments",
                       "properties.objectId", "Data Owner")
    check_redis_access(report, repo, parsed, "bicep/managedredis.bicep",
                       "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments", "properties.user.objectId", "default")

    policies = props("bicep/functionapp.bicep", "name")
    report.check(
        "security: both basicPublishingCredentialsPolicies (ftp, scm) declared",
        "'ftp'" in policies and "'scm'" in policies,
        f"names found: {policies}",
    )

    secret_calls, secret_outputs, secret_values = [], [], []
    for path, bicep in parsed.items():
        code = bicep.code_without_comments()
        rel = path.relative_to(repo)
        secret_calls += [f"{rel}: {m}" for m in re.findall(r"\blist\w*\s*\(", code)]
        secret_outputs += [
            f"{rel}: {o}" for o in bicep.outputs() if re.search(r"secret|password|key|connectionstring|token|sas", o, re.I)
        ]
        secret_values += [f"{rel}: {m}" for m in re.findall(r"AccountKey=|SharedAccessSignature=|[?&]sig=", code)]
    report.check("security: no list*() calls (keys, connection strings, SAS) in any template", not secret_calls, "; ".join(secret_calls))
    report.check("security: no output named like a secret", not secret_outputs, "; ".join(secret_outputs))
    report.check("security: no key or SAS literal in any template", not secret_values, "; ".join(secret_values))

    fn = json.loads((functions / "recommendations/function.json").read_text())
    trigger = next((b for b in fn.get("bindings", []) if b.get("type") == "httpTrigger"), {})
    report.check(
        "security: recommendations HTTP trigger has function-level auth",
        trigger.get("authLevel") == "function",
        f"authLevel {trigger.get('authLevel')!r}",
    )


def check_redis_access(report: Report, repo: Path, parsed: dict[Path, BicepFile], rel: str, rtype: str,
                       object_key: str, policy: str) -> None:
    """The Redis module grants the app's managed identity a data access policy: an unconditional
    assignment of `policy` to its appPrincipalId parameter, which bicep/topten.bicep fills with the
    identity module's principalId."""
    bicep = parsed.get((repo / rel).resolve())
    topten = parsed.get((repo / "bicep/topten.bicep").resolve())
    found, ok = [], False
    if bicep is not None:
        variables = bicep.variables()
        for res in bicep.resources():
            if res["type"] != rtype:
                continue
            props = res["properties"]
            name = props.get("properties.accessPolicyName", "")
            name = variables.get(name, name)  # a variable holding the policy name
            found.append(f"{res['symbol']}: {props.get(object_key)} -> {name}" + (f" if ({res['condition']})" if res["condition"] else ""))
            ok = ok or (res["condition"] is None and props.get(object_key) == "appPrincipalId" and name == f"'{policy}'")
    passed = {}
    if topten is not None:
        target = Path(rel).name
        for symbol, module_path, _ in topten.modules():
            if module_path == target:
                passed = topten.module_params(symbol)
    ok = ok and passed.get("appPrincipalId") == "identity.outputs.principalId"
    report.check(
        f"security: the app's managed identity has the '{policy}' access policy ({rel} {rtype.split('/', 1)[1]})",
        ok,
        f"assignments {found}; bicep/topten.bicep passes appPrincipalId: {passed.get('appPrincipalId')!r}",
    )


PLATFORM_SETTING = re.compile(r"^(AzureWebJobsStorage__\w+|APPLICATIONINSIGHTS_\w+|AZURE_CLIENT_ID)$")


def handler_settings(repo: Path, functions: Path) -> set[str]:
    """App settings topten reads: the handler's environment variables (clap `env = "..."` and
    std::env::var) and the %SETTING% references the Functions host resolves in function.json."""
    names = set()
    for fj in functions.glob("*/function.json"):
        names |= set(re.findall(r"%([A-Za-z0-9_]+)%", fj.read_text()))
    for rel in ("functions/src/config.rs", "functions/src/main.rs"):
        path = repo / rel
        if path.is_file():
            text = path.read_text()
            names |= set(re.findall(r'env\s*=\s*"([A-Z0-9_]+)"', text))
            names |= set(re.findall(r'env::var\("([A-Z0-9_]+)"\)', text))
    return names


def check_settings(report: Report, repo: Path, parsed: dict[Path, BicepFile], functions: Path) -> None:
    topten = parsed.get((repo / "bicep/topten.bicep").resolve())
    functionapp = parsed.get((repo / "bicep/functionapp.bicep").resolve())
    if not report.check("settings: bicep/topten.bicep and functionapp.bicep exist", topten is not None and functionapp is not None):
        return
    app_settings = []
    for bicep in (topten, functionapp):
        for value in bicep.properties("appSettings") + bicep.properties("platformSettings"):
            app_settings += re.findall(r"^\s*'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:", value, re.M)
    code = functionapp.code_without_comments()
    m = re.search(r"var platformSettings = \{(.*?)\n\}", code, re.S)
    platform = re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:", m.group(1), re.M) if m else []
    topten_keys = [k for k in app_settings if not PLATFORM_SETTING.match(k)]
    known = handler_settings(repo, functions)
    unknown = sorted(set(topten_keys) - known)
    report.check(
        "settings: every topten app setting set in Bicep is read by the handler",
        bool(topten_keys) and not unknown,
        f"not read by functions/src or function.json: {unknown}",
        f"{len(set(topten_keys))} settings",
    )
    needed = {"TOPTEN_STORE", "RETRAIN_SCHEDULE", "TRAINING_INPUT", "TOPTEN_MODEL_ROOT"}
    missing = sorted(needed - set(topten_keys))
    report.check("settings: store, schedule, training input and model root are set for Azure", not missing, f"missing {missing}")
    outputs_of = {}
    for symbol, module_path, _ in topten.modules():
        target = parsed.get((repo / "bicep" / str(module_path)).resolve())
        if target is not None:
            outputs_of[str(module_path)] = (symbol, target.output_values())
    store = topten.variables().get("toptenStore", "")
    for module_path, port in (("redis.bicep", "sslPort"), ("managedredis.bicep", "port")):
        symbol, outputs = outputs_of.get(module_path, (None, {}))
        uri = outputs.get("uri", "")
        report.check(
            f"settings: with bicep/{module_path}, TOPTEN_STORE is rediss://HOST:PORT from the resource's hostName and {port}",
            symbol is not None
            and re.fullmatch(rf"'rediss://\$\{{\w+\.properties\.hostName\}}:\$\{{\w+\.properties\.{port}\}}'", uri) is not None
            and re.search(rf"\b{symbol}!?\.\??outputs\.uri\b", store) is not None
            and "TOPTEN_STORE: toptenStore" in " ".join(topten.properties("appSettings")),
            f"module {symbol}: output uri {uri!r}; toptenStore = {store!r}",
        )
    for required in ("AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID",
                     "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"):
        report.check(f"settings: identity-based platform setting {required}", required in platform, f"platform settings: {platform}")
    rejected = [k for k in app_settings + platform if k in ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION",
                                                          "WEBSITE_RUN_FROM_PACKAGE", "AzureWebJobsStorage")]
    report.check("settings: none that Flex Consumption rejects or that carry a connection string", not rejected, f"{rejected}")
    runtime = functionapp.properties("runtime")
    report.check(
        "functions: Flex Consumption runtime is the custom handler stack (custom 1.0)",
        any("name: 'custom'" in r and "version: '1.0'" in r for r in runtime),
        f"runtime blocks: {runtime}",
    )


def check_azd(report: Report, repo: Path, parsed: dict[Path, BicepFile]) -> str | None:
    path = repo / "azure.yaml"
    if not report.check("azd: azure.yaml exists", path.is_file()):
        return None
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        report.check("azd: azure.yaml is valid YAML", False, str(e))
        return None
    report.check("azd: name is lowercase letters, digits and hyphens", bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", str(config.get("name", "")))))
    infra = config.get("infra", {})
    infra_file = repo / infra.get("path", "infra") / f"{infra.get('module', 'main')}.bicep"
    report.check("azd: infra module exists", infra_file.is_file(), str(infra_file))
    services = config.get("services", {})
    dist = None
    ok = len(services) == 1
    for name, svc in services.items():
        dist = svc.get("dist")
        hook = ((svc.get("hooks") or {}).get("prepackage") or {}).get("run", "")
        ok = ok and svc.get("host") == "function" and svc.get("language") == "custom" and bool(dist)
        ok = ok and "infra/package.sh" in hook and hook.split()[-1].rstrip("/") == str(dist).rstrip("/")
        functionapp = parsed.get((repo / "bicep/functionapp.bicep").resolve())
        tag = functionapp.params().get("azdServiceName", {}).get("default") if functionapp else None
        report.check("azd: service name matches the app's azd-service-name tag", tag == name, f"service {name!r}, tag {tag!r}")
    report.check(
        "azd: one custom-language function service whose dist is what the prepackage hook assembles",
        ok,
        json.dumps(services),
    )
    return dist


def elf_x86_64(path: Path) -> bool:
    head = path.read_bytes()[:20]
    return head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1 and head[18:20] == b"\x3e\x00"


HTTP_METHODS = {"get", "post", "put", "delete", "patch", "head", "options", "trace"}


# The Functions package's handler must be stripped: the host downloads and unpacks the package
# on cold starts. A release build with debug line tables is ~100 MB; stripped, ~20 MB.
MAX_HANDLER_BYTES = 40 * 1024 * 1024


def elf_section_names(path: Path) -> list[str]:
    """Section names of a 64-bit little-endian ELF file (from its section header table)."""
    data = path.read_bytes()
    shoff = int.from_bytes(data[0x28:0x30], "little")
    shentsize = int.from_bytes(data[0x3A:0x3C], "little")
    shnum = int.from_bytes(data[0x3C:0x3E], "little")
    shstrndx = int.from_bytes(data[0x3E:0x40], "little")
    if not shoff or shstrndx >= shnum:
        return []
    def header(i: int) -> tuple[int, int, int]:
        h = data[shoff + i * shentsize: shoff + (i + 1) * shentsize]
        return int.from_bytes(h[0:4], "little"), int.from_bytes(h[0x18:0x20], "little"), int.from_bytes(h[0x20:0x28], "little")
    _, str_off, str_size = header(shstrndx)
    strtab = data[str_off:str_off + str_size]
    names = []
    for i in range(shnum):
        name_off = header(i)[0]
        end = strtab.find(b"\0", name_off)
        names.append(strtab[name_off:end].decode("ascii", "replace"))
    return names


def function_json_problems(data) -> list[str]:
    problems = []
    bindings = data.get("bindings") if isinstance(data, dict) else None
    if not isinstance(bindings, list) or not bindings:
        return ["no bindings array"]
    triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
    if len(triggers) != 1:
        problems.append(f"{len(triggers)} trigger bindings, need exactly 1")
    for b in bindings:
        for key in ("type", "direction", "name"):
            if not b.get(key):
                problems.append(f"binding without {key}: {b}")
        if b.get("direction") not in ("in", "out", "inout"):
            problems.append(f"bad direction {b.get('direction')!r}")
    for t in triggers:
        if t.get("direction") != "in":
            problems.append("trigger direction must be 'in'")
        if t.get("type") == "httpTrigger":
            methods = t.get("methods") or []
            if not methods or not set(m.lower() for m in methods) <= HTTP_METHODS:
                problems.append(f"bad methods {methods}")
            if t.get("authLevel") not in ("anonymous", "function", "admin"):
                problems.append(f"bad authLevel {t.get('authLevel')!r}")
            if not any(b.get("type") == "http" and b.get("direction") == "out" for b in bindings):
                problems.append("httpTrigger without an http output binding")
            # The Functions host keeps routes starting with "admin" for its own admin API and
            # rejects such functions ("The specified route conflicts with one or more built in
            # routes"); /api/admin/... is reached through a regex constraint instead.
            if str(t.get("route", "")).lower().startswith("admin"):
                problems.append(f"route {t.get('route')!r} starts with 'admin', which the host reserves")
        if t.get("type") == "timerTrigger" and not t.get("schedule"):
            problems.append("timerTrigger without schedule")
    return problems


def check_package(report: Report, repo: Path, binary: Path, workdir: Path, dist: str | None, functions: Path) -> None:
    out = workdir / "package"
    zip_path = workdir / "package.zip"
    result = subprocess.run(
        ["bash", str(repo / "infra/package.sh"), "--force", "--binary", str(binary), "--zip", str(zip_path), str(out)],
        capture_output=True,
        text=True,
    )
    if not report.check("package: infra/package.sh succeeds", result.returncode == 0, result.stderr.strip()[-500:], result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""):
        return

    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()}
    host = json.loads((out / "host.json").read_text())
    report.check("package: host.json version 2.0", host.get("version") == "2.0", repr(host.get("version")))
    handler = host.get("customHandler", {})
    exe = handler.get("description", {}).get("defaultExecutablePath", "")
    exe_path = out / exe
    report.check("package: customHandler executable exists in the package", bool(exe) and exe_path.is_file() and not exe_path.is_symlink(), exe)
    if exe_path.is_file():
        mode = exe_path.stat().st_mode
        report.check("package: customHandler executable has the executable bit", bool(mode & stat.S_IXUSR) and bool(mode & stat.S_IXOTH), oct(mode))
        report.check("package: customHandler executable is an x86-64 ELF binary (Linux Functions workers)", elf_x86_64(exe_path))
        size = exe_path.stat().st_size
        report.check(f"package: the handler is at most {MAX_HANDLER_BYTES // 1048576} MiB", size <= MAX_HANDLER_BYTES,
                     f"{size / 1048576:.1f} MiB", f"{size / 1048576:.1f} MiB")
        sections = elf_section_names(exe_path) if elf_x86_64(exe_path) else []
        # .debug_gdb_scripts is a few loaded bytes rustc adds for debuggers; strip keeps it.
        unstripped = sorted(n for n in sections if n == ".symtab" or (n.startswith(".debug_") and n != ".debug_gdb_scripts"))
        report.check("package: the handler is stripped (no symbol table, no debug info)", bool(sections) and not unstripped,
                     f"sections {unstripped}")
    workdir_setting = handler.get("description", {}).get("workingDirectory", "")
    report.check("package: customHandler workingDirectory is the package root or exists", workdir_setting in ("", ".") or (out / workdir_setting).is_dir(), repr(workdir_setting))
    report.check(
        "package: HTTP requests are forwarded unchanged (the handler serves /api/... itself)",
        handler.get("enableForwardingHttpRequest") is True,
    )
    bundle = host.get("extensionBundle", {})
    report.check(
        "package: extension bundle 4.x or later (Flex Consumption requirement)",
        bundle.get("id") == "Microsoft.Azure.Functions.ExtensionBundle" and re.match(r"^\[([4-9]|\d\d)\.", bundle.get("version", "")) is not None,
        json.dumps(bundle),
    )

    table_functions = sorted(p.parent.name for p in functions.glob("*/function.json"))
    package_functions = sorted(p.parent.name for p in out.glob("*/function.json"))
    report.check("package: every function of the route table is in the package", table_functions == package_functions,
                 f"route table {table_functions}, package {package_functions}")
    stray = sorted(p.parent.name for p in repo.glob("*/function.json"))
    report.check("package: no hand-kept function folder at the repository root", not stray, f"{stray}")
    for name in package_functions:
        try:
            report.check(f"package: function name {name} does not start with 'admin' (the host reserves it)",
                         not name.lower().startswith("admin"))
            data = json.loads((out / name / "function.json").read_text())
            problems = function_json_problems(data)
        except ValueError as e:
            problems = [f"invalid JSON: {e}"]
        report.check(f"package: {name}/function.json is a valid function definition", not problems, "; ".join(problems))

    expected = {"host.json", exe, ".funcignore"} | {f"{n}/function.json" for n in package_functions}
    report.check("package: nothing else is in it", files == expected, f"extra {sorted(files - expected)}, missing {sorted(expected - files)}")
    spec = pathspec.PathSpec.from_lines("gitwildmatch", (out / ".funcignore").read_text().splitlines())
    ignored = sorted(f for f in files if f != ".funcignore" and spec.match_file(f))
    report.check("package: everything in it is admitted by its .funcignore", not ignored, f"excluded by .funcignore: {ignored}")
    report.check("package: no local.settings.json (local secrets stay local)", "local.settings.json" not in files)

    with zipfile.ZipFile(zip_path) as z:
        entries = {i.filename: i for i in z.infolist() if not i.is_dir()}
    report.check("package: the zip holds exactly the package files", set(entries) == files, f"{sorted(entries)}")
    if exe in entries:
        zmode = entries[exe].external_attr >> 16
        report.check("package: the zip keeps the handler's executable bit", bool(zmode & stat.S_IXUSR), oct(zmode))

    if dist:
        report.check("package: azd dist folder is ignored by git", "/dist" in (repo / ".gitignore").read_text().split(), dist)


def check_ncrontab(report: Report, repo: Path, parsed: dict[Path, BicepFile], functions: Path) -> None:
    # The validator itself, on known cases (Azure Functions timer trigger documentation examples).
    good = ["0 0 3 * * *", "0 */5 * * * *", "0 30 9 * * Mon-Fri", "0 0 */2 * * *", "5 0 0 1 Jan *", "0 0 9-17 * * 1-5", "0,30 * * * * *"]
    bad = ["0 0 3 * *", "0 0 24 * * *", "60 * * * * *", "0 0 3 * * 7", "0 0 3 0 * *", "0 0 3 * * * *", "0 */0 * * * *", "00:05:00", "0 5/2 * * * *"]
    wrong = [e for e in good if ncrontab_error(e)] + [e for e in bad if not ncrontab_error(e)]
    report.check("ncrontab: the validator accepts and rejects the reference cases", not wrong, f"misjudged: {wrong}")

    timer = json.loads((functions / "retrain/function.json").read_text())
    schedule = next(b.get("schedule") for b in timer["bindings"] if b.get("type") == "timerTrigger")
    setting = schedule.strip("%") if schedule.startswith("%") and schedule.endswith("%") else None
    report.check("ncrontab: retrain schedule comes from an app setting", setting == "RETRAIN_SCHEDULE", schedule)

    sources = []
    for rel in ("bicep/topten.bicep", "bicep/main.bicep"):
        bicep = parsed.get((repo / rel).resolve())
        default = bicep.params().get("retrainSchedule", {}).get("default") if bicep else None
        sources.append((f"{rel} param retrainSchedule default", default))
    params = json.loads((repo / "bicep/main.parameters.json").read_text())["parameters"]
    value = params.get("retrainSchedule", {}).get("value")
    if isinstance(value, str):
        m = re.fullmatch(r"\$\{\w+=(.*)\}", value)
        sources.append(("bicep/main.parameters.json retrainSchedule default", m.group(1) if m else value))
    example = json.loads((repo / "local.settings.json.example").read_text())["Values"].get("RETRAIN_SCHEDULE")
    sources.append(("local.settings.json.example RETRAIN_SCHEDULE", example))
    for where, expr in sources:
        error = ncrontab_error(expr) if isinstance(expr, str) else "not set"
        report.check(f"ncrontab: {where} is valid 6-field NCRONTAB", error is None, f"{expr!r}: {error}", repr(expr))


def check_scripts(report: Report, repo: Path, workdir: Path) -> None:
    for script in sorted((repo / "infra").glob("*.sh")):
        r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        report.check(f"scripts: {script.relative_to(repo)} has valid shell syntax", r.returncode == 0, r.stderr.strip())
        h = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
        report.check(f"scripts: {script.relative_to(repo)} --help", h.returncode == 0 and "Usage" not in h.stderr and h.stdout.strip() != "", h.stderr.strip()[:200])

    deploy = repo / "infra/deploy.sh"
    # A PATH with the basic tools deploy.sh needs before it looks for az, and no az.
    bare = workdir / "bin-no-az"
    bare.mkdir(exist_ok=True)
    for tool in ("dirname", "mktemp", "rm", "sed", "cat", "date"):
        found = shutil.which(tool)
        if found and not (bare / tool).exists():
            (bare / tool).symlink_to(found)
    bash = shutil.which("bash") or "/bin/bash"
    r = subprocess.run([bash, str(deploy), "-g", "rg-offline-check"], capture_output=True, text=True, env={"PATH": str(bare), "HOME": str(workdir)})
    report.check("scripts: deploy.sh without az exits 2 and says how to install it", r.returncode == 2 and "not installed" in r.stderr, f"exit {r.returncode}: {r.stderr.strip()[:200]}")

    # --package-only is the CI path: it must work with no Azure CLI at all.
    binary = workdir / "package" / "handler"
    if binary.is_file():
        for tool in ("bash", "od", "tr", "head", "grep", "mkdir", "cp", "chmod", "ls", "du", "cut"):
            found = shutil.which(tool)
            if found and not (bare / tool).exists():
                (bare / tool).symlink_to(found)
        out = workdir / "package-only"
        r = subprocess.run([bash, str(deploy), "--package-only", str(out), "--binary", str(binary)],
                           capture_output=True, text=True, env={"PATH": str(bare), "HOME": str(workdir)})
        report.check("scripts: deploy.sh --package-only works without az", r.returncode == 0 and (out / "host.json").is_file()
                     and (out / "handler").is_file(), f"exit {r.returncode}: {r.stderr.strip()[-300:]}")

    fake = workdir / "bin-fake-az"
    fake.mkdir(exist_ok=True)
    (fake / "az").write_text("#!/bin/sh\necho 'ERROR: Please run az login to setup account.' >&2\nexit 1\n")
    (fake / "az").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ.get('PATH', '')}")
    r = subprocess.run([bash, str(deploy), "-g", "rg-offline-check"], capture_output=True, text=True, env=env)
    report.check("scripts: deploy.sh with a signed-out az exits 2 and says to run az login", r.returncode == 2 and "az login" in r.stderr, f"exit {r.returncode}: {r.stderr.strip()[:200]}")


FAKE_AZ = r"""#!/bin/sh
# Stand-in for the Azure CLI: logs every call, answers like a subscription where the deployment works.
echo "az $*" >> "$FAKE_LOG"
case "$*" in
  "account show --output none") exit 0 ;;
  "account show --query [name, id] -o tsv") printf 'Test subscription\t00000000-0000-0000-0000-000000000000\n' ;;
  "account show --query user.type -o tsv") echo user ;;
  "ad signed-in-user show --query id -o tsv") echo 11111111-1111-1111-1111-111111111111 ;;
  "group exists -n "*) echo false ;;
  "group create "*) exit 0 ;;
  "deployment group create "*) exit 0 ;;
  "deployment group show "*AZURE_FUNCTION_APP_NAME*) echo func-topten-fake ;;
  "deployment group show "*TOPTEN_STORE*) echo cosmos://cosmos-topten-fake.documents.azure.com/topten/recommendations ;;
  "deployment group show "*TRAINING_INPUT*) echo az://sttoptenfake/topten/training/ ;;
  "functionapp deployment source config-zip "*)
     src=$(echo "$*" | sed 's/.*--src \([^ ]*\).*/\1/'); cp "$src" "$FAKE_DIR/deployed.zip" ;;
  "functionapp show "*) echo func-topten-fake.azurewebsites.net ;;
  "functionapp keys list "*) echo FAKE-FUNCTION-KEY-0123456789 ;;
  *) echo "fake az: unexpected call: $*" >&2; exit 3 ;;
esac
"""

FAKE_CURL = r"""#!/bin/sh
# Stand-in for curl: health 200; recommendations 401 without the key, 503 no_active_version with it.
out="" headers="" url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --output) out="$2"; shift 2 ;;
    --header) headers="$2"; shift 2 ;;
    --write-out|--max-time) shift 2 ;;
    --*) shift ;;
    *) url="$1"; shift ;;
  esac
done
echo "curl $url headers=${headers:+yes}" >> "$FAKE_LOG"
case "$url" in
  */api/health) echo '{"status":"ok","store":{"reachable":true},"activeVersion":"v1"}' > "$out"; printf 200 ;;
  */api/recommendations/*)
     if [ -n "$headers" ] && grep -q 'x-functions-key: FAKE-FUNCTION-KEY-0123456789' "${headers#@}"; then
       echo '{"error":{"code":"no_active_version","message":"nothing published"}}' > "$out"; printf 503
     else
       : > "$out"; printf 401
     fi ;;
  *) printf 000 ;;
esac
"""


def check_deploy_flow(report: Report, repo: Path, workdir: Path) -> None:
    """deploy.sh end to end against stand-ins for `az` and `curl`: the calls it makes, in order,
    with the template, parameters and package it should pass, and the key never printed."""
    binary = workdir / "package" / "handler"
    if not binary.is_file():
        return
    fake = workdir / "bin-flow"
    fake.mkdir(exist_ok=True)
    for name, text in (("az", FAKE_AZ), ("curl", FAKE_CURL)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    log = workdir / "flow.log"
    log.write_text("")
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ.get('PATH', '')}", FAKE_LOG=str(log), FAKE_DIR=str(fake))
    r = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(repo / "infra/deploy.sh"), "-g", "rg-fake", "-l", "swedencentral",
         "-e", "fake", "-p", "cosmosCapacityMode=provisioned", "--binary", str(binary)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    calls = log.read_text().splitlines()
    report.check("deploy flow: deploy.sh succeeds against fake az and curl", r.returncode == 0,
                 f"exit {r.returncode}: {r.stderr.strip()[-600:]}")
    create = next((c for c in calls if c.startswith("az deployment group create")), "")
    report.check(
        "deploy flow: creates the group, then deploys bicep/topten.bicep with environment, principal, location and -p values",
        "az group create -n rg-fake -l swedencentral" in " ".join(calls)
        and "--template-file " + str(repo / "bicep/topten.bicep") in create
        and all(p in create for p in ("environmentName=fake", "principalId=11111111-1111-1111-1111-111111111111",
                                      "principalType=User", "location=swedencentral", "cosmosCapacityMode=provisioned")),
        create or "no az deployment group create call",
    )
    order = [next((i for i, c in enumerate(calls) if c.startswith(prefix)), -1) for prefix in
             ("az deployment group create", "az functionapp deployment source config-zip", "curl https://func-topten-fake.azurewebsites.net/api/health")]
    report.check("deploy flow: provision, then zip deploy, then smoke test", -1 not in order and order == sorted(order), f"{calls}")
    deployed = fake / "deployed.zip"
    names = sorted(zipfile.ZipFile(deployed).namelist()) if deployed.is_file() else []
    report.check("deploy flow: the zip deployed is the package", "handler" in names and "host.json" in names
                 and "recommendations/function.json" in names, f"{names}")
    smoke = [c for c in calls if c.startswith("curl")]
    report.check("deploy flow: smoke calls health, recommendations without and with a key",
                 any("/api/health" in c for c in smoke)
                 and any("/api/recommendations/" in c and "headers=yes" not in c for c in smoke)
                 and any("/api/recommendations/" in c and "headers=yes" in c for c in smoke), f"{smoke}")
    report.check("deploy flow: the function key is never printed", "FAKE-FUNCTION-KEY" not in r.stdout + r.stderr)

    # azd's postdeploy hook, run the way azd runs it: sh -c in the project root with the outputs as env.
    config = yaml.safe_load((repo / "azure.yaml").read_text())
    hook = ((config.get("hooks") or {}).get("postdeploy") or {}).get("run", "")
    hook_env = dict(env, AZURE_FUNCTION_APP_NAME="func-topten-fake", AZURE_RESOURCE_GROUP="rg-fake",
                    FUNCTION_APP_URL="https://func-topten-fake.azurewebsites.net")
    r = subprocess.run(["sh", "-c", hook], cwd=repo, capture_output=True, text=True, env=hook_env, timeout=300)
    report.check("deploy flow: azure.yaml postdeploy hook smoke-tests the app", bool(hook) and r.returncode == 0
                 and "smoke test passed" in r.stderr, f"exit {r.returncode}: {r.stderr.strip()[-400:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2], help="repository root")
    parser.add_argument("--binary", type=Path, required=True, help="built handler binary (target/release/handler)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one, removed afterwards)")
    args = parser.parse_args()
    repo = args.repo.resolve()

    report = Report()
    tmp = None
    workdir = args.workdir
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="topten-deploy-check-")
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        # The function folders, as the handler generates them from its route table.
        functions = workdir / "function-folders"
        generated = subprocess.run([str(args.binary), "--write-function-folders", str(functions)], capture_output=True, text=True)
        if not report.check("functions: the handler writes its function folders", generated.returncode == 0, generated.stderr.strip()[-500:]):
            return 1
        parsed = check_bicep(report, repo)
        check_modules(report, repo, parsed)
        check_unused(report, repo, parsed)
        check_parameters_file(report, repo, parsed)
        check_security(report, repo, parsed, functions)
        check_settings(report, repo, parsed, functions)
        dist = check_azd(report, repo, parsed)
        if report.check("package: handler binary given", args.binary.is_file(), f"{args.binary} (build it: cargo build --release --bin handler)"):
            check_package(report, repo, args.binary.resolve(), workdir, dist, functions)
        check_ncrontab(report, repo, parsed, functions)
        check_scripts(report, repo, workdir)
        check_deploy_flow(report, repo, workdir)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(f"{report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
