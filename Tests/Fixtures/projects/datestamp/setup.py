# Not reproducible on purpose: the build writes the time it ran into the C extension (the
# .rodata section) and into a text file of the package, as some projects' build info does.
import time

from setuptools import Extension, setup

stamp = "%.9f" % time.time()
with open("stamp.c", "w") as out:
    out.write('#include <Python.h>\n'
              'static const char stamp[] = "built at %s";\n'
              'static PyObject *when(PyObject *self, PyObject *args) { return PyUnicode_FromString(stamp); }\n'
              'static PyMethodDef methods[] = {{"when", when, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};\n'
              'static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_stamp", NULL, -1, methods};\n'
              'PyMODINIT_FUNC PyInit__stamp(void) { return PyModule_Create(&module); }\n' % stamp)
with open("datestamp/BUILD_INFO.txt", "w") as out:
    out.write("datestamp\nbuilt at %s\n" % stamp)
setup(packages=["datestamp"], package_data={"datestamp": ["BUILD_INFO.txt"]}, ext_modules=[Extension("datestamp._stamp", ["stamp.c"])])
