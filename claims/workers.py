"""Worker processes of the claims commands (export build, folder validation)."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent() -> None:
    """In a worker: exit as soon as the process that started it is gone.

    A killed command (kill -9) must not leave its pool behind.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
