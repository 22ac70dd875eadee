"""The bundled default models (trained by edgekit from offline data; see each model's card here).

>>> import edgekit.zoo
>>> edgekit.zoo.available()                # e.g. {'fashion': ['float16', 'int8'], ...} in a checkout
>>> model = edgekit.load(edgekit.zoo.path("fashion"))           # int8 by default
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelNotFoundError

FOLDER = Path(__file__).parent


def available() -> dict[str, list[str]]:
    """Bundled model name → recipes present."""
    found: dict[str, list[str]] = {}
    for file in sorted(FOLDER.glob("*_*.tflite")):
        name, _, recipe = file.stem.rpartition("_")
        found.setdefault(name, []).append(recipe)
    return found


def path(name: str, recipe: str | None = None) -> Path:
    """The file of bundled model ``name`` in ``recipe`` (default: int8, else the smallest recipe there is).

    ``name`` may also be a file's stem with its recipe, as ``edgekit.zoo.path("fashion_int8")``.

    Raises:
        ModelNotFoundError: no such bundled model (the message lists the ones there are).
    """
    if recipe is None and (FOLDER / f"{name}.tflite").is_file() and "_" in name:
        return FOLDER / f"{name}.tflite"
    if recipe is None:
        present = available().get(name, [])
        recipe = next((r for r in ("int8", "float16", "float32") if r in present), "int8")
    file = FOLDER / f"{name}_{recipe}.tflite"
    if not file.exists():
        listing = ", ".join(f"{n} ({'/'.join(r)})" for n, r in available().items()) or "none"
        # An installed wheel carries each model's default file only (the install-size budget): the
        # float16 variants are in the repository's edgekit/zoo/ folder.
        elsewhere = (
            " (an installed wheel carries the default files only: the other recipes are in the"
            " repository's edgekit/zoo/)"
        )
        raise ModelNotFoundError(
            f"no bundled model {name!r} in recipe {recipe!r}",
            hint=f"bundled here: {listing}{elsewhere}; rebuild them all with ./dev.sh zoo",
        )
    return file


def card_text(name: str) -> str:
    """The model card (Markdown) of bundled model ``name``."""
    return (FOLDER / f"{name}.md").read_text("utf-8")
