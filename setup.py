"""Builds lumos._lumos, the native part of the lumos package, against the installed C++ library.

pkg-config finds the library (lumos.pc, installed by `cmake --install`); for a prefix outside
pkg-config's search path set LUMOS_PREFIX to it. The extension records the library's folder
as its run path, so nothing else needs to be set at run time. docs/python.md has the steps.
"""
import os
import re
import shlex
import subprocess
import sys

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext
from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def pkg_config(*args):
    env = dict(os.environ)
    prefix = os.environ.get("LUMOS_PREFIX")
    if prefix:
        pc_dir = os.path.join(os.path.abspath(os.path.expanduser(prefix)), "lib", "pkgconfig")
        env["PKG_CONFIG_PATH"] = os.pathsep.join(p for p in (pc_dir, env.get("PKG_CONFIG_PATH")) if p)
    try:
        done = subprocess.run(["pkg-config", *args, "lumos"], env=env, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("lumos: pkg-config is missing; install it (apt-get install pkg-config)")
    except subprocess.CalledProcessError as e:
        where = f"in LUMOS_PREFIX={prefix}" if prefix else "where pkg-config looks"
        sys.exit(f"lumos: the C++ library is not installed {where} ({e.stderr.strip()}). Build and install "
                 "it first: scripts/build.sh && cmake --install build --prefix PREFIX; then "
                 "LUMOS_PREFIX=PREFIX pip install --no-build-isolation .")
    return done.stdout.strip()


def version():
    with open(os.path.join(HERE, "CMakeLists.txt")) as f:
        return re.search(r"project\(lumos VERSION ([0-9.]+)", f.read()).group(1)


cflags = shlex.split(pkg_config("--cflags"))
libs = shlex.split(pkg_config("--libs"))
libdir = pkg_config("--variable=libdir")

# Two compiles at a time at most (the project's rule for shared build machines).
ParallelCompile("LUMOS_PYTHON_JOBS", default=2).install()

extension = Pybind11Extension(
    "lumos._lumos",
    sorted(os.path.join("python", "src", f) for f in os.listdir(os.path.join(HERE, "python", "src"))
           if f.endswith(".cpp")),
    include_dirs=[flag[2:] for flag in cflags if flag.startswith("-I")],
    extra_compile_args=[flag for flag in cflags if not flag.startswith("-I") and not flag.startswith("-std")] + ["-O2"],
    extra_link_args=libs,
    runtime_library_dirs=[os.path.normpath(libdir)],
    cxx_std=17,
)

setup(version=version(), ext_modules=[extension], cmdclass={"build_ext": build_ext})
