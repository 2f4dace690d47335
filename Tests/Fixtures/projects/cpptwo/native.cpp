#include <Python.h>
#include <algorithm>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

// Formats through a stringstream and rethrows a C++ exception as a Python one.
struct Shape { virtual ~Shape() = default; virtual double area() const = 0; };
struct Square : Shape { double side; explicit Square(double s) : side(s) {} double area() const override { return side * side; } };

static PyObject *run(PyObject *, PyObject *args) {
    double side = 0;
    if (!PyArg_ParseTuple(args, "d", &side)) return nullptr;
    try {
        if (side < 0) throw std::domain_error("negative side");
        std::unique_ptr<Shape> shape = std::make_unique<Square>(side);
        std::ostringstream out;
        out << "area=" << shape->area();
        std::string text = out.str();
        std::transform(text.begin(), text.end(), text.begin(), [](char c) { return c == '.' ? ',' : c; });
        return PyUnicode_FromString(text.c_str());
    } catch (const std::exception &error) {
        PyErr_SetString(PyExc_ValueError, error.what());
        return nullptr;
    }
}

static PyMethodDef methods[] = {{"run", run, METH_VARARGS, "area of a square"}, {nullptr, nullptr, 0, nullptr}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", nullptr, -1, methods};
PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
