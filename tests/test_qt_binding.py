"""The installed Qt binding must not drop references to None: PySide6 6.12.0 on Python 3.11 does, on every
void-returning call, and a window that updates a progress bar for a few minutes then aborts the interpreter
("Fatal Python error: none_dealloc"). constraints.txt pins a release without the fault."""

import sys

import PySide6
from PySide6 import QtWidgets


def test_void_calls_keep_nones_reference_count(qapp):
    bar, label = QtWidgets.QProgressBar(), QtWidgets.QLabel()
    before = sys.getrefcount(None)
    for value in range(500):
        bar.setValue(value % 100)
        label.setText("x")
        qapp.processEvents()
    lost = before - sys.getrefcount(None)
    assert lost < 100, (f"PySide6 {PySide6.__version__} dropped {lost} references to None in 1,500 calls; this "
                        "binding aborts long sessions: install the version constraints.txt pins")
