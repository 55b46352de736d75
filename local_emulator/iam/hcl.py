"""Read the Terraform of infra/ as data: python-hcl2's parse, with the quotes and markers it keeps
taken off. Only literal values are meaningful here; an expression stays its `${…}` text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shared

# The repository's infra/ folder, beside the packages (the local cloud runs from a checkout).
INFRA: Path = Path(shared.__file__).resolve().parent.parent / "infra"


def plain(value: Any) -> Any:
    """python-hcl2 keeps quotes on strings and labels and adds markers (blocks, comments);
    drop both."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def read_module(folder: Path = INFRA) -> dict[str, Any]:
    """Every top-level block of a module's .tf files: resources and data by (type, name),
    variables, outputs, locals (merged) and module calls by name."""
    import hcl2

    module: dict[str, Any] = {"resource": {}, "data": {}, "variable": {}, "output": {}}
    module.update({"locals": {}, "module": {}})
    for path in sorted(folder.glob("*.tf")):
        with path.open() as source:
            parsed = plain(hcl2.load(source))
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    for name, body in named.items():
                        module[kind][(type_, name)] = body
        for kind in ("variable", "output", "module"):
            for block in parsed.get(kind, []):
                module[kind].update(block)
        for block in parsed.get("locals", []):
            module["locals"].update(block)
    return module
