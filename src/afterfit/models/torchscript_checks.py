"""Loading a TorchScript file without ``--trust``, only after checking its code.

A TorchScript archive holds no pickled Python objects, but it is code: torch's interpreter
runs its ``forward`` (and hooks), and even loading it runs a class's ``__setstate__``.
That code can create, overwrite or read files (``torch.from_file(..., shared=True)``,
``torch.save``), print, or call out through RPC. So, without trust, afterfit:

1. before loading, reads every record of the archive with torch's own zip reader (the
   one ``torch.jit.load`` uses, so both see the same members) and refuses any that
   defines ``__setstate__``, the only TorchScript code run at load;
2. loads it as ``torch.jit.load`` does, keeping the compilation unit, and checks every
   function the archive compiled (methods of modules and of TorchScript classes, free
   functions, hooks), so that also what torch calls implicitly is checked (a class's
   ``__lt__`` run by ``list.sort()`` shows as no call node); then every method and hook
   of every submodule again, inlined, where a call that is left cannot be resolved.
   Every node, nested block and subgraph must be:

   - ``prim::`` structural and pure operations listed in :data:`PRIM_ALLOWED`;
   - ``aten::`` tensor operations, except those in :data:`ATEN_REFUSED` (files, storage
     sharing, pinned memory, futures, printing);
   - nothing from any other namespace (custom operators such as torchvision's
     ``image::read_file`` can do anything).

   Operations are refused by name, with the reason and the function they sit in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from afterfit.errors import UntrustedModelError

__all__ = [
    "ATEN_REFUSED",
    "PRIM_ALLOWED",
    "check_script_module",
    "check_torchscript_archive",
    "load_checked",
]

#: ``prim::`` node kinds a checked graph may hold: control flow, constants, attribute
#: access on the module's own objects, containers and tensor metadata.
# fmt: off
PRIM_ALLOWED: frozenset[str] = frozenset(
    f"prim::{name}"
    for name in (
        "Constant", "GetAttr", "SetAttr", "ListConstruct", "ListUnpack", "TupleConstruct",
        "TupleUnpack", "TupleIndex", "TupleSlice", "DictConstruct", "DictIndex", "If", "Loop",
        "Return", "RaiseException", "Uninitialized", "unchecked_cast",
        "unchecked_unwrap_optional", "NumToTensor", "CreateObject", "isinstance", "EnumName",
        "EnumValue", "StringIndex", "ConstantChunk", "BroadcastSizes", "ChunkSizes",
        "AutogradZero", "AutogradAdd", "ModuleContainerIndex", "device", "dtype", "layout",
        "data", "grad", "requires_grad", "is_cpu", "is_cuda", "is_meta", "is_mkldnn",
        "is_nested", "is_quantized", "is_sparse", "is_sparse_csr", "is_xpu", "is_mps",
        "itemsize", "nbytes", "index", "max", "min", "abs", "rangelist", "tolist", "type",
        "name", "ListSlice", "shape",
    )
)
# fmt: on

# fmt: off
_NO_BOUNDS_CHECKS = (
    "aten::_unsafe_index", "aten::_unsafe_index_put", "aten::_unsafe_masked_index",
    "aten::_unsafe_masked_index_put_accumulate", "aten::_index_put_impl_",
    "aten::_nested_view_from_buffer", "aten::_nested_view_from_buffer_copy",
    "aten::_reshape_alias", "aten::_reshape_alias_copy", "aten::_sparse_coo_tensor_unsafe",
    "aten::_sparse_csr_tensor_unsafe", "aten::_sparse_csc_tensor_unsafe",
    "aten::_sparse_bsr_tensor_unsafe", "aten::_sparse_bsc_tensor_unsafe",
    "aten::_sparse_compressed_tensor_unsafe",
)
# fmt: on

#: ``aten::`` operations refused, with why. Every other ``aten::`` operation is a tensor,
#: number, string or container operation of the process's own memory.
ATEN_REFUSED: dict[str, str] = {
    "aten::from_file": "maps a file into a tensor (creates, reads or overwrites it)",
    "aten::save": "writes a file",
    "aten::load": "reads a file",
    "aten::set_": "points a tensor at another storage",
    "aten::set_data": "points a tensor at another tensor's data",
    "aten::pin_memory": "allocates pinned (page-locked) memory",
    "aten::_pin_memory": "allocates pinned (page-locked) memory",
    "aten::record_stream": "ties memory to a device stream",
    "aten::wait": "waits on a future (background work)",
    "aten::_print": "prints",
    **dict.fromkeys(
        (
            "aten::_cufft_set_plan_cache_max_size",
            "aten::_cufft_clear_plan_cache",
            "aten::set_grad_enabled",
            "aten::manual_seed",
            "aten::seed",
        ),
        "changes process-wide settings",
    ),
    **dict.fromkeys(_NO_BOUNDS_CHECKS, "skips the bounds checks of its safe counterpart"),
}

_NAMED_REASONS = {
    "prim::PythonOp": "calls back into Python",
    "prim::IgnoredPythonOp": "calls back into Python",
    "prim::Print": "prints to the process's output",
    "prim::CallMethod": "calls a method that cannot be resolved and checked",
    "prim::CallFunction": "calls a function that cannot be resolved and checked",
    "prim::fork": "starts background work",
    "prim::rpc_async": "calls another process (RPC)",
    "prim::rpc_sync": "calls another process (RPC)",
    "prim::rpc_remote": "calls another process (RPC)",
    "prim::awaitable": "starts deferred work",
    "prim::awaitable_wait": "waits on deferred work",
    "prim::awaitable_nowait": "starts deferred work",
    # The archive carries the code of every class it uses, torch.no_grad's included, so a
    # `with` block runs the file's own __enter__/__exit__. (afterfit already runs models
    # without gradients.)
    "prim::Enter": "enters a `with` block, running the file's own __enter__",
    "prim::Exit": "leaves a `with` block, running the file's own __exit__",
    "prim::TimePoint": "reads the clock",
    "prim::AddStatValue": "writes process-wide statistics",
}

_FIX = (
    "pass --trust (trust=True) only if the file comes from a source you trust, or save "
    "the weights (torch.save(model.state_dict(), path)) and pass --module-class "
    "package.module:Class, which runs only code you have installed."
)


def _refuse(path: Path, what: str) -> UntrustedModelError:
    return UntrustedModelError(
        f"The TorchScript file '{path}' is code, and {what}; afterfit does not run it "
        "without trust.",
        fix=_FIX,
    )


def check_torchscript_archive(path: Path, torch: Any) -> None:
    """Refuse, before loading, an archive whose code defines ``__setstate__`` (run by
    ``torch.jit.load`` itself). Reads the records with torch's own reader."""
    try:
        reader = torch._C.PyTorchFileReader(str(path))
        records = list(reader.get_all_records())
    except Exception:  # not a torch zip archive: torch.jit.load will say so
        return
    for name in records:
        if b"__setstate__" in bytes(reader.get_record(name)):
            raise _refuse(
                path, f"its record '{name}' defines __setstate__, which runs while it loads"
            )


