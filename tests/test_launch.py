"""scripts/check_display.py (launch.sh's check that Qt can open a window) and scripts/setup.sh's install choices."""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_display.py"

spec = importlib.util.spec_from_file_location("check_display", SCRIPT)
check_display = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_display)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check only runs on Linux")

# What `ldd libqxcb.so` says on a fresh Debian/Ubuntu desktop without Qt's X11 dependencies (abridged; the
# repeated lines are how ldd reports a library needed by both the plugin and libQt6XcbQpa).
FRESH_DESKTOP_LDD = """\
\tlinux-vdso.so.1 (0x00007ffd3a5e4000)
\tlibQt6XcbQpa.so.6 => /venv/lib/python3.11/site-packages/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0a1c000000)
\tlibQt6Gui.so.6 => /venv/lib/python3.11/site-packages/PySide6/Qt/lib/libQt6Gui.so.6 (0x00007f0a1b800000)
\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f0a1b779000)
\tlibxkbcommon.so.0 => /lib/x86_64-linux-gnu/libxkbcommon.so.0 (0x00007f0a1b731000)
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f0a1b729000)
\tlibxcb-image.so.0 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-randr.so.0 => /lib/x86_64-linux-gnu/libxcb-randr.so.0 (0x00007f0a1b716000)
\tlibxcb-render-util.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a1b400000)
"""
FRESH_DESKTOP_PACKAGES = ("libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 "
                          "libxcb-render-util0")


