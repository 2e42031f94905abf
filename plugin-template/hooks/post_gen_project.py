"""Keep the protocol the author chose: rename its files into place, delete the other's."""

from pathlib import Path

PROTOCOL = "{{ cookiecutter.protocol }}"
MODULE = Path("src") / "{{ cookiecutter.__module_name }}"
CHOSEN = "openai" if PROTOCOL == "openai-compatible" else "custom"
OTHER = "custom" if CHOSEN == "openai" else "openai"

for folder, stem in ((MODULE, "backend"), (Path("tests"), "wire")):
    (folder / f"{stem}_{OTHER}.py").unlink()
    (folder / f"{stem}_{CHOSEN}.py").rename(folder / f"{stem}.py")
