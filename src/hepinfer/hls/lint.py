"""Firmware lint: what Vitis HLS could not synthesise as written, found with libclang.

The lint parses a project's top file (or kernel headers) as synthesis sees it
(`-D__SYNTHESIS__`, so `#ifndef __SYNTHESIS__` regions and the C-simulation weight loader
are gone) and walks every function reachable from the top function: calls, function
templates (their generic body), and the methods of the project's own class templates that
a walked function names. In those bodies it reports

    float        a `float`/`double` type, value, literal or `to_double()`/`to_float()`
    cmath        a call of a <cmath> / <math.h> function
    heap         new / delete / malloc / free
    container    an STL container or string
    io           printf / iostreams / FILE
    recursion    a function that calls itself, directly or through others
    unbounded    a `while` / `do` loop, or a `for` loop whose bound is not a constant

The ap_types headers are trusted (Xilinx's synthesise); calls into them are checked only
through the types they return. Needs the `libclang` wheel (`pip install libclang`).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer.errors import HlsError

FLOAT_KINDS = frozenset({"FLOAT", "DOUBLE", "LONGDOUBLE", "HALF", "FLOAT128", "FLOAT16"})
MATH = frozenset(
    [
        "exp",
        "exp2",
        "expm1",
        "log",
        "log2",
        "log10",
        "log1p",
        "pow",
        "sqrt",
        "cbrt",
        "hypot",
        "ldexp",
        "frexp",
        "modf",
        "trunc",
        "floor",
        "ceil",
        "round",
        "lround",
        "llround",
        "rint",
        "nearbyint",
        "fabs",
        "fmod",
        "remainder",
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "atan2",
        "sinh",
        "cosh",
        "tanh",
        "asinh",
        "acosh",
        "atanh",
        "erf",
        "erfc",
        "tgamma",
        "lgamma",
        "fma",
        "fmax",
        "fmin",
        "isnan",
        "isinf",
        "isfinite",
        "signbit",
        "copysign",
        "nan",
    ]
)
HEAP = frozenset({"malloc", "calloc", "realloc", "free", "aligned_alloc"})
IO = frozenset(
    [
        "printf",
        "fprintf",
        "sprintf",
        "snprintf",
        "puts",
        "fputs",
        "putchar",
        "fputc",
        "scanf",
        "fscanf",
        "sscanf",
        "fopen",
        "fclose",
        "fread",
        "fwrite",
        "fgets",
        "fgetc",
        "getchar",
        "getline",
        "perror",
        "fflush",
        "cout",
        "cerr",
        "clog",
        "cin",
        "ifstream",
        "ofstream",
        "fstream",
        "ostream",
        "istream",
        "FILE",
    ]
)
CONTAINERS = re.compile(
    r"\bstd::(?:__\w+::)?(vector|list|forward_list|deque|map|multimap|set|multiset|"
    r"unordered_\w+|basic_string|string|queue|priority_queue|stack|function|shared_ptr|"
    r"unique_ptr)\b"
)
STREAMS = re.compile(r"\bstd::(?:__\w+::)?(basic_\w*stream\w*|basic_ios|ios_base)\b")
SKIPPED_HEADERS = frozenset({"hepinfer_weights.h"})  #: C simulation only (behind the guard)


@dataclass(frozen=True)
class Finding:
    """One construct on the synthesis path that Vitis HLS cannot (or should not) build."""

    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.rule}] {self.message}"


def _cindex() -> Any:
    try:
        import clang.cindex as ci
    except ImportError as exc:
        msg = "the firmware lint needs libclang: pip install libclang (or hepinfer[test])"
        raise HlsError(msg) from exc
    return ci


@functools.cache
def system_includes() -> tuple[str, ...]:
    """The C++ compiler's system include folders (the libclang wheel ships none)."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        return ()
    proc = subprocess.run(
        [cxx, "-x", "c++", "-E", "-v", "-"], input="", capture_output=True, text=True, check=False
    )
    lines = proc.stderr.splitlines()
    try:
        start = lines.index("#include <...> search starts here:") + 1
        end = lines.index("End of search list.", start)
    except ValueError:
        return ()
    return tuple(f"-isystem{line.strip()}" for line in lines[start:end])


