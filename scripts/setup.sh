#!/usr/bin/env bash
# Create ./.venv (once) and install the project into it from its own files: pyproject.toml + constraints.txt.
#
# CVAE_TORCH=cpu  installs torch/torchvision (the versions pinned in constraints.txt) from PyPI's sister index
#                 https://download.pytorch.org/whl/cpu before the project: the CPU-only build, without the
#                 CUDA libraries (nvidia-*, triton) that the default Linux build brings. Any other flavour of
#                 that index works the same way (CVAE_TORCH=cu126, ...). It applies when .venv has no torch yet
#                 (a fresh venv); an existing torch is kept, with a note on how to start over.
# PYTHON          the interpreter that creates the venv (default python3, 3.11 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

# What the venv holds already, without importing anything heavy: torch's build ("none", "cuda", "cpu" or another
# local version tag, "plain" for a build without either) and whether the full PySide6 bundle is installed.
read -r torch_build full_pyside6 < <(.venv/bin/python - <<'EOF'
import importlib.metadata as md

def dist(name):
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None

torch = dist("torch")
if torch is None:
    build = "none"
elif "+" in torch.version:
    build = torch.version.split("+", 1)[1]
elif any(r.lower().startswith("nvidia") for r in torch.requires or []):
    build = "cuda"
else:
    build = "plain"
print(build, "yes" if dist("PySide6") else "no")
EOF
) || true  # a venv that cannot answer gets the plain install below, which will say what is wrong

flavour=${CVAE_TORCH:-}
if [ "$flavour" = cpu ] && [ "$(uname -s)" = Darwin ]; then
  flavour=""  # PyPI's macOS torch is already the CPU (and MPS) build
fi
if [ -n "$flavour" ] && [ "$flavour" != default ]; then
  case $flavour in
    *[!a-z0-9.]*)
      echo "setup: CVAE_TORCH must name a PyTorch wheel index such as cpu or cu126, got '$flavour'" >&2
      exit 2 ;;
  esac
  if [ "$torch_build" = none ]; then
    mapfile -t pins < <(grep -E '^(torch|torchvision)==' constraints.txt)
    echo "setup: installing ${pins[*]} from https://download.pytorch.org/whl/$flavour" >&2
    "${PIP[@]}" --index-url "https://download.pytorch.org/whl/$flavour" "${pins[@]}"
  elif [ "$torch_build" != "$flavour" ]; then
    echo "setup: .venv already has a $torch_build build of torch, kept; CVAE_TORCH=$flavour applies to a new" \
         "venv: rm -rf .venv && CVAE_TORCH=$flavour bash scripts/setup.sh" >&2
  fi
fi

# The project needs only PySide6-Essentials. A venv made before that still holds the full PySide6 bundle
# (Essentials plus ~420 MB of add-ons); it keeps working as it is (Essentials is part of it), so it is left
# alone, and said once. Uninstalling the bundle's packages with pip would also delete files Essentials shares
# with them (PySide6/__init__.py), so the README gives the way to slim it.
if [ "$full_pyside6" = yes ] && [ ! -e .venv/.cvae-full-pyside6-noted ]; then
  echo "setup: note: .venv has the full PySide6 bundle (~420 MB of Qt add-ons the explorer does not use);" \
       "it keeps working; README.md 'System requirements' says how to slim it to PySide6-Essentials" >&2
  touch .venv/.cvae-full-pyside6-noted
fi

"${PIP[@]}" -c constraints.txt -e ".[test]"
