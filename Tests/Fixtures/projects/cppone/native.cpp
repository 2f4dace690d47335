#include <Python.h>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

// Throws and catches inside the module, and counts words in a map: exercises the C++ runtime.
static PyObject *run(PyObject *, PyObject *args) {
    const char *text = nullptr;
    if (!PyArg_ParseTuple(args, "s", &text)) return nullptr;
    std::map<std::string, int> counts;
    std::string word;
    for (const char *p = text;; ++p) {
        if (*p == ' ' || *p == '\0') { if (!word.empty()) counts[word]++; word.clear(); } else word += *p;
        if (*p == '\0') break;
    }
    try {
        if (counts.empty()) throw std::invalid_argument("no words");
        std::vector<std::string> parts;
        for (const auto &entry : counts) parts.push_back(entry.first + "=" + std::to_string(entry.second));
        std::string joined;
        for (const auto &part : parts) joined += (joined.empty() ? "" : ",") + part;
        return PyUnicode_FromString(joined.c_str());
    } catch (const std::exception &error) {
        PyErr_SetString(PyExc_ValueError, error.what());
        return nullptr;
    }
}

static PyMethodDef methods[] = {{"run", run, METH_VARARGS, "word counts"}, {nullptr, nullptr, 0, nullptr}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", nullptr, -1, methods};
PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
