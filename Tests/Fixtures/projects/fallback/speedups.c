#error "never compiles: the optional extension is dropped"
