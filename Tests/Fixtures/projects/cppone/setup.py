# A C++ extension (strings, containers, exceptions, iostreams): with zig, libc++ is linked
# statically, so it loads beside extensions that use the system's libstdc++.
from setuptools import Extension, setup

setup(packages=["cppone"], ext_modules=[Extension("cppone._native", ["native.cpp"], language="c++")])
