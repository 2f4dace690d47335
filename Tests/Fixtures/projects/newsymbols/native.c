#include <Python.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sys/stat.h>

static void *work(void *arg) { return arg; }

static PyObject *probe(PyObject *self, PyObject *args) {
    pthread_t thread;
    struct stat st;
    if (pthread_create(&thread, NULL, work, NULL) != 0) return PyErr_Format(PyExc_OSError, "pthread_create failed");
    pthread_join(thread, NULL);
    void *handle = dlopen("libm.so.6", RTLD_NOW);
    long result = (handle != NULL) + (stat("/", &st) == 0) + strtol("40", NULL, 10);
    return PyLong_FromLong(result);
}

static PyMethodDef methods[] = {{"probe", probe, METH_NOARGS, "42 when threads, dlopen and stat work"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};
PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
