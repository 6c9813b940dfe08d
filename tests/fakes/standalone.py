"""Run the fake Slack Web API and Socket Mode endpoint as a process (for ``scripts/check-image.sh``).

``python3 -m tests.fakes.standalone --port-file PATH`` writes the Web API's port to PATH once both
listen, then serves until killed. Stdlib only: the image check runs it on the host's bare Python.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from tests.fakes.fake_slack import FakeSlack
from tests.fakes.socket_mode import FakeSocketMode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    socket_mode = FakeSocketMode().start()
    slack = FakeSlack(socket_url=socket_mode.url).start()
    args.port_file.write_text(slack.base_url.rsplit(":", 1)[1])
    threading.Event().wait()


if __name__ == "__main__":
    main()
