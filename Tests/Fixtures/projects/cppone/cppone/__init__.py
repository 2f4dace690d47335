from cppone._native import run