def fake_ldd(tmp_path: Path, output: str) -> dict[str, str]:
    """An environment whose PATH finds a fake `ldd` that prints `output` whatever it is asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "ldd-output.txt").write_text(output)
    ldd = bin_dir / "ldd"
    ldd.write_text(f"#!/bin/sh\ncat '{tmp_path / 'ldd-output.txt'}'\n")
    ldd.chmod(ldd.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "DISPLAY",
                        "QT_QPA_PLATFORM_PLUGIN_PATH")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def apt_line(packages: str) -> str:
    sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {packages}"


@pytest.mark.parametrize("soname, package", [
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libEGL.so.1", "libegl1"),
    ("libGL.so.1", "libgl1"),
    ("libOpenGL.so.0", "libopengl0"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
    ("libwayland-cursor.so.0", "libwayland-cursor0"),
    ("libgssapi_krb5.so.2", "libgssapi-krb5-2"),
    ("libglib-2.0.so.0", "libglib2.0-0"),
    ("libz.so.1", "zlib1g"),
    ("libGLdispatch.so.0", "libglvnd0"),
    ("notalibrary", None),
])
def test_each_missing_library_maps_to_its_debian_package(soname, package):
    assert check_display.package_for(soname) == package


def test_ldd_output_gives_the_missing_libraries_once_each_in_order():
    assert check_display.parse_ldd(FRESH_DESKTOP_LDD) == [
        "libxkbcommon-x11.so.0", "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-image.so.0",
        "libxcb-keysyms.so.1", "libxcb-render-util.so.0"]
    musl = "Error loading shared library libxcb-cursor.so.0: No such file or directory (needed by libqxcb.so)\n"
    assert check_display.parse_ldd(musl) == ["libxcb-cursor.so.0"]
    assert check_display.parse_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


def test_the_install_line_uses_sudo_unless_already_root():
    assert check_display.install_command(["libxcb-cursor0", "libxcb-icccm4"], root=False) == \
        "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4"
    assert check_display.install_command(["libxcb-cursor0"], root=True) == "apt-get install -y libxcb-cursor0"


@linux_only
def test_missing_x11_libraries_print_one_apt_get_line_and_fail(tmp_path):
    env = fake_ldd(tmp_path, FRESH_DESKTOP_LDD)
    env["DISPLAY"] = ":0"
    result = run_script(env)
    assert result.returncode == check_display.MISSING_LIBS
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert "libxcb-cursor.so.0" in lines[0] and "X11 (xcb)" in lines[0]
    assert lines[1] == apt_line(FRESH_DESKTOP_PACKAGES)
    assert result.stdout == ""


@linux_only
def test_nothing_missing_means_go_ahead_silently(tmp_path):
    env = fake_ldd(tmp_path, "\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x1)\n")
    env["DISPLAY"] = ":0"
    result = run_script(env, "--panel", "generate")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@linux_only
@pytest.mark.parametrize("platform", ["offscreen", "minimal", "vnc"])
def test_off_screen_platforms_are_not_checked(tmp_path, platform):
    env = fake_ldd(tmp_path, FRESH_DESKTOP_LDD)
    env["QT_QPA_PLATFORM"] = platform
    result = run_script(env)  # no DISPLAY either: neither matters
    assert (result.returncode, result.stderr) == (0, "")


@linux_only
def test_an_explicit_xcb_platform_is_checked(tmp_path):
    env = fake_ldd(tmp_path, FRESH_DESKTOP_LDD)
    env.update(QT_QPA_PLATFORM="xcb", DISPLAY=":0")
    assert run_script(env).returncode == check_display.MISSING_LIBS


@linux_only
def test_no_display_says_so_in_one_line(tmp_path):
    env = fake_ldd(tmp_path, FRESH_DESKTOP_LDD)
    result = run_script(env)
    assert result.returncode == check_display.NO_DISPLAY
    assert len(result.stderr.splitlines()) == 1
    assert "DISPLAY" in result.stderr and "--screenshot FILE" in result.stderr and "xvfb-run" in result.stderr


@linux_only
def test_a_screenshot_is_never_refused(tmp_path):
    env = fake_ldd(tmp_path, FRESH_DESKTOP_LDD)
    # no display: the explorer renders off-screen by itself
    assert run_script(env, "--screenshot", "map.png").returncode == 0
    # a display whose X11 plugin cannot load: launch.sh is told to render off-screen (no message)
    env["DISPLAY"] = ":0"
    for args in (["--screenshot", "map.png"], ["--screenshot=map.png"], ["--panel", "map", "--scr", "m.png"]):
        result = run_script(env, *args)
        assert (result.returncode, result.stderr) == (check_display.USE_OFFSCREEN, ""), args
    assert run_script(env, "--", "--screenshot").returncode == check_display.MISSING_LIBS  # a file name


@linux_only
@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--he"], ["model.pt", "--help"]])
def test_help_needs_no_display(tmp_path, args):
    env = fake_ldd(tmp_path, FRESH_DESKTOP_LDD)
    result = run_script(env, *args)
    assert (result.returncode, result.stderr) == (0, "")
    env["DISPLAY"] = ":0"
    assert run_script(env, *args).returncode == 0
    assert run_script(env, "--", *args).returncode == check_display.MISSING_LIBS


def test_wayland_that_loads_needs_nothing_from_x11(monkeypatch, tmp_path):
    qt = tmp_path / "PySide6"
    (qt / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    for plugin in ("libqxcb.so", "libqwayland.so"):
        (qt / "Qt" / "plugins" / "platforms" / plugin).write_bytes(b"")
    monkeypatch.setattr(check_display, "pyside_dir", lambda: qt)
    outputs = {"libqwayland.so": "", "libqxcb.so": FRESH_DESKTOP_LDD}
    monkeypatch.setattr(check_display, "run_ldd", lambda files: outputs[files[0].name])
    wayland = {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}
    assert check_display.check([], wayland, platform="linux") == (0, [])
    # without Wayland the X11 plugin is what Qt loads, and its libraries are reported
    status, lines = check_display.check([], {"DISPLAY": ":0"}, platform="linux")
    assert status == check_display.MISSING_LIBS and lines[-1].endswith(FRESH_DESKTOP_PACKAGES)
    # a Wayland plugin that cannot load either: the X11 line, since Qt falls back to X11 (XWayland)
    outputs["libqwayland.so"] = "\tlibwayland-cursor.so.0 => not found\n"
    status, lines = check_display.check([], wayland, platform="linux")
    assert status == check_display.MISSING_LIBS and lines[-1].endswith(FRESH_DESKTOP_PACKAGES)
    # Wayland alone (no XWayland): its own libraries
    status, lines = check_display.check([], {"WAYLAND_DISPLAY": "wayland-0"}, platform="linux")
    assert status == check_display.MISSING_LIBS and lines[-1].endswith("apt-get install -y libwayland-cursor0")


def test_a_broken_pyside6_install_is_not_sent_to_apt(monkeypatch, tmp_path):
    qt = tmp_path / "PySide6"
    (qt / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (qt / "Qt" / "plugins" / "platforms" / "libqxcb.so").write_bytes(b"")
    monkeypatch.setattr(check_display, "pyside_dir", lambda: qt)
    monkeypatch.setattr(check_display, "run_ldd", lambda files: "\tlibQt6XcbQpa.so.6 => not found\n")
    status, lines = check_display.check([], {"DISPLAY": ":0"}, platform="linux")
    assert status == check_display.MISSING_LIBS and len(lines) == 1
    assert "libQt6XcbQpa.so.6" in lines[0] and "apt-get" not in lines[0]


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_macos_and_windows_need_nothing(platform):
    assert check_display.check([], {}, platform=platform) == (0, [])


@linux_only
@pytest.mark.skipif(shutil.which("ldd") is None, reason="no ldd")
def test_the_installed_plugin_here(tmp_path):
    """The real PySide6 xcb plugin and the real ldd: the script's verdict matches what ldd itself says."""
    qt = check_display.pyside_dir()
    if qt is None or not (qt / "Qt" / "plugins" / "platforms" / "libqxcb.so").is_file():
        pytest.skip("no PySide6 xcb plugin installed")
    files = check_display.plugin_files("xcb", qt / "Qt", {})
    ldd = subprocess.run(["ldd", *map(str, files)], capture_output=True, text=True).stdout
    missing = sorted({line.split()[0] for line in ldd.splitlines() if "=> not found" in line})
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM_PLUGIN_PATH")}
    env["DISPLAY"] = ":99"  # never connected to: the check only reads files
    result = run_script(env)
    if not missing:
        assert (result.returncode, result.stderr) == (0, "")
    else:
        assert result.returncode == check_display.MISSING_LIBS
        packages = sorted(result.stderr.splitlines()[-1].split("install -y ")[1].split())
        assert packages == sorted({check_display.package_for(lib) for lib in missing})


