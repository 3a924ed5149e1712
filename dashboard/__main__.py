"""``python -m dashboard``: serve the dashboard of an installed emojax on 127.0.0.1 (port 8501,
or the first argument), showing ./artifacts or EMOJAX_ARTIFACTS."""

import sys
from pathlib import Path

from streamlit.web import cli as stcli

port = sys.argv[1] if len(sys.argv) > 1 else "8501"
sys.argv = ["streamlit", "run", str(Path(__file__).resolve().parent / "app.py"), "--server.address", "127.0.0.1",
            "--server.port", port, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
sys.exit(stcli.main())
