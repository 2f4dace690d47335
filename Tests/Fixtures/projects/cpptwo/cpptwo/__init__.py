from cpptwo._native import run
