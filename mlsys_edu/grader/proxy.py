"""``sub`` in the judge: a proxy whose attribute reads and calls are requests to the child.

Answers come back as data (numbers, strings, containers, arrays, DataFrames). Anything else
stays in the child and comes back as a ``Remote`` handle: calling it, reading its attributes
or indexing it are further requests. A handle compares equal only to itself, so an object whose
``__eq__`` always says True cannot pass a test.
"""

from __future__ import annotations

import builtins
import socket
import time
from typing import Any

from mlsys_edu.grader import channel


class Outcome(BaseException):
    """Ends a test with a status of its own; a BaseException so tests cannot swallow it."""

    status = "error"


class TestTimeout(Outcome):
    status = "timeout"


class Crashed(Outcome):
    status = "crashed"


class Refused(Outcome):
    status = "refused"


class MissingName(AttributeError):
    """The notebook does not define a top-level name that a test asked for."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the notebook does not define `{name}`; define it (with exactly this "
                         "name) and run the notebook again")
        self.name = name


class RemoteError(Exception):
    """An exception raised by the student's code in the child."""

    exc_type = "Exception"
    traceback_text = ""


_ERROR_CLASSES: dict[str, type] = {}


def remote_error(exc_type: str, message: str, traceback_text: str) -> RemoteError:
    """A ``RemoteError`` that also is the builtin exception class of the same name, if any,
    so ``pytest.raises(ValueError)`` in a test catches a student's ``ValueError``."""
    cls = _ERROR_CLASSES.get(exc_type)
    if cls is None:
        base = getattr(builtins, exc_type, None)
        ok = isinstance(base, type) and issubclass(base, Exception) and base is not Exception
        bases = (RemoteError, base) if ok and not issubclass(base, AssertionError) else (RemoteError,)
        try:
            cls = type(exc_type, bases, {})
        except TypeError:  # layout conflict with some builtin: plain RemoteError
            cls = type(exc_type, (RemoteError,), {})
        _ERROR_CLASSES[exc_type] = cls
    err = cls(message)
    err.exc_type = exc_type
    err.traceback_text = traceback_text
    return err


class Connection:
    """The judge's end of one test's socket, with that test's deadline."""

    def __init__(self, sock: socket.socket, deadline: float, max_bytes: int) -> None:
        self.sock, self.deadline, self.max_bytes = sock, deadline, max_bytes
        self.broken: Outcome | None = None
        self.timeout_s = 0.0

    def request(self, op: str, target: int | None = None, args: tuple = (),
                kwargs: dict[str, Any] | None = None, **fields: Any) -> Any:
        if self.broken is not None:
            raise type(self.broken)(*self.broken.args)
        enc = channel.Encoder(lambda obj: _ref(obj), 1 << 40)
        header = {"op": op, "target": target, **fields,
                  "args": [enc.encode(a) for a in args],
                  "kwargs": {str(k): enc.encode(v) for k, v in (kwargs or {}).items()}}
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise channel.ChannelTimeout()
            self.sock.settimeout(left)
            channel.send_message(self.sock, header, enc.blobs)
            reply, blobs = channel.recv_message(self.sock, left, self.max_bytes)
        except (channel.ChannelTimeout, TimeoutError):
            self.broken = TestTimeout(f"the submission did not answer within {self.timeout_s:g} s "
                                      "(an infinite loop, or too slow)")
        except channel.TooLarge as exc:
            self.broken = Refused(f"the answer is too large ({exc}); return less data")
        except (channel.ChannelClosed, OSError, ValueError) as exc:
            self.broken = Crashed(f"the submission's process ended during the test ({exc})")
        if self.broken is not None:
            raise self.broken
        if reply.get("ok"):
            return channel.decode(reply["value"], blobs, self._handle)
        if "missing" in reply:
            raise MissingName(reply["missing"])
        if "refused" in reply:
            raise Refused(reply["refused"])
        raise remote_error(str(reply.get("exc_type")), str(reply.get("message", "")),
                           str(reply.get("traceback", "")))

    def _handle(self, node: dict[str, Any]) -> "Remote":
        if node["t"] != "handle":
            raise ValueError("the submission sent a reference it may not send")
        kind = str(node.get("type", "object"))
        if node.get("name"):
            short = kind.rsplit(".", 1)[-1]
            kind = f"{'class' if short in ('type', 'ABCMeta') else short} {node['name']}"
        return Remote(self, int(node["id"]), kind, bool(node.get("callable")))


def _ref(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Remote):
        return {"t": "ref", "id": object.__getattribute__(obj, "_id")}
    raise channel.NotData(f"a test cannot send a {type(obj).__name__} to the submission; "
                          "send data (numbers, strings, lists, dicts, arrays, DataFrames)")


class Remote:
    """An object that lives in the child; every use is a request."""

    __slots__ = ("_conn", "_id", "_type", "_callable")

    def __init__(self, conn: Connection, key: int | None, type_name: str, is_callable: bool):
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_id", key)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_callable", is_callable)

    def _req(self, op: str, *args: Any, **fields: Any) -> Any:
        return self._conn.request(op, target=self._id, args=args, **fields)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._req("getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._req("setattr", value, name=name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._conn.request("call", target=self._id, args=args, kwargs=kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self._req("getitem", key)

    def __len__(self) -> int:
        n = self._req("len")
        if not isinstance(n, int):
            raise TypeError("len() of a submission object did not give an int")
        return n

    def __iter__(self) -> Any:
        items = self._req("iter")
        return iter(items if isinstance(items, list) else [])

    def __contains__(self, item: Any) -> bool:
        return self._req("contains", item) is True

    def __bool__(self) -> bool:
        return self._req("bool") is True

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return hash((id(self._conn), self._id))

    def __repr__(self) -> str:
        kind = self._type
        return f"<{kind} in the submission>" if " " in kind else f"<{kind} object in the submission>"


class Namespace(Remote):
    """``sub``: the notebook's top-level names."""

    __slots__ = ()

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn, None, "namespace", False)

    def __repr__(self) -> str:
        return "<the submission's namespace>"
