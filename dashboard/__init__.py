"""The Streamlit dashboard over what the emojax library writes (its pages are in ``pages/``).
Importable so that pages can share helpers; it never trains or extracts in-process."""

from dashboard import parsing

# before any of the dashboard's threads parse (see parsing.py): Streamlit imports this package
# on app.py's first import of it, before any of its threads start; the tests before they start an app
parsing.serialise()
