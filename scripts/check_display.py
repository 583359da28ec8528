"""Before the explorer starts: can Qt open a window here? (Linux only; standard library only, never imports Qt.)

    python scripts/check_display.py [EXPLORER ARGS ...]

scripts/launch.sh runs this with the arguments it will pass to cvae-explorer. On Linux, Qt aborts the whole process
(SIGABRT, exit 134) when its X11 platform plugin cannot be loaded, e.g. "From 6.5.0, xcb-cursor0 or libxcb-cursor0
is needed to load the Qt xcb platform plugin", and it names only the first missing library. This script finds
every missing one first: it runs `ldd` on the installed PySide6's platform plugin (and the Qt libraries it loads)
and prints the one `apt-get install` line that supplies them.

Exit status:
  0   go ahead (not Linux, an off-screen platform, or the plugin's libraries are all found)
  1   shared libraries are missing: the apt-get line was printed
  2   no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY): said so
  10  --screenshot was given and the on-screen plugin cannot load: render with QT_QPA_PLATFORM=offscreen instead
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PROG = "cvae-explorer"
OK, MISSING_LIBS, NO_DISPLAY, USE_OFFSCREEN = 0, 1, 2, 10

# Qt platforms that draw to a screen (and so need the desktop's libraries); anything else (offscreen, minimal,
# vnc, eglfs, linuxfb, ...) is left to Qt.
DISPLAY_PLATFORMS = ("xcb", "wayland")

# Platform plugin file names, newest first (Qt before 6.8 named the Wayland one libqwayland-generic.so).
PLUGIN_FILES = {
    "xcb": ["libqxcb.so"],
    "wayland": ["libqwayland.so", "libqwayland-generic.so", "libqwayland-egl.so"],
}
# The Qt libraries each plugin loads, checked too (ldd follows their dependencies anyway; listing them makes a
# plugin whose RPATH does not reach them still report what they need).
QT_LIBS = {
    "xcb": ["libQt6XcbQpa.so.6", "libQt6Gui.so.6", "libQt6Widgets.so.6", "libQt6Core.so.6"],
    "wayland": ["libQt6WaylandClient.so.6", "libQt6Gui.so.6", "libQt6Widgets.so.6", "libQt6Core.so.6"],
}

# Debian/Ubuntu packages whose names do not follow the usual rule (see package_for).
PACKAGE_EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0",
    "libgmodule-2.0.so.0": "libglib2.0-0",
    "libGLdispatch.so.0": "libglvnd0",
    "libz.so.1": "zlib1g",
    "libharfbuzz.so.0": "libharfbuzz0b",
    "libbrotlidec.so.1": "libbrotli1",
    "libbrotlicommon.so.1": "libbrotli1",
    "libbrotlienc.so.1": "libbrotli1",
    "libc.so.6": "libc6",
    "libm.so.6": "libc6",
    "libdl.so.2": "libc6",
    "libpthread.so.0": "libc6",
    "librt.so.1": "libc6",
}


def package_for(soname: str) -> str | None:
    """The Debian/Ubuntu package that ships the shared library `soname`, by Debian's library naming rule.

    The rule: lower-case the library name, `_` becomes `-`, append the soname version, with a `-` between
    when the name ends in a digit: libxcb-cursor.so.0 -> libxcb-cursor0, libxkbcommon-x11.so.0 ->
    libxkbcommon-x11-0, libEGL.so.1 -> libegl1, libdbus-1.so.3 -> libdbus-1-3. Known exceptions come from
    PACKAGE_EXCEPTIONS. None when the name has no soname version to go on.
    """
    if soname in PACKAGE_EXCEPTIONS:
        return PACKAGE_EXCEPTIONS[soname]
    match = re.fullmatch(r"(lib[\w.+-]+?)\.so\.(\d+)(?:\.\d+)*", soname)
    if not match:
        return None
    name, version = match.group(1).lower().replace("_", "-"), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def is_bundled(soname: str) -> bool:
    """Libraries that come inside the PySide6 wheel itself (missing means a broken install, not a system gap)."""
    return soname.startswith(("libQt6", "libpyside6", "libshiboken6", "libicu"))


def parse_ldd(output: str) -> list[str]:
    """The shared libraries that `ldd` could not find, in order of first mention, without repeats."""
    found: list[str] = []
    for line in output.splitlines():
        match = (re.match(r"\s*(\S+)\s+=>\s+not found", line)
                 or re.match(r"\s*Error loading shared library (\S+?):", line))  # musl's ldd
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def run_ldd(paths: list[Path]) -> str | None:
    """`ldd` over these files (stdout and stderr together), or None when there is no ldd to ask."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        result = subprocess.run([ldd, *map(str, paths)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout + result.stderr


