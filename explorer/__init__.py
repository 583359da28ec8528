"""cVAE Explorer's desktop application (PySide6 + pyqtgraph): model list, model card and exploration panels.

Qt lives in this package only; every model operation goes through `cvae.latent`.
"""