# --- scripts/setup.sh: which pip commands it runs, checked against a fake venv (nothing is installed) ---

FAKE_PYTHON = """#!/bin/sh
# a stand-in for .venv/bin/python: logs its arguments; answers setup.sh's state query with $FAKE_STATE; the
# index probe (-c CODE URL) is logged as `probe URL` and run by the real interpreter (or exits $FAKE_PROBE);
# pip fails when $FAKE_PIP_FAIL is set
if [ "$1" = "-c" ]; then
  echo "probe $3" >> "$FAKE_LOG"
  if [ -n "$FAKE_PROBE" ]; then exit "$FAKE_PROBE"; fi
  exec "$REAL_PYTHON" "$@"
fi
echo "$*" >> "$FAKE_LOG"
if [ "$1" = "-" ]; then cat > /dev/null; echo "$FAKE_STATE"; fi
if [ "$1 $2" = "-m pip" ] && [ -n "$FAKE_PIP_FAIL" ]; then exit 1; fi
exit 0
"""
FAKE_CREATOR = """#!/bin/sh
# a stand-in for python3: `-m venv .venv` makes the fake venv; the index probe as in FAKE_PYTHON
if [ "$1" = "-c" ]; then
  echo "probe $3" >> "$FAKE_LOG"
  if [ -n "$FAKE_PROBE" ]; then exit "$FAKE_PROBE"; fi
  exec "$REAL_PYTHON" "$@"
fi
echo "create $*" >> "$FAKE_LOG"
mkdir -p .venv/bin && cp "$FAKE_PYTHON_SRC" .venv/bin/python && chmod +x .venv/bin/python
"""


