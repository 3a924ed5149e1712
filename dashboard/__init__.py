"""The Streamlit dashboard over what the emojax library writes (its pages are in ``pages/``).
Importable so that pages can share helpers; it never trains or extracts in-process."""
