"""Run the server in a background thread of the current process (tests, notebooks, benchmarks).

::

    from rgb2depth.serve import create_app
    from rgb2depth.serve.threaded import ServerThread

    with ServerThread(create_app(model)) as url:      # "http://127.0.0.1:PORT"
        ...                                           # real HTTP over a real socket

The socket is bound before uvicorn starts (port 0: the system picks a free one), so there is no
race between choosing a port and listening on it, and a model already loaded in this process is
served without loading it again.
"""

from __future__ import annotations

import socket
import threading
import time


class ServerThread:
    """uvicorn serving ``app`` on ``host:port`` in a daemon thread; a context manager whose
    value is the base URL. ``timeout`` bounds the start and the stop (seconds)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0,
                 log_level: str = "warning") -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        self.timeout = timeout
        self.server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="rgb2depth-serve", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the server did not start on {self.url} within {self.timeout:g} s")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(self.timeout)
        self.sock.close()
