# Like markupsafe without CIBUILDWHEEL: when the optional extension fails, ship pure Python.
# wheelfarm must call that a failed build (the sources have native code).
from setuptools import Extension, setup

setup(packages=["fallback"], ext_modules=[Extension("fallback._speedups", ["speedups.c"], optional=True)])