@pytest.fixture
def setup_copy(tmp_path):
    if shutil.which("bash") is None or sys.platform.startswith("win"):
        pytest.skip("needs bash")
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", project / "scripts" / "setup.sh")
    shutil.copy(ROOT / "constraints.txt", project / "constraints.txt")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    (tmp_path / "fake-python").write_text(FAKE_PYTHON)
    creator = tmp_path / "python3"
    creator.write_text(FAKE_CREATOR)
    creator.chmod(0o755)
    log = tmp_path / "log.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("CVAE_TORCH", "CVAE_TORCH_INDEX")}
    env.update(PYTHON=str(creator), FAKE_LOG=str(log), FAKE_PYTHON_SRC=str(tmp_path / "fake-python"),
               REAL_PYTHON=sys.executable)

    def run(state: str, **extra: str):
        log.write_text("")
        result = subprocess.run(["bash", str(project / "scripts" / "setup.sh")], env={**env, **extra,
                                "FAKE_STATE": state}, capture_output=True, text=True, timeout=60)
        return result, log.read_text().splitlines()
    run.project = project
    return run


def pins() -> list[str]:
    return [line for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line.startswith(("torch==", "torchvision=="))]


PIP = "-m pip install --quiet --disable-pip-version-check"
PROJECT_INSTALL = f"{PIP} -c constraints.txt -e .[test]"


def test_setup_fresh_venv_default_torch(setup_copy):
    result, log = setup_copy("none no")
    assert result.returncode == 0, result.stderr
    assert log == ["create -m venv .venv", "-", PROJECT_INSTALL]


def test_setup_fresh_venv_cpu_torch_comes_first_from_the_cpu_index(setup_copy):
    assert pins() == ["torch==2.14.1", "torchvision==0.29.1"]
    result, log = setup_copy("none no", CVAE_TORCH="cpu", FAKE_PROBE="0")  # the index answers
    assert result.returncode == 0, result.stderr
    index = "https://download.pytorch.org/whl/cpu"
    assert log == [f"probe {index}", "create -m venv .venv", "-",  # the index is asked before anything is made
                   f"{PIP} --index-url {index} torch==2.14.1 torchvision==0.29.1", PROJECT_INSTALL]


def test_setup_keeps_an_existing_cuda_torch_and_says_how_to_start_over(setup_copy):
    setup_copy("none no")  # creates the venv
    result, log = setup_copy("cuda no", CVAE_TORCH="cpu")
    assert result.returncode == 0
    assert log == ["-", PROJECT_INSTALL]
    assert "rm -rf .venv && CVAE_TORCH=cpu bash scripts/setup.sh" in result.stderr
    result, log = setup_copy("cpu no", CVAE_TORCH="cpu")  # already the CPU build: nothing to say
    assert (log, result.stderr) == (["-", PROJECT_INSTALL], "")


def test_setup_refuses_a_malformed_torch_flavour(setup_copy):
    result, log = setup_copy("none no", CVAE_TORCH="cpu --pre")
    assert result.returncode == 2 and "CVAE_TORCH" in result.stderr
    assert PROJECT_INSTALL not in log


def test_setup_leaves_a_full_pyside6_venv_alone_and_says_so_once(setup_copy):
    setup_copy("none no")
    result, log = setup_copy("cuda yes")
    assert result.returncode == 0 and log == ["-", PROJECT_INSTALL]
    assert "full PySide6" in result.stderr and len(result.stderr.splitlines()) == 1
    result, _ = setup_copy("cuda yes")
    assert result.stderr == ""


# --- setup.sh is a no-op when nothing changed: the stamp in .venv ---

