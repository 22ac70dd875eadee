"""Scripts run in third-party runtimes' own venvs (by path, with ``python -I``); ``fetch_models`` is also imported."""
