"""Extract, for the resource types infra/ uses, the argument and attribute names of each
provider it pins, so tests can check the HCL's names offline (no provider can be downloaded to
run `terraform validate`).

The names come from the providers' prebuilt CDK for Terraform bindings (npm packages
@cdktf/provider-*), which are generated from each provider's own schema:

    npm pack @cdktf/provider-google@16.12.1 @cdktf/provider-google-beta@16.12.1 \
        @cdktf/provider-time@11.0.1
    for f in cdktf-provider-*.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
    python infra/tools/provider_schemas.py google=cdktf-provider-google-16.12.1/package \
        google-beta=cdktf-provider-google-beta-16.12.1/package \
        time=cdktf-provider-time-11.0.1/package > infra/tools/provider-schemas.json

(run from the repository's root, with python-hcl2 installed: `make setup`)

16.12.1 binds google and google-beta 6.50.0; 11.0.1 binds time 0.13.1. Each type maps to a
node: `arguments` (name -> nested block's node, or null for a plain argument) and `attributes`
(every name readable on it, computed ones included). A resource belongs to the provider its
`provider` meta-argument names, else to the one its type's prefix names (google_, time_).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

_BLOCK = re.compile(r"\n {8}(\w+): \{\n {12}value: (.*?),\n {12}isBlock: (?:true|false),", re.S)
_TOP = re.compile(r"\n {12}(\w+): \{\n {16}value: (.*?),\n {16}isBlock: (?:true|false),", re.S)
_FUNCTION = re.compile(r"function (\w+)ToHclTerraform\(struct\) \{(.*?)\n\}\n", re.S)
_GETTER = re.compile(r"^    get (\w+)\(\)", re.M)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _getters(declarations: str, class_name: str) -> list[str]:
    match = re.search(rf"export declare class {class_name} extends .*?\n\}}\n", declarations, re.S)
    if match is None:
        return []
    names = {_snake(g) for g in _GETTER.findall(match.group(0))}
    # cdktf's own getters, not the provider's.
    ignored = {"fqn", "internal_value", "terraform_resource_type", "terraform_generator_metadata"}
    return sorted(n for n in names if not n.endswith("_input") and n not in ignored)


def _node(
    fields: dict[str, str | None],
    functions: dict[str, dict[str, str | None]],
    declarations: str,
    class_name: str,
    depth: int = 0,
) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    for name, of in fields.items():
        if of is not None and of in functions and depth < 8:
            nested_class = of[0].upper() + of[1:] + "OutputReference"
            arguments[name] = _node(functions[of], functions, declarations, nested_class, depth + 1)
        else:
            arguments[name] = None
    return {"arguments": arguments, "attributes": _getters(declarations, class_name)}


def _last_function(value: str) -> str | None:
    names = re.findall(r"(\w+)ToHclTerraform", value)
    return names[-1] if names else None


def _folder(lib: Path, type_name: str) -> Path:
    """The binding's folder of a type: google's package drops the provider prefix of resources
    (project-service), google-beta's keeps it (google-project-service-identity), time's drops it
    (sleep); data sources are data-<type> in each."""
    is_data = type_name.startswith("data.")
    bare = type_name.removeprefix("data.")
    provider_prefix, _, rest = bare.partition("_")
    candidates = [f"data-{bare}", f"data-{provider_prefix}-{rest}"] if is_data else [rest, bare]
    for candidate in candidates:
        folder = lib / candidate.replace("_", "-")
        if (folder / "index.js").exists():
            return folder
    raise ValueError(f"{lib}: no binding of {type_name} (tried {', '.join(candidates)})")


def type_schema(lib: Path, type_name: str) -> dict[str, Any]:
    folder = _folder(lib, type_name)
    code = (folder / "index.js").read_text()
    declarations = (folder / "index.d.ts").read_text()
    functions = {
        name: {key: _last_function(value) for key, value in _BLOCK.findall(body)}
        for name, body in _FUNCTION.findall(code)
    }
    top = re.search(
        r"synthesizeHclAttributes\(\) \{\n {8}const attrs = \{(.*?)\n {8}\};", code, re.S
    )
    if top is None:
        raise ValueError(f"{folder}: no attributes found")
    fields = {key: _last_function(value) for key, value in _TOP.findall(top.group(1))}
    main_class = re.search(
        r"export declare class (\w+) extends cdktf\.Terraform(?:Resource|DataSource)",
        declarations,
    )
    if main_class is None:
        raise ValueError(f"{folder}: no resource class found")
    return _node(fields, functions, declarations, main_class.group(1))


def provider_of(type_name: str, body: dict[str, Any]) -> str:
    """The provider a block belongs to: its `provider` meta-argument, else its type's prefix."""
    named = body.get("provider")
    if isinstance(named, str):
        return named.strip("${}").split(".")[0]
    return type_name.removeprefix("data.").split("_")[0]


def used_types(infra: Path) -> dict[str, set[str]]:
    """Provider => the resource and data types (data ones as data.<type>) infra/ uses of it."""
    import hcl2  # the dev environment's; only this extraction needs it

    found: dict[str, set[str]] = {}
    for path in sorted(infra.glob("*.tf")):
        with path.open() as source:
            parsed = hcl2.load(source)
        for kind, prefix in (("resource", ""), ("data", "data.")):
            for block in parsed.get(kind, []):
                for quoted, named in block.items():
                    type_ = quoted.strip('"')
                    if type_.startswith("terraform_"):
                        continue  # built into Terraform
                    for body in named.values():
                        found.setdefault(provider_of(type_, body), set()).add(prefix + type_)
    return found


def _bound_version(lib: Path, provider: str) -> str:
    for index in sorted(lib.glob("*/index.d.ts")):
        linked = re.search(rf"hashicorp/{re.escape(provider)}/([0-9.]+)/", index.read_text())
        if linked:
            return linked.group(1)
    return "unknown"


def main(argv: list[str]) -> int:
    infra = Path(__file__).resolve().parent.parent
    packages = dict(argument.split("=", 1) for argument in argv[1:])
    types = used_types(infra)
    missing = sorted(set(types) - set(packages))
    if missing:
        sys.stderr.write(f"no package given for provider(s) {', '.join(missing)}\n")
        return 2
    schema: dict[str, Any] = {}
    for provider, names in sorted(types.items()):
        package_dir = Path(packages[provider])
        lib = package_dir / "lib"
        package = json.loads((package_dir / "package.json").read_text())
        schema[provider] = {
            "source": f"{package['name']} {package['version']} "
            f"({provider} provider {_bound_version(lib, provider)})",
            "types": {name: type_schema(lib, name) for name in sorted(names)},
        }
    json.dump({"providers": schema}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
