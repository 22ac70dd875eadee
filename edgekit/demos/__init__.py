"""Short programs using the runtime, with the flags a user needs and the bundled models as defaults.

Run one with ``python -m edgekit.demos.NAME --help``: ``webcam_classify``, ``webcam_detect``, ``mic_keywords``,
``mic_sounds``, ``classify_images``, ``classify_text``. In a checkout, ``python demos/NAME.py`` runs the same.
"""
