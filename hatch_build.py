"""Build hook: the wheel and the sdist carry the explorer's npm assets, as app/explorer_assets/.

`pip install` of the package then serves GraphiQL with no npm at run time. The files are the
whitelist of app/explorer.py (read from its source: the build runs without jobql's
dependencies), copied from the repository's node_modules, with each package's package.json for
the version in the assets' URLs. A build without them fails, rather than ship an explorer that
cannot start; an editable install (`pip install -e .`) takes none and serves node_modules.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGED = "app/explorer_assets"


def asset_files(root: Path) -> list[str]:
    """The values of ASSET_FILES in app/explorer.py: paths under node_modules."""
    tree = ast.parse((root / "app" / "explorer.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "ASSET_FILES":
            assert node.value is not None
            mapping: dict[str, str] = ast.literal_eval(node.value)
            return sorted(mapping.values())
    raise RuntimeError("app/explorer.py has no ASSET_FILES")


def packaged_files(root: Path) -> list[str]:
    """Each asset and the package.json of its npm package."""
    files = asset_files(root)
    return sorted({*files, *(f"{path.split('/')[0]}/package.json" for path in files)})


class ExplorerAssetsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        files = packaged_files(root)
        for source in (root / "node_modules", root / PACKAGED):  # an sdist has the second
            if all((source / name).is_file() for name in files):
                break
        else:
            raise RuntimeError(
                "the explorer's npm assets are missing: run `npm ci` at the repository root "
                "before building (the wheel must carry them)"
            )
        if source.name == "node_modules":
            for name in files:
                build_data["force_include"][str(source / name)] = f"{PACKAGED}/{name}"
