# Threads and dlopen: built with Debian 12's gcc this references pthread_create@GLIBC_2.34 and
# dlopen@GLIBC_2.34; built with zig for glibc 2.17, only versions glibc 2.17 has.
from setuptools import Extension, setup

setup(packages=["newsymbols"], ext_modules=[Extension("newsymbols._native", ["native.c"])])
