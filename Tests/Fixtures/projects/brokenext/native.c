#include <Python.h>
#error "this extension does not compile on purpose"
