#!/usr/bin/env bash
# Create ./.venv (once) and install the project into it from its own files: pyproject.toml + constraints.txt.
#
# Nothing changed, nothing done: after a complete install, .venv/.cvae-setup-stamp records a digest of
# pyproject.toml, constraints.txt and the torch flavour (CVAE_TORCH). While it matches, and the venv still finds
# the project (this checkout), torch and PySide6, setup returns at once without running pip (launch.sh and
# test.sh run it every time). Editing either file, another CVAE_TORCH or a deleted stamp installs again.
#
# CVAE_TORCH=cpu  installs torch/torchvision (the versions pinned in constraints.txt) from PyPI's sister index
#                 https://download.pytorch.org/whl/cpu before the project: the CPU-only build, without the
#                 CUDA libraries (nvidia-*, triton) that the default Linux build brings. Any other flavour of
#                 that index works the same way (CVAE_TORCH=cu126, ...). It applies when .venv has no torch yet
#                 (a fresh venv); an existing torch is kept, with a note on how to start over. The index is
#                 asked first (5 s at most): when it cannot be reached setup says so in one line and stops.
# CVAE_TORCH_INDEX  the index URL for CVAE_TORCH instead of https://download.pytorch.org/whl/FLAVOUR (a mirror).
# PYTHON          the interpreter that creates the venv (default python3, 3.11 or newer).
#
# A .venv this run created is removed again when setup fails or is interrupted: never a half-built venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
STAMP=.venv/.cvae-setup-stamp

flavour=${CVAE_TORCH:-}
if [ "$flavour" = cpu ] && [ "$(uname -s)" = Darwin ]; then
  flavour=""  # PyPI's macOS torch is already the CPU (and MPS) build
fi
[ "$flavour" = default ] && flavour=""
case $flavour in
  *[!a-z0-9.]*)
    echo "setup: CVAE_TORCH must name a PyTorch wheel index such as cpu or cu126, got '$flavour'" >&2
    exit 2 ;;
esac
index=${CVAE_TORCH_INDEX:-https://download.pytorch.org/whl/$flavour}

digest() {
  if command -v sha256sum > /dev/null; then sha256sum
  elif command -v shasum > /dev/null; then shasum -a 256
  else cksum
  fi
}
stamp=$( { echo "cvae-explorer setup 1; torch flavour: ${flavour:-default}"
           cat pyproject.toml constraints.txt 2> /dev/null || true; } | digest)

# Can the torch index be reached? Asked once, 5 s at most (pip alone would retry for minutes, then fail on
# whatever it found elsewhere). Exit 0: it answered; 1: it could not be reached; 2: it answered with an error.
PROBE='
import ssl, sys, threading, urllib.error, urllib.request
url = sys.argv[1].rstrip("/") + "/torch/"
answer = []
def ask():
    try:
        urllib.request.urlopen(url, timeout=5).close()
        answer.append((0, ""))
    except urllib.error.HTTPError as exc:
        answer.append((2, f"HTTP {exc.code} for {url}"))
    except urllib.error.URLError as exc:
        reason = exc.reason
        # a TLS handshake is an answer: certificates are for pip (its own CA bundle) to judge
        answer.append((0, "") if isinstance(reason, ssl.SSLError) else (1, str(reason)))
    except ssl.SSLError:
        answer.append((0, ""))
    except Exception as exc:  # OSError (timeouts, resets) and the odd malformed URL
        answer.append((1, str(exc) or type(exc).__name__))
thread = threading.Thread(target=ask, daemon=True)
thread.start()
thread.join(6)
code, reason = answer[0] if answer else (1, "no answer within 6 s")
print(" ".join(reason.split()))
sys.exit(code)
'

check_index() {  # check_index PYTHON: one line and exit 3 when the index for CVAE_TORCH cannot give torch
  local what="the PyTorch index for CVAE_TORCH=$flavour" reason status=0
  [ "$flavour" = cpu ] && what="the CPU-only PyTorch index"
  case $index in
    http://*|https://*) ;;
    *) return 0 ;;  # a local folder or file:// mirror: pip says what is wrong with it
  esac
  reason=$("$1" -c "$PROBE" "$index" 2>&1) || status=$?
  if [ "$status" = 2 ]; then
    echo "setup: $what ($index) has no torch ($reason); CVAE_TORCH must name one of its builds (cpu, cu126," \
         "...), or leave CVAE_TORCH unset for PyPI's default torch build" >&2
    exit 3
  elif [ "$status" = 1 ]; then
    echo "setup: $what could not be reached ($index: $reason); check the network or proxy (https_proxy), or" \
         "leave CVAE_TORCH unset to install PyPI's default torch build" >&2
    exit 3
  fi
  index_checked=1  # (another status: the interpreter could not ask; pip will say what is wrong)
}

index_checked=""
if [ ! -x .venv/bin/python ]; then
  # a new venv has no torch: with CVAE_TORCH, ask its index before making anything
  [ -z "$flavour" ] || check_index "$PYTHON"
  remove_unfinished_venv() {
    local status=$?
    if [ "$status" -ne 0 ]; then
      rm -rf .venv
      echo "setup: removed the unfinished .venv (setup stopped with status $status); run it again once the" \
           "cause is fixed" >&2
    fi
  }
  trap remove_unfinished_venv EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "$PYTHON" -m venv .venv
fi

# What the venv holds already, without importing anything heavy: torch's build ("none", "cuda", "cpu" or another
# local version tag, "plain" for a build without either), whether the full PySide6 bundle is installed, and
# whether the project is installed from this checkout with what it imports (found, not imported: milliseconds).
read -r torch_build full_pyside6 project_ok < <(.venv/bin/python - <<'EOF'
import importlib.metadata as md
import importlib.util
import os
import sysconfig


def dist(name):
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None


def found(name, under=None):
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    if under is None:
        return True
    places = [spec.origin] if spec.origin and spec.has_location else list(spec.submodule_search_locations or [])
    return any(os.path.realpath(p).startswith(under + os.sep) for p in places)


torch = dist("torch")
if torch is None:
    build = "none"
elif "+" in torch.version:
    build = torch.version.split("+", 1)[1]
elif any(r.lower().startswith("nvidia") for r in torch.requires or []):
    build = "cuda"
else:
    build = "plain"
here = os.path.realpath(os.getcwd())
scripts = sysconfig.get_path("scripts")
project = (dist("cvae-explorer") is not None
           and all(found(name, here) for name in ("cvae", "trainer", "explorer"))
           and all(found(name) for name in ("torch", "torchvision", "PySide6", "pyqtgraph", "pytest"))
           and any(os.path.exists(os.path.join(scripts, "cvae-explorer" + ext)) for ext in ("", ".exe")))
print(build, "yes" if dist("PySide6") else "no", "yes" if project else "no")
EOF
) || true  # a venv that cannot answer gets the plain install below, which will say what is wrong

if [ "${project_ok:-no}" = yes ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$stamp" ]; then
  exit 0  # installed from these very files: nothing to do
fi

if [ -n "$flavour" ]; then
  if [ "$torch_build" = none ]; then
    [ -n "$index_checked" ] || check_index .venv/bin/python
    mapfile -t pins < <(grep -E '^(torch|torchvision)==' constraints.txt)
    echo "setup: installing ${pins[*]} from $index" >&2
    "${PIP[@]}" --index-url "$index" "${pins[@]}"
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

rm -f "$STAMP"
"${PIP[@]}" -c constraints.txt -e ".[test]"
echo "$stamp" > "$STAMP"
