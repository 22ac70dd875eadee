"""The `edgekit` command line: the composition root, the only part of edgekit that may import the converters.

Modules:
    main:       the parser and the info / run / serve / bench commands; :func:`main` is the console script
    args:       argument types shared by the parsers
    live:       cameras, microphones and streams (`edgekit run SOURCE`, `edgekit serve`)
    run_files:  `edgekit run FILE...` on image, audio and text files
    convert:    `edgekit convert` (needs a checkout with the convert extra)
    eval:       `edgekit eval`
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
