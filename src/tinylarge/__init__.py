"""tinylarge: TinyML on microcontrollers and LargeML on servers, working as one system over 6G.

Packages by concern (imports point down this list, never up): ``data``, ``models``, ``train``,
``tiny``, ``large``, ``integrate``, ``net``, ``orchestrate``, ``secure``, ``scenario``, ``cli``.
"""

__version__ = "0.1.0"
