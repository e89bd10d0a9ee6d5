"""tinylarge: TinyML on microcontrollers and LargeML on servers, working as one system over 6G.

Packages sit in layers (``LAYERS``, lowest first, as in DESIGN.md); a package imports only from
lower layers, or from its own layer without cycles. ``tests/test_layering.py`` enforces it.
"""

__version__ = "0.1.0"

LAYERS = (
    ("errors",),
    ("data", "models", "net", "secure"),
    ("train", "tiny"),
    ("large",),
    ("integrate",),
    ("orchestrate",),
    ("scenario",),
    ("cli",),
)