def pyside_dir() -> Path | None:
    """The installed PySide6 package folder, found without importing it."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def plugin_files(platform: str, qt_dir: Path, env: dict[str, str]) -> list[Path] | None:
    """The platform plugin and the Qt libraries it needs, or None when the plugin is not installed."""
    folders = [Path(p) for p in env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders.append(qt_dir / "plugins" / "platforms")
    plugin = next((f / name for f in folders for name in PLUGIN_FILES[platform] if (f / name).is_file()), None)
    if plugin is None:
        return None
    return [plugin, *(qt_dir / "lib" / name for name in QT_LIBS[platform] if (qt_dir / "lib" / name).is_file())]


def missing_libraries(platform: str, qt_dir: Path, env: dict[str, str]) -> list[str] | None:
    """The libraries the plugin for `platform` cannot find; None when that cannot be told (no plugin, no ldd)."""
    files = plugin_files(platform, qt_dir, env)
    if files is None:
        return None
    output = run_ldd(files)
    return None if output is None else parse_ldd(output)


def _asks_for(args: list[str], option: str, shortest: int) -> bool:
    """Whether the explorer's arguments hold `option` (argparse also takes a unique prefix of it)."""
    for arg in args:
        if arg == "--":
            return False
        given = arg.split("=", 1)[0]
        if len(given) >= shortest and option.startswith(given):
            return True
    return False


def wants_screenshot(args: list[str]) -> bool:
    return _asks_for(args, "--screenshot", len("--sc"))


def wants_help(args: list[str]) -> bool:
    return "-h" in args[:args.index("--") if "--" in args else len(args)] or _asks_for(args, "--help", len("--h"))


def candidate_platforms(env: dict[str, str]) -> list[str] | None:
    """The on-screen platforms Qt will try, in Qt's order; None when Qt is told to use another kind."""
    requested = env.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        names = [part.split(":", 1)[0].strip() for part in requested.split(";") if part.strip()]
        kinds = ["wayland" if n.startswith("wayland") else n for n in names]
        return kinds if kinds and all(k in DISPLAY_PLATFORMS for k in kinds) else None
    platforms = []
    if env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE") == "wayland":
        platforms.append("wayland")
    platforms.append("xcb")  # Qt's default, and its fallback when Wayland does not work
    return platforms


def has_display(platform: str, env: dict[str, str]) -> bool:
    if platform == "xcb":
        return bool(env.get("DISPLAY"))
    return bool(env.get("WAYLAND_DISPLAY"))


def install_command(packages: list[str], root: bool) -> str:
    return f"{'' if root else 'sudo '}apt-get install -y {' '.join(packages)}"


def missing_message(platform: str, missing: list[str], root: bool, has_apt: bool, prefix: str) -> list[str]:
    """The lines to print for libraries missing from `platform`'s plugin: one sentence, then the command."""
    label = "X11 (xcb)" if platform == "xcb" else "Wayland"
    bundled = [lib for lib in missing if is_bundled(lib)]
    if bundled:
        return [f"{PROG}: PySide6's own Qt libraries are missing ({', '.join(bundled)}); the install in {prefix} "
                f"is incomplete: reinstall PySide6-Essentials there (or remove it and run scripts/setup.sh again)"]
    packages, unknown = [], []
    for lib in missing:
        package = package_for(lib)
        if package is None:
            unknown.append(lib)
        elif package not in packages:
            packages.append(package)
    sentence = (f"{PROG}: Qt's {label} platform plugin cannot load, these system libraries are missing: "
                f"{', '.join(missing)}.")
    if unknown:
        sentence += f" Install {', '.join(unknown)} with your system's package manager."
    if not packages:
        return [sentence]
    if has_apt:
        sentence += " Install them with the line below, then start the explorer again:"
    else:
        sentence += (" Install the packages that provide them with your distribution's package manager; on "
                     "Debian/Ubuntu that would be:")
    return [sentence, install_command(packages, root)]


def no_display_message() -> str:
    return (f"{PROG}: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run it in a "
            "desktop session, under a virtual X server (xvfb-run -a bash scripts/launch.sh), or render the window "
            "to a PNG instead with: bash scripts/launch.sh --screenshot FILE")


def check(args: list[str], env: dict[str, str], platform: str = sys.platform) -> tuple[int, list[str]]:
    """(exit status, lines to print) for starting the explorer with `args` under `env`."""
    if not platform.startswith("linux"):
        return OK, []  # the PySide6 wheels for macOS and Windows carry everything Qt needs
    if wants_help(args):
        return OK, []  # --help prints and exits before Qt is loaded
    candidates = candidate_platforms(env)
    if candidates is None:
        return OK, []  # offscreen, minimal, vnc, ...: no desktop libraries involved
    screenshot = wants_screenshot(args) and not env.get("QT_QPA_PLATFORM")
    usable = [p for p in candidates if has_display(p, env)]
    if not usable:
        # the explorer itself renders a screenshot off-screen when there is no display
        return (OK, []) if screenshot else (NO_DISPLAY, [no_display_message()])
    qt = pyside_dir()
    if qt is None:
        return OK, []  # no PySide6 to inspect: the import will say so
    missing_by_platform = {}
    for name in usable:
        missing = missing_libraries(name, qt / "Qt", env)
        if not missing:  # loads (or cannot be told): Qt takes it from here
            return OK, []
        missing_by_platform[name] = missing
    if screenshot:
        return USE_OFFSCREEN, []
    # X11 is what Qt falls back on (XWayland included), so its libraries are the ones to install
    name = "xcb" if "xcb" in missing_by_platform else usable[0]
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    has_apt = shutil.which("apt-get") is not None
    return MISSING_LIBS, missing_message(name, missing_by_platform[name], root, has_apt, sys.prefix)


def main(argv: list[str] | None = None) -> int:
    status, lines = check(sys.argv[1:] if argv is None else argv, dict(os.environ))
    for line in lines:
        print(line, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
