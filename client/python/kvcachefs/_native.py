"""ctypes bindings of libkvcachefs (client/kvcachefs.h). Internal: use kvcachefs.Client."""

import ctypes
import os
import sysconfig

c_size_t = ctypes.c_size_t


class XattrC(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_void_p), ("size", c_size_t)]


class StoreItemC(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("offset", c_size_t), ("length", c_size_t),
                ("parent", ctypes.c_char_p), ("priority", ctypes.c_int32),
                ("has_priority", ctypes.c_int), ("mode", ctypes.c_uint32),
                ("no_replace", ctypes.c_int), ("xattrs", ctypes.POINTER(XattrC)),
                ("xattr_count", c_size_t), ("error", ctypes.c_int)]


class LoadItemC(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("offset", c_size_t), ("capacity", c_size_t),
                ("size", ctypes.c_uint64), ("cached", ctypes.c_int), ("error", ctypes.c_int)]


class StatItemC(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("mode", ctypes.c_uint32), ("size", ctypes.c_uint64),
                ("committed", ctypes.c_int), ("error", ctypes.c_int)]


def _candidates():
    env = os.environ.get("KVCACHEFS_LIB")
    if env:
        yield env
    yield "libkvcachefs.so.0"  # the loader's paths (ldconfig, LD_LIBRARY_PATH)
    # Installed beside this package: PREFIX/lib/python3.X/dist-packages/kvcachefs.
    here = os.path.dirname(os.path.abspath(__file__))
    prefix = os.path.normpath(os.path.join(here, "..", "..", "..", ".."))
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for root in (prefix, "/usr/local", "/usr"):
        for sub in (os.path.join("lib", multiarch), "lib"):
            yield os.path.join(root, sub, "libkvcachefs.so.0")


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path, use_errno=True)
        except OSError as e:
            errors.append(str(e))
    raise ImportError("libkvcachefs.so.0 not found (set KVCACHEFS_LIB): " + "; ".join(errors[:3]))


lib = _load()
_P = ctypes.c_void_p
for name, res, args in [
    ("kvc_open", ctypes.c_int, [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_P)]),
    ("kvc_close", None, [_P]),
    ("kvc_fast_path", ctypes.c_int, [_P]),
    ("kvc_version", ctypes.c_char_p, []),
    ("kvc_buffer_new", ctypes.c_int, [_P, c_size_t, ctypes.POINTER(_P)]),
    ("kvc_buffer_data", _P, [_P]),
    ("kvc_buffer_size", c_size_t, [_P]),
    ("kvc_buffer_free", None, [_P]),
    ("kvc_store", ctypes.c_int, [_P, _P, ctypes.POINTER(StoreItemC), c_size_t]),
    ("kvc_load", ctypes.c_int, [_P, _P, ctypes.POINTER(LoadItemC), c_size_t]),
    ("kvc_load_chain", ctypes.c_long, [_P, _P, ctypes.POINTER(LoadItemC), c_size_t,
                                       ctypes.POINTER(c_size_t)]),
    ("kvc_stat", ctypes.c_int, [_P, ctypes.POINTER(StatItemC), c_size_t]),
    ("kvc_pread", ctypes.c_ssize_t, [_P, ctypes.c_int, _P, c_size_t, c_size_t, ctypes.c_uint64]),
    ("kvc_pwrite", ctypes.c_ssize_t, [_P, ctypes.c_int, _P, c_size_t, c_size_t, ctypes.c_uint64]),
]:
    fn = getattr(lib, name)
    fn.restype = res
    fn.argtypes = args
