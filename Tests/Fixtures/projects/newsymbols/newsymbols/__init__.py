from newsymbols._native import probe
