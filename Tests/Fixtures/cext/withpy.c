/* An extension linked against libpython (as CMake's FindPython does on Debian), so that
 * repair has a DT_NEEDED on the interpreter to remove. MODULE_NAME picks the module name. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifndef MODULE_NAME
#define MODULE_NAME _withpy
#endif
#define CAT(a, b) a##b
#define INIT(name) CAT(PyInit_, name)
#define STR2(x) #x
#define STR(x) STR2(x)

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, STR(MODULE_NAME), NULL, -1, NULL};

PyMODINIT_FUNC INIT(MODULE_NAME)(void) { return PyModule_Create(&module); }