def test_setup_twice_runs_pip_once(setup_copy):
    result, log = setup_copy("none no no")
    assert result.returncode == 0 and log == ["create -m venv .venv", "-", PROJECT_INSTALL]
    stamp = setup_copy.project / ".venv" / ".cvae-setup-stamp"
    assert stamp.is_file()
    result, log = setup_copy("cuda no yes")  # installed, from these very files
    assert (result.returncode, log, result.stderr) == (0, ["-"], "")


@pytest.mark.parametrize("changed", ["pyproject.toml", "constraints.txt"])
def test_setup_installs_again_when_pyproject_or_constraints_change(setup_copy, changed):
    setup_copy("none no no")
    assert setup_copy("cuda no yes")[1] == ["-"]
    path = setup_copy.project / changed
    path.write_text(path.read_text() + "\n# a new line\n")
    result, log = setup_copy("cuda no yes")
    assert result.returncode == 0 and log == ["-", PROJECT_INSTALL]
    assert setup_copy("cuda no yes")[1] == ["-"]  # and the new files are the stamp now


def test_setup_installs_again_without_the_stamp_or_the_project(setup_copy):
    setup_copy("none no no")
    (setup_copy.project / ".venv" / ".cvae-setup-stamp").unlink()
    assert setup_copy("cuda no yes")[1] == ["-", PROJECT_INSTALL]
    # the stamp matches, but the venv no longer finds the project (or torch, PySide6, ...): installed again
    assert setup_copy("cuda no no")[1] == ["-", PROJECT_INSTALL]
    assert setup_copy("cuda no yes")[1] == ["-"]


def test_setup_installs_again_for_another_torch_flavour(setup_copy):
    setup_copy("none no no")
    result, log = setup_copy("cuda no yes", CVAE_TORCH="cpu")
    assert log == ["-", PROJECT_INSTALL] and "rm -rf .venv && CVAE_TORCH=cpu" in result.stderr
    assert setup_copy("cuda no yes", CVAE_TORCH="cpu")[1] == ["-"]  # said once
    assert setup_copy("cuda no yes", CVAE_TORCH="default")[1] == ["-", PROJECT_INSTALL]
    assert setup_copy("cuda no yes")[1] == ["-"]  # unset is the default flavour


def test_a_failed_install_leaves_no_stamp(setup_copy):
    setup_copy("none no no")
    pyproject = setup_copy.project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# changed\n")
    result, log = setup_copy("cuda no yes", FAKE_PIP_FAIL="1")
    assert result.returncode != 0 and log == ["-", PROJECT_INSTALL]
    assert (setup_copy.project / ".venv" / "bin" / "python").exists()  # a venv that worked before is kept
    assert setup_copy("cuda no yes")[1] == ["-", PROJECT_INSTALL]  # tried again, not skipped


def test_a_failed_install_in_a_fresh_venv_removes_it(setup_copy):
    result, log = setup_copy("none no no", FAKE_PIP_FAIL="1")
    assert result.returncode != 0 and log == ["create -m venv .venv", "-", PROJECT_INSTALL]
    assert not (setup_copy.project / ".venv").exists()
    assert "removed the unfinished .venv" in result.stderr


def _state_query() -> str:
    text = (ROOT / "scripts" / "setup.sh").read_text()
    return text.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]


