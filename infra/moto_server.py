"""Starts moto's server with one request at a time.

moto's DynamoDB update_item is a read-modify-write without a lock: under the
threaded server that moto_server starts, concurrent ADDs lose increments and two
conditional writes can both pass their condition. DynamoDB serialises writes to an
item; serving one request at a time gives the tests the same guarantee.
"""

import sys

import werkzeug.serving
from moto import server

_run_simple = werkzeug.serving.run_simple


def _run_simple_single_threaded(*args, **kwargs):
    kwargs["threaded"] = False
    return _run_simple(*args, **kwargs)


server.run_simple = _run_simple_single_threaded

if __name__ == "__main__":
    server.main(sys.argv[1:])
