"""Extract, for the resource types infra/ uses, the argument and attribute names of the google
provider, so tests can check the HCL's names offline (no provider can be downloaded to run
`terraform validate`).

The names come from the provider's prebuilt CDK for Terraform bindings (npm package
@cdktf/provider-google), which are generated from the provider's own schema:

    npm pack @cdktf/provider-google@16.12.1 && tar xzf cdktf-provider-google-16.12.1.tgz
    python infra/tools/google_provider_schema.py package > infra/tools/google-provider.json

(run from the repository's root, with the package unpacked there)

16.12.1 binds provider 6.50.0. Each type maps to a node: `arguments` (name -> nested block's
node, or null for a plain argument) and `attributes` (every name readable on it, computed ones
included).
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


def type_schema(lib: Path, type_name: str) -> dict[str, Any]:
    is_data = type_name.startswith("data.")
    bare = type_name.removeprefix("data.").removeprefix("google_")
    folder = lib / (("data-google-" if is_data else "") + bare.replace("_", "-"))
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


def used_types(infra: Path) -> list[str]:
    found: set[str] = set()
    for path in infra.glob("*.tf"):
        text = path.read_text()
        found.update(re.findall(r'^resource "(google_\w+)"', text, re.M))
        found.update("data." + t for t in re.findall(r'^data "(google_\w+)"', text, re.M))
    return sorted(found)


def main(argv: list[str]) -> int:
    lib = Path(argv[1]) / "lib"
    package = json.loads((Path(argv[1]) / "package.json").read_text())
    infra = Path(__file__).resolve().parent.parent
    linked = re.search(
        r"hashicorp/google/([0-9.]+)/", (lib / "project-service/index.d.ts").read_text()
    )
    provider = linked.group(1) if linked else "unknown"
    schema = {
        "source": f"@cdktf/provider-google {package['version']} (google provider {provider})",
        "types": {name: type_schema(lib, name) for name in used_types(infra)},
    }
    json.dump(schema, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
