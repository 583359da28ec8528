"""PySide6's import hook reads the source of every module imported after PySide6 (inspect.getsource), looking for
`from __feature__ import ...`: about a second more for torch's thousand modules, measured here (import torch +
pyqtgraph after PySide6: 4.3 s with the check off against 5.3 s with it on, medians of three on the loaded
2-core machine). The explorer shows its splash with Qt before importing torch, and never uses __feature__, so
the check is switched off as soon as PySide6 is loaded."""

from __future__ import annotations

import sys


def disable_feature_source_check() -> bool:
    """Make PySide6's import hook treat every module as not using __feature__; True when it was switched off."""
    feature = sys.modules.get("shibokensupport.feature")
    if feature is None or not hasattr(feature, "_mod_uses_pyside"):
        return False  # another PySide6 version: nothing to switch off (imports work either way)
    feature._mod_uses_pyside = lambda *args, **kwargs: False
    return True
