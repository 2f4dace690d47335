from ._mesonext import answer
