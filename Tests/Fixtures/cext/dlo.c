/* An extension that loads a library with dlopen, by name, as plugins and GPU runtimes do:
 * no DT_NEEDED names it, so only a recipe's bundle list can get it into the wheel. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>

static PyObject *base(PyObject *self, PyObject *args) {
    void *handle = dlopen("libwfdep.so.1", RTLD_NOW);
    if (!handle) { PyErr_SetString(PyExc_OSError, dlerror()); return NULL; }
    int (*function)(void) = (int (*)(void))dlsym(handle, "wfdep_base");
    if (!function) { PyErr_SetString(PyExc_OSError, dlerror()); return NULL; }
    return PyLong_FromLong(function());
}

static PyMethodDef methods[] = {{"base", base, METH_NOARGS, "wfdep_base() from a dlopen'ed library."}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dlo", NULL, -1, methods};

PyMODINIT_FUNC PyInit__dlo(void) { return PyModule_Create(&module); }