def test_the_state_query_finds_this_checkout_installed(tmp_path):
    """setup.sh's query, run by this interpreter (the project's venv): the project is installed from this
    checkout; asked from another folder it is not (a venv of another copy is installed again)."""
    query = _state_query()
    here = subprocess.run([sys.executable, "-"], input=query, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert here.returncode == 0, here.stderr
    torch_build, _, project = here.stdout.split()
    assert torch_build != "none" and project == "yes"
    elsewhere = subprocess.run([sys.executable, "-"], input=query, cwd=tmp_path, capture_output=True, text=True,
                               timeout=60)
    assert elsewhere.stdout.split()[2] == "no"


# --- CVAE_TORCH's index is asked first: unreachable means one line, at once, and no half-built venv ---

@pytest.fixture
def torch_index():
    """A local stand-in for download.pytorch.org/whl: /cpu/torch/ answers 200, anything else 404."""
    import http.server
    import threading

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/cpu/torch/" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_reachable_index_installs_torch_from_it(setup_copy, torch_index):
    result, log = setup_copy("none no no", CVAE_TORCH="cpu", CVAE_TORCH_INDEX=f"{torch_index}/cpu")
    assert result.returncode == 0, result.stderr
    assert log == [f"probe {torch_index}/cpu", "create -m venv .venv", "-",
                   f"{PIP} --index-url {torch_index}/cpu torch==2.14.1 torchvision==0.29.1", PROJECT_INSTALL]


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_refused_in_one_line(setup_copy, result, log, index):
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "CPU-only PyTorch index could not be reached" in lines[0] and index in lines[0]
    assert "leave CVAE_TORCH unset" in lines[0] and "proxy" in lines[0]
    assert log == [f"probe {index}"]  # asked before anything was made: no venv, nothing installed
    assert not (setup_copy.project / ".venv").exists()


def test_an_unreachable_cpu_index_is_said_in_one_line_and_leaves_no_venv(setup_copy):
    index = f"http://127.0.0.1:{_closed_port()}/cpu"
    result, log = setup_copy("none no no", CVAE_TORCH="cpu", CVAE_TORCH_INDEX=index)
    _assert_refused_in_one_line(setup_copy, result, log, index)


@pytest.mark.slow  # waits out the probe's 5 s timeout
def test_an_index_that_never_answers_is_given_up_on_by_the_probe(setup_copy):
    """The probe's own timeout (5 s) gives up, before pip is ever asked (pip alone retried for 88 s)."""
    import socket
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        index = f"http://127.0.0.1:{silent.getsockname()[1]}/cpu"
        result, log = setup_copy("none no no", CVAE_TORCH="cpu", CVAE_TORCH_INDEX=index)
    _assert_refused_in_one_line(setup_copy, result, log, index)  # the probe alone ran: no pip, no venv
    assert "timed out" in result.stderr


def test_an_index_without_that_flavour_says_so(setup_copy, torch_index):
    result, log = setup_copy("none no no", CVAE_TORCH="cu999", CVAE_TORCH_INDEX=f"{torch_index}/cu999")
    assert result.returncode == 3 and len(result.stderr.splitlines()) == 1
    assert "has no torch" in result.stderr and "HTTP 404" in result.stderr
    assert not (setup_copy.project / ".venv").exists()


@pytest.mark.slow  # over a second: builds a virtual environment
def test_an_existing_venv_without_torch_asks_the_index_too(setup_copy, torch_index):
    setup_copy("none no no")  # a venv whose torch install never happened (e.g. made by hand)
    index = f"http://127.0.0.1:{_closed_port()}/cpu"
    result, log = setup_copy("none no no", CVAE_TORCH="cpu", CVAE_TORCH_INDEX=index)
    assert result.returncode == 3 and log == ["-", f"probe {index}"]
    assert "could not be reached" in result.stderr and len(result.stderr.splitlines()) == 1
    assert (setup_copy.project / ".venv" / "bin" / "python").exists()  # not this run's to remove
    result, log = setup_copy("none no no", CVAE_TORCH="cpu", CVAE_TORCH_INDEX=f"{torch_index}/cpu")
    assert result.returncode == 0 and log[:2] == ["-", f"probe {torch_index}/cpu"]


def test_an_existing_venv_with_torch_never_asks_the_index(setup_copy):
    setup_copy("none no no")
    index = f"http://127.0.0.1:{_closed_port()}/cpu"
    result, log = setup_copy("cpu no no", CVAE_TORCH="cpu", CVAE_TORCH_INDEX=index)
    assert result.returncode == 0 and log == ["-", PROJECT_INSTALL]
