"""busybox's shell, ``sh``: a small POSIX subset — ``;``/newlines, ``&&``,
``||``, ``!``, ``&``, ``while``/``until``/``for``/``if``, ``{ }``/``( )``,
``break``/``continue``, quoting, ``$VAR``/``${VAR:-x}``/``$?``/``$1``,
``$(cmd)``, ``$((arith))``, ``VAR=x`` assignments, ``>``/``>>``/``2>&1``
redirections; every command runs through ``ctx.run``. A bare ``sh`` reads
its commands from stdin, prompting when stdin is a terminal
(``kubectl exec -it POD -- sh``). Pipes are refused."""
from __future__ import annotations

import ast
import asyncio
import math
import operator
import re
from dataclasses import dataclass
from typing import Awaitable, Callable

from .base import SIGTERM_EXIT, Context, SubContext, lookup, program, terminating, to_bytes
from .busybox import path_status, file_error


class ShellSyntaxError(Exception):
    """A script the shell cannot parse (sh exits 2)."""


@dataclass
class _Tok:
    kind: str            # "word" | "op" | "redir"
    text: str
    fd: int = 1
    target: str = ""     # a dup redirection's fd ("1" in 2>&1)


_META = frozenset(" \t\n;&|()<>")
_REDIR_RE = re.compile(r"(\d?)(>>|>&|&>|>|<)")
_ASSIGN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _squote_end(src: str, i: int) -> int:
    """Index after the ' closing the one at ``i``."""
    j = src.find("'", i + 1)
    if j < 0:
        raise ShellSyntaxError("unterminated quoted string")
    return j + 1


def _dquote_end(src: str, i: int) -> int:
    """Index after the " closing the one at ``i``."""
    i += 1
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif src.startswith("$(", i):
            i = _paren_end(src, i + 1) + 1
        else:
            i += 1
    raise ShellSyntaxError("unterminated quoted string")


