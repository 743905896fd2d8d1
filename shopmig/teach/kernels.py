"""The kernel manager shopmig runs notebooks with: local IPC sockets where the system has them.

A Jupyter kernel started by papermill or nbclient listens on TCP ports of 127.0.0.1 by default,
and ipykernel warns on every start that the traffic is not encrypted ("Kernel is running over
TCP without encryption"): eight warnings in ``make demo``. A kernel that only this process talks
to does not need TCP at all: :class:`LocalKernelManager` starts it on Unix domain sockets
(``transport="ipc"``) in the temporary folder, so nothing listens on the network and
ipykernel has nothing to warn about. On Windows, which has no IPC transport in ZeroMQ, it is
the plain TCP manager.

Pass ``kernel_manager_class=LocalKernelManager`` to ``nbclient.NotebookClient`` or to
``papermill.execute_notebook``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from typing import Any

from jupyter_client.manager import AsyncKernelManager

IPC_AVAILABLE = sys.platform != "win32"


class LocalKernelManager(AsyncKernelManager):
    """An async kernel manager whose kernel talks over Unix sockets (files
    ``<tmp>/shopmig-kernel-<random>-<port>``, removed by jupyter_client when the kernel stops).
    """

    def __init__(self, **kwargs: Any) -> None:
        if IPC_AVAILABLE:
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(tempfile.gettempdir(),
                                                 f"shopmig-kernel-{uuid.uuid4().hex[:12]}"))
        super().__init__(**kwargs)


def notebook_client_options() -> dict[str, Any]:
    """Keyword arguments for ``NotebookClient``/``papermill.execute_notebook`` that start the
    kernel with :class:`LocalKernelManager`."""
    return {"kernel_manager_class": LocalKernelManager}
