#!/usr/bin/env python3
"""moto_server, with requests handled one at a time.

moto's in-memory backends are not thread-safe: under concurrent DynamoDB transactions the stock
threaded server sometimes fails with "dictionary changed size during iteration" and answers an
HTML 500 (seen with 8-20 parallel sign-ups). Real DynamoDB does not do that, so the emulator is
serialized here: connections are still served by threads (keep-alive works), but the backend
runs one request at a time. Same arguments as `moto_server`.
"""
import threading

import moto.server as server

_Base = server.DomainDispatcherApplication
_lock = threading.Lock()


class SerializedDispatcher(_Base):
    def __call__(self, environ, start_response):
        with _lock:
            # Materialize the body inside the lock: moto builds it while iterating.
            return list(super().__call__(environ, start_response))


server.DomainDispatcherApplication = SerializedDispatcher

if __name__ == "__main__":
    server.main()