def _paren_end(src: str, i: int) -> int:
    """Index of the ) matching the ( at ``i``."""
    depth = 0
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            i = _squote_end(src, i)
            continue
        if c == '"':
            i = _dquote_end(src, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellSyntaxError("missing ')'")


def _word_end(src: str, i: int) -> int:
    while i < len(src):
        c = src[i]
        if c in _META:
            break
        if c == "\\":
            i += 2
        elif c == "'":
            i = _squote_end(src, i)
        elif c == '"':
            i = _dquote_end(src, i)
        elif src.startswith("$(", i):
            i = _paren_end(src, i + 1) + 1
        elif src.startswith("${", i):
            j = src.find("}", i)
            if j < 0:
                raise ShellSyntaxError("missing '}'")
            i = j + 1
        else:
            i += 1
    return min(i, len(src))


def _lex(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t\r":
            i += 1
        elif c == "\\" and src.startswith("\\\n", i):
            i += 2
        elif c == "#":
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif (m := _REDIR_RE.match(src, i)) is not None:
            fd_text, op = m.group(1), m.group(2)
            i = m.end()
            if op == ">&":
                d = re.match(r"\d|-", src[i:])
                if d is None:
                    raise ShellSyntaxError("bad fd number")
                toks.append(_Tok("redir", "dup", int(fd_text or 1), d.group()))
                i += 1
            else:
                toks.append(_Tok("redir", op, int(fd_text or (0 if op == "<" else 1))))
        elif src.startswith(("&&", "||"), i):
            toks.append(_Tok("op", src[i:i + 2]))
            i += 2
        elif c in ";\n&|()":
            toks.append(_Tok("op", c))
            i += 1
        else:
            j = _word_end(src, i)
            toks.append(_Tok("word", src[i:j]))
            i = j
    return toks


@dataclass
class _Redir:
    fd: int          # 1, 2, 0; -1 for &> (both)
    op: str          # ">", ">>", "<", "dup"
    target: str      # a raw word, or the fd for "dup"


@dataclass
class _Simple:
    assigns: list[tuple[str, str]]
    words: list[str]
    redirs: list[_Redir]


@dataclass
class _Seq:
    items: list[tuple[object, bool]]   # (node, in the background)


@dataclass
class _AndOr:
    first: object
    rest: list[tuple[str, object]]


@dataclass
class _Not:
    node: object


@dataclass
class _Loop:
    cond: object
    body: object
    until: bool


@dataclass
class _For:
    var: str
    items: list[str] | None
    body: object


@dataclass
class _If:
    branches: list[tuple[object, object]]
    orelse: object | None


@dataclass
class _Group:
    body: object
    subshell: bool


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def at_word(self, *texts: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "word" and t.text in texts

    def at_op(self, *texts: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "op" and t.text in texts

    def expect_word(self, text: str) -> None:
        if not self.at_word(text):
            t = self.peek()
            raise ShellSyntaxError(f"unexpected {t.text!r}, expecting {text!r}" if t
                                   else f"unexpected end of file (expecting {text!r})")
        self.pos += 1

    def skip_newlines(self) -> None:
        while self.at_op("\n"):
            self.pos += 1

    def parse(self) -> _Seq:
        seq = self.parse_list(frozenset())
        if self.peek() is not None:
            raise ShellSyntaxError(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return seq

    def parse_list(self, stops: frozenset[str]) -> _Seq:
        items: list[tuple[object, bool]] = []
        while True:
            while self.at_op("\n", ";"):
                self.pos += 1
            t = self.peek()
            if t is None or self.at_op(")") or (t.kind == "word" and t.text in stops):
                return _Seq(items)
            node = self.parse_and_or()
            background = self.at_op("&")
            if self.at_op("&", ";", "\n"):
                self.pos += 1
            elif not (self.peek() is None or self.at_op(")") or self.at_word(*stops)):
                raise ShellSyntaxError(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
            items.append((node, background))

    def parse_and_or(self) -> object:
        first = self.parse_pipeline()
        rest: list[tuple[str, object]] = []
        while self.at_op("&&", "||"):
            op = self.peek().text  # type: ignore[union-attr]
            self.pos += 1
            self.skip_newlines()
            rest.append((op, self.parse_pipeline()))
        return _AndOr(first, rest) if rest else first

    def parse_pipeline(self) -> object:
        negate = self.at_word("!")
        if negate:
            self.pos += 1
        node = self.parse_command()
        if self.at_op("|"):
            raise ShellSyntaxError("pipes are not supported")
        return _Not(node) if negate else node

    def parse_command(self) -> object:
        t = self.peek()
        if t is None:
            raise ShellSyntaxError("unexpected end of file")
        if t.kind == "op" and t.text == "(":
            self.pos += 1
            body = self.parse_list(frozenset())
            if not self.at_op(")"):
                raise ShellSyntaxError("missing ')'")
            self.pos += 1
            return _Group(body, True)
        if t.kind == "word":
            if t.text in ("while", "until"):
                self.pos += 1
                cond = self.parse_list(frozenset({"do"}))
                self.expect_word("do")
                body = self.parse_list(frozenset({"done"}))
                self.expect_word("done")
                return _Loop(cond, body, t.text == "until")
            if t.text == "for":
                return self.parse_for()
            if t.text == "if":
                return self.parse_if()
            if t.text == "{":
                self.pos += 1
                body = self.parse_list(frozenset({"}"}))
                self.expect_word("}")
                return _Group(body, False)
        return self.parse_simple()

    def parse_for(self) -> _For:
        self.pos += 1
        t = self.peek()
        if t is None or t.kind != "word" or not _NAME_RE.fullmatch(t.text):
            raise ShellSyntaxError("bad for loop variable")
        self.pos += 1
        items: list[str] | None = None
        self.skip_newlines()
        if self.at_word("in"):
            self.pos += 1
            items = []
            while (w := self.peek()) is not None and w.kind == "word":
                items.append(w.text)
                self.pos += 1
        if self.at_op(";", "\n"):
            self.pos += 1
        self.skip_newlines()
        self.expect_word("do")
        body = self.parse_list(frozenset({"done"}))
        self.expect_word("done")
        return _For(t.text, items, body)

    def parse_if(self) -> _If:
        branches: list[tuple[object, object]] = []
        orelse = None
        self.pos += 1
        while True:
            cond = self.parse_list(frozenset({"then"}))
            self.expect_word("then")
            body = self.parse_list(frozenset({"elif", "else", "fi"}))
            branches.append((cond, body))
            if self.at_word("elif"):
                self.pos += 1
                continue
            if self.at_word("else"):
                self.pos += 1
                orelse = self.parse_list(frozenset({"fi"}))
            self.expect_word("fi")
            return _If(branches, orelse)

    def parse_simple(self) -> _Simple:
        node = _Simple([], [], [])
        while (t := self.peek()) is not None and t.kind in ("word", "redir"):
            self.pos += 1
            if t.kind == "redir":
                if t.text == "dup":
                    node.redirs.append(_Redir(t.fd, "dup", t.target))
                    continue
                target = self.peek()
                if target is None or target.kind != "word":
                    raise ShellSyntaxError("missing redirection target")
                self.pos += 1
                op = ">" if t.text == "&>" else t.text
                node.redirs.append(_Redir(-1 if t.text == "&>" else t.fd, op, target.text))
            elif not node.words and _ASSIGN_RE.match(t.text):
                name, value = t.text.split("=", 1)
                node.assigns.append((name, value))
            else:
                node.words.append(t.text)
        if not (node.words or node.assigns or node.redirs):
            t = self.peek()
            raise ShellSyntaxError(f"unexpected {t.text!r}" if t else "unexpected end of file")
        return node


def parse_script(src: str) -> _Seq:
    """Parse a shell script (ShellSyntaxError when it is not one this shell runs)."""
    return _Parser(_lex(src)).parse()


# ------------------------------------------------------------------ sh: running
PS1, PS2 = "/ # ", "> "   # busybox's prompts for root


def _incomplete(e: ShellSyntaxError) -> bool:
    """A parse error only more lines can fix (an open quote, loop or group)."""
    text = str(e)
    return "end of file" in text or text.startswith(("unterminated", "missing"))


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _LoopControl(Exception):
    def __init__(self, levels: int, brk: bool) -> None:
        super().__init__(levels)
        self.levels = levels
        self.brk = brk


Sink = Callable[[bytes], None]


class Shell:
    """One shell process: its variables (``env`` holds the exported ones and is
    what its commands see), positional parameters, last status and jobs."""

    def __init__(self, ctx: Context, arg0: str = "sh", params: list[str] | None = None, *,
                 env: dict[str, str] | None = None, local: dict[str, str] | None = None) -> None:
        self.ctx = ctx
        self.arg0 = arg0
        self.params = list(params or [])
        self.env = dict(ctx.env) if env is None else env
        self.vars: dict[str, str] = {} if local is None else local
        self.status = 0
        self.jobs: list[asyncio.Task[int]] = []
        self._substituted: int | None = None   # the status of the current command's last $(...)

    def child(self, ctx: Context | None = None) -> "Shell":
        """A subshell: a copy of this shell's state that cannot change it."""
        sub = Shell(ctx or self.ctx, self.arg0, self.params, env=dict(self.env), local=dict(self.vars))
        sub.status = self.status
        return sub

    # ------------------------------------------------------------ entry
    async def run_script(self, src: str) -> int:
        try:
            tree = parse_script(src)
        except ShellSyntaxError as e:
            self.ctx.stderr(f"sh: syntax error: {e}\n")
            return 2
        try:
            return await self.execute(tree)
        except _Exit as e:
            return e.code
        except _LoopControl:
            return self.status
        finally:
            for job in self.jobs:
                job.cancel()
            if self.jobs:
                await asyncio.gather(*self.jobs, return_exceptions=True)

    async def interactive(self) -> int:
        """Read commands from stdin until end of file or ``exit``, running each
        once it parses whole (a ``while`` spans lines); prompt on a terminal."""
        pending = ""
        while True:
            if self.ctx.tty:
                self.ctx.stderr(PS2 if pending else PS1)
            line = await self.ctx.stdin.readline()
            if not line:
                if self.ctx.tty:
                    self.ctx.stderr("\n")
                break
            pending += line.decode(errors="replace")
            try:
                tree = parse_script(pending)
            except ShellSyntaxError as e:
                if not _incomplete(e):
                    self.ctx.stderr(f"sh: syntax error: {e}\n")
                    self.status, pending = 2, ""
                continue
            pending = ""
            try:
                self.status = await self.execute(tree)
            except _Exit as e:
                return e.code
            except _LoopControl:
                pass
        return self.status

    # ------------------------------------------------------------ variables
    def lookup(self, name: str) -> str | None:
        if name in self.vars:
            return self.vars[name]
        return self.env.get(name)

    def assign(self, name: str, value: str) -> None:
        if name in self.env:
            self.env[name] = value
        else:
            self.vars[name] = value

    def special(self, name: str) -> str | None:
        if name == "?":
            return str(self.status)
        if name == "$":
            return "1"
        if name == "!":
            return str(100 + len(self.jobs)) if self.jobs else ""
        if name == "#":
            return str(len(self.params))
        if name in ("@", "*"):
            return " ".join(self.params)
        if name == "-":
            return ""
        if name.isdigit():
            k = int(name)
            if k == 0:
                return self.arg0
            return self.params[k - 1] if k <= len(self.params) else ""
        return self.lookup(name)

    # ------------------------------------------------------------ expansion
    async def expand(self, raw: str) -> list[str]:
        """A word's fields after parameter, command and arithmetic expansion,
        quote removal and field splitting (no globbing)."""
        if raw == '"$@"':
            return list(self.params)
        fields: list[str] = []
        cur: str | None = None
        for text, splittable in await self._pieces(raw):
            if not splittable:
                cur = (cur or "") + text
                continue
            for ch in text:
                if ch in " \t\n":
                    if cur is not None:
                        fields.append(cur)
                        cur = None
                else:
                    cur = (cur or "") + ch
        if cur is not None:
            fields.append(cur)
        return fields

    async def expand_one(self, raw: str) -> str:
        """A word expanded without field splitting (assignments, redirection targets)."""
        return "".join(text for text, _ in await self._pieces(raw))

    async def _pieces(self, raw: str) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        lit: list[str] = []

        def flush() -> None:
            if lit:
                out.append(("".join(lit), False))
                lit.clear()

        i, n = 0, len(raw)
        while i < n:
            c = raw[i]
            if c == "'":
                j = _squote_end(raw, i)
                flush()
                out.append((raw[i + 1:j - 1], False))
                i = j
            elif c == '"':
                j = _dquote_end(raw, i)
                flush()
                out.append((await self._dquoted(raw[i + 1:j - 1]), False))
                i = j
            elif c == "~" and i == 0 and (n == 1 or raw[1] == "/"):
                lit.append(self.lookup("HOME") or "~")
                i += 1
            elif c == "\\":
                lit.append(raw[i + 1] if i + 1 < n else "\\")
                i += 2
            elif c == "$":
                text, j = await self._dollar(raw, i)
                if j == i + 1 and text == "$":
                    lit.append("$")
                else:
                    flush()
                    out.append((text, True))
                i = j
            else:
                lit.append(c)
                i += 1
        flush()
        return out

    async def _dquoted(self, inner: str) -> str:
        out: list[str] = []
        i = 0
        while i < len(inner):
            c = inner[i]
            if c == "\\" and i + 1 < len(inner) and inner[i + 1] in '$`"\\\n':
                if inner[i + 1] != "\n":
                    out.append(inner[i + 1])
                i += 2
            elif c == "$":
                text, i = await self._dollar(inner, i)
                out.append(text)
            else:
                out.append(c)
                i += 1
        return "".join(out)

    async def _dollar(self, raw: str, i: int) -> tuple[str, int]:
        """Expand the ``$...`` at ``i``: (text, index after it)."""
        if raw.startswith("$((", i):
            j = _paren_end(raw, i + 1)
            if raw[j - 1] == ")":
                return str(self.arith(raw[i + 3:j - 1])), j + 1
        if raw.startswith("$(", i):
            j = _paren_end(raw, i + 1)
            return await self.substitute(raw[i + 2:j]), j + 1
        if raw.startswith("${", i):
            j = raw.find("}", i)
            if j < 0:
                raise ShellSyntaxError("missing '}'")
            return await self._braced(raw[i + 2:j]), j + 1
        rest = raw[i + 1:]
        m = _NAME_RE.match(rest)
        if m:
            return self.lookup(m.group()) or "", i + 1 + m.end()
        if rest[:1] and (rest[0] in "?$!#@*-" or rest[0].isdigit()):
            return self.special(rest[0]) or "", i + 2
        return "$", i + 1

    async def _braced(self, body: str) -> str:
        if body.startswith("#") and len(body) > 1:
            return str(len(self.special(body[1:]) or ""))
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*|\d+|[?$!#@*-])(:?[-=+?])?(.*)", body, re.S)
        if m is None:
            raise _Exit(self._fail(f"{body}: bad substitution", 2))
        name, op, word = m.group(1), m.group(2), m.group(3)
        value = self.special(name)
        if op is None:
            return value or ""
        unset = value is None or (op.startswith(":") and value == "")
        kind = op[-1]
        if kind == "-":
            return await self.expand_one(word) if unset else value  # type: ignore[return-value]
        if kind == "=":
            if unset:
                value = await self.expand_one(word)
                self.assign(name, value)
            return value or ""
        if kind == "+":
            return "" if unset else await self.expand_one(word)
        if unset:  # "?"
            raise _Exit(self._fail(f"{name}: {await self.expand_one(word) or 'parameter not set'}", 1))
        return value or ""

    def _fail(self, message: str, code: int) -> int:
        self.ctx.stderr(f"sh: {message}\n")
        return code

    def arith(self, expr: str) -> int:
        """``$((expr))``: integers, + - * / % ** << >> & | ^, comparisons, && || !."""
        expr = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: self.lookup(m.group(1)) or "0", expr)
        expr = re.sub(r"\$(\d|[?#])", lambda m: self.special(m.group(1)) or "0", expr)
        py = expr.replace("&&", " and ").replace("||", " or ")
        py = re.sub(r"!(?!=)", " not ", py)
        try:
            return _arith_eval(ast.parse(py.strip() or "0", mode="eval").body, self)
        except (SyntaxError, ValueError, ZeroDivisionError, TypeError) as e:
            reason = "divide by zero" if isinstance(e, ZeroDivisionError) else "arithmetic syntax error"
            raise _Exit(self._fail(f"{reason}: {expr.strip()}", 2)) from None

    async def substitute(self, src: str) -> str:
        """``$(cmd)``: run ``cmd`` in a subshell, its stdout without trailing newlines."""
        buf = bytearray()
        sub = self.child(SubContext(self.ctx, stdout=buf.extend))
        self._substituted = await sub.run_script(src)
        return buf.decode(errors="replace").rstrip("\n")

    # ------------------------------------------------------------ execution
    async def execute(self, node: object) -> int:
        if isinstance(node, _Simple):
            status = await self._simple(node)
        elif isinstance(node, _Seq):
            status = self.status
            for item, background in node.items:
                if background:
                    self.jobs.append(asyncio.ensure_future(self._background(item)))
                    status = 0
                else:
                    status = await self.execute(item)
                self.status = status
        elif isinstance(node, _AndOr):
            status = await self.execute(node.first)
            for op, item in node.rest:
                if (op == "&&") == (status == 0):
                    self.status = status
                    status = await self.execute(item)
        elif isinstance(node, _Not):
            status = 0 if await self.execute(node.node) else 1
        elif isinstance(node, _Loop):
            status = await self._loop(node)
        elif isinstance(node, _For):
            status = await self._for(node)
        elif isinstance(node, _If):
            status = 0
            for cond, body in node.branches:
                if await self.execute(cond) == 0:
                    status = await self.execute(body)
                    break
            else:
                if node.orelse is not None:
                    status = await self.execute(node.orelse)
        elif isinstance(node, _Group):
            if node.subshell:
                sub = self.child()
                try:
                    status = await sub.execute(node.body)
                except _Exit as e:
                    status = e.code
            else:
                status = await self.execute(node.body)
        else:
            raise TypeError(f"not a shell node: {node!r}")
        self.status = status
        return status

    async def _background(self, node: object) -> int:
        try:
            return await self.child().execute(node)
        except (_Exit, _LoopControl) as e:
            return getattr(e, "code", 0)

    async def _iteration(self, body: object) -> tuple[int, bool]:
        """Run one loop body: (status, whether the loop goes on)."""
        await asyncio.sleep(0)   # a loop without sleeps must not starve the other containers
        if terminating():
            raise _Exit(self.status)
        try:
            return await self.execute(body), True
        except _LoopControl as c:
            if c.levels > 1:
                c.levels -= 1
                raise
            return self.status, not c.brk

    async def _loop(self, node: _Loop) -> int:
        status = 0
        while True:
            await asyncio.sleep(0)
            if (await self.execute(node.cond) == 0) == node.until:
                return status
            status, go_on = await self._iteration(node.body)
            if not go_on:
                return status

    async def _for(self, node: _For) -> int:
        if node.items is None:
            values = list(self.params)
        else:
            values = [f for raw in node.items for f in await self.expand(raw)]
        status = 0
        for value in values:
            self.assign(node.var, value)
            status, go_on = await self._iteration(node.body)
            if not go_on:
                break
        return status

    async def _simple(self, node: _Simple) -> int:
        self._substituted: int | None = None
        argv: list[str] = []
        for raw in node.words:
            argv.extend(await self.expand(raw))
        prefix = [(name, await self.expand_one(raw)) for name, raw in node.assigns]
        out, err = await self._redirect(node.redirs)
        if out is None:   # a redirection failed (reported)
            return 1
        if not argv:
            for name, value in prefix:
                self.assign(name, value)
            return self._substituted or 0   # as its last $(...) left it
        env = dict(self.env)
        env.update(prefix)
        sub = SubContext(self.ctx, env=env, stdout=out, stderr=err)
        builtin = _BUILTINS.get(argv[0])
        if builtin is not None:
            status = await builtin(self, sub, argv[1:])
        elif lookup(argv[0]) is None:
            sub.stderr(f"sh: {argv[0]}: not found\n")
            status = 127
        else:
            status = await sub.run(argv)
        self.status = status
        if terminating():   # the command handled the termination: so does its shell
            raise _Exit(status)
        return status

    async def _redirect(self, redirs: list[_Redir]) -> tuple[Sink | None, Sink]:
        out: Sink = self.ctx.stdout
        err: Sink = self.ctx.stderr
        for r in redirs:
            if r.op == "dup":
                if r.target == "-":
                    continue
                src = err if r.target == "2" else out
                if r.fd == 2:
                    err = src
                elif r.fd == 1:
                    out = src
                continue
            path = await self.expand_one(r.target)
            if r.op == "<":
                if path != "/dev/null" and not path_status(self.ctx, path)[0]:
                    self.ctx.stderr(f"sh: can't open '{path}': No such file or directory\n")
                    return None, err
                continue
            try:
                sink = self._file_sink(path, append=r.op == ">>")
            except OSError as e:
                self.ctx.stderr(f"sh: can't create {path}: {file_error(e)}\n")
                return None, err
            if r.fd in (1, -1):
                out = sink
            if r.fd in (2, -1):
                err = sink
        return out, err

    def _file_sink(self, path: str, *, append: bool) -> Sink:
        if path == "/dev/null":
            return lambda data: None
        if path in ("/dev/stdout", "/proc/self/fd/1"):
            return self.ctx.stdout
        if path in ("/dev/stderr", "/proc/self/fd/2"):
            return self.ctx.stderr
        ctx = self.ctx
        if not append:
            ctx.write_file(path, b"")
        else:
            try:
                ctx.read_file(path)
            except FileNotFoundError:
                ctx.write_file(path, b"")

        def write(data: bytes) -> None:
            try:
                ctx.write_file(path, ctx.read_file(path) + to_bytes(data))
            except OSError:
                pass  # the file went away under the command: its output is lost
        return write


_ARITH_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Mod: lambda a, b: int(math.fmod(a, b)) if b else 1 // 0,
              ast.Div: lambda a, b: int(a / b) if b else 1 // 0, ast.FloorDiv: lambda a, b: int(a / b) if b else 1 // 0,
              ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
              ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor}
_ARITH_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
              ast.Eq: operator.eq, ast.NotEq: operator.ne}


def _arith_eval(node: ast.AST, shell: Shell) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return int(node.value)
    if isinstance(node, ast.Name):
        value = (shell.lookup(node.id) or "0").strip()
        return int(value) if re.fullmatch(r"-?\d+", value) else 0
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH_BIN:
        return int(_ARITH_BIN[type(node.op)](_arith_eval(node.left, shell), _arith_eval(node.right, shell)))
    if isinstance(node, ast.UnaryOp):
        v = _arith_eval(node.operand, shell)
        if isinstance(node.op, ast.USub):
            return -v
        if isinstance(node.op, ast.UAdd):
            return v
        if isinstance(node.op, ast.Not):
            return int(not v)
        if isinstance(node.op, ast.Invert):
            return ~v
    if isinstance(node, ast.BoolOp):
        values = [_arith_eval(v, shell) for v in node.values]
        return int(all(values) if isinstance(node.op, ast.And) else any(values))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _ARITH_CMP:
        return int(_ARITH_CMP[type(node.ops[0])](_arith_eval(node.left, shell),
                                                  _arith_eval(node.comparators[0], shell)))
    raise ValueError("unsupported arithmetic")


# ------------------------------------------------------------------ sh: builtins
Builtin = Callable[[Shell, Context, list[str]], Awaitable[int]]


async def _b_colon(sh: Shell, ctx: Context, args: list[str]) -> int:
    return 0


async def _b_exit(sh: Shell, ctx: Context, args: list[str]) -> int:
    if args and not re.fullmatch(r"-?\d+", args[0]):
        ctx.stderr(f"sh: exit: Illegal number: {args[0]}\n")
        raise _Exit(2)
    raise _Exit(int(args[0]) & 0xFF if args else sh.status)


async def _b_export(sh: Shell, ctx: Context, args: list[str]) -> int:
    for a in (a for a in args if a != "-p"):
        name, eq, value = a.partition("=")
        if not eq:
            value = sh.vars.pop(name, sh.env.get(name, ""))
        sh.vars.pop(name, None)
        sh.env[name] = value
    if not args or args == ["-p"]:
        ctx.stdout("".join(f"export {k}='{v}'\n" for k, v in sh.env.items()))
    return 0


async def _b_unset(sh: Shell, ctx: Context, args: list[str]) -> int:
    for name in (a for a in args if not a.startswith("-")):
        sh.vars.pop(name, None)
        sh.env.pop(name, None)
    return 0


async def _b_loop(sh: Shell, ctx: Context, args: list[str], brk: bool) -> int:
    levels = int(args[0]) if args and args[0].isdigit() else 1
    raise _LoopControl(max(1, levels), brk)


async def _b_break(sh: Shell, ctx: Context, args: list[str]) -> int:
    return await _b_loop(sh, ctx, args, True)


async def _b_continue(sh: Shell, ctx: Context, args: list[str]) -> int:
    return await _b_loop(sh, ctx, args, False)


async def _b_wait(sh: Shell, ctx: Context, args: list[str]) -> int:
    jobs, sh.jobs = sh.jobs, []
    status = 0
    for job in jobs:
        try:
            status = await job
        except asyncio.CancelledError:
            if terminating():
                raise
            status = SIGTERM_EXIT
    return status


async def _b_set(sh: Shell, ctx: Context, args: list[str]) -> int:
    if "--" in args:
        sh.params = args[args.index("--") + 1:]
    elif args and not args[0].startswith(("-", "+")):
        sh.params = list(args)
    return 0   # -e, -x, -u... are accepted and not honoured


async def _b_shift(sh: Shell, ctx: Context, args: list[str]) -> int:
    n = int(args[0]) if args and args[0].isdigit() else 1
    if n > len(sh.params):
        return 1
    sh.params = sh.params[n:]
    return 0


async def _b_cd(sh: Shell, ctx: Context, args: list[str]) -> int:
    return 0   # a container's programs resolve paths from its root: nothing to change


async def _b_exec(sh: Shell, ctx: Context, args: list[str]) -> int:
    if not args:
        return 0
    if lookup(args[0]) is None:
        ctx.stderr(f"sh: exec: {args[0]}: not found\n")
        raise _Exit(127)
    raise _Exit(await ctx.run(args))


async def _b_eval(sh: Shell, ctx: Context, args: list[str]) -> int:
    try:
        tree = parse_script(" ".join(args))
    except ShellSyntaxError as e:
        ctx.stderr(f"sh: syntax error: {e}\n")
        return 2
    return await sh.execute(tree)


async def _b_source(sh: Shell, ctx: Context, args: list[str]) -> int:
    if not args:
        return 0
    try:
        src = ctx.read_file(args[0]).decode(errors="replace")
    except OSError:
        ctx.stderr(f"sh: .: can't open '{args[0]}'\n")
        return 2
    return await _b_eval(sh, ctx, [src])


async def _b_read(sh: Shell, ctx: Context, args: list[str]) -> int:
    """``read [-r] NAME...``: one line of stdin split over the names (the last
    takes the rest; REPLY without names); 1 at end of file."""
    names = [a for a in args if not a.startswith("-")]
    line = (await ctx.stdin.readline()).decode(errors="replace")
    if not line:
        return 1
    text = line.rstrip("\n")
    if "-r" not in args:
        text = re.sub(r"\\(.)", r"\1", text)
    fields = text.split(None, len(names) - 1) if names else [text]
    for i, name in enumerate(names or ["REPLY"]):
        sh.assign(name, fields[i] if i < len(fields) else "")
    return 0 if line.endswith("\n") else 1


_BUILTINS: dict[str, Builtin] = {
    ":": _b_colon, "exit": _b_exit, "export": _b_export, "unset": _b_unset,
    "break": _b_break, "continue": _b_continue, "wait": _b_wait, "set": _b_set,
    "shift": _b_shift, "cd": _b_cd, "exec": _b_exec, "eval": _b_eval,
    ".": _b_source, "source": _b_source, "read": _b_read, "trap": _b_colon,
    "readonly": _b_export, "local": _b_export,
}


@program("sh", "ash", "bash")
async def sh(ctx: Context, argv: list[str]) -> int:
    """``sh -c SCRIPT [ARG0 [ARGS...]]``, ``sh FILE [ARGS...]``, or a bare ``sh``
    (``-i``, ``-s``) reading commands from stdin (at once done without one)."""
    command = False
    while argv and argv[0].startswith("-") and argv[0] != "-":
        flag = argv.pop(0)
        if flag == "--":
            break
        command = command or "c" in flag
    if command:
        if not argv:
            ctx.stderr("sh: -c requires an argument\n")
            return 2
        script, arg0, params = argv[0], (argv[1] if len(argv) > 1 else "sh"), argv[2:]
    elif argv:
        try:
            script = ctx.read_file(argv[0]).decode(errors="replace")
        except OSError:
            ctx.stderr(f"sh: can't open '{argv[0]}': No such file or directory\n")
            return 2
        arg0, params = argv[0], argv[1:]
    else:
        return await Shell(ctx, "sh", argv).interactive()
    return await Shell(ctx, arg0, params).run_script(script)