def _nodes(block: Any) -> Iterator[Any]:
    for node in block.nodes():
        yield node
        for inner in node.blocks():
            yield from _nodes(inner)
        for attribute in node.attributeNames():
            kind = node.kindOf(attribute)
            if kind == "g":
                yield from _nodes(node.g(attribute))
            elif kind == "gs":
                for graph in node.gs(attribute):
                    yield from _nodes(graph)


def _reason(kind: str) -> str | None:
    """Why the node kind is refused, or None when it is allowed."""
    if kind in _NAMED_REASONS:
        return _NAMED_REASONS[kind]
    namespace = kind.split("::", 1)[0]
    if namespace == "aten":
        return ATEN_REFUSED.get(kind)
    if namespace == "prim":
        return None if kind in PRIM_ALLOWED else "is not in the allowlist of pure operations"
    return "is an operator outside torch's aten/prim namespaces, which can do anything"


def _graphs(module: Any) -> Iterator[tuple[str, Any]]:
    """(where, graph) of every method of every submodule, and of every hook."""
    for name, sub in module.named_modules():
        label = f"module '{name}'" if name else "the top module"
        for method in sub._c._method_names():
            yield f"{method} of {label}", sub._c._get_method(method).graph
        for hook in [*sub._c._get_forward_pre_hooks(), *sub._c._get_forward_hooks()]:
            yield f"hook {hook.name} of {label}", hook.graph


def load_checked(path: Path, torch: Any) -> Any:
    """``torch.jit.load(path, map_location="cpu")``, refusing code that does anything but
    compute on tensors: the archive is checked before loading, and after it every
    function the archive compiled (methods of modules and of TorchScript classes, free
    functions, hooks: also those torch calls implicitly, such as a class's ``__lt__``
    from ``list.sort()``) and every module method inlined.

    The loading steps are those of ``torch.jit.load``; they are repeated here to keep
    hold of the compilation unit, the only place that lists every compiled function.
    """
    check_torchscript_archive(path, torch)
    unit = torch._C.CompilationUnit()
    cpp_module = torch._C.import_ir_module(unit, str(path), torch.device("cpu"), {}, False)
    for function in unit.get_functions():
        # Calls are checked where they land: every callee is in this list too.
        _check_graph(function.graph, f"function {function.qualified_name}", path, calls=False)
    module = torch.jit._recursive.wrap_cpp_module(cpp_module)
    check_script_module(module, path, torch)
    return module


def _check_graph(graph: Any, where: str, path: Path, *, calls: bool) -> None:
    """Refuse the first node outside the allowlist; ``calls``: refuse calls too (in an
    inlined graph, a call that is left cannot be resolved)."""
    for node in _nodes(graph):
        kind = node.kind()
        if not calls and kind in ("prim::CallMethod", "prim::CallFunction"):
            continue
        reason = _reason(kind)
        if reason is not None:
            raise _refuse(path, f"its {where} runs {kind}, which {reason}")


def check_script_module(module: Any, path: Path, torch: Any) -> None:
    """Refuse a loaded TorchScript module whose code does anything but compute on tensors.

    Raises
    ------
    UntrustedModelError
        Naming the first refused operation, why, and the method or hook it sits in.
    """
    graphs = list(_graphs(module))
    # First each method as written, to name the method an operation sits in; then
    # inlined, so that what a call reaches is checked in the context it runs in.
    for inline in (False, True):
        for where, graph in graphs:
            if inline:
                graph = graph.copy()
                # Inlining brings the code of every called method, submodule and function
                # into the graph; what cannot be inlined stays a CallMethod/CallFunction.
                torch._C._jit_pass_inline(graph)
            _check_graph(graph, where, path, calls=inline)
