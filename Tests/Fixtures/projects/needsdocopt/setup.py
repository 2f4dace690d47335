# Importing docopt proves the build requirement built from source is installed in the build env.
import docopt
from setuptools import setup

assert docopt.__version__ == "0.6.2"
setup(packages=["needsdocopt"])
