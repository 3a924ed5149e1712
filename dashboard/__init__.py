"""The Streamlit dashboard over what the emojax library writes (pages come with the dashboard
issue). Importable so that pages can share helpers; it never trains or extracts in-process."""
