# A C extension that does not compile: the build must fail, with the compiler's message in the log.
from setuptools import Extension, setup

setup(ext_modules=[Extension("brokenext._native", ["native.c"])])
