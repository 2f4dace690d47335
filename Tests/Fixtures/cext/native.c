/* The extension module of the test wheel: links libwfdemo (built by the test) and
 * libyaml (from the system), neither of which any manylinux policy allows. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <yaml.h>

int wfdemo_answer(void);

static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(wfdemo_answer()); }
static PyObject *yaml_version(PyObject *self, PyObject *args) { return PyUnicode_FromString(yaml_get_version_string()); }

static PyMethodDef methods[] = {
    {"answer", answer, METH_NOARGS, "42, computed in a grafted library on a thread."},
    {"yaml_version", yaml_version, METH_NOARGS, "The version of the libyaml that was loaded."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