class _Walker:
    """The walk over one translation unit from its roots."""

    def __init__(self, ci: Any, own: Sequence[Path]) -> None:
        self.ci = ci
        self.kinds = ci.CursorKind
        self.own = tuple(str(p.resolve()) + "/" for p in own)
        self.findings: set[Finding] = set()
        self.edges: dict[str, set[str]] = {}
        self.names: dict[str, Any] = {}

    # ---------------------------------------------------------------- where things live
    def is_own(self, cursor: Any) -> bool:
        f = cursor.location.file
        return f is not None and str(Path(f.name).resolve()).startswith(self.own)

    def key(self, fn: Any) -> str:
        return f"{fn.location.file}:{fn.location.line}:{fn.spelling}"

    def report(self, cursor: Any, rule: str, message: str) -> None:
        f = cursor.location.file
        self.findings.add(Finding(f.name if f else "?", cursor.location.line, rule, message))

    # ---------------------------------------------------------------- resolving callees
    def definition(self, decl: Any) -> Any:
        """The body to walk for a referenced function: its template's, or its own."""
        pattern = self.ci.conf.lib.clang_getSpecializedCursorTemplate(decl)
        if pattern is not None and not pattern.kind.is_invalid():
            decl = pattern
        found = decl.get_definition()
        return found if found is not None else decl

    def referenced(self, cursor: Any) -> Iterator[Any]:
        """Declarations a reference names (every candidate of an overloaded name)."""
        ref = cursor.referenced
        if ref is None:
            return
        if ref.kind == self.kinds.OVERLOADED_DECL_REF:
            lib = self.ci.conf.lib
            for i in range(lib.clang_getNumOverloadedDecls(ref)):
                yield lib.clang_getOverloadedDecl(ref, i)
        else:
            yield ref

    # ---------------------------------------------------------------- checks
    def check_type(self, cursor: Any, t: Any) -> None:
        seen = 0
        while t is not None and seen < 8:
            seen += 1
            canon = t.get_canonical()
            if canon.kind.name in FLOAT_KINDS:
                self.report(
                    cursor, "float", f"{t.spelling!r} value ({cursor.spelling or 'expression'})"
                )
                return
            spelling = canon.spelling
            if CONTAINERS.search(spelling):
                self.report(cursor, "container", f"STL type {spelling!r}")
                return
            if STREAMS.search(spelling):
                self.report(cursor, "io", f"stream type {spelling!r}")
                return
            if canon.kind.name in ("POINTER", "LVALUEREFERENCE", "RVALUEREFERENCE"):
                t = canon.get_pointee()
            elif canon.kind.name in ("CONSTANTARRAY", "INCOMPLETEARRAY", "VARIABLEARRAY"):
                t = canon.element_type
            else:
                return

    def check_library_call(self, cursor: Any, decl: Any) -> None:
        name = decl.spelling
        if name in MATH:
            self.report(cursor, "cmath", f"call of {name}()")
        elif name in HEAP:
            self.report(cursor, "heap", f"call of {name}()")
        elif name in IO:
            self.report(cursor, "io", f"use of {name}")

    def check_loop(self, loop: Any) -> None:
        k = self.kinds
        if loop.kind in (k.WHILE_STMT, k.DO_STMT):
            word = "while" if loop.kind == k.WHILE_STMT else "do-while"
            self.report(loop, "unbounded", f"a {word} loop (use a for loop with a constant bound)")
            return
        parts = list(loop.get_children())
        loop_vars = {
            d.hash
            for part in parts[:-1]
            if part.kind == k.DECL_STMT
            for d in part.get_children()
            if d.kind == k.VAR_DECL
        }
        conds = [p for p in parts[:-1] if p.kind != k.DECL_STMT]
        if not conds:
            self.report(loop, "unbounded", "a for loop without a condition")
            return
        cond = conds[0]
        for c in cond.walk_preorder():
            if c.kind == k.MEMBER_REF_EXPR and c.referenced is not None:
                self.report(loop, "unbounded", "a for loop bounded by a member's run-time value")
                return
            if c.kind != k.DECL_REF_EXPR or c.referenced is None:
                continue  # dependent names (CONFIG_T::n) are compile-time constants
            ref = c.referenced
            if ref.hash in loop_vars or ref.kind in (
                k.ENUM_CONSTANT_DECL,
                k.TEMPLATE_NON_TYPE_PARAMETER,
                k.OVERLOADED_DECL_REF,
                k.FUNCTION_TEMPLATE,
                k.FUNCTION_DECL,
            ):
                continue
            if ref.kind in (k.VAR_DECL, k.FIELD_DECL) and ref.type.is_const_qualified():
                continue
            self.report(
                loop, "unbounded", f"a for loop bounded by the run-time value {ref.spelling!r}"
            )
            return

    # ---------------------------------------------------------------- the walk
    def walk(self, roots: Iterable[Any]) -> None:
        k = self.kinds
        todo = list(roots)
        done: set[str] = set()
        while todo:
            fn = todo.pop()
            key = self.key(fn)
            if key in done:
                continue
            done.add(key)
            self.names[key] = fn
            callees = self.edges.setdefault(key, set())
            for c in fn.walk_preorder():
                if c.kind == k.FLOATING_LITERAL:
                    self.report(c, "float", "a floating-point literal")
                elif c.kind in (k.CXX_NEW_EXPR, k.CXX_DELETE_EXPR):
                    self.report(c, "heap", "new / delete")
                elif c.kind in (k.WHILE_STMT, k.DO_STMT, k.FOR_STMT):
                    self.check_loop(c)
                elif c.kind == k.MEMBER_REF_EXPR and c.referenced is None:
                    tokens = [t.spelling for t in c.get_tokens()]
                    if tokens and tokens[-1] in ("to_double", "to_float"):
                        self.report(c, "float", f"call of {tokens[-1]}()")
                if c.kind in (k.VAR_DECL, k.PARM_DECL, k.FIELD_DECL) or c.kind.is_expression():
                    self.check_type(c, c.type)
                if c.kind in (
                    k.DECL_REF_EXPR,
                    k.MEMBER_REF_EXPR,
                    k.CALL_EXPR,
                    k.TYPE_REF,
                    k.TEMPLATE_REF,
                ):
                    for decl in self.referenced(c):
                        self.follow(c, decl, callees, todo)

    def follow(self, use: Any, decl: Any, callees: set[str], todo: list[Any]) -> None:
        k = self.kinds
        functions = (
            k.FUNCTION_DECL,
            k.FUNCTION_TEMPLATE,
            k.CXX_METHOD,
            k.CONSTRUCTOR,
            k.DESTRUCTOR,
        )
        if decl.kind in (k.CLASS_TEMPLATE, k.STRUCT_DECL, k.CLASS_DECL):
            if not self.is_own(decl):
                qualified = self.qualified(decl)
                if CONTAINERS.search(qualified) or STREAMS.search(qualified):
                    self.report(use, "container", f"STL type {qualified!r}")
                return
            body = decl.get_definition() or decl  # its methods, as the walk may call any
            todo.extend(m for m in body.get_children() if m.kind in functions and m.is_definition())
            return
        if decl.kind == k.VAR_DECL and not self.is_own(decl) and decl.spelling in IO:
            self.report(use, "io", f"use of {decl.spelling}")
            return
        if decl.kind not in functions:
            return
        if not self.is_own(decl):
            if use.kind in (k.DECL_REF_EXPR, k.CALL_EXPR, k.MEMBER_REF_EXPR):
                self.check_library_call(use, decl)
            return
        body = self.definition(decl)
        if body.is_definition():
            callees.add(self.key(body))
            todo.append(body)

    def qualified(self, decl: Any) -> str:
        parts = []
        c = decl
        while c is not None and c.kind != self.kinds.TRANSLATION_UNIT:
            parts.append(c.spelling)
            c = c.semantic_parent
        return "::".join(reversed(parts))

    def check_recursion(self) -> None:
        state: dict[str, int] = {}

        def visit(node: str, stack: list[str]) -> None:
            state[node] = 1
            stack.append(node)
            for nxt in sorted(self.edges.get(node, ())):
                if state.get(nxt) == 1:
                    cycle = stack[stack.index(nxt) :]
                    names = " -> ".join(self.names[n].spelling for n in [*cycle, nxt])
                    self.report(self.names[nxt], "recursion", f"recursive calls {names}")
                elif nxt not in state and nxt in self.names:
                    visit(nxt, stack)
            stack.pop()
            state[node] = 2

        for node in sorted(self.edges):
            if node not in state:
                visit(node, [])


