"""The dashboard's pages (Streamlit scripts that ``dashboard/app.py`` routes to); a package only
so that an installed emojax carries them beside the dashboard."""
