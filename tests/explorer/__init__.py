"""Tests of the explorer package (the Qt application: window, session, panels, widgets)."""