def _parse(ci: Any, path: Path, args: Sequence[str], text: str | None = None) -> Any:
    index = ci.Index.create()
    unsaved = [(str(path), text)] if text is not None else None
    tu = index.parse(str(path), args=list(args), unsaved_files=unsaved)
    errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        shown = "\n".join(str(d) for d in errors[:10])
        msg = f"libclang could not parse {path} for the firmware lint:\n{shown}"
        raise HlsError(msg)
    return tu


def _args(includes: Sequence[Path]) -> list[str]:
    return [
        "-x",
        "c++",
        "-std=c++14",
        "-D__SYNTHESIS__",
        *(f"-I{p}" for p in includes),
        *system_includes(),
    ]


def _ap_types(headers: Path | None) -> Path:
    if headers is not None:
        return headers
    from hepinfer.hls.writer import templates_dir

    return templates_dir() / "ap_types_lite"


def lint_project(
    root: str | Path, top: str | None = None, headers: Path | None = None
) -> list[Finding]:
    """Findings on the synthesis path of the project written in `root`.

    `top`: the top function (default: the name of the one `firmware/*.cpp`); `headers`: the
    ap_types folder to parse with, which must accept `__SYNTHESIS__` (Vitis HLS's own
    include folder; the open-source copy in hls4ml refuses it), default hepinfer's own.
    """
    ci = _cindex()
    folder = Path(root)
    firmware = folder / "firmware"
    if top is None:
        sources = sorted(firmware.glob("*.cpp"))
        if len(sources) != 1:
            msg = f"{firmware} holds {len(sources)} .cpp files; name the top function (--top)"
            raise HlsError(msg)
        top = sources[0].stem
    source = firmware / f"{top}.cpp"
    if not source.is_file():
        msg = f"{source} does not exist; is {folder} a project written by hepinfer (write_hls)?"
        raise HlsError(msg)
    tu = _parse(ci, source, _args([firmware, _ap_types(headers)]))
    roots = [
        c
        for c in tu.cursor.get_children()
        if c.kind == ci.CursorKind.FUNCTION_DECL and c.spelling == top and c.is_definition()
    ]
    if not roots:
        msg = f"{source} defines no top function {top!r}"
        raise HlsError(msg)
    walker = _Walker(ci, [firmware])
    walker.walk(roots)
    walker.check_recursion()
    return sorted(walker.findings, key=lambda f: (f.file, f.line, f.rule, f.message))


def lint_headers(folder: str | Path, headers: Path | None = None) -> list[Finding]:
    """Findings in every kernel header of `folder` (each function a root), except those
    for C simulation only (`hepinfer_weights.h`).
    """
    ci = _cindex()
    kernels = Path(folder)
    names = sorted(p.name for p in kernels.glob("*.h") if p.name not in SKIPPED_HEADERS)
    if not names:
        msg = f"{kernels} holds no kernel header (*.h)"
        raise HlsError(msg)
    main = kernels / "_hepinfer_lint_all.cpp"
    text = "".join(f'#include "{n}"\n' for n in names)
    tu = _parse(ci, main, _args([kernels, _ap_types(headers)]), text)
    walker = _Walker(ci, [kernels])
    kinds = ci.CursorKind
    roots = [
        c
        for c in tu.cursor.walk_preorder()
        if c.kind in (kinds.FUNCTION_DECL, kinds.FUNCTION_TEMPLATE, kinds.CXX_METHOD)
        and c.is_definition()
        and walker.is_own(c)
    ]
    walker.walk(roots)
    walker.check_recursion()
    return sorted(walker.findings, key=lambda f: (f.file, f.line, f.rule, f.message))
