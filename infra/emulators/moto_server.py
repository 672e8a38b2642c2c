"""Starts moto's server with one request at a time, answering UpdateItem's
UPDATED_NEW / UPDATED_OLD as DynamoDB does.

moto's DynamoDB update_item is a read-modify-write without a lock: under the
threaded server that moto_server starts, concurrent ADDs lose increments and two
conditional writes can both pass their condition. DynamoDB serialises writes to an
item; serving one request at a time gives the tests the same guarantee.

moto 5.2.5 answers UPDATED_NEW and UPDATED_OLD with the attributes whose value
changed. DynamoDB answers with the attributes the update expression writes, even
when one is written with the value it had (ScyllaDB's DynamoDB-compatibility tests,
checked against DynamoDB: test/alternator/test_returnvalues.py,
test_update_item_returnvalues_updated_old/_updated_new; dynalite's
actions/updateItem.js does the same). update-settings relies on that: it writes
each attribute of its answer, so that the answer never needs ALL_NEW.
"""

import re
import sys

import werkzeug.serving
from moto import server
from moto.dynamodb.responses import DynamoHandler

_run_simple = werkzeug.serving.run_simple


def _run_simple_single_threaded(*args, **kwargs):
    kwargs["threaded"] = False
    return _run_simple(*args, **kwargs)


server.run_simple = _run_simple_single_threaded

_ACTION = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)


def _top_level(clause):
    """The comma-separated parts of a clause, commas inside parentheses kept."""
    parts, depth, current = [], 0, ""
    for ch in clause:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _written(expression, names):
    """The top-level attributes an update expression writes, with the action."""
    written = {}
    pieces = _ACTION.split(expression)
    for action, clause in zip(pieces[1::2], pieces[2::2]):
        for part in _top_level(clause):
            path = part.split("=", 1)[0] if action.upper() == "SET" else part.split()[0]
            top = re.split(r"[.\[]", path.strip(), maxsplit=1)[0]
            written[names.get(top, top)] = action.upper()
    return written


_update_item = DynamoHandler.update_item


def _update_item_answering_written_attributes(self):
    wanted = self.body.get("ReturnValues")
    expression = self.body.get("UpdateExpression")
    if wanted not in ("UPDATED_NEW", "UPDATED_OLD") or not expression:
        return _update_item(self)
    written = _written(expression, self.body.get("ExpressionAttributeNames") or {})
    self.body["ReturnValues"] = "ALL_NEW" if wanted == "UPDATED_NEW" else "ALL_OLD"
    result = _update_item(self)
    # A removed attribute has an old value but no new one.
    keep = {a for a, action in written.items() if wanted == "UPDATED_OLD" or action != "REMOVE"}
    answer = {k: v for k, v in (result.result.get("Attributes") or {}).items() if k in keep}
    if answer:
        result.result["Attributes"] = answer
    else:
        result.result.pop("Attributes", None)
    return result


DynamoHandler.update_item = _update_item_answering_written_attributes

if __name__ == "__main__":
    server.main(sys.argv[1:])
